"""deploy/compose.yaml: pinned images, loopback-only ports, credentials only from the
env file (which git ignores), and the docs page that explains it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "deploy" / "compose.yaml"
EXAMPLE = ROOT / "deploy" / "servers.env.example"


def services() -> dict[str, dict]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_images_are_pinned() -> None:
    for name, service in services().items():
        image = service["image"]
        tag = image.rsplit(":", 1)[-1] if ":" in image.split("/")[-1] else ""
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: {image}"


def test_ports_are_bound_to_loopback() -> None:
    published = [(name, port) for name, service in services().items()
                 for port in service.get("ports", [])]
    assert {name for name, _ in published} == {"mongodb", "milvus", "meilisearch"}
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_credentials_come_from_the_env_file() -> None:
    text = COMPOSE.read_text()
    used = set(re.findall(r"\$\{(\w+):\?", text))
    assert used == {"PXIMSE_MONGO_USER", "PXIMSE_MONGO_PASSWORD", "PXIMSE_MINIO_USER",
                    "PXIMSE_MINIO_PASSWORD", "PXIMSE_MEILI_MASTER_KEY"}
    assert not re.search(r"\$\{\w+\}", text), "every variable must be required (${X:?...})"
    example = dict(line.split("=", 1) for line in EXAMPLE.read_text().splitlines()
                   if line and not line.startswith("#"))
    assert set(example) == used
    assert all(not example[key] for key in used if "PASSWORD" in key or "KEY" in key)
    for service in services().values():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|MASTER_KEY", key):
                assert str(value).startswith("${"), f"{key} is written in the file"
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/servers.env"], cwd=ROOT)
    assert ignored.returncode == 0


def test_docs_document_the_servers() -> None:
    section = (ROOT / "docs" / "servers.md").read_text()
    for needed in ("deploy/compose.yaml", "servers.env", "pximse migrate", "PXIMSE_TEST_MONGO_URL",
                   "PXIMSE_TEST_MILVUS_URI", "PXIMSE_TEST_MEILI_URL", "milvus-lite", "mongomock"):
        assert needed in section, needed

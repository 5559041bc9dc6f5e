"""The Hydrus client the Hydrus tests talk to: the fake (always), or a real client
when ``PXIMSE_TEST_HYDRUS_URL`` and ``PXIMSE_TEST_HYDRUS_KEY`` are set.

The real client needs a local tag service named ``PXIMSE_TEST_HYDRUS_SERVICE``
(default ``pximse test``) and a key with every permission; files the tests add
are imported into it. Tests that need behaviour only the fake can produce on
demand (503 busy, a key without a permission, the old ``get_services`` shape)
take ``fake_hydrus`` instead and run against the fake only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers.hydrus_fake import FakeHydrus

REAL_URL = os.environ.get("PXIMSE_TEST_HYDRUS_URL", "")
REAL_KEY = os.environ.get("PXIMSE_TEST_HYDRUS_KEY", "")
REAL_SERVICE = os.environ.get("PXIMSE_TEST_HYDRUS_SERVICE", "pximse test")
TEST_KEY = "ab" * 32
SERVICE = "PxIMSE"


@dataclass
class HydrusTarget:
    """One Client API to test against, with the few set-up steps the tests need."""

    url: str
    key: str
    service_name: str
    fake: FakeHydrus | None

    def _http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60,
                            headers={"Hydrus-Client-API-Access-Key": self.key})

    def add_file(self, data: bytes, ext: str = ".png") -> str:
        if self.fake is not None:
            return self.fake.add_file(data, ext=ext)
        with self._http() as http:
            answer = http.post("/add_files/add_file", content=data,
                               headers={"Content-Type": "application/octet-stream"})
            answer.raise_for_status()
            return str(answer.json()["hash"])

    def service_key(self) -> str:
        from pximse.integrations.hydrus.client import HydrusClient

        with HydrusClient(self.url, self.key) as client:
            return client.tag_service(self.service_name).key

    def tags(self, sha: str, status: str = "0") -> set[str]:
        """The file's tags on the test service: "0" current, "2" deleted."""
        key = self.service_key()
        with self._http() as http:
            answer = http.get("/get_files/file_metadata",
                              params={"hashes": f'["{sha}"]', "include_notes": "true"})
            answer.raise_for_status()
            item: dict[str, Any] = answer.json()["metadata"][0]
        by_status = item.get("tags", {}).get(key, {}).get("storage_tags", {})
        return set(by_status.get(status, []))

    def metadata(self, sha: str) -> dict[str, Any]:
        with self._http() as http:
            answer = http.get("/get_files/file_metadata",
                              params={"hashes": f'["{sha}"]', "include_notes": "true"})
            answer.raise_for_status()
            return dict(answer.json()["metadata"][0])

    def user_deletes(self, sha: str, tag: str) -> None:
        """What a user's delete in the manage tags dialog does."""
        with self._http() as http:
            http.post("/add_tags/add_tags", json={
                "hash": sha,
                "service_keys_to_actions_to_tags": {self.service_key(): {"1": [tag]}},
            }).raise_for_status()


@pytest.fixture(name="fake_hydrus")
def fake_hydrus_fixture(tmp_path: Path) -> Iterator[FakeHydrus]:
    fake = FakeHydrus(client_files=tmp_path / "hydrus" / "client_files").start()
    fake.add_key(TEST_KEY)
    fake.add_tag_service(SERVICE)
    yield fake
    fake.stop()


@pytest.fixture(name="hydrus", params=["fake", "real"])
def hydrus_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HydrusTarget]:
    if request.param == "real":
        if not (REAL_URL and REAL_KEY):
            pytest.skip("no real Hydrus client: set PXIMSE_TEST_HYDRUS_URL and "
                        "PXIMSE_TEST_HYDRUS_KEY to run these tests against one too")
        yield HydrusTarget(REAL_URL, REAL_KEY, REAL_SERVICE, None)
        return
    fake = request.getfixturevalue("fake_hydrus")
    yield HydrusTarget(fake.url, TEST_KEY, SERVICE, fake)

"""Weights resolution: local folder, cache, and a real download over HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import http_server

from pximse.models.weights import (
    WeightsDownloadFailed,
    WeightsFile,
    WeightsSpec,
    WeightsUnavailable,
    cache_dir,
    download_file,
    model_digest,
    resolve_weights,
)

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, more than one read chunk would be in a test


class _Handler(http.server.BaseHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.server.requests.append(self.path)  # type: ignore[attr-defined]
        if self.path == "/model.bin":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/tags.csv":
            body = b"tag_id,name,category,count\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/cut.bin":
            # Promise the whole payload, send a tenth, hang up.
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 10])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    with http_server(_Handler) as httpd:
        yield httpd


def _url(httpd: http.server.ThreadingHTTPServer, path: str) -> str:
    host, port = httpd.server_address[:2]
    return f"http://{host!s}:{port}{path}"


def _spec(
    httpd: http.server.ThreadingHTTPServer | None = None, sha: str | None = None
) -> WeightsSpec:
    return WeightsSpec(
        name="tiny-tagger",
        files=(
            WeightsFile(
                "model.onnx",
                url=None if httpd is None else _url(httpd, "/model.bin"),
                sha256=sha,
            ),
            WeightsFile(
                "selected_tags.csv", url=None if httpd is None else _url(httpd, "/tags.csv")
            ),
        ),
    )


def _folder_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_missing_without_download_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailable) as err:
        resolve_weights(_spec(), data_dir=tmp_path)
    message = str(err.value)
    folder = tmp_path / "models" / "tiny-tagger"
    assert f"put model.onnx and selected_tags.csv in {folder}" in message
    assert "or set models.allow_download = true" in message


def test_cache_folder_is_used(tmp_path: Path) -> None:
    folder = cache_dir(tmp_path, "tiny-tagger")
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"weights")
    (folder / "selected_tags.csv").write_text("tag_id,name,category,count\n")
    files = resolve_weights(_spec(), data_dir=tmp_path)
    assert files == {
        "model.onnx": folder / "model.onnx",
        "selected_tags.csv": folder / "selected_tags.csv",
    }


def test_local_path_wins_and_is_never_downloaded_into(
    tmp_path: Path, server: http.server.ThreadingHTTPServer
) -> None:
    local = tmp_path / "mine"
    local.mkdir()
    (local / "model.onnx").write_bytes(b"weights")
    with pytest.raises(WeightsUnavailable) as err:
        resolve_weights(_spec(server), data_dir=tmp_path, local_path=local, allow_download=True)
    assert f"put model.onnx and selected_tags.csv in {local}" in str(err.value)
    assert server.requests == []  # type: ignore[attr-defined]
    (local / "selected_tags.csv").write_text("tag_id,name,category,count\n")
    files = resolve_weights(_spec(server), data_dir=tmp_path, local_path=local)
    assert files["model.onnx"] == local / "model.onnx"


def test_download_once_with_progress_and_checksum(
    tmp_path: Path, server: http.server.ThreadingHTTPServer
) -> None:
    seen: list[tuple[str, int, int | None]] = []
    spec = _spec(server, sha=hashlib.sha256(PAYLOAD).hexdigest())
    files = resolve_weights(
        spec, data_dir=tmp_path, allow_download=True, progress=lambda *a: seen.append(a)
    )
    assert files["model.onnx"].read_bytes() == PAYLOAD
    model_progress = [s for s in seen if s[0] == "model.onnx"]
    assert model_progress[0] == ("model.onnx", 0, len(PAYLOAD))
    assert model_progress[-1] == ("model.onnx", len(PAYLOAD), len(PAYLOAD))
    assert [done for _, done, _ in model_progress] == sorted(done for _, done, _ in model_progress)
    assert _folder_files(files["model.onnx"].parent) == ["model.onnx", "selected_tags.csv"]

    requests = list(server.requests)  # type: ignore[attr-defined]
    assert resolve_weights(spec, data_dir=tmp_path, allow_download=True) == files
    assert server.requests == requests  # type: ignore[attr-defined]


def test_checksum_mismatch_saves_nothing(
    tmp_path: Path, server: http.server.ThreadingHTTPServer
) -> None:
    with pytest.raises(WeightsDownloadFailed) as err:
        resolve_weights(_spec(server, sha="0" * 64), data_dir=tmp_path, allow_download=True)
    assert "SHA-256" in str(err.value)
    assert isinstance(err.value, WeightsUnavailable)
    assert _folder_files(cache_dir(tmp_path, "tiny-tagger")) == []


def test_interrupted_download_leaves_no_partial_file(
    tmp_path: Path, server: http.server.ThreadingHTTPServer
) -> None:
    dest = tmp_path / "models" / "x" / "model.onnx"
    with pytest.raises(WeightsDownloadFailed) as err:
        download_file(_url(server, "/cut.bin"), dest, timeout_s=10)
    assert "resumes on the next try" in str(err.value)
    assert not dest.exists()  # only the part, which a later try resumes
    assert _folder_files(dest.parent) == ["model.onnx.part"]


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD with Range support, as Hugging Face's CDN does: the first
    answer for /resolve/ redirects and names the file's SHA-256 (X-Linked-Etag),
    the CDN answers 206 to a range. /cut-once/ sends a third of the file the
    first time and hangs up; /small names a git blob SHA-1 in its ETag."""

    cut: set[str] = set()

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.server.requests.append((self.path, self.headers.get("Range")))  # type: ignore[attr-defined]
        if self.path.startswith("/resolve/"):
            self.send_response(302)
            self.send_header("Location", "/cdn/" + self.path.removeprefix("/resolve/"))
            self.send_header("X-Linked-Etag", f'"{self.server.sha256}"')  # type: ignore[attr-defined]
            self.send_header("X-Repo-Commit", "0" * 40)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path == "/small":
            body = b"tag_id,name,category,count\n"
            blob = hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()
            self.send_response(200)
            self.send_header("ETag", f'"{self.server.small_etag or blob}"')  # type: ignore[attr-defined]
            self.send_header("X-Repo-Commit", "0" * 40)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        start = 0
        wanted = self.headers.get("Range")
        if wanted:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD) - start))
        self.end_headers()
        if "cut-once" in self.path and self.path not in self.cut:
            self.cut.add(self.path)
            self.wfile.write(PAYLOAD[start: start + len(PAYLOAD) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(PAYLOAD[start:])

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def cdn() -> Iterator[http.server.ThreadingHTTPServer]:
    with http_server(_RangeHandler) as httpd:
        httpd.sha256 = hashlib.sha256(PAYLOAD).hexdigest()  # type: ignore[attr-defined]
        httpd.small_etag = None  # type: ignore[attr-defined]
        yield httpd


def test_an_interrupted_download_resumes_where_it_stopped(
    tmp_path: Path, cdn: http.server.ThreadingHTTPServer
) -> None:
    dest = tmp_path / "model.onnx"
    url = _url(cdn, "/resolve/cut-once/model.onnx")
    with pytest.raises(WeightsDownloadFailed):
        download_file(url, dest, timeout_s=10)
    kept = (tmp_path / "model.onnx.part").stat().st_size
    assert 0 < kept < len(PAYLOAD) and not dest.exists()

    seen: list[tuple[str, int, int | None]] = []
    download_file(url, dest, timeout_s=10, progress=lambda *a: seen.append(a))
    assert dest.read_bytes() == PAYLOAD  # checked against the hub's X-Linked-Etag
    assert not (tmp_path / "model.onnx.part").exists()
    assert cdn.requests[-1] == ("/cdn/cut-once/model.onnx", f"bytes={kept}-")  # type: ignore[attr-defined]
    assert seen[0] == ("model.onnx", kept, len(PAYLOAD))  # progress starts where it was


def test_the_checksum_the_hub_announces_is_checked(
    tmp_path: Path, cdn: http.server.ThreadingHTTPServer
) -> None:
    cdn.sha256 = "ab" * 32  # type: ignore[attr-defined]
    with pytest.raises(WeightsDownloadFailed, match="X-Linked-Etag"):
        download_file(_url(cdn, "/resolve/model.onnx"), tmp_path / "model.onnx", timeout_s=10)
    assert _folder_files(tmp_path) == []  # a bad file is not kept, not even as a part

    # A small file: its git blob SHA-1, as the hub names it in the ETag.
    download_file(_url(cdn, "/small"), tmp_path / "tags.csv", timeout_s=10)
    assert (tmp_path / "tags.csv").read_bytes().startswith(b"tag_id")
    cdn.small_etag = "cd" * 20  # type: ignore[attr-defined]
    with pytest.raises(WeightsDownloadFailed, match="git SHA-1"):
        download_file(_url(cdn, "/small"), tmp_path / "other.csv", timeout_s=10)


def test_http_error_leaves_no_partial_file(
    tmp_path: Path, server: http.server.ThreadingHTTPServer
) -> None:
    dest = tmp_path / "model.onnx"
    with pytest.raises(WeightsDownloadFailed, match="404"):
        download_file(_url(server, "/nope"), dest, timeout_s=10)
    assert _folder_files(tmp_path) == []


def test_file_without_url_cannot_be_downloaded(tmp_path: Path) -> None:
    with pytest.raises(WeightsUnavailable, match="no download address"):
        resolve_weights(_spec(), data_dir=tmp_path, allow_download=True)


def test_model_digest_follows_bytes(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    first = model_digest([a, b])
    assert len(first) == 12 and int(first, 16) >= 0
    assert model_digest({"a": a, "b": b}) == first
    assert model_digest([b, a]) != first
    a.write_bytes(b"three")  # another size: the digest cache keys on size and mtime
    assert model_digest([a, b]) != first

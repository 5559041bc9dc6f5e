"""The fake Meilisearch is held to the real server's recorded answers (meili_recorded).

Each recorded call is replayed against the fake (and against a real server when
``PXIMSE_TEST_MEILI_URL`` is set, with ``PXIMSE_TEST_MEILI_KEY`` as its master
key) over HTTP, after setting up the documents and settings the recording was
made with; the answer must have the recorded status, the recorded keys (newer
servers' extra keys aside), the recorded values where the recording fixed them,
and, for searches, the recorded hits in the recorded order.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import httpx
import pytest
from helpers.meili_fake import FakeMeili
from helpers.meili_recorded import RECORDED, Recorded

SERVER_URL = os.environ.get("PXIMSE_TEST_MEILI_URL", "")
SERVER_KEY = os.environ.get("PXIMSE_TEST_MEILI_KEY", "")
KEY = "MASTER_KEY"
_TYPES = {"[date]": str, "[duration]": str, "[type]": str, "[list]": list}


def conforms(actual: Any, recorded: Any, optional: tuple[str, ...], where: str = "") -> None:
    if isinstance(recorded, str) and recorded.startswith("[") and recorded.endswith("]"):
        if recorded in _TYPES:
            assert isinstance(actual, _TYPES[recorded]), f"{where}: {actual!r} for {recorded}"
        elif recorded == "[uid]":
            assert isinstance(actual, str | int), f"{where}: {actual!r}"
        return
    if isinstance(recorded, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r}"
        assert set(actual) - set(optional) == set(recorded), (
            f"{where}: keys {sorted(actual)} where the server answered {sorted(recorded)}")
        for key, value in recorded.items():
            conforms(actual[key], value, optional, f"{where}.{key}")
        return
    if isinstance(recorded, list):
        assert isinstance(actual, list) and len(actual) == len(recorded), f"{where}: {actual!r}"
        for n, (got, want) in enumerate(zip(actual, recorded, strict=True)):
            conforms(got, want, optional, f"{where}[{n}]")
        return
    assert actual == recorded, f"{where}: {actual!r}, the server answered {recorded!r}"


class Target:
    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key
        self.http = httpx.Client(base_url=url, timeout=30)

    def call(self, method: str, path: str, body: Any = None, key: str | None = None
             ) -> httpx.Response:
        used = self.key if key is None else key
        headers = {"Authorization": f"Bearer {used}"} if used else {}
        return self.http.request(method, path, json=body, headers=headers)

    def wait(self, task: int) -> dict[str, Any]:
        for _ in range(600):
            answer = self.call("GET", f"/tasks/{task}").json()
            if answer["status"] in ("succeeded", "failed"):
                return dict(answer)
            time.sleep(0.01)
        raise AssertionError(f"task {task} did not finish")

    def set_up(self, entry: Recorded, uid: str) -> int | None:
        """The index, settings and documents of the recording; the last task's uid."""
        if entry.path == "/indexes":
            return None
        key = "id" if entry.documents else None
        self.wait(self.call("POST", "/indexes", {"uid": uid, "primaryKey": key}).json()["taskUid"])
        if entry.settings:
            self.wait(self.call("PATCH", f"/indexes/{uid}/settings",
                                entry.settings).json()["taskUid"])
        if entry.documents:
            task = self.call("POST", f"/indexes/{uid}/documents", entry.documents).json()
            assert self.wait(task["taskUid"])["status"] == "succeeded"
            return int(task["taskUid"])
        return None


@pytest.fixture(scope="module", params=["fake", "server"])
def target(request: pytest.FixtureRequest) -> Any:
    if request.param == "server":
        if not SERVER_URL:
            pytest.skip("PXIMSE_TEST_MEILI_URL is not set: the recordings are replayed "
                        "against a real server only with one")
        yield Target(SERVER_URL, SERVER_KEY)
        return
    fake = FakeMeili(master_key=KEY).start()
    yield Target(fake.url, KEY)
    fake.stop()


@pytest.mark.parametrize("entry", RECORDED, ids=[entry.name for entry in RECORDED])
def test_answers_as_the_server_recorded(target: Target, entry: Recorded) -> None:
    if entry.status in (401, 403) and not target.key:
        pytest.skip("a server without a master key takes any request")
    uid = f"contract_{uuid.uuid4().hex[:10]}"
    task = target.set_up(entry, uid)
    path = entry.path.replace("{uid}", uid).replace("{task}", str(task))
    body = entry.body
    if isinstance(body, dict) and body.get("uid") == "[uid]":
        body = {**body, "uid": uid}
    answer = target.call(entry.method, path, body,
                         key=None if entry.status not in (401, 403) else entry.key)
    assert answer.status_code == entry.status, answer.text
    data = answer.json()
    if entry.answer is not None:
        conforms(data, entry.answer, entry.optional, entry.name)
    if entry.hits is not None:
        assert [str(hit["id"]) for hit in data["hits"]] == entry.hits
    if entry.count is not None:
        assert len(data["hits"]) == entry.count
    if entry.status == 202:  # the task then runs to its end
        assert target.wait(int(data["taskUid"]))["status"] == "succeeded"


def test_every_call_pximse_makes_is_recorded() -> None:
    """The Meilisearch text store's calls (read from a session with the fake) are
    among the recorded ones."""
    from pximse.store.meili import MeiliTextStore
    from pximse.store.text import TextDocument

    fake = FakeMeili(master_key=KEY).start()
    try:
        store = MeiliTextStore(fake.url, KEY, index="calls", interval_ms=1)
        store.put([TextDocument(1, "hello", "t", ("a",), ("a",))])
        store.search_ids("hello", "ocr", source_tags=["a"])
        store.documents([1])
        store.count()
        store.delete([1])
        store.clear()
    finally:
        fake.stop()
    recorded = {(entry.method, entry.path.replace("{uid}", "calls").replace(
        "4294967295", "{task}")) for entry in RECORDED}
    made = {(method, "/tasks/{task}" if path.startswith("/tasks/") else path)
            for method, path in fake.requests}
    assert made <= recorded, made - recorded

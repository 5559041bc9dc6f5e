"""Requests as the original PxIMSE front end sends them to ``/api/query/``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient


def submit(client: TestClient, **form: Any) -> list[dict[str, Any]]:
    response = client.post("/api/query/", **front_end_form(**form))
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list)  # the page uses .length and .slice
    return body


def picture_url(doc: dict[str, Any]) -> str:
    """The address as a browser requests the page's ``${serverUrl}/${folder}/${filename}``."""
    return "/" + quote(f"{doc['folder']}/{doc['filename']}")


def front_end_form(text: str | None = "", query: list[str] | None = None,
                   sort: list[str] | None = None, image: Any = None) -> dict[str, Any]:
    """The multipart parts the original's ``submitData`` appends, in its order:
    ``FormData.append`` turns ``null`` into "null" and an array into its
    comma-joined ``String()``."""
    def js_string(value: Any) -> str:
        return "null" if value is None else ",".join(value) if isinstance(value, list) \
            else str(value)

    parts: list[tuple[str, Any]] = [("text", (None, js_string(text))),
                                    ("query", (None, js_string([] if query is None else query))),
                                    ("sort", (None, js_string([] if sort is None else sort)))]
    if image is not None:
        parts.append(("image", image if isinstance(image, tuple) else (None, image)))
    return {"files": parts}

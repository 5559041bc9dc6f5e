"""The in-process HTTP client the API tests use.

Starlette's ``TestClient`` sends ``Host: testserver``, a name the daemon does
not answer to (it refuses foreign names, see ``pximse.api.guards``), so the
tests reach the app as a script on this computer does: at 127.0.0.1 with the
configured port.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient


def api_client(app: Any, **options: Any) -> TestClient:
    port = app.state.config.server.port
    return TestClient(app, base_url=f"http://127.0.0.1:{port}", **options)

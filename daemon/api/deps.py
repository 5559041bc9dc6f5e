"""Shared request dependencies: the app's catalogue and configuration."""

from __future__ import annotations

from fastapi import Request

from pximse.config import Config
from pximse.store.backends import Catalog


def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog  # type: ignore[no-any-return]


def get_config(request: Request) -> Config:
    return request.app.state.config  # type: ignore[no-any-return]

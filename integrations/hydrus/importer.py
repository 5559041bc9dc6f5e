"""Indexing a Hydrus client's own files where they are.

Hydrus keeps each file once, as ``client_files/fXX/<sha256>.<ext>`` (thumbnails
in ``tXX`` beside them), and the SHA-256 is PxIMSE's content id too: so the
store is simply a library root whose files are the ``fXX`` folders'. Nothing
is copied or moved, and a push later finds every file by the same hash.

Where the store is: ``--path`` or ``[hydrus] client_files``; otherwise the
Client API says (``local_file_storage_locations``, or one file's
``file_path`` on older clients), which needs the "See Local Paths"
permission and a Hydrus on this computer (or its folders mounted at the
same paths).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pximse.config import RootConfig
from pximse.config.toml_writer import toml_string
from pximse.integrations.hydrus.client import HydrusClient
from pximse.integrations.hydrus.errors import HydrusError, HydrusRequestError

__all__ = ["FILE_FOLDERS", "discover_file_folders", "hydrus_roots", "roots_toml"]

FILE_FOLDERS = "f[0-9a-f][0-9a-f]/*"
"""The files of a Hydrus store (not its ``tXX`` thumbnails)."""


class HydrusStoreNotFound(HydrusError):
    code = "hydrus_store"


def discover_file_folders(client: HydrusClient) -> list[Path]:
    """The folders that hold this client's ``fXX`` folders, as Hydrus reports them."""
    try:
        locations = client.storage_locations()
    except HydrusRequestError as exc:
        if exc.status not in (400, 404):
            raise
        locations = []  # older clients: ask where one file is
    folders = [Path(str(loc["path"])) for loc in locations
               if any(str(p).startswith("f") for p in loc.get("prefixes", []))]
    if not folders and not locations:
        found = client.search_files(["system:everything", "system:limit = 1"])
        if not found:
            raise HydrusStoreNotFound(
                "the Hydrus client has no files yet, so it cannot say where it keeps them; "
                "give the folder with --path (Hydrus's db/client_files)")
        folders = [Path(client.file_path(found[0])).parent.parent]
    return list(dict.fromkeys(folders))


def hydrus_roots(folders: Sequence[Path], taken: Sequence[str] = ()) -> list[RootConfig]:
    """One root per store folder, named ``hydrus``, ``hydrus-2``... (names in ``taken``
    are skipped, unless the root there is the same folder)."""
    roots: list[RootConfig] = []
    used = set(taken)
    for number, folder in enumerate(folders, start=1):
        folder = folder.expanduser()
        if not folder.is_dir():
            raise HydrusStoreNotFound(
                f"Hydrus keeps its files in {folder}, which is not a folder on this computer; "
                "if Hydrus runs elsewhere, mount its client_files folder here and give it "
                "with --path")
        if not any(folder.glob("f[0-9a-f][0-9a-f]")):
            raise HydrusStoreNotFound(
                f"{folder} has no f00..fff folders: it is not a Hydrus file store "
                "(that is Hydrus's db/client_files, or a folder set under database > "
                "move media files)")
        name = "hydrus" if number == 1 else f"hydrus-{number}"
        while name in used:
            name += "-x"
        used.add(name)
        roots.append(RootConfig(name=name, path=folder.resolve(), include=(FILE_FOLDERS,)))
    return roots


def roots_toml(roots: Sequence[RootConfig]) -> str:
    """``[[library.roots]]`` tables for the configuration file, so the daemon keeps
    the Hydrus store indexed as files come and go."""
    blocks = []
    for root in roots:
        blocks.append("\n".join([
            "[[library.roots]]",
            "# A Hydrus client's file store, indexed in place (pximse hydrus import).",
            f"name = {toml_string(root.name)}",
            f"path = {toml_string(str(root.path))}",
            f"include = [{toml_string(FILE_FOLDERS)}]",
        ]))
    return "\n\n".join(blocks) + "\n"

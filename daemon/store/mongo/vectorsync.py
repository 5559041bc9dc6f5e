"""Keeping the catalogue columns beside Milvus vectors in step with the MongoDB catalogue.

Every content document carries the write generation that last changed it
(``gen``); the catalogue's ``meta`` remembers, per Milvus collection, the
generation it was last copied at. A sync copies what changed since (and the
vectors added without columns); a filtered vector search uses Milvus' own
filtering only while the copy is current, and the allowed ids otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pximse.store.mongo.compiler import FIELD_KEYS
from pximse.store.mongo.database import MongoDatabase
from pximse.store.vectors.milvus_filter import SCALARS


def _meta_key(store: Any) -> str:
    return f"vector_sync:{store.collection}"


def vector_scalars(mdb: MongoDatabase, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The columns Milvus keeps, by content id, for the ids the catalogue knows."""
    keys = {name: FIELD_KEYS.get(name, name) for name in SCALARS}
    wanted = sorted({int(i) for i in ids})
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), 1000):
        for doc in mdb.content.find({"_id": {"$in": wanted[start:start + 1000]}},
                                    dict.fromkeys(keys.values(), 1)):
            found[int(doc["_id"])] = {name: doc.get(key) for name, key in keys.items()}
    return found


def sync_vector_scalars(mdb: MongoDatabase, store: Any, *, full: bool = False) -> int:
    """Copy the changed columns onto ``store``'s vectors; returns how many were updated."""
    current = mdb.counter("gen")
    last = 0 if full else mdb.counter(_meta_key(store))
    changed = [doc["_id"] for doc in mdb.content.find({"gen": {"$gt": last}}, {"_id": 1})]
    ids = set(changed) | set(store.unsynced_ids().tolist())
    updated = store.update_scalars(vector_scalars(mdb, ids)) if ids else 0
    mdb.meta.update_one({"_id": _meta_key(store)}, {"$set": {"value": current}}, upsert=True)
    return int(updated)


def scalars_current(mdb: MongoDatabase, store: Any) -> bool:
    """Whether the store's columns reflect every write the catalogue has taken."""
    return mdb.counter(_meta_key(store)) >= mdb.counter("gen") and not len(
        store.unsynced_ids())


def filtered_in_store(mdb: MongoDatabase, store: Any, where: Any) -> str | None:
    """The Milvus expression to filter with inside the store, when that is exact now."""
    expression = getattr(store, "filter_expression", None)
    if expression is None:
        return None
    expr = expression(where)
    if expr is None or not scalars_current(mdb, store):
        return None
    return str(expr)

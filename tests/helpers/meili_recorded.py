"""Answers of the real Meilisearch HTTP API, for every call PxIMSE makes, that the
fake (meili_fake) is held to by tests/test_meili_contract.py.

Each entry is a request and the answer a real Meilisearch server gave to it, as
recorded in Meilisearch's own integration tests (the ``meilisearch/meilisearch``
repository, ``crates/meilisearch/tests/``, inline ``insta`` snapshots and
``assert_eq!`` checks of live server responses; the file and test are named in
``source``). Placeholders the recordings use for values that change from run to
run (``"[date]"``, ``"[uid]"``, ``"[duration]"``, ``"[ignored]"``) match any
value of the same type. ``optional`` names keys newer servers add (``batchUid``,
1.13; ``requestUid``, 1.x) that PxIMSE does not read and the fake may leave out.

No Meilisearch binary can be installed on the development machine (none on
PyPI, npm or Debian), so these recordings are what stands for a server here;
with ``PXIMSE_TEST_MEILI_URL`` set, the contract test replays them against a
real server too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REPO = "meilisearch/meilisearch crates/meilisearch/tests/"

MOVIES = [
    {"title": "Shazam!", "id": "1"},
    {"title": "Captain Planet", "id": "2"},
    {"title": "Captain Marvel", "id": "3"},
    {"title": "a Captain Marvel ersatz", "id": "4"},
    {"title": "He's not part of the Marvel Cinematic Universe", "id": "5"},
    {"title": "a Shazam ersatz, but better than Captain Planet", "id": "6"},
    {"title": "Capitain CAAAAAVEEERNE!!!!", "id": "7"},
]
"""``SIMPLE_SEARCH_DOCUMENTS`` of search/matching_strategy.rs."""

DESCRIBED = [
    {"title": "Shazam!", "desc": "a Captain Marvel ersatz", "id": "1"},
    {"title": "Captain Planet", "desc": "He's not part of the Marvel Cinematic Universe",
     "id": "2"},
    {"title": "Captain Marvel", "desc": "a Shazam ersatz", "id": "3"},
]
"""``SIMPLE_SEARCH_DOCUMENTS`` of search/restrict_searchable.rs."""

COLOURS = [{"id": 0, "color": "red"}, {"id": 1, "color": "blue"}, {"id": 2, "color": "blue"},
           {"id": 3}]
"""documents/get_documents.rs, ``get_document_by_filter``."""


@dataclass(frozen=True)
class Recorded:
    name: str
    source: str
    method: str
    path: str
    body: Any = None
    status: int = 200
    answer: Any = None
    """The recorded answer; placeholders match any value of their type."""
    hits: list[str] | None = None
    """For searches: the recorded hit ids, in order."""
    count: int | None = None
    """For searches: how many hits were recorded (when the ids were not)."""
    documents: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    optional: tuple[str, ...] = ()
    key: str = ""
    """The master key the request is sent with ("" for none)."""


SUMMARISED_TASK = {"taskUid": "[uid]", "indexUid": "[uid]", "status": "enqueued",
                   "type": "[type]", "enqueuedAt": "[date]"}

RECORDED: list[Recorded] = [
    # -- searches (POST /indexes/{uid}/search) ---------------------------------------------
    Recorded("matchingStrategy all", REPO + "search/matching_strategy.rs simple_search",
             "POST", "/indexes/{uid}/search",
             {"q": "Captain Marvel", "matchingStrategy": "all", "attributesToRetrieve": ["id"]},
             hits=["3", "4"], documents=MOVIES),
    Recorded("matchingStrategy last", REPO + "search/matching_strategy.rs simple_search",
             "POST", "/indexes/{uid}/search",
             {"q": "Captain Marvel", "matchingStrategy": "last", "attributesToRetrieve": ["id"]},
             hits=["3", "4", "2", "6", "7"], documents=MOVIES),
    Recorded("a typo, every word", REPO + "search/matching_strategy.rs search_with_typo",
             "POST", "/indexes/{uid}/search",
             {"q": "Capitain Marvel", "matchingStrategy": "all", "attributesToRetrieve": ["id"]},
             hits=["3", "4"], documents=MOVIES),
    Recorded("an unknown word, every word",
             REPO + "search/matching_strategy.rs search_with_unknown_word",
             "POST", "/indexes/{uid}/search",
             {"q": "Captain Supercopter Marvel", "matchingStrategy": "all",
              "attributesToRetrieve": ["id"]},
             hits=[], documents=MOVIES),
    Recorded("attributesToSearchOn", REPO + "search/restrict_searchable.rs simple_search_on_title",
             "POST", "/indexes/{uid}/search",
             {"q": "Captain Marvel", "attributesToSearchOn": ["title"]},
             count=2, documents=DESCRIBED),
    Recorded("attributesToSearchOn, every word",
             REPO + "search/restrict_searchable.rs simple_search_on_title_matching_strategy_all",
             "POST", "/indexes/{uid}/search",
             {"q": "Captain Marvel", "attributesToSearchOn": ["title"],
              "matchingStrategy": "all"},
             count=1, documents=DESCRIBED),
    Recorded("attributesToSearchOn, a prefix",
             REPO + "search/restrict_searchable.rs simple_prefix_search_on_title",
             "POST", "/indexes/{uid}/search",
             {"q": "Captain Mar", "attributesToSearchOn": ["title"]},
             count=2, documents=DESCRIBED),
    Recorded("attributesToSearchOn nothing",
             REPO + "search/restrict_searchable.rs simple_search_on_no_field",
             "POST", "/indexes/{uid}/search",
             {"q": "Captain Marvel", "attributesToSearchOn": []}, hits=[], documents=DESCRIBED),
    Recorded("page mode", REPO + "search/pagination.rs hits_per_page_1 (the values) and "
             "test_issue_5274 (the keys of a page-mode answer)",
             "POST", "/indexes/{uid}/search", {"hitsPerPage": 1},
             answer={"hits": "[list]", "query": "", "processingTimeMs": "[ignored]",
                     "hitsPerPage": 1, "page": 1, "totalPages": 5, "totalHits": 5},
             count=1, documents=MOVIES[:5], optional=("requestUid",)),
    Recorded("maxTotalHits caps totalHits",
             REPO + "search/pagination.rs max_total_hits_caps_estimated_and_total_hits",
             "POST", "/indexes/{uid}/search", {"page": 1, "hitsPerPage": 1},
             answer={"hits": "[list]", "query": "", "processingTimeMs": "[ignored]",
                     "hitsPerPage": 1, "page": 1, "totalPages": 2, "totalHits": 2},
             count=1,
             documents=[{"id": 1, "title": "Document 1"}, {"id": 2, "title": "Document 2"},
                        {"id": 3, "title": "Document 3"}],
             settings={"pagination": {"maxTotalHits": 2}}, optional=("requestUid",)),
    Recorded("a bad filter", REPO + "search/errors.rs search_bad_filter",
             "POST", "/indexes/{uid}/search", {"filter": True}, status=400,
             answer={"message": "Invalid syntax for the filter parameter: `expected String, "
                                "Array, found: true`.",
                     "code": "invalid_search_filter", "type": "invalid_request",
                     "link": "https://docs.meilisearch.com/errors#invalid_search_filter"}),
    # -- documents ---------------------------------------------------------------------------
    Recorded("fetch by filter", REPO + "documents/get_documents.rs get_document_by_filter",
             "POST", "/indexes/{uid}/documents/fetch", {"filter": "color = blue"},
             answer={"results": [{"id": 1, "color": "blue"}, {"id": 2, "color": "blue"}],
                     "offset": 0, "limit": 20, "total": 2},
             documents=COLOURS, settings={"filterableAttributes": ["color"]}),
    Recorded("add documents", REPO + "tasks/mod.rs test_summarized_task_view",
             "POST", "/indexes/{uid}/documents", [{"id": 1}], status=202,
             answer={**SUMMARISED_TASK, "type": "documentAdditionOrUpdate"}),
    Recorded("delete documents by id", REPO + "tasks/mod.rs test_summarized_task_view",
             "POST", "/indexes/{uid}/documents/delete-batch", [1], status=202,
             answer={**SUMMARISED_TASK, "type": "documentDeletion"}),
    Recorded("delete every document", REPO + "tasks/mod.rs test_summarized_task_view",
             "DELETE", "/indexes/{uid}/documents", status=202,
             answer={**SUMMARISED_TASK, "type": "documentDeletion"}),
    Recorded("settings", REPO + "tasks/mod.rs test_summarized_task_view",
             "PATCH", "/indexes/{uid}/settings", {}, status=202,
             answer={**SUMMARISED_TASK, "type": "settingsUpdate"}),
    Recorded("create an index", REPO + "tasks/mod.rs test_summarized_task_view",
             "POST", "/indexes", {"uid": "[uid]", "primaryKey": "id"}, status=202,
             answer={**SUMMARISED_TASK, "type": "indexCreation"}),
    # -- tasks ---------------------------------------------------------------------------------
    Recorded("a finished task",
             REPO + "tasks/mod.rs test_summarized_document_addition_or_update",
             "GET", "/tasks/{task}", documents=[{"id": 42, "content": "doggos & fluff"}],
             answer={"uid": "[uid]", "indexUid": "[uid]", "status": "succeeded",
                     "type": "documentAdditionOrUpdate", "canceledBy": None,
                     "details": {"receivedDocuments": 1, "indexedDocuments": 1},
                     "error": None, "duration": "[duration]", "enqueuedAt": "[date]",
                     "startedAt": "[date]", "finishedAt": "[date]"},
             optional=("batchUid",)),
    Recorded("an unknown task", REPO + "tasks/mod.rs error_get_unexisting_task_status",
             "GET", "/tasks/4294967295", status=404,
             answer={"message": "Task `4294967295` not found.", "code": "task_not_found",
                     "type": "invalid_request",
                     "link": "https://docs.meilisearch.com/errors#task_not_found"}),
    # -- indexes -------------------------------------------------------------------------------
    Recorded("an index", REPO + "index/get_index.rs create_and_get_index",
             "GET", "/indexes/{uid}",
             answer={"uid": "[uid]", "primaryKey": None, "createdAt": "[date]",
                     "updatedAt": "[date]"}),
    Recorded("stats", REPO + "index/stats.rs stats",
             "GET", "/indexes/{uid}/stats",
             answer={"numberOfDocuments": 2, "isIndexing": False,
                     "fieldDistribution": {"id": 2, "name": 1, "age": 1}},
             documents=[{"id": 1, "name": "Alexey"}, {"id": 2, "age": 45}],
             optional=("rawDocumentDbSize", "avgDocumentSize", "numberOfEmbeddings",
                       "numberOfEmbeddedDocuments")),
    # -- keys ------------------------------------------------------------------------------------
    Recorded("no key", REPO + "auth/errors.rs invalid_auth_format",
             "GET", "/indexes/{uid}", status=401, key="",
             answer={"message": "The Authorization header is missing. It must use the bearer "
                                "authorization method.",
                     "code": "missing_authorization_header", "type": "auth",
                     "link": "https://docs.meilisearch.com/errors#missing_authorization_header"}),
    Recorded("a wrong key", REPO + "auth/authorization.rs INVALID_ROUTE_POLICY_RESPONSE",
             "GET", "/indexes/{uid}", status=403, key="wrong",
             answer={"message": "The provided API key is invalid.", "code": "invalid_api_key",
                     "type": "auth",
                     "link": "https://docs.meilisearch.com/errors#invalid_api_key"}),
]

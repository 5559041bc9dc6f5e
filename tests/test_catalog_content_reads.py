"""The reads of many contents at once that the XMP sidecars, the Hydrus push and
the search page use (:class:`pximse.store.backends.Catalog`): the same library
in SQLite and in MongoDB (mongomock; a server with ``PXIMSE_TEST_MONGO_URL``)
gives the same answer to every call.

The library (``helpers.query_library``) has files on three roots, one of them
offline, copies of one content in two places, removed files whose content has
no file left, files that could not be read, tags from two taggers, a site and
by hand, OCR text, Pixiv and Twitter artists.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.mongo_pair import Pair, close_pair, open_pair
from helpers.query_library import THRESHOLD

from pximse.api.page_reads import artist_names, online_paths, result_tags, tags_matching

pytestmark = pytest.mark.slow  # the library takes seconds to build

UNKNOWN = 99_999
BOX = [[0, 0], [10, 0], [10, 5], [0, 5]]


@pytest.fixture(scope="module", params=["mongomock", "server"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Pair]:
    built = open_pair(tmp_path_factory.mktemp("reads"), request.param, 300, 11)
    scored = built.sqlite.content_ids_after(limit=3)
    built.tee.set_ocr_many([(scored[0], "rapidocr:x", [("ありがとう", BOX, 0.93),
                                                       ("THANKS", None, None)]),
                            (scored[1], "rapidocr:x", [])])
    yield built
    close_pair(built)


def every_id(pair: Pair) -> list[int]:
    """Every content id the catalogues hold (listed or not), and an unknown one."""
    known = pair.sqlite.content_ids(set(pair.library.files.values()))
    return sorted(known.values()) + [UNKNOWN]


def test_the_library_has_what_the_reads_tell_apart(pair: Pair) -> None:
    listed = pair.sqlite.content_ids_after()
    online = pair.sqlite.content_ids_after(include_offline=False)
    assert set(online) < set(listed) < set(every_id(pair))  # offline; without files
    files = pair.sqlite.content_files(every_id(pair), online_only=False)
    assert len(files) > len(pair.sqlite.content_files(every_id(pair)))
    assert len({f.content_id for f in pair.sqlite.content_files(online)}) == len(online)


def test_which_catalogue(pair: Pair) -> None:
    assert pair.sqlite.identity() == "sqlite"
    assert pair.mongo.identity() == f"mongodb:{pair.mongo.mdb.name}"


def test_listed_contents_counted_and_paged_alike(pair: Pair) -> None:
    for offline in (True, False):
        everything = pair.sqlite.content_ids_after(include_offline=offline)
        assert pair.mongo.content_ids_after(include_offline=offline) == everything
        assert pair.mongo.count_images(include_offline=offline) == \
            pair.sqlite.count_images(include_offline=offline) == len(everything)
        pages: list[int] = []
        while page := pair.mongo.content_ids_after(pages[-1] if pages else 0, 37,
                                                   include_offline=offline):
            assert page == pair.sqlite.content_ids_after(pages[-1] if pages else 0, 37,
                                                         include_offline=offline)
            pages += page
        assert pages == everything


def test_changes_since_a_generation_alike(pair: Pair) -> None:
    for offline in (True, False):
        assert pair.mongo.changed_since(0, include_offline=offline)[1] == \
            pair.sqlite.changed_since(0, include_offline=offline)[1] == \
            pair.sqlite.content_ids_after(include_offline=offline)
    marks = {side: side.settled_generation() for side in (pair.sqlite, pair.mongo)}
    for side, mark in marks.items():
        assert mark > 0 and side.changed_since(mark) == (mark, [])
    online = pair.sqlite.content_ids_after(include_offline=False)
    offline = sorted(set(pair.sqlite.content_ids_after()) - set(online))
    touched = sorted([online[3], online[40], offline[0]])
    pair.tee.set_model_tags_many([(cid, "wd14:test", {"umbrella": 0.9}) for cid in touched])
    for side, mark in marks.items():
        settled = side.settled_generation()
        assert settled > mark
        assert side.changed_since(mark) == (settled, touched)
        assert side.changed_since(mark, include_offline=False)[1] == [online[3], online[40]]
        assert side.changed_since(settled) == (settled, [])


def test_files_alike(pair: Pair) -> None:
    ids = every_id(pair)
    for online_only in (True, False):
        expected = pair.sqlite.content_files(ids, online_only=online_only)
        assert pair.mongo.content_files(ids, online_only=online_only) == expected
    files = pair.sqlite.content_files(ids)
    shas = pair.sqlite.content_ids(f.sha256 for f in files)
    assert all(shas[f.sha256] == f.content_id and f.path.endswith("/" + f.name)
               and pair.library.files[f.path] == f.sha256 for f in files)
    assert {f.root for f in files} == {"main", "extra"}  # "second" is offline
    assert pair.mongo.content_files([]) == pair.sqlite.content_files([]) == []
    # Many ids (unknown ones among them) cross the chunks both backends read in.
    many = list(range(1, 2600))
    assert pair.mongo.content_files(many) == pair.sqlite.content_files(many) == files


def test_sources_tags_and_ocr_alike(pair: Pair) -> None:
    ids = every_id(pair)
    sources = pair.sqlite.content_sources(ids)
    assert pair.mongo.content_sources(ids) == sources
    assert UNKNOWN not in sources and len(sources) == len(ids) - 1
    assert {"pixiv", "twitter", "other"} <= {s.source for s in sources.values()}

    def tags(side: object) -> dict[int, list[tuple[str, str, int, float]]]:
        found = side.content_tags(ids)  # type: ignore[attr-defined]
        return {cid: sorted((t.name, t.origin, t.kind, t.score) for t in rows)
                for cid, rows in found.items()}

    expected = tags(pair.sqlite)
    assert tags(pair.mongo) == expected
    assert {origin for rows in expected.values() for _, origin, _, _ in rows} >= \
        {"wd14:test", "pixiv", "manual"}
    assert all(rows for rows in pair.sqlite.content_tags(ids).values())

    for scores in (False, True):
        texts = pair.sqlite.ocr_texts(ids, line_scores=scores)
        assert pair.mongo.ocr_texts(ids, line_scores=scores) == texts
        assert len(texts) > 50
    scored = pair.sqlite.content_ids_after(limit=3)
    texts = pair.sqlite.ocr_texts(scored, line_scores=True)
    assert texts[scored[0]].text == "ありがとう\nTHANKS"
    assert texts[scored[0]].line_scores == (("ありがとう", 0.93), ("THANKS", None))
    assert texts[scored[1]].text == "" and texts[scored[1]].line_scores == ()
    assert pair.sqlite.ocr_texts(scored)[scored[0]].line_scores is None


def test_what_the_search_page_reads_alike(pair: Pair) -> None:
    shas = sorted(set(pair.library.files.values()))
    asked = [sha.upper() for sha in shas[::3]] + ["0" * 64]
    for threshold in (0.0, THRESHOLD, 0.9):
        tally = pair.sqlite.tag_tally(asked, threshold)
        assert pair.mongo.tag_tally(asked, threshold) == tally
        assert tally.tags and tally.artists
        assert result_tags(pair.mongo, asked, threshold=threshold) == \
            result_tags(pair.sqlite, asked, threshold=threshold)
    assert online_paths(pair.mongo, asked) == online_paths(pair.sqlite, asked)
    assert any(len(paths) > 1 for paths in online_paths(pair.sqlite, shas).values())
    for word in ("a", "_hair", "ミク", "HAIR", "%", "zz_none"):
        for limit in (1, 5, 50):
            assert pair.mongo.tags_containing(word.lower(), limit) == \
                pair.sqlite.tags_containing(word.lower(), limit)
            assert tags_matching(pair.mongo, word, limit) == tags_matching(pair.sqlite, word, limit)
    assert pair.sqlite.tags_containing("hair", 50)
    # Names that differ only in case ("Alice", "ALICE") are one artist on SQLite
    # (grouped COLLATE NOCASE) and two on MongoDB, and SQLite folds the case of
    # ASCII letters only: the words below avoid both.
    for word in ("mile", "MILE", "サギ", "ク", "%", "zz"):
        for limit in (1, 10):
            assert pair.mongo.user_names_matching(word, limit) == \
                pair.sqlite.user_names_matching(word, limit)
            assert artist_names(pair.mongo, word, limit) == \
                artist_names(pair.sqlite, word, limit)
    assert [name for name, _ in pair.sqlite.user_names_matching("MILE", 10)] == ["Émile"]
    assert [name for name, _ in pair.sqlite.user_names_matching("ク", 10)] == ["ミク"]


def test_what_only_one_backend_has(pair: Pair, tmp_path: Path) -> None:
    """The scan's hash lookup, the query index and the copy of filter columns onto
    vectors are each one backend's; the other answers that it has none."""
    lookup = pair.sqlite.content_lookup()
    assert lookup is not None and lookup.knows(next(iter(pair.library.files.values())))
    assert not lookup.knows("0" * 64)
    lookup.close()
    assert pair.mongo.content_lookup() is None
    assert pair.sqlite.query_index() is None  # opened without one
    assert pair.mongo.query_index() is None
    assert (pair.sqlite.copies_vector_scalars, pair.mongo.copies_vector_scalars) == \
        (False, True)
    assert pair.sqlite.sync_vector_scalars(object()) == 0
    assert pair.mongo.sync_vector_scalars(object()) == 0  # a store without filter columns

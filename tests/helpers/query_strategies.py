"""Hypothesis strategies for queries over a synthetic library, from its reference's values."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import strategies as st

from helpers.query_library import (
    MANUAL_TAGS,
    MODEL_TAGS,
    PIXIV_TAGS,
    SCORES,
    YANDERE_TAGS,
)
from helpers.query_reference import COLUMNS, Reference
from pximse.query.ast import (
    COMPARE_OPS,
    And,
    Compare,
    Duplicates,
    Has,
    MatchAll,
    Node,
    Not,
    Or,
    Query,
    SortKey,
    Tag,
    TagScore,
    Text,
)
from pximse.query.fields import FIELDS, sortable_names
from pximse.store.names import SOURCES


def iso_moment(epoch: int, *, date_only: bool = False) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%d" if date_only else "%Y-%m-%dT%H:%M:%S")


def query_strategy(reference: Reference) -> st.SearchStrategy[Query]:
    items = list(reference.items.values())
    column_values: dict[str, list[object]] = {}
    for spec in FIELDS:
        if spec.name in ("path", "folder", "filename", "id"):
            continue
        column_values[spec.name] = sorted(
            {item.row[COLUMNS[spec.name]] for item in items} - {None}, key=repr)

    paths = sorted({path for item in items for path, _ in item.files})
    folders = sorted({folder for item in items for _, folder in item.files})
    names = sorted({name for item in items for name in item.names})
    shas = sorted(item.sha256 for item in items)
    ocr_texts = sorted({item.ocr for item in items if item.ocr})
    tag_names = sorted({*MODEL_TAGS, *PIXIV_TAGS, *YANDERE_TAGS, *MANUAL_TAGS})

    def substrings(texts: list[str]) -> st.SearchStrategy[str]:
        """Non-empty pieces of ``texts`` without glob characters or non-ASCII case."""
        usable = [text for text in texts if not any(ch in text for ch in "*?")]
        return st.sampled_from(usable).flatmap(lambda text: st.tuples(
            st.integers(0, len(text) - 1), st.integers(1, len(text))).map(
            lambda span: text[min(span):max(span[0] + 1, span[1])]))

    def numbers(name: str) -> st.SearchStrategy[object]:
        actual = column_values[name]
        if name == "ratio":
            extra: st.SearchStrategy[object] = st.floats(0, 10, allow_nan=False)
        else:
            low, high = min(actual), max(actual)  # type: ignore[type-var]
            extra = st.integers(int(low) - 2, int(high) + 2)  # type: ignore[call-overload]
        return st.one_of(st.sampled_from(actual), extra, st.sampled_from([0, -1, 1]))

    def dates(name: str) -> st.SearchStrategy[object]:
        epochs = [int(v) for v in column_values[name]]  # type: ignore[call-overload]
        near = st.builds(lambda e, d: e + d, st.sampled_from(epochs), st.sampled_from([-1, 0, 1]))
        return st.one_of(
            near.map(iso_moment),
            st.builds(lambda e: iso_moment(e, date_only=True), st.sampled_from(epochs)),
            st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1)).map(
                lambda m: m.isoformat(timespec="seconds")),
        )

    def texts(name: str) -> st.SearchStrategy[object]:
        actual = [str(v) for v in column_values[name]]
        if name == "title":
            return st.one_of(substrings([t for t in actual if t]),
                             substrings([t for t in actual if t]).map(str.swapcase),
                             st.just("nobody"), st.just("SS"))
        if name == "pixiv_state":
            return st.sampled_from(["ok", "deleted", "private"])
        variants = st.sampled_from(actual).map(
            lambda v: v.upper() if name == "user" else v)
        if name == "format":
            return st.sampled_from(["png", "jpeg", "jpg", "JPG", "gif", "webp", "tiff", "tif",
                                    "bmp", "avif", "apng", "svg"])
        if name == "source":
            return st.sampled_from([*SOURCES, "Pixiv", "yande.re", "nowhere"])
        return st.one_of(st.sampled_from(actual), variants, st.just("nobody"))

    def path_values(name: str) -> st.SearchStrategy[object]:
        if name == "filename":
            return st.one_of(
                st.sampled_from(names), st.sampled_from(names).map(str.swapcase),
                st.sampled_from(["*.png", "*_p0.*", "[0-9]*_[0-9]*_p[0-9]*", "?*.GIF",
                                 "yande.re*", "IMG_00??.*", "no-such-file.png", "p0"]),
            )
        if name == "path":
            return st.one_of(
                substrings(paths),
                st.sampled_from(["*.png", "*.jpg", "/lib/main/pixiv/*", "*_p0.*", "?*.gif",
                                 "*/yandere/*cat*", "/lib/second/*", "IMG_00??.*", "*.PNG",
                                 "*photo-?.jpg", "/lib/*/misc/100%/*", "no-such-file"]),
            )
        prefixes = sorted({folder[:cut] for folder in folders
                           for cut in range(1, len(folder) + 1) if folder[cut - 1:cut] == "/"
                           or cut == len(folder)})
        components = sorted({part for folder in folders for part in folder.split("/") if part})
        return st.one_of(
            st.sampled_from(folders), st.sampled_from(prefixes),
            st.sampled_from(prefixes).map(lambda p: p + "/"),
            st.sampled_from(components),
            st.sampled_from(["misc/a_b", "日本語/絵", "pixiv/Alice_1001", "/lib", "/",
                             "*/twitter", "/lib/*/misc*", "*pixiv*", "*/100?", "nowhere",
                             "/lib/main/misc/a", "main/misc"]),
        )

    def compare_for(spec_name: str) -> st.SearchStrategy[Node]:
        spec = next(f for f in FIELDS if f.name == spec_name)
        ordered = st.sampled_from(COMPARE_OPS)
        equality = st.sampled_from(["=", "!="])
        if spec.kind in ("int", "float", "size"):
            return st.builds(Compare, st.just(spec.name), ordered, numbers(spec.name))
        if spec.kind == "date":
            return st.builds(Compare, st.just(spec.name), ordered, dates(spec.name))
        if spec.kind == "bool":
            return st.builds(Compare, st.just(spec.name), equality, st.booleans())
        if spec.kind == "path":
            return st.builds(Compare, st.just(spec.name), equality, path_values(spec.name))
        if spec.name == "id":
            prefix = st.builds(lambda sha, n, upper: sha[:n].upper() if upper else sha[:n],
                               st.sampled_from(shas), st.integers(1, 64), st.booleans())
            return st.builds(Compare, st.just("id"), equality,
                             st.one_of(prefix, st.just("deadbeef00")))
        return st.builds(Compare, st.just(spec.name), equality, texts(spec.name))

    tag_name = st.one_of(
        st.sampled_from(tag_names),
        st.sampled_from(tag_names).map(lambda t: t.upper().replace("_", " ")),
        st.sampled_from(["no_such_tag", "long", "ｃａｔ"]),
    )
    leaves = st.one_of(
        st.builds(Tag, tag_name, st.sampled_from(["any", "model", "source"])),
        st.builds(TagScore, st.sampled_from(MODEL_TAGS), st.sampled_from(COMPARE_OPS),
                  st.one_of(st.sampled_from([*SCORES, 0.0]), st.floats(0, 1))),
        st.sampled_from([f.name for f in FIELDS]).flatmap(compare_for),
        st.builds(Has, st.sampled_from(
            ["model_tags", "source_tags", "ocr", "tags", "tags1", *(f.name for f in FIELDS)])),
        st.builds(Text, st.just("ocr"), st.one_of(
            substrings(ocr_texts), substrings(ocr_texts).map(str.swapcase), st.just("absent"))),
        st.just(MatchAll()),
        st.builds(Duplicates, st.sampled_from(shas).map(lambda sha: sha[:12])),
    )

    def grow(inner: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        return st.one_of(
            inner,
            inner.map(Not),
            st.lists(inner, min_size=2, max_size=3).map(lambda c: And(tuple(c))),
            st.lists(inner, min_size=2, max_size=3).map(lambda c: Or(tuple(c))),
        )

    where = grow(grow(grow(leaves)))
    sort_key = st.builds(SortKey, st.sampled_from(sortable_names()), st.booleans())
    return st.builds(Query, where, st.lists(sort_key, max_size=3).map(tuple))


class Queries:
    """The query strategy for one catalogue (with a short repr for Hypothesis' reports)."""

    def __init__(self, reference: Reference) -> None:
        self.strategy = query_strategy(reference)

    def __repr__(self) -> str:
        return "Queries(...)"

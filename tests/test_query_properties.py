"""Properties of the query parsers and printer, over generated text and trees."""

from __future__ import annotations

from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pximse.query.ast import (
    COMPARE_OPS,
    And,
    Compare,
    Duplicates,
    Has,
    MatchAll,
    Nearest,
    Node,
    Query,
    SortKey,
    Tag,
    TagScore,
    Text,
    all_of,
    any_of,
    negate,
)
from pximse.query.errors import QueryError
from pximse.query.fields import FIELDS, HAS_EXTRA, SORT_ONLY
from pximse.query.parse import format_query, parse_query
from pximse.query.values import INT_LIMIT, iso

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- text that looks like queries ------------------------------------------------

FRAGMENTS = [
    " ", " ", ",", ";", ":", "(", ")", '"', "'", "\\", "-", "~", "|", "!", "&", ".", "..",
    "<", ">", "=", ">=", "<=", "!=", "or", "OR", "and", "a", "1girl", "初音ミク", "_(x)",
    "0", "5", "1.5", "2020", "-06", "-13", "T10:00", "MB", "K", "M", "Z", "e9", "null",
    "tags.", "tags1:", "|tags1:", "!tags.", "m;", "date", "date;", "filesize;", "userid;",
    "width:", "date:", "size:", "ratio:", "pixels:", "animated:", "user:", "id:", "source:",
    "order:", "sort:", "has:", "ocr:", "model:", "src:", "tag:", "pixiv:", "foo:", "re:zero",
    "true", "yes", "random", "\u3000", "\t", "clip:", "similar:", "0123abcd", "clip:\"a b\"",
]
query_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(FRAGMENTS), max_size=14).map("".join),
)


@FAST
@given(text=query_text, sort=st.one_of(st.just(""), query_text))
def test_any_text_parses_or_raises_a_query_error(text: str, sort: str) -> None:
    for syntax in ("auto", "booru", "legacy"):
        try:
            result = parse_query(text, sort, syntax=syntax)
        except QueryError as error:
            assert 0 <= error.position <= max(len(text), len(sort))
            assert error.message
        else:
            assert isinstance(result, Query)


@FAST
@given(text=query_text)
def test_printing_a_parsed_query_is_a_fixed_point(text: str) -> None:
    for syntax in ("booru", "legacy"):
        try:
            parsed = parse_query(text, syntax=syntax)
        except QueryError:
            continue
        printed = format_query(parsed)
        assert parse_query(printed, syntax="booru") == parsed, printed
        assert parse_query(printed) == parsed, printed  # auto-detection sees booru
        assert format_query(parse_query(printed, syntax="booru")) == printed


# -- generated trees -------------------------------------------------------------

LOOKALIKES = ["tags.x", "tags1:x", "m;x", "!width", "width;x", "|tags", "a,tags.x", "or", "AND",
              "order:x", "width:5", "foo:>5", "re:zero", ":)", "a_(b)", "(a", "-a", "~a", '"',
              "x:>=0.5", "1..2", "a b", "\\", "has:x"]
names = st.one_of(st.text(min_size=1, max_size=10), st.sampled_from(LOOKALIKES)).filter(
    lambda s: s.strip() != "")
any_op = st.sampled_from(COMPARE_OPS)
eq_op = st.sampled_from(("=", "!="))
moments = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59))


def _compare_for(name: str, kind: str) -> st.SearchStrategy[Node]:
    if kind == "int":
        return st.builds(Compare, st.just(name), any_op, st.integers(-INT_LIMIT, INT_LIMIT))
    if kind == "size":
        return st.builds(Compare, st.just(name), any_op, st.integers(0, INT_LIMIT))
    if kind == "float":
        return st.builds(Compare, st.just(name), any_op,
                         st.floats(allow_nan=False, allow_infinity=False))
    if kind == "date":
        return st.builds(Compare, st.just(name), st.sampled_from((">=", "<")),
                         moments.map(lambda m: iso(m.replace(microsecond=0))))
    if kind == "bool":
        return st.builds(Compare, st.just(name), eq_op, st.booleans())
    if name == "source":
        values = st.sampled_from(("pixiv", "twitter", "yandere", "danbooru", "other"))
    elif name == "format":
        values = st.sampled_from(("png", "jpeg", "gif", "webp"))
    elif name == "pixiv_state":
        values = st.sampled_from(("ok", "deleted", "private"))
    elif name == "id":
        values = st.text("0123456789abcdef", min_size=8, max_size=64)
    else:
        values = st.one_of(st.text(min_size=1, max_size=10), st.sampled_from(LOOKALIKES))
    return st.builds(Compare, st.just(name), eq_op, values)


compares = st.one_of(*[_compare_for(spec.name, spec.kind) for spec in FIELDS])
leaves = st.one_of(
    st.builds(Tag, names, st.sampled_from(("any", "model", "source"))),
    st.builds(TagScore, names, any_op, st.floats(0, 1)),
    compares,
    st.builds(Has, st.sampled_from([spec.name for spec in FIELDS] + list(HAS_EXTRA))),
    st.builds(Text, st.just("ocr"), names),
    st.builds(Duplicates, st.text("0123456789abcdef", min_size=8, max_size=64)),
)
trees = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, min_size=2, max_size=4).map(all_of),
        st.lists(children, min_size=2, max_size=4).map(any_of),
        children.map(negate),
    ),
    max_leaves=10,
)
sort_keys = st.one_of(
    st.builds(SortKey, st.sampled_from([spec.name for spec in FIELDS]), st.booleans()),
    st.sampled_from([SortKey(name) for name in SORT_ONLY]),
)
nearest = st.one_of(
    st.builds(Nearest, st.just("text"), names.filter(str.strip)),
    st.builds(Nearest, st.just("image"), st.text("0123456789abcdef", min_size=8, max_size=64)),
)
filters = st.one_of(st.just(MatchAll()), trees)
queries = st.builds(
    Query,
    st.one_of(
        filters,
        # one vector node, at the top level, anywhere among the AND's children
        st.tuples(filters, nearest, st.integers(0, 10)).map(
            lambda t: all_of(_insert(_top(t[0]), t[2], t[1]))),
    ),
    st.lists(sort_keys, max_size=3).map(tuple),
)


def _top(node: Node) -> list[Node]:
    if isinstance(node, MatchAll):
        return []
    return list(node.children) if isinstance(node, And) else [node]


def _insert(items: list[Node], at: int, node: Node) -> list[Node]:
    return [*items[:at], node, *items[at:]]


@FAST
@given(query=queries)
def test_a_printed_tree_parses_back_to_the_same_tree(query: Query) -> None:
    printed = format_query(query)
    assert parse_query(printed, syntax="booru") == query, printed
    assert parse_query(printed) == query, printed  # auto-detection sees booru


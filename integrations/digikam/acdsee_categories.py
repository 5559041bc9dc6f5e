"""ACDSee's category tree (``Xmp.acdsee.categories``) as keyword paths, and back.

digiKam writes the tag tree a fifth time, for ACDSee: one text property
holding a small XML document of nested categories, where ``Assigned="1"``
marks the categories given to the image::

    <Categories><Category Assigned="0">PxIMSE<Category Assigned="0">general
    <Category Assigned="1">long hair</Category></Category></Category></Categories>

(as one line). Names are written as they are, unescaped, as digiKam does (the
XMP layer escapes the whole text). digiKam reads the tree when the fields
before it in its order are empty, so PxIMSE keeps it in step with
``TagsList`` wherever it exists.

>>> text = to_categories(["PxIMSE/general/long hair", "People/Ann", "People"])
>>> text[:60]
'<Categories><Category Assigned="0">PxIMSE<Category Assigned='
>>> from_categories(text)
('PxIMSE/general/long hair', 'People/Ann', 'People')
>>> from_categories('<Categories><Category Assigned="0">a</Category></Categories>')
('a',)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["from_categories", "to_categories"]

_TOKEN = re.compile(r'<Category Assigned="([01])">|</Category>|<Categories>|</Categories>')


@dataclass
class _Node:
    name: str
    assigned: bool = False
    children: dict[str, _Node] = field(default_factory=dict)


def from_categories(text: str) -> tuple[str, ...]:
    """The keyword paths (``/``-separated) the categories give the image: every
    assigned category, and every category without sub-categories (digiKam reads
    those as tags too). Text that is not such a tree gives no paths."""
    paths: list[str] = []
    stack: list[tuple[str, bool, list[str]]] = []  # name, assigned, children seen
    position = 0
    pending: str | None = None  # an opened category still waiting for its name

    def close() -> None:
        name, assigned, children = stack.pop()
        path = "/".join([entry[0] for entry in stack] + [name])
        if assigned or not children:
            paths.append(path)
        if stack:
            stack[-1][2].append(name)

    for match in _TOKEN.finditer(text):
        between = text[position:match.start()].strip()
        position = match.end()
        if pending is not None:
            stack.append((between, pending == "1", []))
            pending = None
        token = match.group(0)
        if token.startswith("<Category "):
            pending = match.group(1)
        elif token == "</Category>" and stack:
            close()
    while stack:  # an unterminated tree: what was read so far counts
        close()
    return tuple(dict.fromkeys(p for p in paths if p and "//" not in p))


def to_categories(paths: Iterable[str]) -> str:
    """The category tree for these keyword paths, in the form digiKam writes."""
    root = _Node("")
    for path in paths:
        node = root
        parts = [part for part in path.split("/") if part]
        for part in parts:
            node = node.children.setdefault(part, _Node(part))
        if parts:
            node.assigned = True
    if not root.children:
        return ""

    def write(node: _Node) -> str:
        inner = "".join(write(child) for child in node.children.values())
        flag = "1" if node.assigned else "0"
        return f'<Category Assigned="{flag}">{node.name}{inner}</Category>'

    return "<Categories>" + "".join(write(child) for child in root.children.values()) \
        + "</Categories>"

"""Reading a sidecar's keyword fields straight from its XML, fast.

Parsing a sidecar with expat costs a fraction of what an exiftool read does,
and the same parse tells whether the file is well-formed at all. Only the
plain shapes that exiftool, exiv2 (digiKam), Lightroom and darktable write are
read here: a property element holding one ``rdf:Bag``/``Seq``/``Alt`` of text
``rdf:li`` items, and ACDSee's categories as plain text (an element or an
attribute, as exiv2 writes it for digiKam). Anything else about these
properties (a qualifier, a nested resource, the property twice) makes the
result ``exact=False``, and the caller asks exiftool instead: a list misread
here would be written back short.

A sidecar that is nothing but an ``<?xpacket?>`` line (what digiKam, through
exiv2, writes for an image without metadata: 54 bytes) is an empty packet, as
exiftool and exiv2 read it, not a broken one.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from dataclasses import dataclass, field

from pximse.integrations.digikam.acdsee_categories import from_categories
from pximse.integrations.digikam.exiftool_session import PXIMSE_NAMESPACE
from pximse.integrations.digikam.keyword_merge import SidecarKeywords

__all__ = ["PacketRead", "read_packet"]

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XML_LANG = "http://www.w3.org/XML/1998/namespace lang"
_DC = "http://purl.org/dc/elements/1.1/"
_FIELDS = {
    "http://www.digikam.org/ns/1.0/ TagsList": "tags_list",
    "http://ns.adobe.com/lightroom/1.0/ hierarchicalSubject": "hierarchical",
    f"{_DC} subject": "subjects",
    # Microsoft's namespace is written without the trailing slash (exiftool,
    # Windows); some tools add one.
    "http://ns.microsoft.com/photo/1.0 LastKeywordXMP": "last_keywords",
    "http://ns.microsoft.com/photo/1.0/ LastKeywordXMP": "last_keywords",
    f"{_DC} description": "description",
    "http://ns.iview-multimedia.com/mediapro/1.0/ CatalogSets": "catalog_sets",
}
# Properties whose value is one text (an element's text or an attribute).
_TEXT_FIELDS = {
    "http://ns.acdsee.com/iptc/1.0/ categories": "acdsee",
}
_MARKER = f"{PXIMSE_NAMESPACE} Sidecar"
_CONTAINERS = {f"{_RDF} Bag", f"{_RDF} Seq", f"{_RDF} Alt"}


@dataclass
class PacketRead:
    """What one sidecar's XML says; ``error`` when it cannot be parsed (the
    file must then be left alone), ``exact`` False when exiftool should read it."""

    keywords: SidecarKeywords = field(default_factory=SidecarKeywords)
    created_by_pximse: bool = False
    exact: bool = True
    error: str | None = None
    empty: bool = False  # no XMP at all: a bare <?xpacket?> (exiftool cannot update it)


class _Reader:
    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}
        self.texts: dict[str, str] = {}
        self.text_field: str | None = None  # the text property being read
        self.langs: dict[str, list[str]] = {}
        self.exact = True
        self.saw_rdf = False
        self.marker = ""
        self.stack: list[str] = []
        self.field: str | None = None  # the property being read
        self.field_depth = 0
        self.text: list[str] | None = None  # an rdf:li's or the marker's text

    def start(self, name: str, attrs: dict[str, str]) -> None:
        depth = len(self.stack)
        self.stack.append(name)
        if name == f"{_RDF} RDF":
            self.saw_rdf = True
        if name == f"{_RDF} Description":
            for key, value in attrs.items():
                if key in _FIELDS:
                    self.exact = False  # a list cannot be an attribute: unusual
                elif key in _TEXT_FIELDS:
                    self._set_text(_TEXT_FIELDS[key], value)
                elif key == _MARKER:
                    self.marker = value
            return
        if self.text_field is not None:
            self.exact = False  # markup inside a text property
            return
        if self.field is not None:
            level = depth - self.field_depth
            if level == 1 and name in _CONTAINERS and not attrs:
                return
            if level == 2 and name == f"{_RDF} li" and set(attrs) <= {_XML_LANG}:
                self.text = []
                self.langs.setdefault(self.field, []).append(attrs.get(_XML_LANG, ""))
                return
            self.exact = False  # qualifiers, resources, nested structures
            return
        if name in _FIELDS:
            key = _FIELDS[name]
            if key in self.values or attrs:
                self.exact = False
            self.field, self.field_depth = key, depth
            self.values.setdefault(key, [])
        elif name in _TEXT_FIELDS:
            if attrs:
                self.exact = False
            self.text_field, self.text = _TEXT_FIELDS[name], []
        elif name == _MARKER:
            self.text = []

    def _set_text(self, key: str, value: str) -> None:
        if key in self.texts:
            self.exact = False  # the property twice
        self.texts[key] = value

    def end(self, name: str) -> None:
        self.stack.pop()
        depth = len(self.stack)
        if self.field is not None:
            if depth == self.field_depth:
                self.field = None
            elif depth == self.field_depth + 2 and self.text is not None:
                self.values[self.field].append("".join(self.text))
                self.text = None
            return
        if self.text_field is not None and name in _TEXT_FIELDS and self.text is not None:
            self._set_text(self.text_field, "".join(self.text))
            self.text_field, self.text = None, None
            return
        if name == _MARKER and self.text is not None:
            self.marker = "".join(self.text).strip()
            self.text = None

    def chars(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)
        elif self.field is not None and data.strip():
            self.exact = False  # text beside the container


_BARE_PACKET = re.compile(rb"\s*(?:<\?xpacket[^>]*\?>\s*)*")
_BARE_SIZE = 1024


def _is_bare_packet(data: bytes) -> bool:
    """Whether the file holds nothing but ``<?xpacket ...?>`` lines (and space)."""
    if len(data) > _BARE_SIZE:
        return False
    return _BARE_PACKET.fullmatch(data.replace("\ufeff".encode(), b"")) is not None


def read_packet(path: str) -> PacketRead:
    """Parse the sidecar at ``path``."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return PacketRead(error=f"cannot read it: {exc.strerror or exc}")
    if _is_bare_packet(data):
        return PacketRead(empty=True)
    reader = _Reader()
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.chars
    parser.buffer_text = True
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        return PacketRead(error=f"not well-formed XML ({xml.parsers.expat.ErrorString(exc.code)},"
                                f" line {exc.lineno})")
    if not reader.saw_rdf:
        return PacketRead(error="no XMP (rdf:RDF) in it")
    values = reader.values
    description = values.get("description", [])
    langs = reader.langs.get("description", [])
    text = ""
    if description:
        # The x-default text, as exiftool reads it; else the first language's.
        text = next((t for t, lang in zip(description, langs, strict=False)
                     if lang == "x-default"), description[0])
    keywords = SidecarKeywords(
        tags_list=tuple(values.get("tags_list", ())),
        hierarchical=tuple(values.get("hierarchical", ())),
        subjects=tuple(values.get("subjects", ())),
        last_keywords=tuple(values.get("last_keywords", ())),
        description=text,
        catalog_sets=tuple(values.get("catalog_sets", ())),
        acdsee=from_categories(reader.texts.get("acdsee", "")),
    )
    return PacketRead(keywords, reader.marker == "created", reader.exact)

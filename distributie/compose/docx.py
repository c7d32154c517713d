"""A .docx template compiled once per process and rendered per recipient in about a millisecond.

docxtpl re-reads, re-parses and re-zips the whole document for every render (~30 ms). Here the
document parts that carry Jinja2 tags are patched by docxtpl once and compiled to Jinja2
templates; every other part is compressed once. Rendering a recipient's document is then one
template render per tagged part and a zip assembled from mostly precompressed bytes.
"""

from __future__ import annotations

import io
import itertools
import re
import struct
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from docxtpl import DocxTemplate
from jinja2 import Environment, Template
from lxml import etree

DOCX_MIMETYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# Parts that may carry template tags; everything else (styles, fonts, media) is copied.
_TEMPLATED_PART = re.compile(r"^word/(document|header\d*|footer\d*|footnotes)\.xml$")
_TAG = re.compile(r"\{[{%#]")
_UTF8_NAMES = 0x0800
# Sizes of a zip's fixed records: local file header, central directory header, end record.
_LOCAL_HEADER = 30
_CENTRAL_HEADER = 46
_END_OF_DIRECTORY = 22
# Text in a <w:t> element holding a tab, line feed, \a or \f: what docxtpl's resolve_listing
# turns into Word markup. Text cannot hold a "<", so [^<]* stays inside the element.
_LISTING = re.compile(r"<w:t(?: [^>]*)?>[^<]*[\t\n\a\f]")


class DocxTemplateError(Exception):
    """The file is not a .docx template this module can compile (reason in the message)."""


@dataclass(frozen=True)
class _Member:
    name: bytes
    local_header_and_data: bytes
    crc: int
    compressed_size: int
    size: int
    method: int


@dataclass(frozen=True)
class _StaticRun:
    """Static members that follow each other in the zip, written as one block of bytes."""

    data: bytes
    members: tuple[tuple[int, _Member], ...]  # each with its offset inside `data`


# Where a run of static members landed in one recipient's .docx: (offset, the run's bytes).
# The bytes are the same object for every recipient, so that the message can encode them once
# (compose/message.py).
StaticRuns = tuple[tuple[int, bytes], ...]


def _dos_timestamp(date_time: tuple[int, int, int, int, int, int]) -> tuple[int, int]:
    # The template's own timestamp, not the time of compiling: identical input gives identical
    # bytes in every process, whenever it compiled the template.
    year, month, day, hour, minute, second = date_time
    dos_time = (hour << 11) | (minute << 5) | (second // 2)
    dos_date = ((max(year, 1980) - 1980) << 9) | (month << 5) | day
    return dos_time, dos_date


def _may_hold_listing(xml: str) -> bool:
    """Whether _LISTING can match: one of its characters after the first <w:t. A few fast
    scans, where the regular expression costs about 20 µs per document (the line feed after
    the XML declaration is in nearly every document, but never in its text)."""
    first = xml.find("<w:t")
    return first >= 0 and any(xml.find(char, first) >= 0 for char in "\t\n\a\f")


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


class CompiledDocx:
    """A docxtpl-style template, ready to render many times."""

    def __init__(self, source: bytes, env: Environment, label: str = "template.docx") -> None:
        self.label = label
        try:
            archive = zipfile.ZipFile(io.BytesIO(source))
            names = archive.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise DocxTemplateError(f"not a .docx (zip) file: {exc}") from None
        if "word/document.xml" not in names:
            raise DocxTemplateError("not a Word document: word/document.xml is missing")
        self._dos_time, self._dos_date = _dos_timestamp(
            archive.getinfo("word/document.xml").date_time
        )
        patcher = DocxTemplate(io.BytesIO(source))
        # Turns a line feed, tab, \a or \f in a rendered value into a Word line break, tab, new
        # paragraph or page break, as docxtpl does after every render.
        self._resolve_listing = patcher.resolve_listing
        self._order: list[str] = []
        self._static: dict[str, _Member] = {}
        self._templates: dict[str, Template] = {}
        for name in names:
            data = archive.read(name)
            self._order.append(name)
            if _TEMPLATED_PART.match(name) and _TAG.search(data.decode("utf-8")):
                xml = patcher.patch_xml(data.decode("utf-8"))
                # docxtpl puts each paragraph on its own line so that {%p %} tags work.
                xml = re.sub(r"<w:p([ >])", r"\n<w:p\1", xml)
                self._templates[name] = env.from_string(xml)
            else:
                self._static[name] = self._member(name, data)
        # The zip in order: a templated part's name, or a run of static members between them.
        self._layout: list[str | _StaticRun] = []
        for static, group in itertools.groupby(self._order, lambda name: name in self._static):
            if static:
                self._layout.append(_static_run([self._static[name] for name in group]))
            else:
                self._layout.extend(group)

    def _member(self, name: str, data: bytes) -> _Member:
        encoded_name = name.encode("utf-8")
        compressed = _deflate(data)
        crc = zlib.crc32(data)
        header = struct.pack(
            "<4s5H3L2H",
            b"PK\x03\x04",
            20,
            _UTF8_NAMES,
            zipfile.ZIP_DEFLATED,
            self._dos_time,
            self._dos_date,
            crc,
            len(compressed),
            len(data),
            len(encoded_name),
            0,
        )
        return _Member(
            encoded_name,
            header + encoded_name + compressed,
            crc,
            len(compressed),
            len(data),
            zipfile.ZIP_DEFLATED,
        )

    def render_parts(self, context: Mapping[str, object]) -> dict[str, bytes]:
        """The rendered XML of every templated part (used by checks to parse the result)."""
        parts = {}
        for name, template in self._templates.items():
            xml = template.render(context)
            # Undo the line breaks added before each paragraph at compile time (str.replace,
            # not a regular expression: this runs for every recipient).
            xml = xml.replace("\n<w:p ", "<w:p ").replace("\n<w:p>", "<w:p>")
            if "{_" in xml or "_}" in xml:
                xml = (
                    xml.replace("{_{", "{{")
                    .replace("}_}", "}}")
                    .replace("{_%", "{%")
                    .replace("%_}", "%}")
                )
            if _may_hold_listing(xml) and _LISTING.search(xml):
                # docxtpl's pass over every paragraph and run costs more than the render itself;
                # it only changes text that holds one of these characters.
                xml = self._resolve_listing(xml)
            parts[name] = xml.encode("utf-8")
        return parts

    def render(self, context: Mapping[str, object]) -> bytes:
        """The finished .docx for one recipient."""
        return self.assemble(self.render_parts(context))

    def size_bound(self, parts: Mapping[str, bytes]) -> int:
        """The most the .docx of these rendered parts can weigh, without building it: the
        parts stored uncompressed (deflate never grows them by more than a few bytes per block),
        the static members as they are, and the zip's headers and directory."""
        rendered = sum(_LOCAL_HEADER + len(name) + len(xml) * 1001 // 1000 + 64
                       for name, xml in parts.items())  # fmt: skip
        static = sum(len(m.local_header_and_data) for m in self._static.values())
        directory = sum(_CENTRAL_HEADER + len(name.encode()) for name in self._order)
        return rendered + static + directory + _END_OF_DIRECTORY

    def assemble(self, parts: Mapping[str, bytes]) -> bytes:
        """The .docx made of these rendered parts (from render_parts) and the static ones."""
        return self.assemble_with_runs(parts)[0]

    def assemble_with_runs(self, parts: Mapping[str, bytes]) -> tuple[bytes, StaticRuns]:
        """The .docx as `assemble` makes it, and where its runs of static members are."""
        chunks: list[bytes] = []
        runs: list[tuple[int, bytes]] = []
        entries: list[tuple[_Member, int]] = []
        offset = 0
        for item in self._layout:
            if isinstance(item, _StaticRun):
                runs.append((offset, item.data))
                entries.extend((member, offset + at) for at, member in item.members)
                data = item.data
            else:
                member = self._member(item, parts[item])
                entries.append((member, offset))
                data = member.local_header_and_data
            chunks.append(data)
            offset += len(data)
        directory = b"".join(self._central_header(member, at) for member, at in entries)
        end = struct.pack(
            "<4s4H2LH",
            b"PK\x05\x06",
            0,
            0,
            len(entries),
            len(entries),
            len(directory),
            offset,
            0,
        )
        return b"".join([*chunks, directory, end]), tuple(runs)

    def _central_header(self, member: _Member, offset: int) -> bytes:
        return (
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                _UTF8_NAMES,
                member.method,
                self._dos_time,
                self._dos_date,
                member.crc,
                member.compressed_size,
                member.size,
                len(member.name),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + member.name
        )


def _static_run(members: list[_Member]) -> _StaticRun:
    placed = []
    offset = 0
    for member in members:
        placed.append((offset, member))
        offset += len(member.local_header_and_data)
    return _StaticRun(b"".join(m.local_header_and_data for m in members), tuple(placed))


def xml_problem(part: bytes) -> str | None:
    """Why a rendered part is not well-formed XML, or None when it is."""
    try:
        etree.fromstring(part)
    except etree.XMLSyntaxError as exc:
        return str(exc)
    return None

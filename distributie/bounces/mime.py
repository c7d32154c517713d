"""Reading hostile e-mail safely: bounded parsing, decoded and cleaned header values, and the
readable text of a message without the parts it returns or reports on."""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterator
from email import errors as email_errors
from email.header import Header, decode_header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from html.parser import HTMLParser

MAX_REPORT_BYTES = 25_000_000
MAX_HEADER_BYTES = 256 * 1024
MAX_TEXT_CHARS = 200_000
MAX_DEPTH = 12
# The stdlib parser slows down quadratically with nesting and recurses once per level; real
# reports have a handful of multiparts and at most a few hundred part boundaries.
MAX_MULTIPARTS = 100
MAX_BOUNDARY_LINES = 5000
# Parts whose content is not the report's own words: a returned original, or report fields.
RETURNED_TYPES = frozenset(
    {
        "message/rfc822",
        "message/global",
        "text/rfc822-headers",
        "message/rfc822-headers",
        "message/global-headers",
    }
)
STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})

_HEADER_LINE = re.compile(rb"^(From |[\x21-\x39\x3b-\x7e]{1,76}:)")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_SPACES = re.compile(r"\s+")
_BOUNDARY_PARAMETER = re.compile(rb"boundary\s*=", re.I)
# Terminal control sequences (colours, clearing the screen): dropped whole.
_ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")


class Unreadable(Exception):
    """The bytes cannot be read as a report; `reason` says why, in a line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_bytes(raw: bytes) -> Message:
    """The message in `raw`, or Unreadable when it is not an e-mail message, too large, or its
    own MIME structure is broken or cut off. Defects inside a returned original are allowed:
    reporting servers often truncate what they return."""
    if not raw.strip():
        raise Unreadable("empty message")
    if len(raw) > MAX_REPORT_BYTES:
        raise Unreadable(f"larger than {MAX_REPORT_BYTES // 1_000_000} MB ({len(raw)} bytes)")
    end = _HEADER_END.search(raw, 0, MAX_HEADER_BYTES + 4)
    head = raw[: end.start()] if end else raw
    if end is None and len(raw) > MAX_HEADER_BYTES:
        raise Unreadable(f"header section larger than {MAX_HEADER_BYTES // 1024} kB")
    if not _HEADER_LINE.match(head) or b"\x00" in head:
        raise Unreadable("not an e-mail message: no header section")
    if len(_BOUNDARY_PARAMETER.findall(raw)) > MAX_MULTIPARTS:
        raise Unreadable(f"more than {MAX_MULTIPARTS} multipart parts")
    if raw.count(b"\n--") > MAX_BOUNDARY_LINES:
        raise Unreadable(f"more than {MAX_BOUNDARY_LINES} MIME part boundaries")
    message = BytesParser(policy=compat32).parsebytes(raw)
    for defect in message.defects:
        if isinstance(defect, email_errors.StartBoundaryNotFoundDefect):
            raise Unreadable("broken MIME: the multipart boundary never appears")
        if isinstance(defect, email_errors.CloseBoundaryNotFoundDefect):
            raise Unreadable("truncated: the report's MIME structure does not end")
        if isinstance(defect, email_errors.MissingHeaderBodySeparatorDefect):
            raise Unreadable("not an e-mail message: a header line is not a header")
    return message


def clean(text: str, limit: int = 500) -> str:
    """One line of printable text, at most `limit` characters: terminal escape sequences are
    dropped; control, format (bidirectional overrides), private-use and unassigned characters
    become spaces; runs of white space one space."""
    text = _ESCAPE_SEQUENCE.sub("", text)
    kept = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)
    line = _SPACES.sub(" ", kept).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def header(message: Message, name: str, limit: int = 500) -> str | None:
    """A header's value, RFC 2047 decoded and cleaned; None when absent or empty."""
    value = message.get(name)
    if value is None:
        return None
    text = decoded(value)
    return clean(text, limit) or None


def decoded(value: object) -> str:
    """A header value as text: RFC 2047 encoded words decoded by their charset, raw 8-bit bytes
    read as UTF-8; whatever cannot be decoded is replaced."""
    source = value if isinstance(value, Header) else str(value)
    try:
        parts = decode_header(source)
    except (ValueError, LookupError, UnicodeError, email_errors.HeaderParseError):
        parts = [(str(value), None)]
    chunks = []
    for data, charset in parts:
        if isinstance(data, str):
            chunks.append(_unescape(data))
        else:
            known = charset not in (None, "unknown-8bit")
            chunks.append(_decode_bytes(data, charset) if known else _guess(data))
    return "".join(chunks)


def _guess(data: bytes) -> str:
    # Bytes without a charset: UTF-8 when they are, else Windows-1252 as Outlook writes it.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _unescape(text: str) -> str:
    # The parser keeps raw 8-bit bytes as surrogate escapes; they are UTF-8 more often than not.
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:  # a lone surrogate that is not an escaped byte
        return text.encode("utf-8", "replace").decode("utf-8")


def header_raw(message: Message, name: str) -> str:
    """Every occurrence of a header joined, undecoded (for ids, which are ASCII)."""
    return " ".join(str(v) for v in message.get_all(name, []))


def walk(message: Message, depth: int = 0) -> Iterator[Message]:
    """The message and its parts, without descending into returned messages or the fields of a
    delivery-status part (the stdlib parses those as parts of their own)."""
    yield message
    if depth >= MAX_DEPTH or message.get_content_type() in RETURNED_TYPES | STATUS_TYPES:
        return
    payload = message.get_payload()
    if isinstance(payload, list):
        for part in payload:
            if isinstance(part, Message):
                yield from walk(part, depth + 1)


def part_text(part: Message) -> str:
    """The decoded text of a text/* part ("" for anything else)."""
    if part.get_content_maintype() != "text" or part.is_multipart():
        return ""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    text = _decode_bytes(payload[: MAX_TEXT_CHARS * 4], part.get_content_charset())
    if part.get_content_subtype() == "html":
        return html_to_text(text)
    return text


def body_text(message: Message) -> str:
    """The report's own words: its text/plain parts, or its HTML as text when it has no plain
    text. Returned originals and delivery-status fields are left out."""
    plain: list[str] = []
    html: list[str] = []
    for part in walk(message):
        if part.get_content_type() == "text/plain" and not _is_attachment(part):
            plain.append(part_text(part))
        elif part.get_content_type() == "text/html" and not _is_attachment(part):
            html.append(part_text(part))
    return "\n".join(plain or html)[:MAX_TEXT_CHARS]


def _is_attachment(part: Message) -> bool:
    return str(part.get("Content-Disposition", "")).strip().lower().startswith("attachment")


def _decode_bytes(data: bytes, charset: str | None) -> str:
    name = charset or "utf-8"
    try:
        codecs.lookup(name)
    except LookupError:
        name = "utf-8"
    try:
        return data.decode(name, "replace")
    except (UnicodeError, LookupError):  # a codec that fails on its own terms
        return data.decode("utf-8", "replace")


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"style", "script", "head", "title"})
    _BLOCK = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "table", "td"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skipping:
            self._skipping -= 1
        elif tag in self._BLOCK:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    """The visible text of an HTML body, one line per block."""
    extractor = _TextExtractor()
    try:
        extractor.feed(html[:MAX_TEXT_CHARS])
        extractor.close()
    except (ValueError, AssertionError):  # HTMLParser on badly broken markup
        pass
    lines = (line.strip() for line in "".join(extractor.chunks).splitlines())
    return "\n".join(line for line in lines if line)

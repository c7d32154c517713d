"""Builds the exact bytes of one recipient's e-mail from its rendered content."""

from __future__ import annotations

import binascii
import email.policy
import email.utils
import functools
import hashlib
import sys
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address

from distributie.compose.addressing import Addressing
from distributie.compose.bounds import RenderLimits
from distributie.compose.docx import StaticRuns
from distributie.compose.recipients import Recipient
from distributie.compose.rendering import (
    CompiledMailing,
    RenderedAttachment,
    RenderedMessage,
)
from distributie.errors import InvariantError

# Headers written on one line as they are. A Message-ID has no white space to fold at, so the
# standard policy folds it before the "<" once the line passes 78 characters (nearly always);
# legal, but parsers, Python's own included, then return the id with leading white space.
_UNFOLDED = frozenset({"message-id"})


class _SMTPPolicy(email.policy.EmailPolicy):
    def fold(self, name: str, value: str) -> str:
        if name.lower() in _UNFOLDED:
            return f"{name}: {value}{self.linesep}"
        return str(super().fold(name, value))

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in _UNFOLDED:
            return self.fold(name, value).encode("ascii")
        return bytes(super().fold_binary(name, value))


# SMTP policy: CRLF line endings and RFC 2047/2231 encoding of anything non-ASCII.
POLICY = _SMTPPolicy(linesep="\r\n")


def _address(display_name: str, address: str) -> Address:
    local, _, domain = address.rpartition("@")
    return Address(display_name=display_name, username=local, domain=domain)


# --- the bytes ------------------------------------------------------------------------------------
#
# The message is written directly as bytes rather than through EmailMessage.as_bytes(), which
# re-parses, re-encodes and re-folds everything for every recipient (~2.5 ms for a message with a
# 37 kB attachment). Headers still go through the email package's header registry and the policy
# above (RFC 2047 encoded words, RFC 2231 parameters, folding); the bodies are encoded with the C
# codecs in binascii; whatever is the same for every recipient is encoded once per process.

_CRLF = b"\r\n"
_TEXT_PART = (
    b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
)
_MIME_VERSION = b"MIME-Version: 1.0\r\n"
# A proefzending is marked so that nobody mistakes it for the real letter.
TEST_SUBJECT_PREFIX = "[PROEF] "
_TEST_HEADER = b"X-Distributie-Test: yes\r\n"
# The policy's max_line_length: a header that fits is written on one line as it is.
_MAX_LINE = 78
# Static attachments (the same bytes for every recipient) in their encoded form. The rendered
# content is the same bytes object every time, so the lookup costs one identity comparison.
_STATIC_CACHE_SIZE = 32
_static_parts: dict[tuple[bytes, str, str], bytes] = {}
# Input bytes per base64 line of 76 characters.
_BASE64_LINE = 57
# Base64 lines of the static runs inside rendered attachments (see _base64): a run's lines
# differ only by where the run starts relative to a line, so at most 57 entries per run.
_STATIC_LINES_CACHE_SIZE = 256
_static_run_lines: dict[tuple[bytes, int], bytes] = {}
# Lines of text and HTML bodies, quoted-printable (see _text_body): the template's own lines
# recur in every message; a full cache is emptied and starts again.
_QP_CACHE_SIZE = 4096
_qp_lines: dict[bytes, bytes] = {}


def _fold(name: str, value: object) -> bytes:
    """One header as the policy writes it: encoded, folded, ending in CRLF."""
    if name.lower() in _UNFOLDED:
        return f"{name}: {value}\r\n".encode("ascii")
    header = POLICY.header_factory(name, value)
    return str(header.fold(policy=POLICY)).encode("ascii")


def _fold_text(name: str, value: str) -> bytes:
    """An unstructured header (Subject). Printable ASCII without "=?" is written as it is,
    folded at spaces; anything else goes through the policy.

    The policy would move a value that just fails to fit after the name onto a line of its own
    ("Subject:" CRLF SP value), which some readers, Python's own included, then show with a
    leading space.
    """
    if not (value and value.isascii() and value.isprintable() and "=?" not in value):
        return _fold(name, value)
    line = f"{name}: {value}"
    if len(line) <= _MAX_LINE:
        return (line + "\r\n").encode("ascii")
    lines: list[str] = []
    current = f"{name}:"
    for word in value.split(" "):
        if not word or len(word) + 1 > _MAX_LINE:
            return _fold(name, value)  # runs of spaces or a word too long to fold: the policy's
        if len(current) + 1 + len(word) > _MAX_LINE and current != f"{name}:":
            lines.append(current)
            current = ""
        current += " " + word
    lines.append(current)
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


@functools.lru_cache(maxsize=64)
def _from_header(sender_name: str, sender_address: str) -> bytes:
    return _fold("From", _address(sender_name, sender_address))


@functools.lru_cache(maxsize=64)
def _sender_header(name: str, address: str | None) -> bytes:
    # RFC 5322 §3.6.2: the mailbox that sent it, when From names someone else.
    return _fold("Sender", _address(name, address)) if address else b""


@functools.lru_cache(maxsize=64)
def _reply_to_header(reply_to: str | None) -> bytes:
    return _fold("Reply-To", reply_to) if reply_to else b""


@functools.lru_cache(maxsize=4)
def _date_header(date: datetime) -> bytes:
    # Messages of the same second share it: formatting a date costs more than looking it up.
    return b"Date: " + email.utils.format_datetime(date).encode("ascii") + _CRLF


@functools.lru_cache(maxsize=64)
def _run_header(run_id: str) -> bytes:
    return _fold("X-Distributie-Run", run_id)


def _boundary(seed: bytes) -> str:
    # The email package's form. Quoted-printable writes "=" as "=3D" and base64 has at most two
    # "=" at its very end, so this run of "=" cannot occur in any body written here. Its digits
    # come from the Message-ID and Date rather than chance, so the archive can rebuild the
    # exact bytes that were sent.
    digits = int.from_bytes(hashlib.sha256(seed).digest()[:8], "big") % sys.maxsize
    return f"==============={digits:019d}=="


def _text_body(text: str) -> bytes:
    """As the email package does: split on any line ending, end with one, then quoted-printable
    (binascii's C encoder, 76-character lines) with CRLF line endings.

    Quoted-printable encodes each line on its own, so the body is the encoded lines one after
    the other, and a line the template writes the same for everyone is encoded once per
    process.
    """
    encoded = []
    for line in text.encode("utf-8").splitlines() or [b""]:
        qp = _qp_lines.get(line)
        if qp is None:
            if len(_qp_lines) >= _QP_CACHE_SIZE:
                _qp_lines.clear()
            qp = _qp_lines[line] = binascii.b2a_qp(line + b"\n", istext=True).replace(b"\n", _CRLF)
        encoded.append(qp)
    return b"".join(encoded)


def _text_part(text: str, subtype: bytes) -> bytes:
    return (_TEXT_PART % subtype) + _text_body(text)


def _attachment_headers(attachment: RenderedAttachment) -> bytes:
    # The value EmailMessage.set_param("filename", ...) writes (RFC 2231 for non-ASCII), made
    # without building a message around it.
    filename = attachment.filename
    if filename.isascii():
        parameter = f'filename="{email.utils.quote(filename)}"'
    else:
        parameter = "filename*=" + email.utils.encode_rfc2231(filename, "utf-8")
    head = f"Content-Type: {attachment.mimetype}\r\nContent-Transfer-Encoding: base64\r\n"
    return head.encode("ascii") + _disposition(parameter) + _CRLF


def _disposition(parameter: str) -> bytes:
    """Content-Disposition as the policy folds it: on one line, or the parameter on a line of its
    own when only that fits; the policy itself (RFC 2231 continuations) for anything longer.
    Written directly because the policy's parser costs a tenth of a millisecond per message."""
    value = f"attachment; {parameter}"
    if value.isascii() and value.isprintable():
        if len("Content-Disposition: ") + len(value) <= _MAX_LINE:
            return f"Content-Disposition: {value}\r\n".encode("ascii")
        if 1 + len(parameter) <= _MAX_LINE:
            return f"Content-Disposition: attachment;\r\n {parameter}\r\n".encode("ascii")
    return _fold("Content-Disposition", value)


def _to_header(name: str, address: str) -> bytes:
    """To as the policy writes it: for a printable ASCII name whose line fits, email.utils'
    quoting gives the same bytes without the policy's parser; anything else goes through it."""
    if name.isascii() and name.isprintable() and "=?" not in name:
        line = "To: " + email.utils.formataddr((name, address))
        if len(line) <= _MAX_LINE:
            return (line + "\r\n").encode("ascii")
    return _fold("To", _address(name, address))


def _base64_lines(content: bytes) -> bytes:
    # base64.encodebytes calls the encoder once per 57 bytes; one call and slicing is faster.
    encoded = binascii.b2a_base64(content, newline=False)
    if not encoded:
        return b""
    return _CRLF.join([encoded[i : i + 76] for i in range(0, len(encoded), 76)]) + _CRLF


def _static_lines(run: bytes, start: int) -> bytes:
    """The base64 lines of `run` from `start` on, whole lines only: the same for every message
    in which the run starts at this distance from a line boundary."""
    key = (run, start)  # a bytes object keeps its hash: the lookup does not read the run again
    lines = _static_run_lines.get(key)
    if lines is None:
        if len(_static_run_lines) >= _STATIC_LINES_CACHE_SIZE:
            _static_run_lines.clear()
        whole = (len(run) - start) // _BASE64_LINE * _BASE64_LINE
        lines = _static_run_lines[key] = _base64_lines(run[start : start + whole])
    return lines


def _base64(content: bytes, static_runs: StaticRuns = ()) -> bytes:
    """`content` in base64 lines of 76 characters, exactly as one pass over it writes them.

    Every 57 bytes make one line, so a line boundary inside a static run starts the same
    lines in every message: those come from a cache, and only the rest is encoded.
    """
    pieces = []
    done = 0  # bytes of content written, always at a line boundary
    for offset, run in static_runs:
        if not content.startswith(run, offset):
            raise InvariantError(f"a static run is not at offset {offset} of the attachment")
        first = -(-offset // _BASE64_LINE) * _BASE64_LINE
        last = (offset + len(run)) // _BASE64_LINE * _BASE64_LINE
        if last - first < _BASE64_LINE * 16:
            continue  # too short to be worth a cache entry
        pieces.append(_base64_lines(content[done:first]))
        pieces.append(_static_lines(run, first - offset))
        done = last
    pieces.append(_base64_lines(content[done:]))
    return b"".join(pieces)


def _attachment_part(attachment: RenderedAttachment) -> bytes:
    if not attachment.static:
        return _attachment_headers(attachment) + _base64(attachment.content, attachment.static_runs)
    key = (attachment.content, attachment.filename, attachment.mimetype)
    part = _static_parts.get(key)
    if part is None:
        if len(_static_parts) >= _STATIC_CACHE_SIZE:
            _static_parts.clear()
        part = _static_parts[key] = _attachment_headers(attachment) + _base64(attachment.content)
    return part


def _multipart(
    subtype: bytes, parts: list[bytes], seed: bytes, nested: bool = False
) -> tuple[bytes, bytes]:
    """The Content-Type header line(s) and the body of a multipart entity."""
    boundary = _boundary(seed + b" " + subtype).encode("ascii")
    separator = b"\r\n--" + boundary + _CRLF
    fold = b"\r\n " if nested else b" "
    header = b"Content-Type: multipart/" + subtype + b";" + fold + b'boundary="' + boundary
    body = b"--" + boundary + _CRLF + separator.join(parts) + b"\r\n--" + boundary + b"--\r\n"
    return header + b'"\r\n', body


def format_date(date: datetime) -> str:
    """The Date header's value as a message carries it (seconds; the date's own UTC offset)."""
    return email.utils.format_datetime(date)


def parse_date(value: str) -> datetime:
    """A Date header's value back into the datetime that `format_date` writes it from."""
    return email.utils.parsedate_to_datetime(value)


def build_message(
    rendered: RenderedMessage, addressing: Addressing, date: datetime | None = None
) -> bytes:
    """The exact bytes of one recipient's message: 7-bit ASCII with CRLF line endings.

    Structure: multipart/mixed of (multipart/alternative of text and HTML, or the text alone)
    and the attachments; without attachments the alternative (or the text) is the message.
    """
    date = date or datetime.now().astimezone()
    seed = f"{addressing.message_id} {format_date(date)}".encode()
    on_behalf = addressing.on_behalf_address is not None
    headers = [
        _from_header(addressing.from_name, addressing.from_address),
        _sender_header(addressing.sender_name, addressing.sender_address if on_behalf else None),
        _to_header(rendered.to_name, addressing.to_address),
        _reply_to_header(addressing.reply_to),
        _fold_text("Subject", TEST_SUBJECT_PREFIX + rendered.subject)
        if addressing.test
        else _fold_text("Subject", rendered.subject),
        _date_header(date or datetime.now().astimezone()),
        _fold("Message-ID", addressing.message_id),
        _run_header(addressing.run_id),
        _fold_text("X-Distributie-Recipient", addressing.gemeente),
        _TEST_HEADER if addressing.test else b"",
        _MIME_VERSION,
    ]
    if rendered.html is None:
        content_header, content_body = (
            (_TEXT_PART % b"plain").removesuffix(_CRLF),
            _text_body(rendered.text),
        )
    else:
        content_header, content_body = _multipart(
            b"alternative",
            [_text_part(rendered.text, b"plain"), _text_part(rendered.html, b"html")],
            seed,
            nested=bool(rendered.attachments),
        )
    if rendered.attachments:
        inner = content_header + _CRLF + content_body
        content_header, content_body = _multipart(
            b"mixed", [inner, *(_attachment_part(a) for a in rendered.attachments)], seed
        )
    return b"".join(headers) + content_header + _CRLF + content_body


@dataclass(frozen=True)
class ComposedMessage:
    """One recipient's message as it goes out: its rendered parts, addressing and bytes."""

    rendered: RenderedMessage
    addressing: Addressing
    data: bytes


def compose(
    compiled: CompiledMailing,
    recipient: Recipient,
    addressing: Addressing,
    date: datetime | None = None,
    limits: RenderLimits | None = None,
) -> ComposedMessage:
    """Render and build one recipient's message; raises RenderError for a template at fault
    (also one that goes past `limits`, compose/bounds.py)."""
    rendered = compiled.render(recipient.context(), limits=limits)
    return ComposedMessage(rendered, addressing, build_message(rendered, addressing, date))

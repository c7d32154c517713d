"""RFC 3464 delivery status: the per-recipient fields of a message/delivery-status part, and
what a status code or action means."""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from distributie.bounces.message_id import message_ids_in
from distributie.bounces.mime import STATUS_TYPES, clean, decoded, walk
from distributie.bounces.model import Outcome, RecipientStatus

# An enhanced status code (RFC 3463): class 2, 4 or 5, then subject and detail of 1-3 digits.
_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
# A basic SMTP reply code at the start of a diagnostic, e.g. "550 User unknown".
_BASIC_CODE = re.compile(r"^\s*([245])\d\d[\s-]")
_DIAGNOSTIC_TYPE = re.compile(r"^\s*[A-Za-z][A-Za-z0-9-]{0,20}\s*;\s*")
_ADDRESS = re.compile(r"^[^\s@<>]{1,200}@[^\s@<>]{1,255}$")
_BLOCK_GAP = re.compile(r"\r?\n[ \t]*\r?\n")
MAX_RECIPIENTS = 100


@dataclass(frozen=True)
class DeliveryStatus:
    """One message/delivery-status part: the per-message fields that help matching, and the
    per-recipient fields."""

    reporting_mta: str | None
    original_message_ids: tuple[str, ...]
    recipients: tuple[RecipientStatus, ...]


def status_in(text: str | None) -> str | None:
    """The first enhanced status code in `text` ("5.1.10"), normalised without leading zeros."""
    if not text:
        return None
    match = _STATUS.search(text)
    if match is None:
        return None
    return ".".join(str(int(group)) for group in match.groups())


def outcome_for(action: str | None, status: str | None, diagnostic: str | None) -> Outcome | None:
    """What one recipient's fields mean. Action decides; without it the status class; without
    that the diagnostic's enhanced or basic code."""
    if action == "failed":
        return Outcome.BOUNCE  # also "failed" with 4.4.7: the server gave up
    if action == "delayed":
        return Outcome.DELAYED
    if action in ("delivered", "relayed", "expanded"):
        return None
    code = status or status_in(diagnostic)
    klass = code[0] if code else None
    if klass is None and diagnostic and (basic := _BASIC_CODE.match(diagnostic)):
        klass = basic.group(1)
    return {"5": Outcome.BOUNCE, "4": Outcome.DELAYED}.get(klass or "")


def address_field(value: str | None) -> str | None:
    """`rfc822; Burgemeester@Soest.example` -> `burgemeester@soest.example`; None if it is not
    an address."""
    if not value:
        return None
    text = value.split(";", 1)[1] if ";" in value else value
    address = clean(text, 400).strip().strip("<>").strip().lower()
    return address if _ADDRESS.match(address) else None


def diagnostic_field(value: str | None) -> str | None:
    """A Diagnostic-Code without its type ("smtp; 550 ..." -> "550 ..."), on one line."""
    if not value:
        return None
    return clean(_DIAGNOSTIC_TYPE.sub("", value, count=1)) or None


def delivery_statuses(message: Message) -> list[DeliveryStatus]:
    """Every delivery-status part of the report, read."""
    return [read_part(part) for part in walk(message) if part.get_content_type() in STATUS_TYPES]


def read_part(part: Message) -> DeliveryStatus:
    blocks = _blocks(part)
    per_message = blocks[0] if blocks else Message()
    recipients = [_recipient(block) for block in blocks[1 : MAX_RECIPIENTS + 1]]
    ids: list[str] = []
    for name in ("X-Original-Message-ID", "Original-Message-ID"):
        ids += message_ids_in(_field(per_message, name) or "")
    return DeliveryStatus(
        reporting_mta=diagnostic_field(_field(per_message, "Reporting-MTA")),
        original_message_ids=tuple(ids),
        recipients=tuple(r for r in recipients if r is not None),
    )


def _blocks(part: Message) -> list[Message]:
    """The field groups of a delivery-status part. The stdlib parses them as messages, unless
    the part is base64 or quoted-printable encoded: then they are decoded and parsed here."""
    payload = part.get_payload()
    blocks = [b for b in payload if isinstance(b, Message)] if isinstance(payload, list) else []
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding not in ("base64", "quoted-printable"):
        return blocks
    encoded = "\n".join(
        str(b.get_payload()) for b in blocks if not b.is_multipart() and not b.keys()
    )
    if not encoded and isinstance(payload, str):
        encoded = payload
    try:
        data = (
            base64.b64decode(encoded)
            if encoding == "base64"
            else quopri.decodestring(encoded.encode("ascii", "replace"))
        )
    except (binascii.Error, ValueError):
        return []
    text = data.decode("utf-8", "replace")
    parser = HeaderParser(policy=compat32)
    return [parser.parsestr(chunk.strip() + "\n") for chunk in _BLOCK_GAP.split(text) if chunk]


def _field(block: Message, name: str) -> str | None:
    # The parser hands a value with raw 8-bit bytes over as a Header object, not a str.
    value = block.get(name)
    return decoded(value) if value is not None else None


def _recipient(block: Message) -> RecipientStatus | None:
    final = address_field(_field(block, "Final-Recipient"))
    original = address_field(_field(block, "Original-Recipient"))
    action = clean(_field(block, "Action") or "", 40).lower() or None
    status = status_in(_field(block, "Status"))
    diagnostic = diagnostic_field(_field(block, "Diagnostic-Code"))
    if not (final or original or action or status or diagnostic):
        return None
    return RecipientStatus(
        final_recipient=final,
        original_recipient=original,
        action=action.split()[0] if action else None,
        status=status,
        diagnostic=diagnostic,
        remote_mta=diagnostic_field(_field(block, "Remote-MTA")),
        outcome=outcome_for(action.split()[0] if action else None, status, diagnostic),
    )

"""The returned original: the headers of the message a report is about, from an attached
message, an attached header section, or (plain-text bounces) a copy in the report's text."""

from __future__ import annotations

import re
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32

from distributie.bounces.message_id import message_ids_in
from distributie.bounces.mime import (
    RETURNED_TYPES,
    clean,
    decoded,
    header,
    header_raw,
    part_text,
    walk,
)
from distributie.bounces.model import ReturnedOriginal

RUN_HEADER = "X-Distributie-Run"
RECIPIENT_HEADER = "X-Distributie-Recipient"
# Header lines of a copy in the text, as qmail ("--- Below this line is a copy of the
# message.") and Exim ("------ This is a copy of the message, including all the headers.")
# write them.
_INLINE = {
    "message_id": re.compile(r"^Message-ID:[ \t]*(<[^<>\s]{1,250}>)", re.I | re.M),
    "run": re.compile(r"^X-Distributie-Run:[ \t]*(\S{1,80})", re.I | re.M),
    "recipient": re.compile(r"^X-Distributie-Recipient:[ \t]*([^\r\n]{1,200})", re.I | re.M),
}


def returned_original(message: Message, text: str) -> ReturnedOriginal | None:
    """The first returned original that names at least one thing to match on; from the
    report's parts, else from the lines of `text` (the report's own words)."""
    for part in walk(message):
        headers = _returned_headers(part)
        if headers is not None:
            original = _from_headers(headers)
            if original.message_id or original.run or original.recipient:
                return original
    return _from_text(text)


def _returned_headers(part: Message) -> Message | None:
    content_type = part.get_content_type()
    if content_type not in RETURNED_TYPES:
        return None
    payload = part.get_payload()
    if isinstance(payload, list):  # message/rfc822: the stdlib parsed the returned message
        inner = payload[0] if payload else None
        return inner if isinstance(inner, Message) else None
    text = part_text(part) if part.get_content_maintype() == "text" else _text_of(part)
    return HeaderParser(policy=compat32).parsestr(text.lstrip("\r\n"), headersonly=True)


def _text_of(part: Message) -> str:
    data = part.get_payload(decode=True)
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else ""


def _from_headers(headers: Message) -> ReturnedOriginal:
    ids = message_ids_in(header_raw(headers, "Message-ID"))
    return ReturnedOriginal(
        message_id=ids[0] if ids else None,
        run=header(headers, RUN_HEADER, 80),
        recipient=header(headers, RECIPIENT_HEADER, 200),
        to=header(headers, "To", 300),
        subject=header(headers, "Subject", 300),
        date=header(headers, "Date", 80),
    )


def _from_text(text: str) -> ReturnedOriginal | None:
    found = {name: pattern.search(text) for name, pattern in _INLINE.items()}
    if not any(found.values()):
        return None
    message_id, run, recipient = found["message_id"], found["run"], found["recipient"]
    ids = message_ids_in(message_id.group(1)) if message_id else []
    return ReturnedOriginal(
        message_id=ids[0] if ids else None,
        run=clean(run.group(1), 80) if run else None,
        recipient=clean(decoded(recipient.group(1)), 200) if recipient else None,
    )

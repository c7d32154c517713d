"""Bounces in plain words (Postfix, Exim, Gmail, qmail) and Exchange NDRs without report
fields: recognising them, and finding the failed addresses (flufl.bounce), code and reason."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from email.message import Message
from email.utils import getaddresses

from flufl.bounce import all_failures

from distributie.bounces.dsn import address_field, outcome_for, status_in
from distributie.bounces.mime import clean, header_raw
from distributie.bounces.model import Outcome, RecipientStatus

# flufl.bounce logs a detector's exception before re-raising it; the report is then read
# without it, and nothing should reach stderr.
logging.getLogger("flufl.bounce").addHandler(logging.NullHandler())

NDR_HEADER = "X-MS-Exchange-Message-Is-Ndr"
_NDR_SUBJECT = re.compile(
    r"^\s*(undeliverable|onbestelbaar|niet bezorgbaar|unzustellbar|non remis)\s*:", re.I
)
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(undelivered mail|undeliverable|onbestelbaar|mail delivery failed|returned mail|"
    r"failure notice|delivery status notification|delivery failure|delayed mail|"
    r"mail system error|warning: message .* delayed|message delivery failure|"
    r"niet afgeleverd|bezorging mislukt)",
    re.I,
)
_DAEMON = re.compile(r"mailer-daemon|postmaster|mail delivery (sub)?system", re.I)
_DELAY = re.compile(
    r"delayed mail|has not yet been delivered|delivery to the following recipient has been "
    r"delayed|will (be retried|continue to be made|keep trying)|still trying|"
    r"delivery status notification \(delay\)|\bvertraagd\b|wordt opnieuw geprobeerd",
    re.I,
)
# Where a plain-text bounce starts quoting the returned message; codes after it are not the
# report's own.
_COPY_MARKER = re.compile(
    r"^[ \t-]*(below this line is a copy|this is a copy of the message|original message|"
    r"the header of the original message|start of returned message|"
    r"oorspronkelijke? bericht)",
    re.I | re.M,
)
_PERMANENT = re.compile(
    r"permanent (error|failure)|permanently|i've given up|gave up|niet worden afgeleverd", re.I
)
# Exchange quotes the remote reply: Remote Server returned '550 5.1.10 ...'.
_QUOTED_REPLY = re.compile(r"'([^']*\d\.\d{1,3}\.\d{1,3}[^']*)'")
_CODE_LINE = re.compile(
    r"(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?![\d.])|^\s*[45]\d\d[\s-]|\(#[45]\.\d", re.M
)


def is_exchange_ndr(message: Message, subject: str | None) -> bool:
    """A Microsoft 365 / Exchange non-delivery report."""
    return NDR_HEADER in message or bool(subject and _NDR_SUBJECT.match(subject))


def looks_like_bounce(message: Message, subject: str | None, sender: str | None) -> bool:
    """A bounce without report fields: from a mail system, with a bounce subject, Exim's
    X-Failed-Recipients, or the multipart/report type."""
    return bool(
        message.get("X-Failed-Recipients")
        or message.get_content_type() == "multipart/report"
        or (sender and _DAEMON.search(sender))
        or (subject and _BOUNCE_SUBJECT.match(subject))
    )


def own_words(text: str) -> str:
    """The report's text up to where it quotes the returned message."""
    marker = _COPY_MARKER.search(text)
    return text[: marker.start()] if marker else text


def read_text_bounce(
    message: Message, text: str, subject: str | None, fallback: Sequence[str] = ()
) -> tuple[RecipientStatus, ...]:
    """The recipients of a bounce in plain words, each with the report's code and reason.
    Addresses come from flufl.bounce and X-Failed-Recipients, else from `fallback` (the
    returned original's To); without any, one entry without an address carries the outcome."""
    words = own_words(text)
    temporary, permanent = _flufl_failures(message)
    addresses = _decoded(permanent | temporary)
    for address in _failed_recipients_header(message):
        if address not in addresses:
            addresses.append(address)
    addresses = addresses or list(fallback)
    diagnostic = _diagnostic_line(words) or _address_line(words, addresses)
    status = status_in(diagnostic)
    outcome = _outcome(words, subject, status, diagnostic)
    if not addresses:
        return (RecipientStatus(None, status=status, diagnostic=diagnostic, outcome=outcome),)
    return tuple(
        RecipientStatus(address, status=status, diagnostic=diagnostic, outcome=outcome)
        for address in addresses
    )


def _outcome(
    words: str, subject: str | None, status: str | None, diagnostic: str | None
) -> Outcome:
    """Words that say permanent or temporary decide, since a bounce that gave up may quote a
    4.x.x code; then the code; a bounce that says neither is taken as permanent."""
    if _PERMANENT.search(words):
        return Outcome.BOUNCE
    if _DELAY.search(words) or (subject and _DELAY.search(subject)):
        return Outcome.DELAYED
    return outcome_for(None, status, diagnostic) or Outcome.BOUNCE


def _flufl_failures(message: Message) -> tuple[frozenset[bytes], frozenset[bytes]]:
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector tripping over hostile input: read the rest without it
        return frozenset(), frozenset()
    return frozenset(temporary), frozenset(permanent)


def _decoded(addresses: frozenset[bytes]) -> list[str]:
    found = (address_field(a.decode("ascii", "replace")) for a in sorted(addresses))
    return [a for a in found if a]


def _failed_recipients_header(message: Message) -> list[str]:
    pairs = getaddresses([header_raw(message, "X-Failed-Recipients")])
    found = (address_field(address) for _, address in pairs[:20])
    return [a for a in found if a]


def _address_line(words: str, addresses: Sequence[str]) -> str | None:
    """Without a code: what the report says after the first failed address, on its line
    (Postfix: `<a@b.example>: unknown user: "a"`)."""
    for address in addresses[:1]:
        position = words.lower().find(address)
        if position >= 0:
            end = words.find("\n", position)
            rest = words[position + len(address) : end if end >= 0 else len(words)]
            said = clean(rest.lstrip(">").strip().lstrip(":"))
            return said or None
    return None


def _diagnostic_line(words: str) -> str | None:
    """The first line of the report's own words that carries a reply or status code."""
    match = _CODE_LINE.search(words)
    if match is None:
        return None
    start = words.rfind("\n", 0, match.start()) + 1
    end = words.find("\n", match.end())
    line = words[start : end if end >= 0 else len(words)]
    quoted = _QUOTED_REPLY.search(line)
    return clean((quoted.group(1) if quoted else line).strip().strip("#'\"")) or None

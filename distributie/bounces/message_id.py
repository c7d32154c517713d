"""Message-IDs in reports: finding them in header text, and reading distributie's own form
<run.recipientkey.resend@domain> back into its parts."""

from __future__ import annotations

import re
from dataclasses import dataclass

# An id as RFC 5322 writes it. Hostile input may hold anything: ids are bounded in length and
# may not contain white space, so a header of megabytes yields a bounded number of short ids.
_ANY_ID = re.compile(r"<([^<>\s]{1,250})>")
# distributie's form (message.message_id): the run id and the recipient key contain no dots
# (run ids are 20191004-142501-7f3a, keys are slugs such as wijk-bij-duurstede).
_SENT_ID = re.compile(
    r"^<(?P<run>[A-Za-z0-9_-]{1,80})\.(?P<key>[A-Za-z0-9_-]{1,120})\.(?P<resend>\d{1,6})"
    r"@(?P<domain>[A-Za-z0-9.-]{1,253})>$"
)
MAX_IDS = 50


@dataclass(frozen=True)
class SentMessageId:
    """The parts of a Message-ID distributie wrote: which run, recipient and resend it names."""

    message_id: str  # as written, with the angle brackets
    run: str
    recipient_key: str
    resend: int
    domain: str


def parse_message_id(text: str) -> SentMessageId | None:
    """`<20191004-142501-7f3a.wijk-bij-duurstede.0@veiligheidscollege-mn.example>` -> its parts;
    None for anything that is not of that form. Surrounding white space is ignored."""
    candidate = text.strip()
    if not candidate.startswith("<"):
        candidate = f"<{candidate}>"
    match = _SENT_ID.match(candidate)
    if match is None:
        return None
    return SentMessageId(
        message_id=candidate,
        run=match["run"],
        recipient_key=match["key"],
        resend=int(match["resend"]),
        domain=match["domain"].lower(),
    )


def message_ids_in(text: str) -> list[str]:
    """Every <id> in a header value (Message-ID, In-Reply-To, References), in order, without
    duplicates, at most MAX_IDS."""
    found: list[str] = []
    for match in _ANY_ID.finditer(text):
        value = f"<{match.group(1)}>"
        if "@" in value and value not in found:
            found.append(value)
            if len(found) >= MAX_IDS:
                break
    return found

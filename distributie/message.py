"""Builds the exact bytes of one recipient's e-mail from its rendered content."""

from __future__ import annotations

import email.policy
import email.utils
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage

from distributie.rendering import RenderedMessage

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


@dataclass(frozen=True)
class Addressing:
    """Who sends, to whom, and the trace of which run and recipient the message belongs to."""

    sender_name: str
    sender_address: str
    reply_to: str | None
    to_address: str
    run_id: str
    gemeente: str
    recipient_key: str
    resend: int  # 0 for the run's first send; every operator resend/retry adds one


def message_id(run_id: str, recipient_key: str, resend: int, domain: str) -> str:
    """Stable per run, recipient and resend number: a receiver can recognise a duplicate."""
    return f"<{run_id}.{recipient_key}.{resend}@{domain}>"


def _address(display_name: str, address: str) -> Address:
    local, _, domain = address.rpartition("@")
    return Address(display_name=display_name, username=local, domain=domain)


def build_message(
    rendered: RenderedMessage, addressing: Addressing, date: datetime | None = None
) -> EmailMessage:
    msg = EmailMessage(policy=POLICY)
    msg["From"] = _address(addressing.sender_name, addressing.sender_address)
    msg["To"] = _address(rendered.to_name, addressing.to_address)
    if addressing.reply_to:
        msg["Reply-To"] = addressing.reply_to
    msg["Subject"] = rendered.subject
    msg["Date"] = email.utils.format_datetime(date or datetime.now().astimezone())
    domain = addressing.sender_address.rpartition("@")[2]
    msg["Message-ID"] = message_id(
        addressing.run_id, addressing.recipient_key, addressing.resend, domain
    )
    msg["X-Distributie-Run"] = addressing.run_id
    msg["X-Distributie-Recipient"] = addressing.gemeente
    msg.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if rendered.html is not None:
        msg.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    for attachment in rendered.attachments:
        maintype, _, subtype = attachment.mimetype.partition("/")
        msg.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return msg


def message_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=POLICY)

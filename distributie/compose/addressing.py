"""Who a message is from and to, and its Message-ID: one place for preview, render and sending."""

from __future__ import annotations

from dataclasses import dataclass

from distributie.compose.mailing import Sender
from distributie.compose.recipients import Recipient


def message_id(run_id: str, recipient_key: str, resend: int, domain: str) -> str:
    """Stable per run, recipient and resend number: a receiver can recognise a duplicate."""
    return f"<{run_id}.{recipient_key}.{resend}@{domain}>"


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
    test: bool = False  # a proefzending: "[PROEF]" before the subject, X-Distributie-Test: yes
    # Sending on behalf of someone else: they are in From, the sender above in Sender.
    on_behalf_name: str = ""
    on_behalf_address: str | None = None

    @property
    def from_name(self) -> str:
        return self.on_behalf_name if self.on_behalf_address else self.sender_name

    @property
    def from_address(self) -> str:
        return self.on_behalf_address or self.sender_address

    @property
    def message_id(self) -> str:
        domain = self.sender_address.rpartition("@")[2]
        return message_id(self.run_id, self.recipient_key, self.resend, domain)


def addressing_for(
    sender: Sender, recipient: Recipient, run_id: str, resend: int, test: bool = False
) -> Addressing:
    """The addressing of one recipient's message in a run (in a preview, run_id is "preview").

    In a test run, `recipient.email` is the test address.
    """
    return Addressing(
        sender_name=sender.name,
        sender_address=sender.address,
        reply_to=sender.reply_to,
        to_address=recipient.email,
        run_id=run_id,
        gemeente=recipient.gemeente,
        recipient_key=recipient.key,
        resend=resend,
        test=test,
        on_behalf_name=sender.from_name if sender.on_behalf_of else "",
        on_behalf_address=sender.from_address if sender.on_behalf_of else None,
    )

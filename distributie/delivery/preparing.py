"""The message of one attempt: the run's mailing, compiled once per process, and the recipient's
message rendered, built and signed from what the claim handed over."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from distributie import states
from distributie.compose.addressing import addressing_for
from distributie.compose.bounds import RenderLimits
from distributie.compose.dkim import DKIMError, DKIMSigner, dkim_signer
from distributie.compose.mailing import Mailing, mailing_from_bundle
from distributie.compose.message import compose
from distributie.compose.recipients import Recipient
from distributie.compose.rendering import CompiledMailing, RenderError, compile_mailing
from distributie.delivery.attempt import Attempt, Outcome, Outgoing
from distributie.ledger import Ledger
from distributie.settings import Settings


@dataclass(frozen=True)
class RunContext:
    """What every message of a run shares, loaded once per process."""

    mailing: Mailing
    compiled: CompiledMailing
    test: bool  # a proefzending: every message marked [PROEF]
    signer: DKIMSigner | DKIMError | None  # None: no DKIM; an error: every message fails on it


def load_run(ledger: Ledger, settings: Settings, run_id: str) -> RunContext:
    info = ledger.run_info(run_id)
    mailing = mailing_from_bundle(ledger.load_bundle(info["templates_sha256"]))
    test = info.get("kind") == states.RUN_KIND_TEST
    signer: DKIMSigner | DKIMError | None
    try:
        signer = dkim_signer(settings, mailing.spec.sender.from_address)
    except DKIMError as exc:
        signer = exc
    return RunContext(mailing, compile_mailing(mailing), test, signer)


def prepare(run: RunContext, attempt: Attempt, max_message_bytes: int) -> Outgoing | Outcome:
    """The message to send, or why it cannot be sent at all."""
    claim = attempt.claim
    recipient = Recipient(
        row=int(claim.data["row"]),
        gemeente=claim.gemeente,
        email=claim.email,
        fields=dict(claim.data["fields"]),
        key=attempt.key,
    )
    addressing = addressing_for(
        run.mailing.spec.sender, recipient, attempt.run_id, claim.resend, run.test
    )
    attempt.message_id = addressing.message_id
    # Whole seconds: the Date header holds no more, and the archive rebuilds from it.
    date = datetime.now().astimezone().replace(microsecond=0)
    try:
        limits = RenderLimits(max_message_bytes)
        message = compose(run.compiled, recipient, addressing, date, limits=limits)
    except RenderError as exc:
        return Outcome(states.FAILED, states.OUTCOME_PERMANENT, str(exc))
    if len(message.data) > max_message_bytes:
        reason = (
            f"message is {len(message.data)} bytes, more than "
            f"DISTRIBUTIE_MAX_MESSAGE_BYTES={max_message_bytes}"
        )
        return Outcome(states.FAILED, states.OUTCOME_PERMANENT, reason)
    if isinstance(run.signer, DKIMError):
        return Outcome(states.FAILED, states.OUTCOME_PERMANENT, str(run.signer))
    # Signed per attempt, over the final bytes: every header is set by now.
    prefix = run.signer.signature_headers(message.data) if run.signer is not None else b""
    return Outgoing(message, date, prefix + message.data, prefix)

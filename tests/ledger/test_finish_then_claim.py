"""record_outcome with the next claim (finish_then_claim.lua): an attempt's outcome and the next
recipient's claim in one round trip, each exactly as it would be alone."""

from __future__ import annotations

from distributie import states
from distributie.ledger import Claim, ClaimRefused, ClaimRequest, Finish, Ledger
from tests.support.ledger import create_test_run

LEASE = 30.0


def _claim(ledger: Ledger, key: str) -> Claim:
    got = ledger.claim("run-1", key, 1, "worker-a", LEASE)
    assert isinstance(got, Claim), got
    return got


def _sent(claim: Claim, key: str) -> Finish:
    return Finish(
        "run-1", key, claim.claim, "worker-a", "accepted", states.SENT, "250 ok", 250, "<m>"
    )


def _next(key: str, seq: int = 1) -> ClaimRequest:
    return ClaimRequest("run-1", key, seq, "worker-a", LEASE)


def _state(ledger: Ledger, key: str) -> str:
    return ledger.status("run-1", [key]).recipients[0].state


def test_the_outcome_is_recorded_and_the_next_recipient_claimed(ledger: Ledger) -> None:
    create_test_run(ledger, 2)

    state, got = ledger.record_outcome(_sent(_claim(ledger, "g1"), "g1"), _next("g2"))

    assert state == states.SENT and _state(ledger, "g1") == states.SENT
    assert isinstance(got, Claim)
    assert got.email == "b@g2.example" and got.tries == 1
    assert _state(ledger, "g2") == states.SENDING
    assert ledger.counts("run-1")[states.SENDING] == 1


def test_without_a_next_recipient_only_the_outcome_is_recorded(ledger: Ledger) -> None:
    create_test_run(ledger, 2)

    state, got = ledger.record_outcome(_sent(_claim(ledger, "g1"), "g1"))

    assert (state, got) == (states.SENT, None)
    assert _state(ledger, "g2") == states.QUEUED


def test_the_next_claim_is_refused_as_a_claim_alone_would_be(ledger: Ledger) -> None:
    create_test_run(ledger, 3)
    other = ledger.claim("run-1", "g2", 1, "worker-b", LEASE)  # held by another worker
    assert isinstance(other, Claim)

    _, busy = ledger.record_outcome(_sent(_claim(ledger, "g1"), "g1"), _next("g2"))
    _, done = ledger.record_outcome(_sent(_claim(ledger, "g3"), "g3"), _next("g3"))

    assert isinstance(busy, ClaimRefused) and busy.reason == "busy"
    assert isinstance(done, ClaimRefused) and done.reason == "done"


def test_a_next_recipient_of_a_paused_run_is_held(ledger: Ledger) -> None:
    create_test_run(ledger, 2)
    claim = _claim(ledger, "g1")
    ledger.control_run("run-1", states.OUTCOME_PAUSED, "secretariaat")

    state, got = ledger.record_outcome(_sent(claim, "g1"), _next("g2"))

    assert state == states.SENT
    assert isinstance(got, ClaimRefused) and got.reason == "held"
    assert _state(ledger, "g2") == states.QUEUED


def test_a_late_outcome_is_ignored_and_the_next_claim_still_made(ledger: Ledger) -> None:
    create_test_run(ledger, 2)
    claim = _claim(ledger, "g1")
    ledger.expire_lease("run-1", "g1", claim.claim)
    assert isinstance(ledger.claim("run-1", "g1", 1, "worker-b", LEASE), Claim)  # taken over

    state, got = ledger.record_outcome(_sent(claim, "g1"), _next("g2"))

    assert state == states.SENDING  # the takeover's attempt, not this late one
    assert isinstance(got, Claim)

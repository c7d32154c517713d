"""Issue 13's "done when", end to end: a 300-recipient run through real `distributie worker`
processes (two workers of two processes each) to the XOAUTH2-only SMTP server, signing in with
tokens from the real HTTPS token endpoint that expire every 20 s, every message DKIM-signed.

The run is held to 8 messages a second, so it lasts about twice a token's lifetime and every
process has to renew its token while it sends. Then: every recipient was sent exactly once, each
process asked for a token at most once per token lifetime, no session outlived its token, and
every message the server received carries a DKIM signature that dkimpy verifies.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dkim as dkimpy
import pytest
import trustme

from distributie import states
from distributie.compose.dkim import DKIMSigner, load_key
from distributie.ledger import RecipientStatus
from tests.support.keys import write_rsa_key
from tests.support.oauth import TokenEndpoint, TokenRequest
from tests.support.redis import TestRedis
from tests.support.smtp import ReceivedMessage
from tests.support.workers import (
    WorkerPool,
    children_of,
    fast_settings_env,
    start_run,
    wait_until_settled,
    write_recipients,
)
from tests.support.xoauth2_smtp import SignIn, XOAuth2SMTPServer

COUNT = 300
LIFETIME = 20.0
RENEWED_AFTER = LIFETIME * 0.9  # a tenth of the lifetime before it ends (oauth.py)
# A token's age counts from before its request went out, the endpoint notes the answer: a
# slow first request (a busy machine, a process's first TLS handshake) shortens the gap.
REQUEST_TIME = 2.5
RATE = "8/s"
SELECTOR = "distributie2026"
DOMAIN = "veiligheidscollege-mn.example"  # the bundled mailing's From domain


@dataclass(frozen=True)
class Delivery:
    """What the run left behind, read before the servers stopped."""

    counts: dict[str, int]
    recipients: list[RecipientStatus]
    messages: list[ReceivedMessage]
    deliveries: dict[str, int]
    token_requests: list[TokenRequest]
    by_process: dict[int | None, list[TokenRequest]]
    sign_ins: list[SignIn]
    expired_sessions: int
    pool_pids: set[int]
    seconds: float
    dns: Callable[..., bytes | None]
    logs: str


def _published(key_file: Path) -> Callable[..., bytes | None]:
    """dkimpy's DNS hook, answering with what `distributie dkim dns` says to publish."""
    key = load_key(key_file, "rsa", "DISTRIBUTIE_DKIM_KEY_FILE")
    records = {
        f"{r.name}.".encode(): "".join(r.strings()).encode()
        for r in DKIMSigner(selector=SELECTOR, domain=DOMAIN, key=key).dns_records()
    }
    return lambda name, timeout=5: records.get(name)


@pytest.fixture(scope="module")
def delivery(
    redis_server: TestRedis,
    smtp_ca: trustme.CA,
    smtp_ca_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Delivery]:
    root = tmp_path_factory.mktemp("m365")
    (root / "logs").mkdir()
    redis_server.flush()
    key_file = write_rsa_key(root / "dkim.pem")
    with (
        TokenEndpoint(ca=smtp_ca, ca_file=smtp_ca_file, lifetime=LIFETIME) as endpoint,
        XOAuth2SMTPServer(ca=smtp_ca, ca_file=smtp_ca_file, endpoint=endpoint) as server,
    ):
        pool = WorkerPool(fast_settings_env(redis_server.url, root / "outbox"), root / "logs")
        extra = {
            **server.environ(timeout=5),
            "DISTRIBUTIE_DKIM_SELECTOR": SELECTOR,
            "DISTRIBUTIE_DKIM_KEY_FILE": str(key_file),
            "DISTRIBUTIE_RATE_LIMIT": RATE,
            "DISTRIBUTIE_SEND_LEASE": "30",
        }
        try:
            workers = [pool.start(concurrency=2, **extra) for _ in range(2)]
            pool_pids = {pid for worker in workers for pid in pool.pool_pids(worker)}
            handle = start_run({**pool.env, **extra}, write_recipients(root / "list.csv", COUNT))
            started = time.monotonic()
            counts = wait_until_settled(handle.ledger, handle.run_id, timeout=180)
            seconds = time.monotonic() - started
            pool_pids |= {pid for worker in workers for pid in children_of(worker.pid)}
            yield Delivery(
                counts=counts,
                recipients=handle.ledger.status(handle.run_id).recipients,
                messages=server.messages,
                deliveries=dict(server.deliveries_by_recipient()),
                token_requests=endpoint.requests,
                by_process=endpoint.requests_by_process(),
                sign_ins=server.sign_ins,
                expired_sessions=server.expired_sessions,
                pool_pids=pool_pids,
                seconds=seconds,
                dns=_published(key_file),
                logs=pool.logs(),
            )
        finally:
            pool.stop_all()


def test_every_recipient_is_sent_exactly_once_at_the_first_attempt(delivery: Delivery) -> None:
    assert delivery.counts[states.SENT] == COUNT, delivery.logs[-3000:]
    assert len(delivery.deliveries) == COUNT
    assert set(delivery.deliveries.values()) == {1}
    assert {r.attempts for r in delivery.recipients} == {1}


def test_the_run_lasted_long_enough_that_every_process_renewed_its_token(
    delivery: Delivery,
) -> None:
    assert delivery.seconds > LIFETIME * 1.5
    by_process = delivery.by_process
    assert len(by_process) == 4  # two workers of two processes, all of them sending
    assert all(len(requests) >= 2 for requests in by_process.values())


def test_each_process_asks_for_a_token_at_most_once_per_token_lifetime(
    delivery: Delivery,
) -> None:
    by_process = delivery.by_process
    assert set(by_process) <= delivery.pool_pids  # the sending processes, and named
    for requests in by_process.values():
        moments = sorted(r.at for r in requests)
        gaps = [later - earlier for earlier, later in itertools.pairwise(moments)]
        assert all(gap > RENEWED_AFTER - REQUEST_TIME for gap in gaps), gaps
        assert len(moments) <= delivery.seconds / RENEWED_AFTER + 1
    assert all(r.status == 200 for r in delivery.token_requests)


def test_every_sign_in_was_accepted_and_no_session_outlived_its_token(
    delivery: Delivery,
) -> None:
    assert delivery.sign_ins and all(s.accepted for s in delivery.sign_ins)
    assert delivery.expired_sessions == 0
    # Connections are kept and reused: a sign-in per process per token, not per message.
    assert len(delivery.sign_ins) < COUNT / 10


def test_every_message_received_has_a_dkim_signature_that_verifies(delivery: Delivery) -> None:
    assert len(delivery.messages) == COUNT
    unverified = [
        m.recipient for m in delivery.messages if not dkimpy.verify(m.data, dnsfunc=delivery.dns)
    ]
    assert unverified == []
    assert all(m.data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;") for m in delivery.messages)

"""A ledger on the suite's Redis, and a small run in it, for tests of the ledger and above."""

from __future__ import annotations

from pathlib import Path

import pytest

from distributie.compose.mailing import MailingBundle
from distributie.ledger import Ledger, NewRecipient, NewRun

__all__ = ["create_test_run", "ledger"]


@pytest.fixture
def ledger(redis_url: str) -> Ledger:
    """A ledger on an empty database of the suite's Redis."""
    return Ledger.from_url(redis_url)


def create_test_run(ledger: Ledger, count: int = 2, run_id: str = "run-1") -> str:
    """A run of `count` recipients g1, g2, ... (Gemeente 1, ...), all queued; its id."""
    run = NewRun(
        id=run_id,
        mailing="Test",
        mailing_dir="/tmp",
        recipients_path=str(Path("list.csv")),
        recipients_sha256="abc",
        created_by="test",
        transport="outbox",
    )
    ledger.create_run(
        run,
        MailingBundle({"mailing.toml": b"name = 'x'"}),
        [
            NewRecipient(f"g{n}", f"Gemeente {n}", f"b@g{n}.example", {"row": n + 1, "fields": {}})
            for n in range(1, count + 1)
        ],
        lambda key, resend: f"<{run_id}.{key}.{resend}@x.example>",
    )
    return run_id

"""Rebuilding the exact bytes a run's attempt handed to the server, from the run's stored
mailing and rows and what the attempt recorded (its Date, its prefix, the address it went to):
`prefix + build_message(rendered, addressing, date)`, the same code path the worker took."""

from __future__ import annotations

import base64
import hashlib
import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from distributie.compose.addressing import addressing_for
from distributie.compose.mailing import MailingBundle, mailing_from_bundle
from distributie.compose.message import compose, parse_date
from distributie.compose.recipients import Recipient
from distributie.compose.rendering import RenderError, compile_mailing
from distributie.errors import InvariantError
from distributie.ledger import SentMessage


@dataclass(frozen=True)
class Rebuilt:
    """The bytes rebuilt for one recorded attempt, or why they could not be."""

    data: bytes
    sha256: str
    error: str = ""  # a template that no longer renders, a Date that cannot be read


class Rebuilder:
    """Rebuilds the messages of one run (its mailing compiled once)."""

    def __init__(self, run_id: str, bundle: MailingBundle, test: bool = False) -> None:
        self.run_id = run_id
        self.test = test  # a proefzending's messages carry [PROEF]
        self.mailing = mailing_from_bundle(bundle)
        self.compiled = compile_mailing(self.mailing)

    def rebuild(self, key: str, gemeente: str, row: dict[str, Any], sent: SentMessage) -> Rebuilt:
        recipient = Recipient(
            row=int(row.get("row") or 0),
            gemeente=gemeente,
            email=sent.email,
            fields=dict(row.get("fields") or {}),
            key=key,
        )
        addressing = addressing_for(
            self.mailing.spec.sender, recipient, self.run_id, sent.resend, self.test
        )
        try:
            date = parse_date(sent.date)
            prefix = base64.b64decode(sent.prefix, validate=True)
            built = compose(self.compiled, recipient, addressing, date).data
        except (RenderError, ValueError, TypeError) as exc:
            return Rebuilt(b"", "", f"cannot be rebuilt: {exc}")
        data = prefix + built
        return Rebuilt(data, hashlib.sha256(data).hexdigest())


# (recipient key, gemeente, stored row, what the attempt recorded): one message to rebuild.
Job = tuple[str, str, dict[str, Any], SentMessage]
# Below this many messages the processes cost more to start than they save.
PARALLEL_FROM = 200
_CHUNK = 20
_worker: Rebuilder | None = None


def _start_worker(run_id: str, files: dict[str, bytes], test: bool) -> None:
    global _worker
    _worker = Rebuilder(run_id, MailingBundle(files), test)


def _rebuild_in_worker(job: Job) -> Rebuilt:
    if _worker is None:
        raise InvariantError("the pool's initializer did not run")
    return _worker.rebuild(*job)


def rebuild_all(
    run_id: str, bundle: MailingBundle, jobs: list[Job], test: bool = False
) -> Iterator[Rebuilt]:
    """Every job rebuilt, in order; on every core for a long list. The processes are spawned,
    not forked (the caller may have threads, which fork does not carry safely), so the
    program's __main__ must be safe to import: `distributie` and `python -m distributie` are."""
    processes = min(os.cpu_count() or 1, len(jobs) // PARALLEL_FROM)
    if processes < 2:
        rebuilder = Rebuilder(run_id, bundle, test)
        yield from (rebuilder.rebuild(*job) for job in jobs)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, _start_worker, (run_id, dict(bundle.files), test)) as pool:
        yield from pool.imap(_rebuild_in_worker, jobs, chunksize=_CHUNK)

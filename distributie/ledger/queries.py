"""Reading the ledger: runs, counts, recipients, one recipient by name, a run's full status."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

import redis

from distributie import states
from distributie.errors import InvariantError
from distributie.ledger.connection import text
from distributie.ledger.keys import (
    RUNS,
    SCHEDULED,
    counts_key,
    history_key,
    order_key,
    recipient_key_of,
    run_key,
)
from distributie.ledger.records import RecipientStatus, RunControl, RunPage, RunStatus
from distributie.ledger.scripts import Scripts


def _recipient(key: str, raw: dict[str, str], history: list[dict[str, Any]]) -> RecipientStatus:
    return RecipientStatus(
        key=key,
        gemeente=raw.get("gemeente", ""),
        email=raw.get("email", ""),
        state=raw.get("state", ""),
        attempts=int(raw.get("attempts") or 0),
        message_id=raw.get("message_id", ""),
        last_reply=raw.get("last_reply", ""),
        updated_at=float(raw["updated_at"]) if raw.get("updated_at") else None,
        waiting=raw.get("waiting", ""),
        not_before=float(raw.get("not_before") or 0),
        history=history,
        auto_reply=raw.get("auto_reply_line", ""),
        auto_reply_at=float(raw["auto_reply_at"]) if raw.get("auto_reply_at") else None,
    )


# What a page of recipients shows of each (not its row's data): few fields, fast to read.
PAGE_FIELDS = (
    "key",
    "gemeente",
    "email",
    "state",
    "attempts",
    "last_reply",
    "updated_at",
    "waiting",
    "not_before",
    "message_id",
)


def _pairs(flat: list[bytes]) -> dict[str, str]:
    """A hash as HGETALL returns it inside a script: [field, value, field, value, ...]."""
    return {text(flat[i]): text(flat[i + 1]) for i in range(0, len(flat), 2)}


class Queries:
    """Every read of runs and recipients (part of `Ledger`)."""

    client: redis.Redis
    scripts: Scripts

    def run_ids(self) -> list[str]:
        return [text(r) for r in cast(list[bytes], self.client.zrange(RUNS, 0, -1))]

    def latest_run(self) -> str | None:
        latest = cast(list[bytes], self.client.zrange(RUNS, -1, -1))
        return text(latest[0]) if latest else None

    def run_exists(self, run_id: str) -> bool:
        return bool(self.client.exists(run_key(run_id)))

    def run_info(self, run_id: str) -> dict[str, str]:
        raw = cast(dict[bytes, bytes], self.client.hgetall(run_key(run_id)))
        return {text(k): text(v) for k, v in raw.items()}

    def counts(self, run_id: str) -> dict[str, int]:
        raw = cast(dict[bytes, bytes], self.client.hgetall(counts_key(run_id)))
        counts = {s: 0 for s in states.ALL_STATES}
        counts.update({text(k): int(v) for k, v in raw.items()})
        return counts

    def recipient_keys(self, run_id: str) -> list[str]:
        return [text(k) for k in self.client.lrange(order_key(run_id), 0, -1)]

    def find_recipient(self, run_id: str, gemeente: str) -> str | None:
        """The key of a recipient by its gemeente name (case-insensitive) or key."""
        wanted = gemeente.strip().casefold()
        keys = self.recipient_keys(run_id)
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(recipient_key_of(run_id, key), "gemeente")
        for key, name in zip(keys, pipe.execute(), strict=True):
            if wanted in (key, text(name).casefold()):
                return key
        return None

    def page(
        self, run_id: str, offset: int, limit: int, state: str = "", fragment: str = ""
    ) -> RunPage:
        """Recipients [offset, offset + limit) of those in `state` whose key holds `fragment`
        (either '' for any), with the run and its counts: one Redis command (read_page.lua)."""
        if offset < 0 or limit < 1:
            raise InvariantError(f"no page at offset {offset} with limit {limit}")
        result = self.scripts.read_page(
            keys=[run_key(run_id), counts_key(run_id), order_key(run_id)],
            args=[recipient_key_of(run_id, ""), offset, limit, state, fragment, *PAGE_FIELDS],
        )
        counts = {s: 0 for s in states.ALL_STATES}
        counts.update({k: int(v) for k, v in _pairs(result[1]).items()})
        recipients = []
        for encoded in result[3:]:
            values = json.loads(encoded)
            raw = {name: v or "" for name, v in zip(PAGE_FIELDS, values, strict=True)}
            recipients.append(_recipient(raw["key"], raw, []))
        return RunPage(_pairs(result[0]), counts, int(result[2]), recipients)

    def status(
        self, run_id: str, keys: Iterable[str] | None = None, with_history: bool = True
    ) -> RunStatus:
        info = self.run_info(run_id)
        keys = list(keys) if keys is not None else self.recipient_keys(run_id)
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(recipient_key_of(run_id, key))
            if with_history:
                pipe.lrange(history_key(run_id, key), 0, -1)
        results = pipe.execute()
        step = 2 if with_history else 1
        recipients = []
        for index, key in enumerate(keys):
            raw = {text(k): text(v) for k, v in results[index * step].items()}
            history = [json.loads(h) for h in results[index * step + 1]] if with_history else []
            recipients.append(_recipient(key, raw, history))
        return RunStatus(
            run=run_id,
            mailing=info.get("mailing", ""),
            created_at=float(info.get("created_at") or 0),
            created_by=info.get("created_by", ""),
            recipients_path=info.get("recipients_path", ""),
            recipients_sha256=info.get("recipients_sha256", ""),
            templates_sha256=info.get("templates_sha256", ""),
            transport=info.get("transport", ""),
            total=int(info.get("total") or 0),
            counts=self.counts(run_id),
            recipients=recipients,
            control=RunControl.from_hash(info),
        )

    def run_control(self, run_id: str) -> RunControl:
        return RunControl.from_hash(self.run_info(run_id))

    def due_runs(self, now: float) -> list[str]:
        """Scheduled runs whose time has come (released once approved, where that is needed)."""
        due = cast(list[bytes], self.client.zrangebyscore(SCHEDULED, "-inf", now))
        return [text(r) for r in due]

"""What was handed to the server: each attempt's record of the bytes that went out and the rows
they were rendered from (for the archive), and who was sent what by address (for matching
reports)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

import redis

from distributie.ledger.connection import text
from distributie.ledger.keys import messages_key, recipient_key_of, sent_to_key
from distributie.ledger.records import SentMessage, SentTo

__all__ = ["SentMessage", "SentRecords", "SentTo", "end_of_data_record"]


def end_of_data_record(run_id: str, key: str, sent: SentMessage) -> tuple[list[str], list[str]]:
    """The extra KEYS and ARGV of mark_end_of_data.lua that record `sent`: the attempt's record
    of what it handed over, and the sent-to index entry of its address."""
    return (
        [messages_key(run_id, key), sent_to_key(sent.email)],
        [str(sent.attempt), sent.as_json(), f"{run_id}/{key}/{sent.resend}"],
    )


def _by_attempt(raw: dict[bytes, bytes]) -> list[SentMessage]:
    return sorted((SentMessage.from_json(v) for v in raw.values()), key=lambda m: m.attempt)


class SentRecords:
    """Reads of the sent-message records (part of `Ledger`); mark_end_of_data writes them."""

    client: redis.Redis

    def sent_messages(self, run_id: str, key: str) -> list[SentMessage]:
        """Every attempt of one recipient that sent the end of DATA, oldest first."""
        return _by_attempt(cast(dict[bytes, bytes], self.client.hgetall(messages_key(run_id, key))))

    def sent_messages_of(self, run_id: str, keys: Sequence[str]) -> dict[str, list[SentMessage]]:
        """The same for many recipients, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(messages_key(run_id, key))
        return {key: _by_attempt(raw) for key, raw in zip(keys, pipe.execute(), strict=True)}

    def stored_rows(
        self, run_id: str, keys: Sequence[str]
    ) -> dict[str, tuple[str, dict[str, Any]]]:
        """Each recipient's gemeente and its row of the list as the run stored it."""
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(recipient_key_of(run_id, key), ["gemeente", "data"])
        rows = {}
        for key, (gemeente, data) in zip(keys, pipe.execute(), strict=True):
            rows[key] = (text(gemeente), json.loads(data) if data else {})
        return rows

    def sent_to(self, address: str, since: float) -> list[SentTo]:
        """The messages sent to `address` (any case) from `since` on, the latest first."""
        found = cast(
            list[tuple[bytes, float]],
            self.client.zrevrangebyscore(sent_to_key(address), "+inf", since, withscores=True),
        )
        result = []
        for member, score in found:
            run, _, rest = text(member).partition("/")
            key, _, resend = rest.rpartition("/")
            if run and key and resend.isdigit():
                result.append(SentTo(run, key, int(resend), float(score)))
        return result

"""The `Ledger`: one object for every read and write of delivery state in Redis."""

from __future__ import annotations

import redis

from distributie.ledger.bounces import BounceRecords
from distributie.ledger.connection import connect
from distributie.ledger.publishing import Publishing
from distributie.ledger.queries import Queries
from distributie.ledger.runs import RunWrites
from distributie.ledger.scripts import Scripts
from distributie.ledger.sent import SentRecords
from distributie.ledger.transitions import Transitions


class Ledger(RunWrites, Queries, Transitions, Publishing, SentRecords, BounceRecords):
    """All reads and writes of delivery state. Scripts are registered once per client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.scripts = Scripts(client)

    @classmethod
    def from_url(cls, url: str) -> Ledger:
        return cls(connect(url))

"""The delivery ledger in Redis: the single truth about every run and every recipient.

Every transition of a recipient is one Lua script (lua/), so it is atomic and appends to the
recipient's history and the run's event stream in the same step. Times come from the Redis
server's clock, so leases and rate slots mean the same on every host. The key schema is in the
README and in keys.py.
"""

from distributie.ledger.connection import connect
from distributie.ledger.ledger import Ledger
from distributie.ledger.publishing import UnpublishedTask
from distributie.ledger.records import (
    Claim,
    ClaimRefused,
    ClaimRequest,
    Finish,
    NewRecipient,
    NewRun,
    RecipientStatus,
    Requeued,
    RequeueRefused,
    RunChanged,
    RunControl,
    RunControlRefused,
    RunPage,
    RunStatus,
    SentMessage,
)
from distributie.ledger.runs import new_run_id

__all__ = [
    "Claim",
    "ClaimRefused",
    "ClaimRequest",
    "Finish",
    "Ledger",
    "NewRecipient",
    "NewRun",
    "RecipientStatus",
    "RequeueRefused",
    "Requeued",
    "RunChanged",
    "RunControl",
    "RunControlRefused",
    "RunPage",
    "RunStatus",
    "SentMessage",
    "UnpublishedTask",
    "connect",
    "new_run_id",
]

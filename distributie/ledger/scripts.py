"""The ledger's Lua scripts (the .lua files beside this module), loaded once per process and
registered once per Redis client.

Every script is prefixed with tables of the names it may write, generated from states.py and
records.py: a script says STATE.sent or OUTCOME.worker_lost, never a string of its own, and a
misspelt name is an error in Redis instead of a silently new state.
"""

from __future__ import annotations

import functools
from importlib import resources

import redis
from redis.commands.core import Script

from distributie import states
from distributie.ledger.records import VERDICTS

SCRIPT_NAMES = (
    "create_recipients",
    "create_run",
    "claim",
    "mark_end_of_data",
    "expire_lease",
    "finish",
    "requeue",
    "cancel",
    "run_control",
    "take_slot",
    "keep_slot",
    "take_unpublished",
    "republished",
    "record_report",
    "read_page",
)


def constants(prefix: str) -> dict[str, str]:
    """The names states.py defines with this prefix: OUTCOME_WORKER_LOST -> worker_lost."""
    return {
        name.removeprefix(prefix).lower(): value
        for name, value in vars(states).items()
        if name.startswith(prefix) and isinstance(value, str)
    }


def _table(name: str, entries: dict[str, str], strict: bool = True) -> str:
    table = "{" + ", ".join(f"{key} = '{value}'" for key, value in entries.items()) + "}"
    if strict:
        # Reading a name that does not exist is an error, not nil.
        table = (
            f"setmetatable({table}, {{__index = function(_, k) "
            f"error('ledger script: no {name} named ' .. tostring(k)) end}})"
        )
    return f"local {name} = {table}\n"


def names_prelude() -> str:
    """The Lua tables of every name a script may use, from the Python definitions."""
    terminal = ", ".join(f"{s} = true" for s in sorted(states.TERMINAL_STATES))
    held = ", ".join(f"{s} = true" for s in sorted(states.RUN_HELD_STATES))
    return (
        _table("STATE", {s: s for s in states.ALL_STATES})
        + _table("OUTCOME", constants("OUTCOME_"))
        + _table("STAGE", constants("STAGE_"))
        + _table("WAITING", constants("WAITING_"))
        + _table("VERDICT", {v: v for v in VERDICTS})
        + _table("RUN", constants("RUN_"))
        + f"local TERMINAL = {{{terminal}}}\n"
        + f"local HELD = {{{held}}}\n"
    )


def lua_file(name: str) -> str:
    return resources.files("distributie.ledger").joinpath("lua", f"{name}.lua").read_text()


@functools.cache
def source(name: str) -> str:
    """The complete text of one script as Redis runs it."""
    return names_prelude() + lua_file("common") + lua_file(name)


class Scripts:
    """Every ledger script registered with one client (EVALSHA, loaded on first use)."""

    def __init__(self, client: redis.Redis) -> None:
        self.create_recipients = self._register(client, "create_recipients")
        self.create_run = self._register(client, "create_run")
        self.claim = self._register(client, "claim")
        self.mark_end_of_data = self._register(client, "mark_end_of_data")
        self.expire_lease = self._register(client, "expire_lease")
        self.finish = self._register(client, "finish")
        self.requeue = self._register(client, "requeue")
        self.cancel = self._register(client, "cancel")
        self.run_control = self._register(client, "run_control")
        self.take_slot = self._register(client, "take_slot")
        self.keep_slot = self._register(client, "keep_slot")
        self.take_unpublished = self._register(client, "take_unpublished")
        self.republished = self._register(client, "republished")
        self.record_report = self._register(client, "record_report")
        self.read_page = self._register(client, "read_page")

    @staticmethod
    def _register(client: redis.Redis, name: str) -> Script:
        return client.register_script(source(name))

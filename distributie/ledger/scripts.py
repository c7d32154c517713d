"""The ledger's Lua scripts (the .lua files beside this module), loaded once per process and
registered once per Redis client.

A script says STATE.sent or OUTCOME.worker_lost, never a string of its own: the names of
states.py and records.py are put in as text when a script is loaded, so they cost nothing per
call, and a misspelt name stops the script from loading instead of making a new state.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import redis
from redis.commands.core import Script

from distributie import states
from distributie.errors import InvariantError
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


def names() -> dict[str, dict[str, str]]:
    """Every name a script may use, by table: STATE.sent, OUTCOME.worker_lost, ..."""
    return {
        "STATE": {state: state for state in states.ALL_STATES},
        "OUTCOME": constants("OUTCOME_"),
        "STAGE": constants("STAGE_"),
        "WAITING": constants("WAITING_"),
        "VERDICT": {verdict: verdict for verdict in VERDICTS},
        "RUN": constants("RUN_"),
    }


_NAME = re.compile(r"\b(STATE|OUTCOME|STAGE|WAITING|VERDICT|RUN)\.(\w+)\b")


def resolve_names(code: str) -> str:
    """`STATE.sent` becomes `'sent'` before Redis sees the script: the names cost nothing per
    call, and one that Python does not define stops the script from loading at all."""
    tables = names()

    def literal(match: re.Match[str]) -> str:
        table, key = match.groups()
        value = tables[table].get(key)
        if value is None:
            raise InvariantError(f"ledger script: no {table} named {key}")
        return f"'{value}'"

    return _NAME.sub(literal, code)


def names_prelude() -> str:
    """The sets a script looks states up in, and every state for scripts that go through all."""
    terminal = ", ".join(f"{s} = true" for s in sorted(states.TERMINAL_STATES))
    held = ", ".join(f"{s} = true" for s in sorted(states.RUN_HELD_STATES))
    every = ", ".join(f"'{s}'" for s in states.ALL_STATES)
    return (
        f"local TERMINAL = {{{terminal}}}\n"
        f"local HELD = {{{held}}}\n"
        f"local ALL_STATES = {{{every}}}\n"
    )


def lua_file(name: str) -> str:
    return resources.files("distributie.ledger").joinpath("lua", f"{name}.lua").read_text()


# Scripts whose file defines `local function <name>(KEYS, ARGV)`, so that a script made of
# several can run them too. Alone, such a script calls its function with its own KEYS and ARGV.
_FUNCTIONS = frozenset({"finish", "claim"})
# Scripts that run the functions of others (defined first, in this order).
_USES = {"finish_then_claim": ("finish", "claim")}


@functools.cache
def source(name: str) -> str:
    """The complete text of one script as Redis runs it."""
    code = [lua_file("common"), *(lua_file(used) for used in _USES.get(name, ())), lua_file(name)]
    if name in _FUNCTIONS:
        code.append(f"return {name}(KEYS, ARGV)\n")
    return names_prelude() + resolve_names("".join(code))


class Scripts:
    """Every ledger script registered with one client (EVALSHA, loaded on first use)."""

    def __init__(self, client: redis.Redis) -> None:
        self.create_recipients = self._register(client, "create_recipients")
        self.create_run = self._register(client, "create_run")
        self.claim = self._register(client, "claim")
        self.mark_end_of_data = self._register(client, "mark_end_of_data")
        self.expire_lease = self._register(client, "expire_lease")
        self.finish = self._register(client, "finish")
        self.finish_then_claim = self._register(client, "finish_then_claim")
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

"""The ledger's Lua scripts: each loads into a real Redis, and every state, outcome, stage and
verdict they write comes from the Python definitions."""

from __future__ import annotations

import re

import pytest
import redis

from distributie import states
from distributie.errors import InvariantError
from distributie.ledger import scripts
from distributie.ledger.records import VERDICTS

NAMES = {
    "STATE": set(states.ALL_STATES),
    "OUTCOME": set(scripts.constants("OUTCOME_")),
    "STAGE": set(scripts.constants("STAGE_")),
    "WAITING": set(scripts.constants("WAITING_")),
    "VERDICT": set(VERDICTS),
}
EVERY_VALUE = (
    set(states.ALL_STATES)
    | set(scripts.constants("OUTCOME_").values())
    | set(scripts.constants("STAGE_").values())
    | set(scripts.constants("WAITING_").values())
    | set(VERDICTS)
)


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


@pytest.mark.parametrize("name", scripts.SCRIPT_NAMES)
def test_every_script_loads_into_redis(client: redis.Redis, name: str) -> None:
    sha = client.script_load(scripts.source(name))

    assert client.script_exists(sha) == [True]


@pytest.mark.parametrize("name", [*scripts.SCRIPT_NAMES, "common"])
def test_every_name_a_script_uses_is_defined_in_python(name: str) -> None:
    used = re.findall(r"\b(STATE|OUTCOME|STAGE|WAITING|VERDICT)\.(\w+)", scripts.lua_file(name))

    undefined = [f"{table}.{key}" for table, key in used if key not in NAMES[table]]

    assert undefined == []


@pytest.mark.parametrize("name", [*scripts.SCRIPT_NAMES, "common"])
def test_no_script_spells_a_state_or_outcome_itself(name: str) -> None:
    code = "\n".join(
        line.split("--", 1)[0] for line in scripts.lua_file(name).splitlines()
    )  # comments may name them
    literals = set(re.findall(r"'([^']*)'", code)) | set(re.findall(r'"([^"]*)"', code))

    assert literals & EVERY_VALUE == set()


def test_a_misspelt_name_stops_the_script_from_loading_instead_of_making_a_new_state() -> None:
    with pytest.raises(InvariantError, match="no STATE named snet"):
        scripts.resolve_names("return STATE.snet")


def test_a_name_becomes_its_value_as_text(client: redis.Redis) -> None:
    code = scripts.resolve_names("return {STATE.sent, OUTCOME.worker_lost, VERDICT.held}")

    assert client.eval(code, 0) == [b"sent", b"worker-lost", b"held"]


def test_the_terminal_states_of_the_scripts_are_those_of_python(client: redis.Redis) -> None:
    code = scripts.names_prelude() + (
        "local t = {} for k, _ in pairs(TERMINAL) do table.insert(t, k) end return t"
    )

    assert {s.decode() for s in client.eval(code, 0)} == set(states.TERMINAL_STATES)

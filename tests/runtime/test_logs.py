"""Log lines an operator can use, in text or one JSON object per line."""

from __future__ import annotations

import json
import logging

import pytest

from distributie.runtime.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_format_writes_one_object_per_line_with_every_field(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")

    logging.getLogger("distributie.test").info(
        "attempt", extra={"run": "r1", "gemeente": "baarn", "code": 250}
    )

    [line] = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert entry["message"] == "attempt"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "distributie.test"
    assert (entry["run"], entry["gemeente"], entry["code"]) == ("r1", "baarn", 250)


def test_text_format_ends_with_the_fields_as_key_value_pairs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "text")

    logging.getLogger("distributie.test").warning("took over", extra={"lost_worker": "h:1"})

    line = capsys.readouterr().err.strip()
    assert line.endswith("WARNING distributie.test: took over lost_worker=h:1")


def test_the_level_holds_back_what_is_below_it(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", "text")

    logging.getLogger("distributie.test").info("not shown")

    assert capsys.readouterr().err == ""

"""The DATA payload: line endings made CRLF and lines starting with a dot doubled, also when the
sender says its lines already end in CRLF."""

from __future__ import annotations

import pytest

from distributie.delivery.transport.smtp_dialogue import data_body


@pytest.mark.parametrize("crlf", [True, False])
def test_a_line_starting_with_a_dot_is_doubled(crlf: bool) -> None:
    assert data_body(b"a\r\n.b\r\n..c\r\n", crlf) == b"a\r\n..b\r\n...c\r\n"


@pytest.mark.parametrize("crlf", [True, False])
def test_a_dot_at_the_very_start_is_doubled(crlf: bool) -> None:
    assert data_body(b".x\r\n", crlf) == b"..x\r\n"


def test_bare_line_feeds_and_carriage_returns_become_crlf() -> None:
    assert data_body(b"a\nb\rc\r\n") == b"a\r\nb\r\nc\r\n"


def test_a_payload_without_a_final_line_ending_gets_one() -> None:
    assert data_body(b"a\r\nb") == b"a\r\nb\r\n"

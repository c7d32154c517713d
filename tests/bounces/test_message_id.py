"""Message-IDs: distributie's own form read back into run, recipient and resend; ids in headers."""

from __future__ import annotations

import pytest

from distributie.bounces import SentMessageId, parse_message_id
from distributie.bounces.message_id import MAX_IDS, message_ids_in
from distributie.compose.addressing import message_id

OURS = "<20191004-142501-7f3a.wijk-bij-duurstede.0@veiligheidscollege-mn.example>"


def test_distributie_message_id_is_read_into_its_parts() -> None:
    assert parse_message_id(OURS) == SentMessageId(
        message_id=OURS,
        run="20191004-142501-7f3a",
        recipient_key="wijk-bij-duurstede",
        resend=0,
        domain="veiligheidscollege-mn.example",
    )


def test_what_message_py_writes_is_read_back() -> None:
    written = message_id("20260102-030405-beef", "sudwest-fryslan", 12, "gemeente.example")

    parsed = parse_message_id(written)

    assert parsed is not None
    assert (parsed.run, parsed.recipient_key, parsed.resend) == (
        "20260102-030405-beef",
        "sudwest-fryslan",
        12,
    )


def test_white_space_around_and_missing_brackets_are_tolerated() -> None:
    parsed = parse_message_id("  20191004-142501-7f3a.soest.3@veiligheidscollege-mn.example\r\n")

    assert parsed is not None
    assert parsed.message_id == "<20191004-142501-7f3a.soest.3@veiligheidscollege-mn.example>"
    assert parsed.resend == 3


@pytest.mark.parametrize(
    "text",
    [
        "<CAKx9f=Q2u1@mail.gmail.com>",
        "<4c3b1f6a-90b2-4d1e-a3c8-0f8f5f6e2a11@AM0PR07MB5892.eurprd07.prod.outlook.com>",
        "<20191004-142501-7f3a.soest@veiligheidscollege-mn.example>",
        "<20191004-142501-7f3a.soest.x@veiligheidscollege-mn.example>",
        "<20191004-142501-7f3a.soest.0>",
        "<run.key.0@dom ain.example>",
        "",
    ],
)
def test_other_message_ids_are_not_distributie_s(text: str) -> None:
    assert parse_message_id(text) is None


def test_ids_in_a_header_come_in_order_without_duplicates() -> None:
    header = f"<a@x.example> {OURS}\r\n <a@x.example> <not-an-id> <b@y.example>"

    assert message_ids_in(header) == ["<a@x.example>", OURS, "<b@y.example>"]


def test_a_huge_references_header_yields_a_bounded_number_of_ids() -> None:
    header = " ".join(f"<{n}@x.example>" for n in range(10_000))

    assert len(message_ids_in(header)) == MAX_IDS

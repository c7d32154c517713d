"""message.py's body encodings, written piecewise for speed: byte for byte what one pass over
the whole body writes (base64 as base64.encodebytes, quoted-printable as binascii.b2a_qp)."""

from __future__ import annotations

import base64
import binascii
import random

import pytest

from distributie.compose.message import _base64, _text_body
from distributie.errors import InvariantError

SEEDS = range(300)


def one_pass_base64(content: bytes) -> bytes:
    return base64.encodebytes(content).replace(b"\n", b"\r\n")


def one_pass_quoted_printable(text: str) -> bytes:
    body = b"\n".join(text.encode("utf-8").splitlines()) + b"\n"
    return binascii.b2a_qp(body, istext=True).replace(b"\n", b"\r\n")


def with_static_runs(rng: random.Random) -> tuple[bytes, tuple[tuple[int, bytes], ...]]:
    """Random bytes with random runs (each its own bytes object, like a .docx's static
    members) at random offsets: some shorter than a line, some many lines long."""
    chunks: list[bytes] = []
    runs: list[tuple[int, bytes]] = []
    offset = 0
    for _ in range(rng.randint(0, 5)):
        gap = rng.randbytes(rng.choice([0, 1, 2, 56, 57, 58, rng.randint(0, 3000)]))
        run = rng.randbytes(rng.choice([1, 57, 57 * 16, 57 * 16 + 1, rng.randint(0, 20000)]))
        chunks += [gap, run]
        runs.append((offset + len(gap), run))
        offset += len(gap) + len(run)
    chunks.append(rng.randbytes(rng.randint(0, 200)))
    return b"".join(chunks), tuple(runs)


@pytest.mark.parametrize("seed", SEEDS)
def test_base64_with_static_runs_is_what_one_pass_writes(seed: int) -> None:
    content, runs = with_static_runs(random.Random(seed))

    assert _base64(content, runs) == one_pass_base64(content)
    # And again, now that the runs' lines come from the cache.
    assert _base64(content, runs) == one_pass_base64(content)


def test_a_static_run_moved_by_one_byte_is_still_encoded_right() -> None:
    run = random.Random(1).randbytes(57 * 40)
    for lead in range(60):
        content = b"x" * lead + run + b"tail"

        assert _base64(content, ((lead, run),)) == one_pass_base64(content)


def test_a_static_run_that_is_not_where_it_is_said_to_be_is_a_bug() -> None:
    run = bytes(range(256)) * 8

    with pytest.raises(InvariantError):
        _base64(b"ab" + run, ((0, run),))


TEXT_PIECES = [" ", "\t", ".", "=", "a", "é", "€", "\x0b", "\x0c", "From ", "-", "ü", "w" * 40]


@pytest.mark.parametrize("seed", SEEDS)
def test_quoted_printable_line_by_line_is_what_one_pass_writes(seed: int) -> None:
    rng = random.Random(seed)
    lines = [
        "".join(rng.choice(TEXT_PIECES) for _ in range(rng.randint(0, 12)))
        for _ in range(rng.randint(0, 8))
    ]
    text = rng.choice(["\n", "\r\n", "\r"]).join(lines) + rng.choice(["", "\n", " ", "\r\n"])

    assert _text_body(text) == one_pass_quoted_printable(text)
    assert _text_body(text) == one_pass_quoted_printable(text)

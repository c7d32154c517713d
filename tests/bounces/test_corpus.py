"""Every report in tests/bounces/corpus/ is read as its entry in expected.toml says."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import pytest

from distributie.bounces import parse_report
from tests.bounces.corpus_summary import summary

CORPUS = Path(__file__).resolve().parent / "corpus"
EXPECTED = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
NOT_REPORTS = {"expected.toml", "README.md", ".gitattributes"}
FILES = sorted(p.name for p in CORPUS.iterdir() if p.name not in NOT_REPORTS)


def test_every_corpus_file_has_an_expectation_and_every_expectation_a_file() -> None:
    assert set(FILES) == set(EXPECTED)


@pytest.mark.parametrize("name", FILES)
def test_corpus_report_is_read_as_expected(name: str) -> None:
    raw = (CORPUS / name).read_bytes()

    report = parse_report(raw)

    assert summary(report) == EXPECTED[name]
    if EXPECTED[name]["report_id"] == "sha256":
        assert report.report_id == "sha256:" + hashlib.sha256(raw).hexdigest()

"""checking.py: a list and a mailing are checked together; every row renders or is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from distributie.compose import checking
from distributie.compose.addressing import Addressing
from distributie.compose.checking import CheckedMailing, check_mailing, estimated_size
from distributie.compose.mailing import BUNDLED_MAILING
from distributie.compose.message import build_message
from distributie.compose.rendering import compile_mailing
from distributie.errors import InputError, Problem
from tests.support.docx_factory import minimal_docx
from tests.support.mailings import LISTS, MINIMAL, copy_mailing, replace_in

LIMIT = 10_000_000
HEADER = "gemeente,aanhef,tussenvoegsel,achternaam,email,consultatiepunten\n"


def check_problems(
    mailing: Path, recipients: Path | None = None, limit: int = LIMIT
) -> list[Problem]:
    with pytest.raises(InputError) as caught:
        check_mailing(mailing, recipients, limit)
    return caught.value.problems


def write_list(tmp_path: Path, rows: str, name: str = "lijst.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def needs_a_name_without_achternaam(tmp_path: Path) -> Path:
    """A mailing whose text needs a column the list lacks, but only for rows without achternaam."""
    folder = copy_mailing(tmp_path)
    replace_in(
        folder / "bericht.txt.j2",
        "Geachte {{ aanspreking }},",
        "Geachte {% if achternaam %}{{ aanspreking }}{% else %}{{ burgemeester_naam }}{% endif %},",
    )
    return folder


# --- lists that pass ----------------------------------------------------------------------------


def test_the_bundled_mailing_and_list_pass_with_39_recipients() -> None:
    checked = check_mailing(BUNDLED_MAILING, None, LIMIT)

    assert isinstance(checked, CheckedMailing)
    assert len(checked.recipients.recipients) == 39
    assert checked.recipients.path == BUNDLED_MAILING.parent.parent / "recipients" / (
        "midden-nederland.csv"
    )
    assert checked.compiled is compile_mailing(checked.mailing)


def test_the_sample_is_the_first_recipients_message() -> None:
    checked = check_mailing(BUNDLED_MAILING, None, LIMIT)

    assert checked.recipients.recipients[0].gemeente == "Amersfoort"
    assert checked.sample.subject == (
        "Regionale Veiligheidsstrategie 2019-2022 voor gemeente Amersfoort"
    )


def test_a_list_given_explicitly_replaces_the_mailings_own(tmp_path: Path) -> None:
    path = write_list(tmp_path, "Eemnes,heer,,Proef,burgemeester@eemnes.example,\n")

    checked = check_mailing(MINIMAL, path, LIMIT)

    assert [r.gemeente for r in checked.recipients.recipients] == ["Eemnes"]
    assert checked.recipients.path == path


def test_the_size_estimate_is_never_below_the_real_message_size() -> None:
    checked = check_mailing(BUNDLED_MAILING, None, LIMIT)
    spec = checked.mailing.spec

    for recipient in checked.recipients.recipients:
        rendered = checked.compiled.render(recipient.context())
        addressing = Addressing(
            spec.sender.name,
            spec.sender.address,
            spec.sender.reply_to,
            recipient.email,
            "20190408-120000-abcd",
            recipient.gemeente,
            recipient.key,
            0,
        )
        size = len(build_message(rendered, addressing))
        assert estimated_size(rendered) >= size, recipient.gemeente


# --- rows that do not render --------------------------------------------------------------------


def test_a_row_missing_a_value_the_template_needs_is_reported_with_row_and_variable(
    tmp_path: Path,
) -> None:
    folder = needs_a_name_without_achternaam(tmp_path)

    [problem] = check_problems(folder)

    assert problem.file == str((folder / "ontvangers.csv").resolve())
    assert problem.row == 4  # Soest: header is row 1, Baarn 2, Súdwest-Fryslân 3
    assert problem.column == "burgemeester_naam"
    assert problem.reason == (
        "bericht.txt.j2: uses 'burgemeester_naam', which this recipient does not have"
    )


def test_every_row_that_does_not_render_is_reported(tmp_path: Path) -> None:
    folder = needs_a_name_without_achternaam(tmp_path)
    path = write_list(
        tmp_path,
        "Baarn,mevrouw,de,Vries,burgemeester@baarn.example,\n"
        "Bunnik,,,,burgemeester@bunnik.example,\n"
        "De Bilt,heer,,Verzinsma,burgemeester@de-bilt.example,\n"
        "\n"  # an empty line is skipped, but keeps its row number
        "Eemnes,,,,burgemeester@eemnes.example,\n"
        "Soest,,,,burgemeester@soest.example,\n",
    )

    problems = check_problems(folder, path)

    assert [(p.row, p.column) for p in problems] == [
        (3, "burgemeester_naam"),
        (6, "burgemeester_naam"),
        (7, "burgemeester_naam"),
    ]
    assert all(p.file == str(path) for p in problems)


def test_a_docx_that_renders_invalid_xml_for_one_row_is_reported_for_that_row(
    tmp_path: Path,
) -> None:
    folder = copy_mailing(tmp_path)
    (folder / "brief.docx").write_bytes(minimal_docx(["Aan {{ gemeente|safe }}"]))
    path = write_list(
        tmp_path,
        "Baarn,mevrouw,de,Vries,burgemeester@baarn.example,\n"
        "Hof & Heide,heer,,Proef,burgemeester@hofenheide.example,\n",
    )

    [problem] = check_problems(folder, path)

    assert problem.row == 3
    assert problem.reason.startswith("brief.docx: renders invalid XML in word/document.xml")


def test_a_sandbox_escape_is_reported_for_every_row() -> None:
    problems = check_problems(MINIMAL.parent / "text-sandbox")

    assert [p.row for p in problems] == [2, 3, 4]
    assert all("not allowed in a template" in p.reason for p in problems)


# --- the size limit -----------------------------------------------------------------------------


def test_a_message_over_the_size_limit_is_reported_naming_the_setting() -> None:
    problems = check_problems(MINIMAL, limit=1_000)

    assert [p.row for p in problems] == [2, 3, 4]
    assert all("(DISTRIBUTIE_MAX_MESSAGE_BYTES)" in p.reason for p in problems)
    assert problems[0].reason.startswith("the message would be about ")


def test_the_limit_applies_to_each_message_exactly() -> None:
    checked = check_mailing(MINIMAL, None, LIMIT)
    sizes = [
        estimated_size(checked.compiled.render(r.context())) for r in checked.recipients.recipients
    ]
    largest = max(sizes)

    check_mailing(MINIMAL, None, largest)  # exactly at the limit passes
    problems = check_problems(MINIMAL, limit=largest - 1)

    assert [p.row for p in problems] == [2 + sizes.index(largest)]


# --- lists that cannot be used ------------------------------------------------------------------


def test_every_broken_row_of_the_list_is_reported_before_anything_renders() -> None:
    path = LISTS / "broken-rows.csv"

    problems = check_problems(MINIMAL, path)

    assert [(p.row, p.column) for p in problems] == [(3, "email"), (5, "aanhef"), (6, "gemeente")]
    assert problems[2].reason == "gemeente 'baarn' already appears in row 2"


def test_a_column_the_mailing_requires_must_be_in_the_list(tmp_path: Path) -> None:
    path = tmp_path / "lijst.csv"
    path.write_text("gemeente,email\nBaarn,burgemeester@baarn.example\n", encoding="utf-8")

    problems = check_problems(MINIMAL, path)

    assert {p.column for p in problems} == {
        "aanhef",
        "tussenvoegsel",
        "achternaam",
        "consultatiepunten",
    }
    assert all(p.row == 1 for p in problems)


def test_a_list_with_only_a_header_is_refused(tmp_path: Path) -> None:
    path = write_list(tmp_path, "")

    assert check_problems(MINIMAL, path) == [Problem(str(path), "the list has no recipients")]


def test_a_missing_list_is_refused_naming_its_path(tmp_path: Path) -> None:
    path = tmp_path / "bestaat-niet.csv"

    assert check_problems(MINIMAL, path) == [Problem(str(path), "the file does not exist")]


def test_a_mailing_without_a_default_list_asks_for_one(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    replace_in(folder / "mailing.toml", 'recipients = "ontvangers.csv"\n', "")

    [problem] = check_problems(folder)

    assert problem.reason == "no recipient list: give --recipients"


def test_a_broken_mailing_is_reported_before_the_list_is_read(tmp_path: Path) -> None:
    [problem] = check_problems(MINIMAL.parent / "missing-template", tmp_path / "geen.csv")

    assert "'brief.txt.j2' not found" in problem.reason


def test_a_long_list_is_checked_on_every_core_with_the_same_problems_in_row_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = needs_a_name_without_achternaam(tmp_path)
    rows = "".join(
        f"Gemeente {n},,,,burgemeester@g{n}.example,\n"
        if n % 7 == 0
        else f"Gemeente {n},mevrouw,de,Vries,burgemeester@g{n}.example,\n"
        for n in range(1, 60)
    )
    path = write_list(tmp_path, rows)
    serial = check_problems(folder, path)
    monkeypatch.setattr(checking, "PARALLEL_FROM_ROWS", 2)

    parallel = check_problems(folder, path)

    assert [(p.row, p.column) for p in parallel] == [(p.row, p.column) for p in serial]
    assert [p.row for p in parallel] == [n + 1 for n in range(7, 60, 7)]

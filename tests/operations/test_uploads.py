"""Uploaded lists: checked exactly as `check` does, kept only when they pass, nothing of a
refused one left behind, and no name from outside ever reaching the disk as a path."""

from __future__ import annotations

from pathlib import Path

import pytest

from distributie.errors import InputError
from distributie.operations import uploads
from distributie.operations.mailings import BUNDLED_MAILING
from distributie.settings import Settings

BUNDLED_LIST = Path(__file__).resolve().parents[2] / "recipients" / "midden-nederland.csv"


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", **values)  # type: ignore[call-arg]


def _kept_files(tmp_path: Path) -> list[Path]:
    root = tmp_path / "data" / "uploads"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_list_that_passes_is_kept_and_the_check_points_at_the_kept_file(tmp_path: Path) -> None:
    data = BUNDLED_LIST.read_bytes()

    kept, checked = uploads.check_upload(_settings(tmp_path), BUNDLED_MAILING, "lijst.csv", data)

    assert len(checked.recipients.recipients) == 39
    assert checked.recipients.path == kept.path
    assert kept.path.read_bytes() == data
    assert kept.filename == "lijst.csv"
    assert uploads.stored_upload(_settings(tmp_path), kept.id) == kept
    assert _kept_files(tmp_path) == [kept.path]


def test_the_same_list_uploaded_twice_is_kept_once(tmp_path: Path) -> None:
    data = BUNDLED_LIST.read_bytes()
    settings = _settings(tmp_path)

    first, _ = uploads.check_upload(settings, BUNDLED_MAILING, "lijst.csv", data)
    again, _ = uploads.check_upload(settings, BUNDLED_MAILING, "andere naam.csv", data)

    assert again == first
    assert len(_kept_files(tmp_path)) == 1


def test_a_list_with_problems_names_every_problem_and_leaves_nothing(tmp_path: Path) -> None:
    lines = BUNDLED_LIST.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace("burgemeester@baarn.example", "burgemeester(at)baarn.example")
    lines[3] = lines[3].replace("De Bilt", "Amersfoort")

    with pytest.raises(InputError) as raised:
        uploads.check_upload(
            _settings(tmp_path), BUNDLED_MAILING, "lijst.csv", "\n".join(lines).encode()
        )

    assert [(p.row, p.column) for p in raised.value.problems] == [(3, "email"), (4, "gemeente")]
    assert _kept_files(tmp_path) == []
    assert list((tmp_path / "data" / "uploads").iterdir()) == []  # no half-checked folder


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("lijst.csv", b"", "the file is empty"),
        ("lijst.pdf", b"%PDF-1.4", "unsupported file type '.pdf'"),
        ("lijst", b"gemeente,email\n", "unsupported file type '(none)'"),
        ("lijst.xlsx", b"not a workbook", "this is not a readable .xlsx workbook"),
    ],
)
def test_an_empty_or_wrong_file_is_refused_and_nothing_is_kept(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    with pytest.raises(InputError) as raised:
        uploads.check_upload(_settings(tmp_path), BUNDLED_MAILING, name, data)

    assert raised.value.problems[0].reason.startswith(reason)
    assert _kept_files(tmp_path) == []


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    settings = _settings(tmp_path, web_max_upload_bytes=100)

    with pytest.raises(uploads.UploadTooLarge) as raised:
        uploads.check_upload(settings, BUNDLED_MAILING, "lijst.csv", b"x" * 101)

    assert (raised.value.size, raised.value.limit) == (101, 100)
    assert not (tmp_path / "data" / "uploads").exists()


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd.csv", "passwd.csv"),
        ("C:\\Users\\anna\\Mijn lijst (2).xlsx", "Mijn lijst (2).xlsx"),
        ("lijst<script>.csv", "lijst_script_.csv"),
        ("...csv", "csv"),  # never a hidden file
        ("", "lijst"),
    ],
)
def test_an_uploaded_name_keeps_only_its_own_safe_name(given: str, kept: str) -> None:
    assert uploads.safe_filename(given) == kept


@pytest.mark.parametrize("upload_id", ["..", "../data", "0123456789abcdeg", "", "ABCDEF0123456789"])
def test_an_id_that_is_not_one_finds_nothing(tmp_path: Path, upload_id: str) -> None:
    assert uploads.stored_upload(_settings(tmp_path), upload_id) is None

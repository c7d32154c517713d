"""Checking, choosing and previewing before anything is sent."""

from __future__ import annotations

import shutil
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from distributie.errors import InputError, UsageError
from distributie.operations import mailings
from distributie.operations.mailings import BUNDLED_MAILING
from distributie.settings import Settings
from tests.support.mailings import MINIMAL, recipient

SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]


def test_select_recipients_by_gemeente_or_key_in_list_order() -> None:
    everyone = [recipient("Baarn", 2), recipient("De Bilt", 3), recipient("Eemnes", 4)]

    chosen = mailings.select_recipients(everyone, ["eemnes", "de-bilt"], None)

    assert [r.gemeente for r in chosen] == ["De Bilt", "Eemnes"]


def test_select_recipients_limit_takes_the_first() -> None:
    everyone = [recipient("Baarn", 2), recipient("De Bilt", 3), recipient("Eemnes", 4)]

    assert [r.gemeente for r in mailings.select_recipients(everyone, [], 2)] == [
        "Baarn",
        "De Bilt",
    ]


def test_select_recipients_names_every_gemeente_not_in_the_list() -> None:
    with pytest.raises(UsageError, match="not in the recipient list: 'Atlantis', 'Utopia'"):
        mailings.select_recipients([recipient("Baarn")], ["Atlantis", "Baarn", "Utopia"], None)


def test_check_refuses_a_broken_list_with_every_problem(tmp_path: Path) -> None:
    broken = tmp_path / "lijst.csv"
    broken.write_text("gemeente,email\nBaarn,jan@\nBaarn,kees@baarn.example\n")

    with pytest.raises(InputError) as raised:
        mailings.check(SETTINGS, BUNDLED_MAILING, broken)

    assert len(raised.value.problems) >= 2


def test_a_preview_is_the_message_the_recipient_would_get() -> None:
    checked = mailings.check(SETTINGS, BUNDLED_MAILING, None)

    shown = mailings.preview(checked, "Soest")

    parsed = message_from_bytes(shown.message.data, policy=policy.default)
    assert shown.recipient.gemeente == "Soest"
    assert parsed["Subject"] == shown.message.rendered.subject
    assert parsed["Message-ID"] == "<preview.soest.0@veiligheidscollege-mn.example>"
    assert [p.get_filename() for p in parsed.iter_attachments()] == [
        "Voorbeeld-aanbiedingsbrief gemeente Soest.docx"
    ]


def test_render_all_writes_one_eml_per_recipient(tmp_path: Path) -> None:
    checked = mailings.check(SETTINGS, BUNDLED_MAILING, None)

    count = mailings.render_all(checked, tmp_path / "proef")

    files = sorted(p.name for p in (tmp_path / "proef").iterdir())
    assert count == len(files) == 39
    assert "wijk-bij-duurstede.eml" in files


def test_the_mailings_are_the_folders_of_the_mailings_dir_with_their_own_list(
    tmp_path: Path,
) -> None:
    shutil.copytree(MINIMAL, tmp_path / "veiligheid")
    (tmp_path / "kapot").mkdir()
    (tmp_path / "kapot" / "mailing.toml").write_text("name = 'Kapot'\n")
    (tmp_path / "geen-mailing").mkdir()
    settings = Settings(_env_file=None, mailings_dir=tmp_path)  # type: ignore[call-arg]

    found = mailings.available_mailings(settings)

    assert [m.folder for m in found] == ["kapot", "veiligheid"]
    broken, usable = found
    assert broken.problems and broken.name == "kapot"
    assert usable.name == "Testmailing"
    assert usable.default_list == tmp_path / "veiligheid" / "ontvangers.csv"
    assert usable.problems == []


def test_a_mailing_is_found_only_by_the_name_of_a_folder_in_the_mailings_dir() -> None:
    assert mailings.find_mailing(SETTINGS, "veiligheidsstrategie-2019") is not None
    for name in ("..", "../templates/veiligheidsstrategie-2019", "/etc", ""):
        assert mailings.find_mailing(SETTINGS, name) is None

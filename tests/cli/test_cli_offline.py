"""The `check`, `preview` and `render` commands: everything up to one finished message per
recipient, without Redis or SMTP. Run from a folder of their own, as a secretariat would."""

from __future__ import annotations

import email
import email.policy
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import docx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from distributie.cli import cli
from tests.support.mailings import LISTS, MINIMAL, copy_mailing, replace_in

BIN = Path(sys.executable).parent
BUNDLED_LIST = Path(__file__).resolve().parents[2] / "recipients" / "midden-nederland.csv"
HEADER = "gemeente,aanhef,titel,voorletters,tussenvoegsel,achternaam,email,consultatiepunten\n"
BROKEN_ROWS = (
    "Amersfoort,heer,drs.,J.P.,van der,Voorbeeldhuizen,burgemeester@amersfoort.example,\n"
    "Baarn,mevrouw,,A.,de,Proefstra,burgemeester(at)baarn.example,\n"  # row 3: bad e-mail
    "De Bilt,heer,,K.,,Verzinsma,burgemeester@de-bilt.example,\n"
    "Bunnik,burgemeesteres,mr.,E.M.,van,Dummelen,burgemeester@bunnik.example,\n"  # row 5
    "amersfoort,heer,,P.,,Dubbel,burgemeester@amersfoort2.example,\n"  # row 6: duplicate
    "Soest,heer,,P.,van,Verzonnenberg,burgemeester@soest.example,\n"
)
COMMANDS = {
    "check": "Validate the mailing and recipient list",
    "preview": "Show one recipient's subject and text",
    "render": "Write every recipient's message as an .eml file",
    "send": "Check, then send the mailing",
    "status": "Show a run",
    "runs": "List every run",
    "resend": "Send one recipient of a run again",
    "retry": "Send every failed and unknown recipient of a run again",
    "cancel": "Cancel every queued and retrying recipient",
    "worker": "Start a worker that sends queued messages",
    "bounces": "Read the bounce mailbox",
    "archive": "Write every message a run sent, rebuilt and proven",
}


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run every command from an empty folder, with no DISTRIBUTIE_* settings at all."""
    for name in list(os.environ):
        if name.startswith("DISTRIBUTIE_"):
            monkeypatch.delenv(name)
    work = tmp_path / "werkmap"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})
    assert "Traceback" not in result.output
    return result


def parse_eml(path: Path) -> email.message.EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def docx_paragraphs(message: email.message.EmailMessage) -> list[str]:
    [letter] = [a for a in message.iter_attachments() if a.get_filename().endswith(".docx")]
    return [p.text for p in docx.Document(io.BytesIO(letter.get_content())).paragraphs]


def broken_list(tmp_path: Path) -> Path:
    path = tmp_path / "kapotte lijst.csv"
    path.write_text(HEADER + BROKEN_ROWS, encoding="utf-8")
    return path


# --- check --------------------------------------------------------------------------------------


def test_check_passes_the_bundled_mailing_and_counts_39_recipients() -> None:
    result = run("check")

    assert result.exit_code == 0, result.output
    assert f"Recipients:  39 in {BUNDLED_LIST}" in result.stdout
    assert "Subject:     Regionale Veiligheidsstrategie 2019-2022 voor gemeente Amersfoort" in (
        result.stdout
    )
    assert "OK: every recipient renders; nothing was sent." in result.stdout


def test_check_refuses_a_broken_list_naming_every_broken_row(tmp_path: Path) -> None:
    path = broken_list(tmp_path)

    result = run("check", "--recipients", str(path))

    assert result.exit_code == 2
    assert "3 problem(s); nothing was sent:" in result.stderr
    assert f"{path}, row 3, column 'email': not a valid e-mail address" in result.stderr
    assert f"{path}, row 5, column 'aanhef': unknown aanhef" in result.stderr
    assert (
        f"{path}, row 6, column 'gemeente': gemeente 'amersfoort' already appears in row 2"
        in result.stderr
    )
    assert "OK" not in result.stdout


def test_check_refuses_a_missing_list_naming_its_path(tmp_path: Path) -> None:
    path = tmp_path / "ontvangers-2019.csv"

    result = run("check", "--recipients", str(path))

    assert result.exit_code == 2
    assert f"{path}: the file does not exist" in result.stderr


def test_check_refuses_a_template_reaching_python_internals() -> None:
    result = run("check", "--mailing", str(MINIMAL.parent / "text-sandbox"))

    assert result.exit_code == 2
    assert "row 2: bericht.txt.j2: not allowed in a template" in result.stderr


def test_check_refuses_a_mailing_with_an_unknown_key() -> None:
    result = run("check", "--mailing", str(MINIMAL.parent / "unknown-key"))

    assert result.exit_code == 2
    assert "mailing.toml: key 'sender.adress': unknown key (misspelt?)" in result.stderr


def test_check_with_a_relative_mailing_folder_works_from_the_current_folder(
    elsewhere: Path,
) -> None:
    copy_mailing(elsewhere)

    result = run("check", "--mailing", "minimal")

    assert result.exit_code == 0, result.output
    assert "Recipients:  3 in " in result.stdout


# --- render -------------------------------------------------------------------------------------


def test_render_writes_one_eml_per_recipient_each_with_its_own_letter(tmp_path: Path) -> None:
    out = tmp_path / "berichten"

    result = run("render", "--out", str(out))

    assert result.exit_code == 0, result.output
    assert f"Wrote 39 messages to {out}; nothing was sent." in result.stdout
    files = sorted(out.iterdir())
    assert len(files) == 39
    gemeenten = []
    for path in files:
        message = parse_eml(path)
        gemeente = message["X-Distributie-Recipient"]
        gemeenten.append(gemeente)
        assert message["Subject"].endswith(f"voor gemeente {gemeente}")
        assert f"Aan de gemeenteraad van {gemeente}" in docx_paragraphs(message), path.name
    assert len(set(gemeenten)) == 39
    assert "amersfoort.eml" in {p.name for p in files}


def test_render_never_writes_outside_the_folder_for_a_gemeente_with_a_slash(
    tmp_path: Path,
) -> None:
    out = tmp_path / "berichten"
    before = set(tmp_path.rglob("*"))

    slash_list = LISTS / "slash-in-gemeente.csv"

    result = run(
        "render", "--mailing", str(MINIMAL), "--recipients", str(slash_list), "--out", str(out)
    )

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["bergen-binnen.eml", "buiten.eml"]
    written = set(tmp_path.rglob("*")) - before
    assert written == {out, out / "bergen-binnen.eml", out / "buiten.eml"}
    message = parse_eml(out / "bergen-binnen.eml")
    assert message["X-Distributie-Recipient"] == "Bergen/Binnen"
    names = [a.get_filename() for a in message.iter_attachments()]
    assert names == ["Brief gemeente Bergen-Binnen.docx", "Bijlage.pdf"]


def test_render_writes_nothing_for_a_broken_list(tmp_path: Path) -> None:
    out = tmp_path / "berichten"

    result = run("render", "--recipients", str(broken_list(tmp_path)), "--out", str(out))

    assert result.exit_code == 2
    assert not out.exists()


# --- preview ------------------------------------------------------------------------------------


def test_preview_prints_subject_and_text_and_writes_an_eml_that_parses(elsewhere: Path) -> None:
    result = run("preview", "--gemeente", "Soest", "--out", "x.eml")

    assert result.exit_code == 0, result.output
    assert "To:      P. van Verzonnenberg <burgemeester@soest.example>" in result.stdout
    assert "Subject: Regionale Veiligheidsstrategie 2019-2022 voor gemeente Soest" in (
        result.stdout
    )
    assert "Geachte heer Van Verzonnenberg," in result.stdout
    assert "  - Zorg & veiligheid" in result.stdout
    assert "Attachment: Voorbeeld-aanbiedingsbrief gemeente Soest.docx (" in result.stdout
    message = parse_eml(elsewhere / "x.eml")
    assert message["To"].addresses[0].addr_spec == "burgemeester@soest.example"
    assert message["Subject"] == "Regionale Veiligheidsstrategie 2019-2022 voor gemeente Soest"
    assert message["X-Distributie-Run"] == "preview"
    assert "Aan de gemeenteraad van Soest" in docx_paragraphs(message)


def test_preview_writes_to_the_recipients_key_by_default(elsewhere: Path) -> None:
    result = run("preview", "--mailing", str(MINIMAL), "--gemeente", "súdwest-fryslân")

    assert result.exit_code == 0, result.output
    assert (elsewhere / "sudwest-fryslan.eml").is_file()
    assert parse_eml(elsewhere / "sudwest-fryslan.eml")["X-Distributie-Recipient"] == (
        "Súdwest-Fryslân"
    )


def test_preview_of_a_gemeente_not_in_the_list_exits_2(elsewhere: Path) -> None:
    result = run("preview", "--gemeente", "Atlantis")

    assert result.exit_code == 2
    assert "not in the recipient list: 'Atlantis'" in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_preview_of_a_runaway_template_exits_2_naming_the_template_and_row(
    elsewhere: Path, tmp_path: Path
) -> None:
    mailing = copy_mailing(tmp_path)
    with (mailing / "bericht.txt.j2").open("a", encoding="utf-8") as text:
        text.write("{% if gemeente == 'Baarn' %}{{ gemeente * 20000000 }}{% endif %}\n")

    result = run("preview", "--mailing", str(mailing), "--gemeente", "Baarn")

    assert result.exit_code == 2
    assert (
        "ontvangers.csv, row 2: bericht.txt.j2: makes a value of 100,000,000 characters, more "
        "than a whole message may hold (10,000,000, DISTRIBUTIE_MAX_MESSAGE_BYTES)"
    ) in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_preview_into_a_folder_that_does_not_exist_exits_2_without_traceback() -> None:
    result = CliRunner().invoke(cli, ["preview", "--gemeente", "Soest", "--out", "nee/x.eml"])

    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_render_into_a_path_that_is_a_file_exits_2_without_traceback(tmp_path: Path) -> None:
    target = tmp_path / "bestand"
    target.write_text("")

    result = CliRunner().invoke(cli, ["render", "--out", str(target)])

    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_check_prints_a_subject_with_square_brackets_as_it_is(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    replace_in(folder / "mailing.toml", 'subject = "', 'subject = "[concept] ')

    result = run("check", "--mailing", str(folder))

    assert result.exit_code == 0, result.output
    assert "Subject:     [concept] Testmailing voor gemeente Baarn" in result.stdout


# --- help ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "description"), COMMANDS.items(), ids=list(COMMANDS))
def test_every_command_has_help_that_describes_it(command: str, description: str) -> None:
    result = run(command, "--help")

    assert result.exit_code == 0, result.output
    assert f"Usage: distributie {command} [OPTIONS]" in result.stdout
    assert description in result.stdout


def test_help_lists_every_command() -> None:
    result = run("--help")

    assert result.exit_code == 0
    for command in COMMANDS:
        assert f" {command} " in result.stdout


# --- the installed command ----------------------------------------------------------------------


def installed(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIBUTIE_")}
    return subprocess.run(
        [str(BIN / "distributie"), *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_the_installed_command_checks_the_bundled_mailing_from_any_folder() -> None:
    result = installed("check")

    assert result.returncode == 0, result.stderr
    assert f"Recipients:  39 in {BUNDLED_LIST}" in result.stdout


def test_the_installed_command_reports_a_broken_list_without_a_traceback(tmp_path: Path) -> None:
    result = installed("check", "--recipients", str(broken_list(tmp_path)))

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    rows = re.findall(r", (row \d+), column ", result.stderr)
    assert rows == ["row 3", "row 5", "row 6"]

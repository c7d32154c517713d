"""mailing.py: a mailing folder is read and validated as a whole, or refused with every reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from distributie.compose.mailing import BUNDLED_MAILING, load_mailing, mailing_from_bundle
from distributie.errors import InputError, Problem
from tests.support.mailings import MAILINGS, MINIMAL, copy_mailing, replace_in

CHAIR = "voorzitter@testregio.example"


def problems_loading(directory: Path) -> list[Problem]:
    with pytest.raises(InputError) as caught:
        load_mailing(directory)
    return caught.value.problems


def only_problem_loading(directory: Path) -> Problem:
    problems = problems_loading(directory)
    assert len(problems) == 1, problems
    return problems[0]


# --- valid mailings -----------------------------------------------------------------------------


def test_the_bundled_mailing_loads_with_every_file_it_names() -> None:
    mailing = load_mailing(BUNDLED_MAILING)

    assert mailing.spec.name == "Regionale Veiligheidsstrategie 2019-2022"
    assert mailing.spec.sender.address == "secretariaat@veiligheidscollege-mn.example"
    assert mailing.spec.sender.reply_to == "veiligheidsstrategie@veiligheidscollege-mn.example"
    assert sorted(mailing.bundle.files) == [
        "bericht.html.j2",
        "bericht.txt.j2",
        "mailing.toml",
        "voorbeeld-aanbiedingsbrief.docx",
    ]
    assert [a.template for a in mailing.spec.attachments] == ["voorbeeld-aanbiedingsbrief.docx"]
    assert mailing.default_recipients == (
        BUNDLED_MAILING.parent.parent / "recipients" / "midden-nederland.csv"
    )
    assert mailing.default_recipients.is_file()


def test_the_minimal_mailing_bundles_its_template_and_static_attachment_as_bytes() -> None:
    mailing = load_mailing(MINIMAL)

    assert mailing.bundle.files["bijlage.pdf"] == (MINIMAL / "bijlage.pdf").read_bytes()
    assert mailing.bundle.files["brief.docx"] == (MINIMAL / "brief.docx").read_bytes()
    assert mailing.directory == MINIMAL.resolve()
    assert mailing.default_recipients == (MINIMAL / "ontvangers.csv").resolve()


def test_a_mailing_restored_from_its_bundle_has_the_same_definition_and_hash() -> None:
    mailing = load_mailing(MINIMAL)

    restored = mailing_from_bundle(mailing.bundle)

    assert restored.spec == mailing.spec
    assert restored.sha256 == mailing.sha256
    assert restored.directory is None
    assert restored.default_recipients is None


def test_a_symlink_to_a_file_inside_the_folder_is_allowed(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    (folder / "link.pdf").symlink_to("bijlage.pdf")
    replace_in(folder / "mailing.toml", 'file = "bijlage.pdf"', 'file = "link.pdf"')

    mailing = load_mailing(folder)

    assert mailing.bundle.files["link.pdf"] == (folder / "bijlage.pdf").read_bytes()


# --- refused definitions ------------------------------------------------------------------------


def test_an_unknown_key_is_refused_naming_mailing_toml_and_the_key() -> None:
    problems = problems_loading(MAILINGS / "unknown-key")

    assert all(p.file == str(MAILINGS / "unknown-key" / "mailing.toml") for p in problems)
    reasons = [p.reason for p in problems]
    assert "key 'sender.adress': unknown key (misspelt?)" in reasons
    assert "key 'sender.address': required key is missing" in reasons


def test_an_unknown_key_in_an_attachment_names_its_index(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    replace_in(folder / "mailing.toml", 'filename = "Bijlage.pdf"', 'filenaam = "Bijlage.pdf"')

    reasons = [p.reason for p in problems_loading(folder)]

    assert "key 'attachments[1].filenaam': unknown key (misspelt?)" in reasons


def test_a_missing_template_file_is_refused_naming_the_key_and_the_file() -> None:
    folder = MAILINGS / "missing-template"

    problem = only_problem_loading(folder)

    assert problem.file == str(folder / "mailing.toml")
    assert problem.reason == (
        f"key 'message.text': file 'brief.txt.j2' not found in {folder.resolve()}"
    )


def test_an_attachment_path_with_dotdot_is_refused_although_the_file_exists() -> None:
    folder = MAILINGS / "parent-path"
    assert (folder / "../minimal/bijlage.pdf").is_file()

    problem = only_problem_loading(folder)

    assert problem.reason == (
        "key 'attachments[0].file': '../minimal/bijlage.pdf' is outside the mailing folder "
        f"{folder.resolve()}"
    )


def test_an_absolute_attachment_path_is_refused() -> None:
    problem = only_problem_loading(MAILINGS / "absolute-path")

    assert problem.reason.startswith("key 'attachments[0].file': '/etc/passwd' is outside")


def test_a_symlink_leaving_the_folder_is_refused_naming_the_key(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    secret = tmp_path / "geheim.txt"
    secret.write_text("niet meesturen")
    (folder / "bijlage.pdf").unlink()
    (folder / "bijlage.pdf").symlink_to(secret)

    problem = only_problem_loading(folder)

    assert problem.reason.startswith("key 'attachments[1].file': 'bijlage.pdf' is outside")


def test_a_template_symlinked_through_a_folder_outside_is_refused(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    outside = tmp_path / "elders"
    outside.mkdir()
    (outside / "bericht.txt.j2").write_text("Geachte {{ aanspreking }},")
    os.symlink(outside, folder / "sub")
    replace_in(folder / "mailing.toml", 'text = "bericht.txt.j2"', 'text = "sub/bericht.txt.j2"')

    problem = only_problem_loading(folder)

    assert problem.reason.startswith("key 'message.text': 'sub/bericht.txt.j2' is outside")


def test_an_empty_attachment_is_refused_naming_the_key() -> None:
    problem = only_problem_loading(MAILINGS / "empty-attachment")

    assert problem.reason == "key 'attachments[0].file': file 'bijlage.pdf' is empty"


def test_an_attachment_with_both_template_and_file_is_refused(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    replace_in(
        folder / "mailing.toml",
        'file = "bijlage.pdf"',
        'file = "bijlage.pdf"\ntemplate = "brief.docx"',
    )

    problem = only_problem_loading(folder)

    assert problem.reason == (
        "key 'attachments[1]': give exactly one of 'template' (rendered per recipient) or 'file'"
    )


def test_an_attachment_with_neither_template_nor_file_is_refused(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    replace_in(folder / "mailing.toml", 'file = "bijlage.pdf"\n', "")

    problem = only_problem_loading(folder)

    assert problem.reason == (
        "key 'attachments[1]': give exactly one of 'template' (rendered per recipient) or 'file'"
    )


def test_a_bad_sender_address_is_refused_naming_the_key(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    replace_in(folder / "mailing.toml", "secretariaat@testregio.example", "secretariaat@")

    problem = only_problem_loading(folder)

    assert problem.reason.startswith(
        "key 'sender.address': 'secretariaat@': not a valid e-mail address"
    )


def test_a_bad_reply_to_address_is_refused_naming_the_key(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    replace_in(folder / "mailing.toml", "antwoord@testregio.example", "antwoord testregio")

    problem = only_problem_loading(folder)

    assert problem.reason.startswith("key 'sender.reply_to': 'antwoord testregio': not a valid")


def test_a_sender_address_with_an_international_domain_is_stored_as_ascii(tmp_path: Path) -> None:
    # The address goes into From, Message-ID and MAIL FROM, which all need ASCII.
    folder = copy_mailing(tmp_path)
    replace_in(folder / "mailing.toml", "@testregio.example", "@friesl\u00e2n.example")

    mailing = load_mailing(folder)

    assert mailing.spec.sender.address == "secretariaat@xn--friesln-uwa.example"


def test_a_sender_address_with_non_ascii_before_the_at_is_refused(tmp_path: Path) -> None:
    # RFC 5322 has no way to write it without SMTPUTF8; RFC 2047 words are not allowed there.
    folder = copy_mailing(tmp_path)
    replace_in(folder / "mailing.toml", "secretariaat@", "secr\u00e9tariaat@")

    problem = only_problem_loading(folder)

    assert problem.reason.startswith("key 'sender.address': 'secr\u00e9tariaat@testregio")


@pytest.mark.parametrize(
    ("written", "name", "address"),
    [
        (f"Voorzitter Veiligheidsberaad <{CHAIR}>", "Voorzitter Veiligheidsberaad", CHAIR),
        (f'"Voorzitter, Beraad" <{CHAIR}>', "Voorzitter, Beraad", CHAIR),
        (CHAIR, "", CHAIR),
        (
            "Voorzitter <Voorzitter@Friesl\u00e2n.example>",
            "Voorzitter",
            "Voorzitter@xn--friesln-uwa.example",
        ),
    ],
)
def test_on_behalf_of_gives_the_name_and_address_in_from(
    tmp_path: Path, written: str, name: str, address: str
) -> None:
    folder = copy_mailing(tmp_path)
    replace_in(
        folder / "mailing.toml",
        'reply_to = "antwoord@testregio.example"',
        f"reply_to = \"antwoord@testregio.example\"\non_behalf_of = '{written}'",
    )

    sender = load_mailing(folder).spec.sender

    assert (sender.from_name, sender.from_address) == (name, address)
    assert sender.address == "secretariaat@testregio.example"


def test_without_on_behalf_of_the_sender_is_in_from() -> None:
    sender = load_mailing(MINIMAL).spec.sender

    assert (sender.from_name, sender.from_address) == (sender.name, sender.address)


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("Voorzitter <voorzitter@>", "key 'sender.on_behalf_of': 'voorzitter@': not a valid"),
        (
            "Voorzitter <secretariaat@testregio.example>",
            "key 'sender': on_behalf_of has the sender's own address",
        ),
        ("Voor\\u0007zitter <v@testregio.example>", "key 'sender.on_behalf_of': 'Voor\\x07zitter"),
    ],
)
def test_a_bad_on_behalf_of_is_refused_naming_the_key(
    tmp_path: Path, written: str, reason: str
) -> None:
    folder = copy_mailing(tmp_path)
    replace_in(
        folder / "mailing.toml",
        'reply_to = "antwoord@testregio.example"',
        f'reply_to = "antwoord@testregio.example"\non_behalf_of = "{written}"',
    )

    problem = only_problem_loading(folder)

    assert problem.reason.startswith(reason), problem.reason


def test_a_definition_that_is_not_toml_is_refused_naming_the_file(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    replace_in(folder / "mailing.toml", 'name = "Testmailing"', 'name = "Testmailing')

    problem = only_problem_loading(folder)

    assert problem.file == str(folder / "mailing.toml")
    assert problem.reason.startswith("not valid TOML: ")


def test_a_folder_without_mailing_toml_is_refused(tmp_path: Path) -> None:
    problem = only_problem_loading(tmp_path)

    assert problem.file == str(tmp_path / "mailing.toml")
    assert problem.reason == "cannot read the mailing definition: No such file or directory"


def test_a_mailing_folder_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    problem = only_problem_loading(tmp_path / "bestaat-niet")

    assert problem == Problem(str(tmp_path / "bestaat-niet"), "mailing folder not found")


def test_every_file_problem_is_reported_at_once(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    (folder / "bericht.html.j2").unlink()
    (folder / "bijlage.pdf").write_bytes(b"")
    replace_in(folder / "mailing.toml", 'template = "brief.docx"', 'template = "../brief.docx"')

    reasons = [p.reason for p in problems_loading(folder)]

    assert len(reasons) == 3, reasons
    assert reasons[0].startswith("key 'message.html': file 'bericht.html.j2' not found")
    assert reasons[1].startswith("key 'attachments[0].template': '../brief.docx' is outside")
    assert reasons[2] == "key 'attachments[1].file': file 'bijlage.pdf' is empty"


# --- the content hash ---------------------------------------------------------------------------


def test_the_hash_is_the_same_for_the_same_content_in_another_folder(tmp_path: Path) -> None:
    assert load_mailing(copy_mailing(tmp_path)).sha256 == load_mailing(MINIMAL).sha256


def test_the_hash_changes_when_one_byte_of_a_template_changes(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    before = load_mailing(folder).sha256
    docx = folder / "brief.docx"
    data = bytearray(docx.read_bytes())
    data[-30] ^= 1
    docx.write_bytes(bytes(data))

    assert load_mailing(folder).sha256 != before


def test_the_hash_changes_when_the_text_template_changes(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    before = load_mailing(folder).sha256
    replace_in(folder / "bericht.txt.j2", "Geachte", "Beste")

    assert load_mailing(folder).sha256 != before


def test_the_hash_ignores_files_the_definition_does_not_name(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    before = load_mailing(folder).sha256
    (folder / "aantekeningen.txt").write_text("niet in de bundel")

    assert load_mailing(folder).sha256 == before

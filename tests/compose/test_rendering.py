"""rendering.py: a mailing's templates, compiled once, render one recipient in Jinja2's sandbox."""

from __future__ import annotations

import io
from pathlib import Path

import docx
import pytest

from distributie.compose.mailing import BUNDLED_MAILING, load_mailing
from distributie.compose.rendering import CompiledMailing, RenderError, compile_mailing
from distributie.errors import InputError
from tests.support.docx_factory import minimal_docx
from tests.support.mailings import MAILINGS, MINIMAL, copy_mailing, recipient, replace_in

BUNDLED = compile_mailing(load_mailing(BUNDLED_MAILING))
MINIMAL_COMPILED = compile_mailing(load_mailing(MINIMAL))
SCRIPT = "<script>alert(1)</script>"


def compiled_copy(tmp_path: Path, file: str, old: str, new: str) -> CompiledMailing:
    folder = copy_mailing(tmp_path)
    replace_in(folder / file, old, new)
    return compile_mailing(load_mailing(folder))


def render_error(compiled: CompiledMailing, context: dict[str, object]) -> RenderError:
    with pytest.raises(RenderError) as caught:
        compiled.render(context, verify=True)
    return caught.value


# --- the bundled mailing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "salutation"),
    [
        ({"aanhef": "heer", "tussenvoegsel": "van der", "achternaam": "Berg"}, "heer Van der Berg"),
        ({"aanhef": "Mevr.", "tussenvoegsel": "de", "achternaam": "Vries"}, "mevrouw De Vries"),
        ({"aanhef": "dhr.", "achternaam": "Bakker"}, "heer Bakker"),
        ({"aanhef": "", "achternaam": "Bakker"}, "burgemeester"),
        ({"aanhef": "mevrouw", "achternaam": ""}, "burgemeester"),
    ],
)
def test_the_bundled_mailing_greets_each_burgemeester_properly(
    fields: dict[str, str], salutation: str
) -> None:
    rendered = BUNDLED.render(recipient("Baarn", **fields).context())

    assert rendered.text.startswith(f"Geachte {salutation},\n\n")
    assert f'<p style="margin:0 0 1em 0;">Geachte {salutation},</p>' in rendered.html


def test_the_bundled_mailing_renders_subject_recipient_name_and_attachment_name() -> None:
    amersfoort = recipient(
        "Amersfoort",
        aanhef="heer",
        titel="drs.",
        voorletters="J.P.",
        tussenvoegsel="van der",
        achternaam="Voorbeeldhuizen",
    )

    rendered = BUNDLED.render(amersfoort.context())

    assert rendered.subject == "Regionale Veiligheidsstrategie 2019-2022 voor gemeente Amersfoort"
    assert rendered.to_name == "drs. J.P. van der Voorbeeldhuizen"
    [letter] = rendered.attachments
    assert letter.filename == "Voorbeeld-aanbiedingsbrief gemeente Amersfoort.docx"
    assert letter.mimetype == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert letter.static is False
    texts = [p.text for p in docx.Document(io.BytesIO(letter.content)).paragraphs]
    assert "Aan de gemeenteraad van Amersfoort" in texts


def test_without_a_name_the_message_is_addressed_to_the_gemeente() -> None:
    assert BUNDLED.render(recipient("Soest").context()).to_name == "Soest"


def test_the_points_are_listed_in_text_and_html_and_the_neutral_text_without_them() -> None:
    with_points = BUNDLED.render(recipient("Baarn", consultatiepunten="Drugsafval|Jeugd").context())
    without = BUNDLED.render(recipient("Soest").context())

    assert "  - Drugsafval\n  - Jeugd\n" in with_points.text
    assert '<li style="margin:0 0 0.25em 0;">Jeugd</li>' in with_points.html
    assert "geen specifieke punten" not in with_points.text
    assert "De gemeenteraad van Soest heeft in de consultatieronde geen specifieke" in without.text
    assert "<li" not in without.html


def test_the_text_body_is_wrapped_at_72_characters() -> None:
    rendered = BUNDLED.render(recipient("Baarn").context())

    assert max(len(line) for line in rendered.text.splitlines()) <= 72


# --- escaping -----------------------------------------------------------------------------------


def test_markup_in_a_value_is_escaped_in_html_and_left_as_it_is_in_text() -> None:
    rendered = MINIMAL_COMPILED.render(recipient(SCRIPT).context())

    assert rendered.html is not None
    assert "Dit is de testmailing voor &lt;script&gt;alert(1)&lt;/script&gt;." in rendered.html
    assert "<script>" not in rendered.html
    assert f"Dit is de testmailing voor {SCRIPT}." in rendered.text
    assert rendered.subject == f"Testmailing voor gemeente {SCRIPT}"


def test_markup_in_a_value_is_plain_text_in_the_docx() -> None:
    rendered = MINIMAL_COMPILED.render(recipient(SCRIPT).context(), verify=True)

    letter = rendered.attachments[0]
    texts = [p.text for p in docx.Document(io.BytesIO(letter.content)).paragraphs]
    assert f"Aan de gemeenteraad van {SCRIPT}" in texts


def test_a_slash_in_an_attachment_name_becomes_a_dash() -> None:
    rendered = MINIMAL_COMPILED.render(recipient("Bergen/Binnen\\Buiten").context())

    assert rendered.attachments[0].filename == "Brief gemeente Bergen-Binnen-Buiten.docx"


def test_a_static_attachment_is_sent_as_it_is_with_its_type() -> None:
    rendered = MINIMAL_COMPILED.render(recipient("Baarn").context())

    static = rendered.attachments[1]
    assert static.filename == "Bijlage.pdf"
    assert static.content == (MINIMAL / "bijlage.pdf").read_bytes()
    assert static.mimetype == "application/pdf"
    assert static.static is True


# --- StrictUndefined and the sandbox ------------------------------------------------------------


def test_an_unknown_variable_raises_render_error_naming_it(tmp_path: Path) -> None:
    compiled = compiled_copy(
        tmp_path, "bericht.txt.j2", "{{ aanspreking }}", "{{ burgemeester_naam }}"
    )

    error = render_error(compiled, recipient("Baarn").context())

    assert error.variable == "burgemeester_naam"
    assert error.template == "bericht.txt.j2"
    assert str(error) == (
        "bericht.txt.j2: uses 'burgemeester_naam', which this recipient does not have"
    )


def test_an_unknown_variable_in_the_subject_names_the_subject(tmp_path: Path) -> None:
    compiled = compiled_copy(tmp_path, "mailing.toml", "{{ gemeente }}", "{{ gemeentenaam }}")

    error = render_error(compiled, recipient("Baarn").context())

    assert (error.template, error.variable) == ("message.subject", "gemeentenaam")


def test_an_unknown_variable_in_the_docx_names_the_template(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    (folder / "brief.docx").write_bytes(minimal_docx(["Aan {{ raadsgriffier }}"]))
    compiled = compile_mailing(load_mailing(folder))

    error = render_error(compiled, recipient("Baarn").context())

    assert (error.template, error.variable) == ("brief.docx", "raadsgriffier")


@pytest.mark.parametrize(
    ("mailing", "template", "attribute"),
    [("text-sandbox", "bericht.txt.j2", "__class__"), ("docx-sandbox", "brief.docx", "__init__")],
)
def test_reaching_python_internals_through_the_sandbox_is_not_allowed(
    mailing: str, template: str, attribute: str
) -> None:
    compiled = compile_mailing(load_mailing(MAILINGS / mailing))

    error = render_error(compiled, recipient("Baarn").context())

    assert error.template == template
    assert error.reason.startswith("not allowed in a template: ")
    assert f"attribute '{attribute}'" in error.reason


@pytest.mark.parametrize(
    "source",
    [
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ gemeente.__class__.__mro__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ '{0.__class__}'.format(gemeente) }}",
    ],
)
def test_every_known_sandbox_escape_in_a_body_is_not_allowed(tmp_path: Path, source: str) -> None:
    compiled = compiled_copy(tmp_path, "bericht.txt.j2", "{{ aanspreking }}", source)

    error = render_error(compiled, recipient("Baarn").context())

    assert error.reason.startswith("not allowed in a template: "), error.reason


@pytest.mark.parametrize(
    "source",
    [
        "{% include '/etc/passwd' %}",
        "{% import '../minimal/mailing.toml' as m %}",
        "{% extends 'bericht.html.j2' %}",
        "{% include ['x', 'y'] ignore missing %}",
    ],
)
def test_a_template_cannot_read_other_files(tmp_path: Path, source: str) -> None:
    compiled = compiled_copy(tmp_path, "bericht.txt.j2", "{{ aanspreking }}", source)

    error = render_error(compiled, recipient("Baarn").context())

    assert error.reason.startswith("not allowed in a template: "), error.reason
    assert "a template cannot read other files" in error.reason


# --- headers stay one line ----------------------------------------------------------------------


def test_a_subject_rendering_a_newline_raises_render_error() -> None:
    # Only possible with a list that bypassed validation, but then it must not inject headers.
    error = render_error(MINIMAL_COMPILED, recipient("Baarn\nBcc: iedereen@example.org").context())

    assert error.template == "message.subject"
    assert error.reason == (
        "renders a line break or control character: "
        "'Testmailing voor gemeente Baarn\\nBcc: iedereen@example.org'"
    )


def test_a_subject_line_break_from_a_column_names_that_column(tmp_path: Path) -> None:
    # kenmerk is no header column, so the list may hold line breaks in it; the subject may not.
    compiled = compiled_copy(tmp_path, "mailing.toml", "{{ gemeente }}", "{{ kenmerk }}")

    error = render_error(
        compiled, recipient("Baarn", kenmerk="2019/1\r\nBcc: x@y.example").context()
    )

    assert (error.template, error.variable) == ("message.subject", "kenmerk")


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\u00ad"])
def test_a_subject_with_an_invisible_character_from_a_column_names_that_column(
    tmp_path: Path, char: str
) -> None:
    # kenmerk is a text column, where an invisible character is only a warning; in the subject
    # (or a file name) the reader would see something other than what was checked.
    compiled = compiled_copy(tmp_path, "mailing.toml", "{{ gemeente }}", "{{ kenmerk }}")

    error = render_error(compiled, recipient("Baarn", kenmerk=f"2019{char}0417").context())

    assert (error.template, error.variable) == ("message.subject", "kenmerk")
    assert f"U+{ord(char):04X}" in error.reason


def test_a_subject_template_with_a_line_break_raises_render_error(tmp_path: Path) -> None:
    compiled = compiled_copy(tmp_path, "mailing.toml", "voor gemeente", "voor\\ngemeente")

    error = render_error(compiled, recipient("Baarn").context())

    assert error.template == "message.subject"


def test_a_recipient_name_with_a_carriage_return_raises_render_error() -> None:
    error = render_error(MINIMAL_COMPILED, recipient("Baarn", achternaam="Vries\rX").context())

    assert error.template == "message.to_name"


def test_an_attachment_name_with_a_line_break_raises_render_error(tmp_path: Path) -> None:
    compiled = compiled_copy(tmp_path, "mailing.toml", '"Bijlage.pdf"', '"Bijlage\\u2028.pdf"')

    error = render_error(compiled, recipient("Baarn").context())

    assert error.template == "Bijlage\u2028.pdf"


def test_an_empty_subject_raises_render_error(tmp_path: Path) -> None:
    compiled = compiled_copy(
        tmp_path, "mailing.toml", '"Testmailing voor gemeente {{ gemeente }}"', '"{{ titel }}"'
    )

    error = render_error(compiled, recipient("Baarn").context())

    assert error.reason == "renders an empty subject"


def test_a_docx_rendering_invalid_xml_is_caught_when_verifying(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    (folder / "brief.docx").write_bytes(minimal_docx(["Aan {{ gemeente|safe }}"]))
    compiled = compile_mailing(load_mailing(folder))

    error = render_error(compiled, recipient("Hof & Heide").context())

    assert error.template == "brief.docx"
    assert error.reason.startswith("renders invalid XML in word/document.xml: ")


# --- compiling ----------------------------------------------------------------------------------


def test_the_same_mailing_content_is_compiled_once_per_process(tmp_path: Path) -> None:
    again = compile_mailing(load_mailing(MINIMAL))
    elsewhere = compile_mailing(load_mailing(copy_mailing(tmp_path)))

    assert again is MINIMAL_COMPILED
    assert elsewhere is MINIMAL_COMPILED


def test_changed_content_is_compiled_anew(tmp_path: Path) -> None:
    compiled = compiled_copy(tmp_path, "bericht.txt.j2", "Geachte", "Beste")

    assert compiled is not MINIMAL_COMPILED
    assert compiled.render(recipient("Baarn").context()).text.startswith("Beste burgemeester,")


def test_a_syntax_error_in_a_body_is_reported_with_file_and_line() -> None:
    folder = MAILINGS / "text-syntax-error"

    with pytest.raises(InputError) as caught:
        compile_mailing(load_mailing(folder))

    [problem] = caught.value.problems
    assert problem.file == str(folder.resolve() / "bericht.txt.j2")
    assert problem.reason.startswith("template error on line 2: Unexpected end of template.")


def test_a_syntax_error_in_a_docx_template_is_reported_naming_it() -> None:
    folder = MAILINGS / "docx-syntax-error"

    with pytest.raises(InputError) as caught:
        compile_mailing(load_mailing(folder))

    [problem] = caught.value.problems
    assert problem.file == str(folder.resolve() / "brief.docx")
    assert problem.reason.startswith("template error: ")


def test_every_syntax_error_is_reported_at_once(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    replace_in(folder / "mailing.toml", '{{ gemeente }}"\ntext', '{{ gemeente }"\ntext')
    replace_in(folder / "bericht.html.j2", "{% endfor %}", "")
    (folder / "brief.docx").write_bytes(b"geen zip")

    with pytest.raises(InputError) as caught:
        compile_mailing(load_mailing(folder))

    files = [Path(p.file).name for p in caught.value.problems]
    assert files == ["mailing.toml (message.subject)", "bericht.html.j2", "brief.docx"]


def test_a_body_that_is_not_utf8_is_reported(tmp_path: Path) -> None:
    folder = copy_mailing(tmp_path)
    (folder / "bericht.txt.j2").write_bytes("Geachte heer Müller,".encode("cp1252"))

    with pytest.raises(InputError) as caught:
        compile_mailing(load_mailing(folder))

    [problem] = caught.value.problems
    assert problem.reason.startswith("not UTF-8 text: ")


@pytest.mark.parametrize(
    ("args", "text"),
    [
        ((72, False, None, False), "Geachte heer,\n\n" + "een lang-woord met streepjes " * 9),
        ((10,), "x" * 25 + " kort\n\n  ingesprongen  regel  \n"),
        ((20, True, "<br>\n"), "een twee drie vier vijf zes zeven acht negen tien"),
        ((79,), ""),
    ],
)
def test_wordwrap_wraps_exactly_as_jinja2_does(args: tuple[object, ...], text: str) -> None:
    from jinja2.filters import do_wordwrap
    from markupsafe import Markup

    from distributie.compose.templates import make_environment, wordwrap

    env = make_environment(autoescape=False)
    for value in (text, Markup(text)):
        for _ in range(2):  # the second time from what it remembered
            assert wordwrap(env, value, *args) == do_wordwrap(env, value, *args)

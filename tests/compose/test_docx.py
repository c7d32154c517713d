"""docx.py: a .docx template compiled once renders each recipient's document like docxtpl would."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path

import docx
import pytest
from docxtpl import DocxTemplate
from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from distributie.compose import docx as docx_module
from distributie.compose.docx import CompiledDocx, DocxTemplateError, xml_problem
from distributie.compose.mailing import BUNDLED_MAILING
from distributie.compose.templates import make_environment
from tests.support.docx_factory import BRIEF, TEMPLATES, minimal_docx
from tests.support.mailings import MAILINGS, recipient

BUNDLED_TEMPLATE = (BUNDLED_MAILING / "voorbeeld-aanbiedingsbrief.docx").read_bytes()
NEUTRAL = "Uw raad heeft in de consultatieronde geen specifieke punten ingebracht."
PUNTEN_INTRO = "In de consultatieronde heeft uw raad de volgende punten ingebracht:"
REACTIE = "[hier de reactie van het college invullen]"


def compile_docx(source: bytes = BUNDLED_TEMPLATE) -> CompiledDocx:
    return CompiledDocx(source, make_environment(autoescape=True))


def paragraphs(document: bytes) -> list[str]:
    return [p.text for p in docx.Document(io.BytesIO(document)).paragraphs]


def header_paragraphs(document: bytes) -> list[str]:
    return [p.text for p in docx.Document(io.BytesIO(document)).sections[0].header.paragraphs]


def docxtpl_render(source: bytes, context: Mapping[str, object]) -> bytes:
    template = DocxTemplate(io.BytesIO(source))
    env = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)
    template.render(context, jinja_env=env, autoescape=True)
    out = io.BytesIO()
    template.save(out)
    return out.getvalue()


def part(document: bytes, name: str = "word/document.xml") -> str:
    return zipfile.ZipFile(io.BytesIO(document)).read(name).decode("utf-8")


AMERSFOORT = recipient(
    "Amersfoort",
    aanhef="heer",
    achternaam="Voorbeeldhuizen",
    consultatiepunten="Aanpak ondermijning|Informatiedeling zorg en veiligheid|Wijkagenten",
).context()
SOEST = recipient("Soest").context()


# --- the bundled template -----------------------------------------------------------------------


def test_the_bundled_template_names_the_gemeente_and_lists_each_point() -> None:
    texts = paragraphs(compile_docx().render(AMERSFOORT))

    assert "Het college van burgemeester en wethouders van Amersfoort" in texts
    assert "Aan de gemeenteraad van Amersfoort" in texts
    assert PUNTEN_INTRO in texts
    points = [t for t in texts if t.endswith(REACTIE)]
    assert points == [
        f"Aanpak ondermijning: {REACTIE}",
        f"Informatiedeling zorg en veiligheid: {REACTIE}",
        f"Wijkagenten: {REACTIE}",
    ]
    assert not any(t.startswith(NEUTRAL) for t in texts)


def test_the_bundled_template_without_points_has_the_neutral_paragraph_and_no_point_lines() -> None:
    texts = paragraphs(compile_docx().render(SOEST))

    assert "Aan de gemeenteraad van Soest" in texts
    assert any(t.startswith(NEUTRAL) for t in texts)
    assert PUNTEN_INTRO not in texts
    assert not any(REACTIE in t for t in texts)


def test_no_template_tag_is_left_in_the_rendered_document() -> None:
    texts = paragraphs(compile_docx().render(AMERSFOORT))

    assert not [t for t in texts if "{{" in t or "{%" in t or "}}" in t or "%}" in t]


def test_ampersand_and_angle_brackets_in_values_come_out_as_the_characters() -> None:
    context = recipient("Hof & Heide <Test>", consultatiepunten="Wonen > werken & <zorg>").context()

    document = compile_docx().render(context)

    texts = paragraphs(document)
    assert "Aan de gemeenteraad van Hof & Heide <Test>" in texts
    assert f"Wonen > werken & <zorg>: {REACTIE}" in texts
    assert "Hof &amp; Heide &lt;Test&gt;" in part(document)


def test_quotes_in_values_come_out_as_the_characters() -> None:
    context = recipient('\'s-Hertogenbosch "Den Bosch"').context()

    texts = paragraphs(compile_docx().render(context))

    assert 'Aan de gemeenteraad van \'s-Hertogenbosch "Den Bosch"' in texts


# --- the zip container --------------------------------------------------------------------------


def test_the_output_is_a_valid_zip_with_the_template_parts_in_order() -> None:
    document = compile_docx().render(AMERSFOORT)

    archive = zipfile.ZipFile(io.BytesIO(document))
    assert archive.testzip() is None
    assert archive.namelist() == zipfile.ZipFile(io.BytesIO(BUNDLED_TEMPLATE)).namelist()
    for name in archive.namelist():
        if not name.startswith("word/document"):
            source = zipfile.ZipFile(io.BytesIO(BUNDLED_TEMPLATE)).read(name)
            assert archive.read(name) == source, name


def test_identical_input_gives_identical_bytes() -> None:
    compiled = compile_docx()

    assert compiled.render(AMERSFOORT) == compiled.render(AMERSFOORT)


def test_identical_input_gives_identical_bytes_when_compiled_at_another_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Workers compile the template when they start; a resend from another worker, or a day
    # later, must produce the same document.
    first = compile_docx().render(AMERSFOORT)
    later = time.localtime(time.time() + 86_400 + 3_661)
    monkeypatch.setattr(time, "localtime", lambda *args: later)

    assert compile_docx().render(AMERSFOORT) == first


def test_one_compiled_template_renders_two_recipients_into_two_documents() -> None:
    compiled = compile_docx()

    amersfoort = compiled.render(AMERSFOORT)
    soest = compiled.render(SOEST)

    assert amersfoort != soest
    assert "Aan de gemeenteraad van Amersfoort" in paragraphs(amersfoort)
    assert "Aan de gemeenteraad van Soest" in paragraphs(soest)
    assert not any("Amersfoort" in t for t in paragraphs(soest))
    assert compiled.render(AMERSFOORT) == amersfoort


def test_a_template_is_compiled_once_and_rendering_does_not_touch_docxtpl(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled = compile_docx()

    def no_docxtpl(*args: object, **kwargs: object) -> None:
        raise AssertionError("docxtpl used while rendering")

    monkeypatch.setattr(docx_module, "DocxTemplate", no_docxtpl)

    assert "Aan de gemeenteraad van Soest" in paragraphs(compiled.render(SOEST))


# --- the same result as docxtpl -----------------------------------------------------------------


@pytest.mark.parametrize(
    "context",
    [
        AMERSFOORT,
        SOEST,
        recipient("Hof & Heide <Test>", consultatiepunten="A & B|<c>|'d' \"e\"").context(),
        recipient("Súdwest-Fryslân", consultatiepunten="Één punt").context(),
    ],
    ids=["with-points", "without-points", "markup-characters", "non-ascii"],
)
def test_the_bundled_template_gives_the_same_text_as_docxtpl(context: dict[str, object]) -> None:
    ours = compile_docx().render(context)
    theirs = docxtpl_render(BUNDLED_TEMPLATE, context)

    assert paragraphs(ours) == paragraphs(theirs)


def test_the_header_is_rendered_like_docxtpl_renders_it() -> None:
    source = minimal_docx(BRIEF)
    context = recipient("Baarn", aanhef="mevrouw", achternaam="Vries").context()

    ours = compile_docx(source).render(context)
    theirs = docxtpl_render(source, context)

    assert header_paragraphs(ours) == ["Gemeente Baarn"] == header_paragraphs(theirs)
    assert paragraphs(ours) == paragraphs(theirs)


def test_a_line_break_and_a_tab_in_a_value_become_a_break_and_a_tab_as_in_docxtpl() -> None:
    # An Excel cell with Alt+Enter holds a line feed; docxtpl turns it into <w:br/>.
    context = recipient("Baarn", consultatiepunten="Eerste regel\ntweede regel|a\tb").context()
    source = minimal_docx(BRIEF)

    ours = part(compile_docx(source).render(context))
    theirs = part(docxtpl_render(source, context))

    assert ours.count("<w:br/>") == theirs.count("<w:br/>") == 1
    assert ours.count("<w:tab/>") == theirs.count("<w:tab/>") == 1
    assert "Eerste regel\ntweede regel" not in ours


# --- templates that cannot be compiled or rendered ----------------------------------------------


def test_a_file_that_is_not_a_zip_is_refused() -> None:
    with pytest.raises(DocxTemplateError, match=r"^not a \.docx \(zip\) file"):
        compile_docx(b"%PDF-1.4 dit is geen Word-document")


def test_a_zip_without_a_word_document_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("content.xml", "<office/>")

    with pytest.raises(DocxTemplateError, match=r"word/document\.xml is missing"):
        compile_docx(out.getvalue())


def test_a_template_with_a_syntax_error_fails_to_compile() -> None:
    source = (MAILINGS / "docx-syntax-error" / "brief.docx").read_bytes()

    with pytest.raises(TemplateSyntaxError):
        compile_docx(source)


def test_a_template_reaching_for_python_internals_fails_to_render() -> None:
    compiled = compile_docx((MAILINGS / "docx-sandbox" / "brief.docx").read_bytes())

    with pytest.raises(SecurityError, match="__init__"):
        compiled.render(SOEST)


def test_rendered_parts_are_well_formed_xml() -> None:
    parts = compile_docx().render_parts(AMERSFOORT)

    assert set(parts) == {"word/document.xml"}
    assert xml_problem(parts["word/document.xml"]) is None


def test_xml_problem_explains_malformed_xml() -> None:
    problem = xml_problem(b"<w:p><w:t>a</w:p>")

    assert problem is not None
    assert re.search(r"mismatch|not closed|namespace", problem, re.IGNORECASE)


def test_the_committed_test_templates_are_what_the_factory_makes() -> None:
    # Regenerate with: .venv/bin/python -m tests.support.docx_factory
    for relative, texts in TEMPLATES.items():
        committed = zipfile.ZipFile(MAILINGS / relative)
        made = zipfile.ZipFile(io.BytesIO(minimal_docx(texts)))
        assert committed.namelist() == made.namelist(), relative
        for name in made.namelist():
            assert committed.read(name) == made.read(name), (relative, name)


@pytest.mark.skipif(
    shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed"
)
def test_libreoffice_opens_the_rendered_letter_and_keeps_its_text(tmp_path: Path) -> None:
    (tmp_path / "brief.docx").write_bytes(compile_docx().render(AMERSFOORT))

    subprocess.run(
        ["soffice", "--headless", "--convert-to", "txt:Text", "--outdir", str(tmp_path),
         str(tmp_path / "brief.docx")],
        check=True, capture_output=True, timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},  # a profile of its own
    )  # fmt: skip
    text = (tmp_path / "brief.txt").read_text(encoding="utf-8-sig")

    assert "Aan de gemeenteraad van Amersfoort" in text
    assert f"Wijkagenten: {REACTIE}" in text


@pytest.mark.parametrize("points", ["", "Ondermijning", "|".join(f"Punt {n}" for n in range(200))])
def test_the_measured_size_is_never_below_the_built_documents(points: str) -> None:
    compiled = compile_docx()
    parts = compiled.render_parts(
        recipient("Wijk bij Duurstede", consultatiepunten=points).context()
    )

    assert compiled.size_bound(parts) >= len(compiled.assemble(parts))


def test_the_static_runs_are_where_assemble_says_and_the_same_bytes_for_every_recipient() -> None:
    compiled = compile_docx()
    first, first_runs = compiled.assemble_with_runs(compiled.render_parts(AMERSFOORT))
    second, second_runs = compiled.assemble_with_runs(compiled.render_parts(SOEST))

    assert first_runs and len(first_runs) == len(second_runs)
    for (offset, run), (other_offset, other_run) in zip(first_runs, second_runs, strict=True):
        assert first[offset : offset + len(run)] == run
        assert second[other_offset : other_offset + len(other_run)] == other_run
        assert run is other_run
    assert first == compiled.render(AMERSFOORT)


WITH_A_TAB_AND_A_LINE_FEED = recipient("Zeist", consultatiepunten="Een\nregel|a\tb").context()


@pytest.mark.parametrize("context", [AMERSFOORT, SOEST, WITH_A_TAB_AND_A_LINE_FEED])
def test_skipping_the_listing_pass_where_it_cannot_match_changes_no_byte(
    context: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = compile_docx().render(context)
    monkeypatch.setattr(docx_module, "_may_hold_listing", lambda xml: True)

    assert compile_docx().render(context) == fast

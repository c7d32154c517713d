"""Maakt het docxtpl-sjabloon ``voorbeeld-aanbiedingsbrief.docx`` in deze map.

Het Word-sjabloon wordt niet met de hand bewerkt maar door dit script gemaakt,
zodat de Jinja-tags gegarandeerd elk in één "run" staan (Word knipt getypte
tekst anders willekeurig op, en dan herkent docxtpl de tags niet meer).

Opnieuw maken, vanuit de hoofdmap van het project::

    .venv/bin/python templates/veiligheidsstrategie-2019/maak_aanbiedingsbrief.py

Het sjabloon gebruikt alleen ``{{ gemeente }}`` en ``punten`` (de lijst met
consultatiepunten van de gemeente), plus de paragraaf-tags ``{%p if %}``,
``{%p else %}``, ``{%p endif %}``, ``{%p for %}`` en ``{%p endfor %}``; elke
paragraaf-tag staat alleen in een eigen alinea.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from docx import Document
from docx.enum.text import WD_COLOR_INDEX
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml.ns import qn
from docx.shared import Pt

HIER = Path(__file__).resolve().parent
UITVOER = HIER / "voorbeeld-aanbiedingsbrief.docx"

INVULLEN = WD_COLOR_INDEX.YELLOW  # markering voor tekst die de gemeente zelf invult


def invulplek(paragraph, tekst: str) -> None:
    """Voeg geel gemarkeerde invultekst toe, bv. "[datum]"."""
    run = paragraph.add_run(tekst)
    run.font.highlight_color = INVULLEN


def maak() -> Path:
    doc = Document()

    # Documenteigenschappen: statisch, zonder Jinja-tags.
    props = doc.core_properties
    props.title = "Voorbeeld-aanbiedingsbrief Regionale Veiligheidsstrategie 2019-2022"
    props.subject = "Regionale Veiligheidsstrategie 2019-2022"
    props.author = "Regionaal Veiligheidscollege Midden-Nederland"
    props.last_modified_by = "Regionaal Veiligheidscollege Midden-Nederland"
    props.keywords = "veiligheidsstrategie; aanbiedingsbrief; gemeenteraad"
    props.comments = "Gemaakt door maak_aanbiedingsbrief.py"
    props.language = "nl-NL"
    props.revision = 1
    vast = dt.datetime(2019, 4, 8, 12, 0, 0)
    props.created = vast
    props.modified = vast

    # Basisopmaak en taal (spellingcontrole in het Nederlands).
    normal = doc.styles["Normal"]
    normal.font.name = "Arial"
    normal.font.size = Pt(10.5)
    rpr_default = doc.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault"))
    rpr = rpr_default.find(qn("w:rPr"))
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = rpr.makeelement(qn("w:lang"), {})
        rpr.append(lang)
    lang.set(qn("w:val"), "nl-NL")

    # Afzender en geadresseerde.
    doc.add_paragraph("Het college van burgemeester en wethouders van {{ gemeente }}")
    doc.add_paragraph()
    doc.add_paragraph("Aan de gemeenteraad van {{ gemeente }}")
    doc.add_paragraph()
    p = doc.add_paragraph("Datum: ")
    invulplek(p, "[datum]")
    p = doc.add_paragraph("Kenmerk: ")
    invulplek(p, "[kenmerk]")
    p = doc.add_paragraph()
    p.add_run("Onderwerp: Regionale Veiligheidsstrategie 2019-2022").bold = True
    doc.add_paragraph()

    doc.add_paragraph("Geachte leden van de raad,")
    doc.add_paragraph(
        "Hierbij bieden wij u de Regionale Veiligheidsstrategie 2019-2022 aan. "
        "De strategie is op 8 april 2019 vastgesteld door het Regionaal "
        "Veiligheidscollege Midden-Nederland, waarin de 39 gemeenten, het Openbaar "
        "Ministerie en de politie van Midden-Nederland samenwerken."
    )
    doc.add_paragraph(
        "Vrijwel geen veiligheidsprobleem doet zich slechts in één gemeente voor, "
        "en onveiligheid trekt zich weinig aan van gemeentegrenzen. Daarom hebben "
        "de partners drie ontwikkel- en innovatiethema’s als gezamenlijke "
        "prioriteit benoemd:"
    )
    for thema in (
        "de aanpak van georganiseerde ondermijnende criminaliteit;",
        "het effectief verbinden van veiligheid met zorg;",
        "het bevorderen van cyberveiligheid.",
    ):
        doc.add_paragraph(thema, style="List Bullet")
    doc.add_paragraph(
        "De Veiligheidsstrategie komt niet in de plaats van de lokale afspraken en "
        "het Integraal Veiligheidsplan (IVP) van {{ gemeente }}, maar is daarop "
        "juist aanvullend en ondersteunend. De regie op de probleemgerichte aanpak "
        "van onveiligheid blijft op lokaal niveau bij de gemeente."
    )
    doc.add_paragraph(
        "De digitale versie van de Veiligheidsstrategie en een animatiefilm over "
        "de strategie vindt u op www.veiligheidscoalitie.nl."
    )

    doc.add_heading("Uw inbreng in de consultatieronde", level=2)
    doc.add_paragraph("{%p if punten %}")
    doc.add_paragraph("In de consultatieronde heeft uw raad de volgende punten ingebracht:")
    doc.add_paragraph("{%p for punt in punten %}")
    p = doc.add_paragraph(style="List Bullet")
    p.add_run("{{ punt }}").bold = True
    p.add_run(": ")
    invulplek(p, "[hier de reactie van het college invullen]")
    doc.add_paragraph("{%p endfor %}")
    doc.add_paragraph("{%p else %}")
    p = doc.add_paragraph(
        "Uw raad heeft in de consultatieronde geen specifieke punten ingebracht. "
        "Wij informeren u graag over de uitvoering van de strategie in onze gemeente. "
    )
    invulplek(p, "[eventueel aanvullen]")
    doc.add_paragraph("{%p endif %}")

    doc.add_paragraph()
    doc.add_paragraph("Hoogachtend,")
    doc.add_paragraph("het college van burgemeester en wethouders van {{ gemeente }},")
    doc.add_paragraph()
    doc.add_paragraph("de secretaris,\t\t\t\tde burgemeester,")
    doc.add_paragraph()
    p = doc.add_paragraph()
    invulplek(p, "[naam secretaris]")
    p.add_run("\t\t\t")
    invulplek(p, "[naam burgemeester]")

    # Het standaardsjabloon van python-docx bevat een voorbeeldplaatje (thumbnail)
    # van een leeg document; dat laten we weg.
    pakket = doc.part.package
    for rid, rel in list(pakket.rels.items()):
        if rel.reltype == RT.THUMBNAIL:
            del pakket.rels[rid]

    doc.save(UITVOER)
    return UITVOER


if __name__ == "__main__":
    print(f"geschreven: {maak()}")

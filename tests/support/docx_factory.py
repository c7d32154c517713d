"""Tiny, byte-for-byte reproducible .docx templates for the tests.

`minimal_docx` writes the smallest package Word, python-docx and docxtpl all open: a document
with one run per paragraph (so every Jinja2 tag stays in one run) and one header. The committed
templates under tests/testdata/mailings/ are made by this module; regenerate them with

    .venv/bin/python -m tests.support.docx_factory
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

TESTDATA = Path(__file__).resolve().parent.parent / "testdata" / "mailings"
_FIXED_TIME = (2019, 4, 8, 12, 0, 0)
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEADER_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/header"
_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
_WML = "application/vnd.openxmlformats-officedocument.wordprocessingml"

CONTENT_TYPES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
<Default Extension="xml" ContentType="application/xml"/>\
<Override PartName="/word/document.xml" ContentType="{_WML}.document.main+xml"/>\
<Override PartName="/word/header1.xml" ContentType="{_WML}.header+xml"/>\
</Types>"""

PACKAGE_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{_PKG_RELS}">\
<Relationship Id="rId1" Type="{_DOC_REL}" Target="word/document.xml"/>\
</Relationships>"""

DOCUMENT_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{_PKG_RELS}">\
<Relationship Id="rId1" Type="{_HEADER_REL}" Target="header1.xml"/>\
</Relationships>"""


def _paragraphs(texts: Sequence[str]) -> str:
    return "".join(
        f'<w:p><w:r><w:t xml:space="preserve">{escape(text)}</w:t></w:r></w:p>' for text in texts
    )


def minimal_docx(paragraphs: Sequence[str], header: str = "Gemeente {{ gemeente }}") -> bytes:
    """A .docx whose body has one paragraph per text, and a header with one paragraph."""
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<w:document xmlns:w="{_W}" xmlns:r="{_R}"><w:body>{_paragraphs(paragraphs)}'
        '<w:sectPr><w:headerReference w:type="default" r:id="rId1"/></w:sectPr>'
        "</w:body></w:document>"
    )
    header_xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<w:hdr xmlns:w="{_W}" xmlns:r="{_R}">{_paragraphs([header])}</w:hdr>'
    )
    parts = {
        "[Content_Types].xml": CONTENT_TYPES,
        "_rels/.rels": PACKAGE_RELS,
        "word/document.xml": document,
        "word/_rels/document.xml.rels": DOCUMENT_RELS,
        "word/header1.xml": header_xml,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, xml in parts.items():
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, xml.encode("utf-8"))
    return out.getvalue()


BRIEF = [
    "Aan de gemeenteraad van {{ gemeente }}",
    "Geachte {{ aanspreking }},",
    "{%p if punten %}",
    "Uw raad bracht in:",
    "{%p for punt in punten %}",
    "Punt: {{ punt }}",
    "{%p endfor %}",
    "{%p else %}",
    "Uw raad bracht geen punten in.",
    "{%p endif %}",
    "Met vriendelijke groet",
]

# Every committed template: path under TESTDATA -> its paragraphs.
TEMPLATES: dict[str, list[str]] = {
    "minimal/brief.docx": BRIEF,
    "docx-syntax-error/brief.docx": ["Aan de raad van {{ gemeente }", "{%p if punten %}"],
    "docx-sandbox/brief.docx": ["Aan {{ gemeente }}", "{{ cycler.__init__.__globals__ }}"],
}


def write_templates() -> list[Path]:
    written = []
    for relative, paragraphs in TEMPLATES.items():
        path = TESTDATA / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(minimal_docx(paragraphs))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_templates():
        print(f"written: {path}")

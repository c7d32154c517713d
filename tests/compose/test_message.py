"""message.py: the exact bytes of one recipient's e-mail, read back the way a mail client would."""

from __future__ import annotations

import email
import email.policy
import io
import re
from datetime import datetime, timedelta, timezone
from email.header import decode_header, make_header
from email.message import EmailMessage

import docx

from distributie.compose.addressing import Addressing, message_id
from distributie.compose.docx import DOCX_MIMETYPE
from distributie.compose.mailing import BUNDLED_MAILING, load_mailing
from distributie.compose.message import build_message
from distributie.compose.rendering import RenderedAttachment, RenderedMessage, compile_mailing
from tests.support.mailings import MINIMAL, recipient

DATE = datetime(2019, 4, 8, 14, 30, 5, tzinfo=timezone(timedelta(hours=2)))
GEMEENTE = "Súdwest-Fryslân"
LETTER = f"Voorbeeld-aanbiedingsbrief gemeente {GEMEENTE}.docx"
RUN = "20190408-143005-ab12"


def addressing(**changes: object) -> Addressing:
    values: dict[str, object] = {
        "sender_name": "Veiligheidscollege Fryslân",
        "sender_address": "secretariaat@veiligheidscollege.example",
        "reply_to": "antwoord@veiligheidscollege.example",
        "to_address": "burgemeester@sudwestfryslan.example",
        "run_id": RUN,
        "gemeente": GEMEENTE,
        "recipient_key": "sudwest-fryslan",
        "resend": 0,
    }
    values.update(changes)
    return Addressing(**values)  # type: ignore[arg-type]


def bundled_rendered(to_name: str = "Mevr. Özdemir") -> RenderedMessage:
    compiled = compile_mailing(load_mailing(BUNDLED_MAILING))
    context = recipient(GEMEENTE, aanhef="mevrouw", achternaam="Özdemir").context()
    rendered = compiled.render(context)
    return RenderedMessage(
        rendered.subject, to_name, rendered.text, rendered.html, rendered.attachments
    )


RENDERED = bundled_rendered()
RAW = build_message(RENDERED, addressing(), DATE)


def text_of(part: EmailMessage | None) -> str:
    """A text part's content with the wire's CRLF line ends read as newlines."""
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def raw_header(raw: bytes, name: str, *, unfold: bool = True) -> str:
    """The first header of that name on the wire (top level first, then in the parts)."""
    text = raw.decode("ascii")
    match = re.search(
        rf"^{name}:[ ]?([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", text, re.MULTILINE | re.IGNORECASE
    )
    assert match, f"no {name} header"
    value = match.group(1)
    return value.replace("\r\n", "") if unfold else value


MESSAGE = parse(RAW)


# --- headers ------------------------------------------------------------------------------------


def test_the_whole_message_is_7bit_ascii() -> None:
    assert RAW.isascii()


def test_from_carries_the_sender_name_rfc2047_encoded() -> None:
    assert raw_header(RAW, "From") == (
        "Veiligheidscollege =?utf-8?q?Frysl=C3=A2n?= <secretariaat@veiligheidscollege.example>"
    )
    [sender] = MESSAGE["From"].addresses
    assert sender.display_name == "Veiligheidscollege Fryslân"
    assert sender.addr_spec == "secretariaat@veiligheidscollege.example"


def test_to_carries_the_recipient_name_rfc2047_encoded() -> None:
    assert "=?utf-8?" in raw_header(RAW, "To")
    assert "Özdemir" not in raw_header(RAW, "To")
    [to] = MESSAGE["To"].addresses
    assert to.display_name == "Mevr. Özdemir"
    assert to.addr_spec == "burgemeester@sudwestfryslan.example"


def test_a_name_with_a_comma_and_quotes_stays_one_address() -> None:
    raw = build_message(bundled_rendered('Burg. "Jan", de Vries'), addressing())

    [to] = parse(raw)["To"].addresses
    assert to.display_name == 'Burg. "Jan", de Vries'
    assert to.addr_spec == "burgemeester@sudwestfryslan.example"


def test_a_long_non_ascii_name_folded_over_lines_decodes_back_exactly() -> None:
    name = "Mevr. Özdemir, burgemeester van de gemeente Súdwest-Fryslân en omstreken"
    raw = build_message(bundled_rendered(name), addressing())

    folded = raw_header(raw, "To", unfold=False)
    assert "\r\n " in folded
    # Decoded as RFC 2047 says: white space between adjacent encoded words is dropped.
    assert str(make_header(decode_header(folded))) == (
        f"{name} <burgemeester@sudwestfryslan.example>"
    )


def test_reply_to_is_the_mailings_reply_address() -> None:
    assert MESSAGE["Reply-To"] == "antwoord@veiligheidscollege.example"


def test_without_a_reply_address_there_is_no_reply_to() -> None:
    raw = build_message(RENDERED, addressing(reply_to=None))

    assert parse(raw)["Reply-To"] is None


def test_without_on_behalf_there_is_no_sender_header() -> None:
    assert MESSAGE["Sender"] is None


def test_on_behalf_of_puts_that_address_in_from_and_the_mailbox_in_sender() -> None:
    raw = build_message(
        RENDERED,
        addressing(
            on_behalf_name="Voorzitter Veiligheidsberaad",
            on_behalf_address="voorzitter@veiligheidsberaad.example",
        ),
    )

    message = parse(raw)
    [author] = message["From"].addresses
    [sender] = message["Sender"].addresses
    assert (author.display_name, author.addr_spec) == (
        "Voorzitter Veiligheidsberaad",
        "voorzitter@veiligheidsberaad.example",
    )
    assert (sender.display_name, sender.addr_spec) == (
        "Veiligheidscollege Fryslân",
        "secretariaat@veiligheidscollege.example",
    )
    # The mailbox that sends still gives its domain to the Message-ID.
    assert message["Message-ID"].endswith("@veiligheidscollege.example>")


def test_subject_decodes_back_to_the_rendered_subject() -> None:
    assert "Fryslân" not in raw_header(RAW, "Subject")
    assert (
        MESSAGE["Subject"] == f"Regionale Veiligheidsstrategie 2019-2022 voor gemeente {GEMEENTE}"
    )


def test_date_is_the_given_moment() -> None:
    assert raw_header(RAW, "Date") == "Mon, 08 Apr 2019 14:30:05 +0200"
    assert MESSAGE["Date"].datetime == DATE


def test_date_defaults_to_now_with_a_time_zone() -> None:
    before = datetime.now().astimezone().replace(microsecond=0)

    sent = parse(build_message(RENDERED, addressing()))["Date"].datetime

    assert sent.tzinfo is not None
    assert before <= sent <= datetime.now().astimezone()


def test_message_id_is_derived_from_run_recipient_and_resend() -> None:
    expected = message_id(RUN, "sudwest-fryslan", 0, "veiligheidscollege.example")

    assert expected == f"<{RUN}.sudwest-fryslan.0@veiligheidscollege.example>"
    assert MESSAGE["Message-ID"] == expected
    # On one line: folding before the "<" is legal, but parsers then keep the white space.
    assert f"\r\nMessage-ID: {expected}\r\n".encode() in RAW


def test_message_id_changes_with_the_resend_number() -> None:
    resent = parse(build_message(RENDERED, addressing(resend=1), DATE))

    assert resent["Message-ID"] == f"<{RUN}.sudwest-fryslan.1@veiligheidscollege.example>"
    assert resent["Message-ID"] != MESSAGE["Message-ID"]


def test_the_trace_headers_name_the_run_and_the_gemeente() -> None:
    assert raw_header(RAW, "X-Distributie-Run") == RUN
    assert raw_header(RAW, "X-Distributie-Recipient") == "=?utf-8?q?S=C3=BAdwest-Frysl=C3=A2n?="
    assert MESSAGE["X-Distributie-Run"] == RUN
    assert MESSAGE["X-Distributie-Recipient"] == GEMEENTE


# --- structure ----------------------------------------------------------------------------------


def test_the_message_is_mixed_with_an_alternative_of_text_and_html_then_the_attachments() -> None:
    parts = [part.get_content_type() for part in MESSAGE.walk()]

    assert parts == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        DOCX_MIMETYPE,
    ]


def test_text_and_html_decode_back_to_the_rendered_bodies() -> None:
    body = MESSAGE.get_body(preferencelist=("plain",))
    html = MESSAGE.get_body(preferencelist=("html",))

    assert body is not None and html is not None
    assert body.get_content_charset() == "utf-8"
    assert text_of(body) == RENDERED.text
    assert text_of(html) == RENDERED.html


def test_the_attachment_name_is_rfc2231_encoded_and_decodes_back() -> None:
    [attachment] = MESSAGE.iter_attachments()

    disposition = raw_header(RAW, "Content-Disposition")
    assert disposition.startswith("attachment;")
    assert re.search(
        r"filename\*(0\*)?=utf-8''Voorbeeld-aanbiedingsbrief%20gemeente%20", disposition
    )
    assert "S%C3%BAdwest-Frys" in disposition
    assert attachment.get_filename() == LETTER
    assert attachment.get_content_disposition() == "attachment"


def test_the_attachment_bytes_are_the_rendered_docx() -> None:
    [attachment] = MESSAGE.iter_attachments()

    content = attachment.get_content()
    assert content == RENDERED.attachments[0].content
    texts = [p.text for p in docx.Document(io.BytesIO(content)).paragraphs]
    assert f"Aan de gemeenteraad van {GEMEENTE}" in texts


def test_a_static_attachment_keeps_its_type_and_bytes() -> None:
    compiled = compile_mailing(load_mailing(MINIMAL))
    rendered = compiled.render(recipient("Baarn").context())

    message = parse(build_message(rendered, addressing()))

    attachments = list(message.iter_attachments())
    assert [a.get_content_type() for a in attachments] == [DOCX_MIMETYPE, "application/pdf"]
    assert [a.get_filename() for a in attachments] == ["Brief gemeente Baarn.docx", "Bijlage.pdf"]
    assert attachments[1].get_content() == (MINIMAL / "bijlage.pdf").read_bytes()


def test_a_text_only_message_without_attachments_is_a_single_text_part() -> None:
    rendered = RenderedMessage("Onderwerp", "Jan", "Geachte heer,\n", None, ())

    message = parse(build_message(rendered, addressing()))

    assert message.get_content_type() == "text/plain"
    assert text_of(message) == "Geachte heer,\n"


def test_a_text_message_with_an_attachment_is_mixed_without_alternative() -> None:
    pdf = RenderedAttachment("Bijlage.pdf", b"%PDF-1.4\n", "application/pdf", True)
    rendered = RenderedMessage("Onderwerp", "Jan", "Geachte heer,\n", None, (pdf,))

    message = parse(build_message(rendered, addressing()))

    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/mixed",
        "text/plain",
        "application/pdf",
    ]


# --- the wire format ----------------------------------------------------------------------------


def test_every_line_ends_in_crlf() -> None:
    assert b"\n" not in RAW.replace(b"\r\n", b"")
    assert b"\r" not in RAW.replace(b"\r\n", b"")
    assert RAW.endswith(b"\r\n")


def test_no_line_is_longer_than_998_bytes_even_for_a_very_long_paragraph() -> None:
    long = RenderedMessage(
        "Onderwerp " + "é" * 300, "Jan", "x" * 5000 + "\n", "<p>" + "y" * 5000 + "</p>", ()
    )
    raw = build_message(long, addressing())

    assert max(len(line) for line in RAW.split(b"\r\n")) <= 998
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert text_of(parse(raw).get_body(preferencelist=("plain",))) == "x" * 5000 + "\n"


def test_a_line_starting_with_a_dot_or_from_survives_the_round_trip() -> None:
    text = ".\n.punt aan het begin\nFrom the start\n"
    rendered = RenderedMessage("Onderwerp", "Jan", text, None, ())

    message = parse(build_message(rendered, addressing()))

    assert text_of(message) == text


def test_a_test_message_is_marked_in_its_subject_and_a_header() -> None:
    data = build_message(bundled_rendered(), addressing(test=True))

    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert str(parsed["Subject"]).startswith("[PROEF] Regionale Veiligheidsstrategie")
    assert parsed["X-Distributie-Test"] == "yes"


def test_a_long_subject_folds_at_a_space_after_the_header_name() -> None:
    long = "[PROEF] Regionale Veiligheidsstrategie 2019-2022 voor gemeente Gemeente 0002"
    rendered = bundled_rendered()
    rendered = type(rendered)(long, "Naam", rendered.text, rendered.html, rendered.attachments)

    data = build_message(rendered, addressing())

    assert b"Subject: [PROEF] Regionale Veiligheidsstrategie 2019-2022 voor gemeente\r\n " in data
    assert email.message_from_bytes(data, policy=email.policy.default)["Subject"] == long

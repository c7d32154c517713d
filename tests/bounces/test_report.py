"""parse_report: classification rules, what the integrator matches on, and hostile input."""

from __future__ import annotations

import hashlib
import random
import unicodedata
from pathlib import Path

import pytest

from distributie.bounces import Outcome, Report, ReportKind, parse_report
from distributie.bounces.autoreply import first_meaningful_line
from distributie.bounces.mime import MAX_REPORT_BYTES

CORPUS = Path(__file__).resolve().parent / "corpus"
OURS = "<20191004-142501-7f3a.soest.0@veiligheidscollege-mn.example>"


def dsn(
    *recipients: str,
    headers: str = "",
    returned: str = f"Message-ID: {OURS}\nX-Distributie-Run: 20191004-142501-7f3a\n",
) -> bytes:
    """A minimal RFC 3464 report; each recipient is a block of per-recipient fields."""
    blocks = "\n".join(recipients)
    return f"""From: MAILER-DAEMON@mx.example
To: secretariaat@veiligheidscollege-mn.example
Subject: Undelivered Mail Returned to Sender
{headers}MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

The mail system

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

{blocks}
--B
Content-Type: text/rfc822-headers

{returned}
--B--
""".encode()


def plain(headers: str, body: str = "Tekst.\n") -> bytes:
    return f"From: someone@soest.example\nTo: secretariaat@example\n{headers}\n{body}".encode()


# --- classification ---------------------------------------------------------------------------


def test_action_failed_is_a_bounce_even_with_a_4xx_status_because_the_server_gave_up() -> None:
    report = parse_report(
        dsn("Final-Recipient: rfc822; a@soest.example\nAction: failed\nStatus: 4.4.7\n")
    )

    assert report.outcome is Outcome.BOUNCE
    assert report.status == "4.4.7"


def test_without_action_the_status_class_decides() -> None:
    report = parse_report(dsn("Final-Recipient: rfc822; a@soest.example\nStatus: 4.2.2\n"))

    assert report.outcome is Outcome.DELAYED


def test_without_action_or_status_the_diagnostic_code_decides() -> None:
    report = parse_report(
        dsn("Final-Recipient: rfc822; a@soest.example\nDiagnostic-Code: smtp; 550 No such user\n")
    )

    assert report.outcome is Outcome.BOUNCE


def test_a_report_of_successful_delivery_has_no_outcome() -> None:
    report = parse_report(
        dsn("Final-Recipient: rfc822; a@soest.example\nAction: delivered\nStatus: 2.0.0\n")
    )

    assert (report.kind, report.outcome) == (ReportKind.DSN, None)


def test_one_failed_recipient_makes_a_report_with_a_delayed_one_a_bounce() -> None:
    report = parse_report(
        dsn(
            "Final-Recipient: rfc822; a@soest.example\nAction: delayed\nStatus: 4.4.1\n",
            "Final-Recipient: rfc822; b@soest.example\nAction: failed\nStatus: 5.1.1\n",
        )
    )

    assert report.outcome is Outcome.BOUNCE
    assert report.status == "5.1.1"
    assert [r.outcome for r in report.recipients] == [Outcome.DELAYED, Outcome.BOUNCE]


def test_status_codes_keep_three_digit_details_and_drop_leading_zeros() -> None:
    report = parse_report(
        dsn("Final-Recipient: rfc822; a@soest.example\nAction: failed\nStatus: 5.07.350 (spam)\n")
    )

    assert report.status == "5.7.350"


def test_the_diagnostic_loses_its_type_and_line_folding() -> None:
    report = parse_report(
        dsn(
            "Final-Recipient: rfc822; a@soest.example\nAction: failed\nStatus: 5.1.1\n"
            "Diagnostic-Code: smtp; 550 5.1.1 <a@soest.example>:\n    User unknown\n"
        )
    )

    assert report.diagnostic == "550 5.1.1 <a@soest.example>: User unknown"


def test_a_bounce_that_says_auto_replied_is_a_bounce_not_an_auto_reply() -> None:
    report = parse_report(
        dsn(
            "Final-Recipient: rfc822; a@soest.example\nAction: failed\nStatus: 5.1.1\n",
            headers="Auto-Submitted: auto-replied\n",
        )
    )

    assert report.kind is ReportKind.DSN


def test_auto_generated_mail_that_is_no_reply_is_not_an_auto_reply() -> None:
    report = parse_report(plain("Subject: Nieuwsbrief oktober\nAuto-Submitted: auto-generated\n"))

    assert report.kind is ReportKind.NOT_A_REPORT


@pytest.mark.parametrize(
    "headers",
    [
        "Subject: Re: stukken\nAuto-Submitted: auto-replied\n",
        "Subject: Re: stukken\nX-Autoreply: yes\n",
        "Subject: Re: stukken\nX-Auto-Response-Suppress: All\n",
        "Subject: Automatisch antwoord: stukken\n",
        "Subject: Automatic reply: stukken\n",
        "Subject: Out of Office: stukken\n",
        "Subject: Afwezig: stukken\n",
    ],
)
def test_auto_replies_are_known_by_header_or_subject(headers: str) -> None:
    report = parse_report(plain(headers))

    assert (report.kind, report.outcome) == (ReportKind.AUTO_REPLY, Outcome.AUTO_REPLY)


def test_an_auto_reply_names_its_sender_as_the_recipient_to_match() -> None:
    report = parse_report(plain("Subject: Afwezig\n").replace(b"someone@", b"Burgemeester@"))

    assert report.addresses == ("burgemeester@soest.example",)


def test_the_first_meaningful_line_skips_greetings_quotes_and_rules() -> None:
    text = "\n\nBeste afzender,\n> quoted\n-----\n  Ik ben   afwezig tot 14 oktober.\nGroet"

    assert first_meaningful_line(text) == "Ik ben afwezig tot 14 oktober."


# --- what matching needs ----------------------------------------------------------------------


def test_message_ids_come_original_first_then_in_reply_to_then_references_newest_first() -> None:
    report = parse_report(
        dsn(
            "Final-Recipient: rfc822; a@soest.example\nAction: failed\nStatus: 5.1.1\n",
            headers="In-Reply-To: <reply@x.example>\n"
            "References: <oldest@x.example> <newest@x.example>\n",
        )
    )

    assert report.message_ids == (
        OURS,
        "<reply@x.example>",
        "<newest@x.example>",
        "<oldest@x.example>",
    )


def test_only_ids_of_distributie_s_form_are_offered_as_sent_ids() -> None:
    report = parse_report(
        dsn(
            "Final-Recipient: rfc822; a@soest.example\nAction: failed\nStatus: 5.1.1\n",
            headers="In-Reply-To: <reply@x.example>\n",
        )
    )

    assert [s.message_id for s in report.sent_message_ids] == [OURS]


def test_the_original_recipient_comes_before_the_final_one() -> None:
    report = parse_report(
        dsn(
            "Final-Recipient: rfc822; Jan@Intern.example\n"
            "Original-Recipient: rfc822;burgemeester@soest.example\nAction: failed\nStatus: 5.1.1\n"
        )
    )

    assert report.addresses == ("burgemeester@soest.example", "jan@intern.example")


def test_the_gemeente_in_the_returned_headers_is_decoded() -> None:
    returned = (
        f"Message-ID: {OURS}\nX-Distributie-Run: 20191004-142501-7f3a\n"
        "X-Distributie-Recipient: =?utf-8?q?S=C3=BAdwest-Frysl=C3=A2n?=\n"
    )

    report = parse_report(
        dsn("Final-Recipient: rfc822; a@x.example\nAction: failed\n", returned=returned)
    )

    assert report.original is not None
    assert report.original.recipient == "Súdwest-Fryslân"


def test_the_report_id_is_its_own_message_id() -> None:
    report = parse_report(plain("Subject: x\nMessage-ID: <eigen@soest.example>\n"))

    assert report.report_id == "<eigen@soest.example>"


def test_without_a_message_id_the_report_id_is_the_hash_of_the_bytes() -> None:
    raw = plain("Subject: x\n")

    assert parse_report(raw).report_id == "sha256:" + hashlib.sha256(raw).hexdigest()


# --- hostile input ----------------------------------------------------------------------------


def test_an_empty_message_is_unreadable() -> None:
    assert parse_report(b"  \r\n").reason == "empty message"


def test_a_message_over_the_size_limit_is_unreadable_without_being_parsed() -> None:
    raw = b"Subject: x\n\n" + b"x" * MAX_REPORT_BYTES

    report = parse_report(raw)

    assert report.kind is ReportKind.UNREADABLE
    assert report.reason is not None and report.reason.startswith("larger than 25 MB")


def _strings(report: Report) -> list[str]:
    values = [report.subject, report.sender, report.first_line, report.reason, report.diagnostic]
    for recipient in report.recipients:
        values += [recipient.diagnostic, recipient.final_recipient, recipient.remote_mta]
    if report.original:
        values += [report.original.recipient, report.original.run, report.original.subject]
    return [v for v in values if v]


def _mutations(rng: random.Random, raw: bytes) -> list[bytes]:
    cut = rng.randrange(len(raw))
    spot = rng.randrange(len(raw))
    return [
        raw[:cut],
        raw[:spot] + bytes(rng.randrange(256) for _ in range(16)) + raw[spot + 16 :],
        raw[:spot] + raw[cut:],
        raw.replace(b"\n", b"\r", rng.randrange(1, 40)),
    ]


def test_mutated_reports_are_read_without_internal_errors_and_every_text_is_printable() -> None:
    # parse_report turns any exception into UNREADABLE "cannot be read: <type>"; here none
    # may happen, since each would be a case the parser does not handle on purpose.
    rng = random.Random(2019)
    sources = [p.read_bytes() for p in sorted(CORPUS.glob("*.eml")) if p.stat().st_size < 50_000]

    for _ in range(250):
        for raw in _mutations(rng, rng.choice(sources)):
            report = parse_report(raw)

            assert not (report.reason or "").startswith("cannot be read"), report.reason
            for text in _strings(report):
                assert all(unicodedata.category(c)[0] != "C" for c in text), text


def test_a_delivery_status_field_with_raw_8bit_bytes_is_read_as_utf8() -> None:
    raw = dsn(
        "Final-Recipient: utf-8; burgemeester@s\u00fadwest-frysl\u00e2n.example\n"
        "Action: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 Gebruiker bestaat niet \u2014 onbekend\n"
    )

    report = parse_report(raw)

    assert report.addresses == ("burgemeester@s\u00fadwest-frysl\u00e2n.example",)
    assert report.diagnostic == "550 Gebruiker bestaat niet \u2014 onbekend"

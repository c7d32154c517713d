"""Reports as they come back to the sender's mailbox, made from a message that was really sent:
DSNs (RFC 3464) as Postfix writes them, a Microsoft 365 NDR, an Outlook out-of-office reply and a
plain-text bounce without any id, for the tests that put them in the IMAP mailbox."""

from __future__ import annotations

import itertools
from email.parser import BytesHeaderParser
from email.policy import compat32

__all__ = ["delayed_dsn", "dsn", "header_section", "m365_ndr", "out_of_office", "text_bounce"]

_numbers = itertools.count(1)
_MTA = "mx.veiligheidscollege-mn.example"


def header_section(original: bytes) -> bytes:
    """The header section of a message, as a report returns it (text/rfc822-headers)."""
    end = original.find(b"\r\n\r\n")
    return original[: end + 2] if end >= 0 else original


def _header(original: bytes, name: str) -> str:
    return str(BytesHeaderParser(policy=compat32).parsebytes(original).get(name, "")).strip()


def _address(original: bytes) -> str:
    to = _header(original, "To")
    return to[to.rfind("<") + 1 : to.rfind(">")] if "<" in to else to


def _report_id(report_id: str | None) -> str:
    return report_id or f"<report-{next(_numbers)}@{_MTA}>"


def dsn(
    original: bytes,
    *,
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{address}>: Recipient address rejected: User unknown",
    report_id: str | None = None,
    with_headers: bool = True,
    subject: str = "Undelivered Mail Returned to Sender",
) -> bytes:
    """A Postfix DSN about `original` (the exact bytes that were sent)."""
    address = _address(original)
    said = diagnostic.split("; ", 1)[-1].format(address=address)
    boundary = f"dsn-{next(_numbers)}/{_MTA}"
    returned = (
        f"--{boundary}\r\nContent-Description: Undelivered Message Headers\r\n"
        f"Content-Type: text/rfc822-headers\r\n\r\n".encode()
        + header_section(original)
        if with_headers
        else b""
    )
    head = (
        f"From: MAILER-DAEMON@{_MTA} (Mail Delivery System)\r\n"
        f"To: secretariaat@veiligheidscollege-mn.example\r\n"
        f"Subject: {subject}\r\nDate: Fri, 04 Oct 2019 14:26:05 +0200\r\n"
        f"Message-ID: {_report_id(report_id)}\r\nAuto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        f"\r\nThis is a MIME-encapsulated message.\r\n\r\n"
        f"--{boundary}\r\nContent-Description: Notification\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"This is the mail system at host {_MTA}.\r\n\r\n"
        f"<{address}>: host mx.example said: {said}"
        f"\r\n\r\n--{boundary}\r\nContent-Description: Delivery report\r\n"
        f"Content-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; {_MTA}\r\n\r\n"
        f"Final-Recipient: rfc822; {address}\r\nOriginal-Recipient: rfc822;{address}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\nRemote-MTA: dns; mx.example\r\n"
        f"Diagnostic-Code: {diagnostic.format(address=address)}\r\n\r\n"
    )
    return head.encode() + returned + f"\r\n--{boundary}--\r\n".encode()


def delayed_dsn(original: bytes, report_id: str | None = None) -> bytes:
    """A Postfix delay warning: still trying."""
    return dsn(
        original,
        action="delayed",
        status="4.4.1",
        diagnostic="smtp; 451 4.4.1 <{address}>: connection timed out, will keep trying",
        report_id=report_id,
        subject="Delayed Mail (still being retried)",
    )


def m365_ndr(original: bytes, report_id: str | None = None) -> bytes:
    """A Microsoft 365 non-delivery report in Dutch (5.7.1: the attachment was refused)."""
    return dsn(
        original,
        status="5.7.1",
        diagnostic="smtp; 550 5.7.1 Bericht geweigerd door het beleid van de ontvanger "
        "(bijlage niet toegestaan)",
        report_id=report_id,
        subject="Onbestelbaar: " + _header(original, "Subject").replace("\r\n", ""),
    ).replace(
        b"Auto-Submitted: auto-replied\r\n",
        b"Auto-Submitted: auto-replied\r\nX-MS-Exchange-Message-Is-Ndr: \r\n",
    )


def out_of_office(
    original: bytes,
    first_line: str = "Ik ben afwezig tot en met maandag 14 oktober en lees mijn e-mail niet.",
    report_id: str | None = None,
    in_reply_to: bool = True,
) -> bytes:
    """An Outlook out-of-office reply from the recipient of `original`."""
    threading = f"In-Reply-To: {_header(original, 'Message-ID')}\r\n" if in_reply_to else ""
    return (
        f"From: Burgemeester <{_address(original)}>\r\n"
        f"To: secretariaat@veiligheidscollege-mn.example\r\n"
        f"Subject: Automatisch antwoord: Regionale Veiligheidsstrategie\r\n"
        f"Date: Fri, 04 Oct 2019 14:27:00 +0200\r\nMessage-ID: {_report_id(report_id)}\r\n"
        f"{threading}Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Beste afzender,\r\n\r\n{first_line}\r\nVoor spoedzaken: bel 030 000 0000.\r\n"
    ).encode()


def text_bounce(address: str, report_id: str | None = None) -> bytes:
    """A qmail bounce that names only the address: no Message-ID, no X-Distributie headers."""
    return (
        f"From: MAILER-DAEMON@mail.example\r\nTo: secretariaat@veiligheidscollege-mn.example\r\n"
        f"Subject: failure notice\r\nDate: Fri, 04 Oct 2019 14:28:00 +0200\r\n"
        f"Message-ID: {_report_id(report_id)}\r\n\r\n"
        f"Hi. This is the qmail-send program at mail.example.\r\n"
        f"I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
        f"This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
        f"<{address}>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n"
    ).encode()

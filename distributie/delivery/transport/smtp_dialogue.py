"""The SMTP dialogue of one message, as functions over an open smtplib connection: the envelope
commands (pipelined in one write where the server offers PIPELINING, RFC 2920, else one by
one), the DATA payload, and a server's reply in the middle of DATA.

Every reply is classified per command as it would be sent one by one: a refused MAIL or RCPT is
that command's refusal, whatever the server answered to the commands behind it.
"""

from __future__ import annotations

import re
import select
import smtplib
import socket
import ssl

from distributie.delivery.transport.base import Envelope, PermanentSendError, Reply
from distributie.delivery.transport.classify import decode

_CRLF = b"\r\n"
_LINE_ENDING = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


class RefusedReply(Exception):
    """A coherent 4xx/5xx (or unexpected) reply before the end of DATA; `to_mail` when it was
    the reply to MAIL FROM, the first command of a message."""

    def __init__(
        self, code: int, text: str, *, to_mail: bool = False, out_of_step: bool = False
    ) -> None:
        super().__init__(code, text)
        self.code = code
        self.text = text
        self.to_mail = to_mail
        # The connection cannot take another message (e.g. the server hung up after it).
        self.out_of_step = out_of_step


def readable(sock: socket.socket) -> bool:
    # poll(), not select(): select() cannot watch descriptors numbered 1024 and up.
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([sock], [], [], 0)[0])


def early_reply(smtp: smtplib.SMTP, where: str) -> tuple[int, str] | None:
    """A server that gives up in the middle of DATA (size limit, shutdown) says so before we
    send the final dot; noticing it here keeps that a plain failure instead of an unknown
    outcome."""
    sock = smtp.sock
    if sock is None:
        raise smtplib.SMTPServerDisconnected("connection closed during DATA")
    buffered = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
    if not buffered and not readable(sock):
        return None
    timeout = sock.gettimeout()
    sock.settimeout(0)
    try:
        data = sock.recv(4096)
    except (BlockingIOError, ssl.SSLWantReadError):
        # Readable for TLS bookkeeping (e.g. a session ticket), not for a reply.
        return None
    finally:
        sock.settimeout(timeout)
    if not data:
        raise smtplib.SMTPServerDisconnected(f"{where} closed the connection during DATA")
    line = data.split(b"\n", 1)[0]
    code = int(line[:3]) if line[:3].isdigit() else -1
    return code, decode(line[4:].strip())


def data_body(message: bytes, crlf: bool = False) -> bytes:
    """The DATA payload without its final dot: CRLF line endings, dot-stuffed, ending in CRLF.

    `crlf`: every line already ends in CRLF (then only the dots are looked at).
    """
    body = message
    # The regular expressions cost ~0.3 ms on a 57 kB message, and even counting line endings
    # a tenth of that: skip what would change nothing.
    if not crlf:
        pairs = body.count(_CRLF)
        if body.count(b"\n") != pairs or body.count(b"\r") != pairs:
            body = _LINE_ENDING.sub(_CRLF, body)
    if body.startswith(b".") or b"\n." in body:
        body = _LEADING_DOT.sub(b"..", body)
    if body and not body.endswith(_CRLF):
        body += _CRLF
    return body


def mail_options(
    smtp: smtplib.SMTP, envelope: Envelope, message: bytes, body: bytes, where: str
) -> list[str]:
    options = []
    if smtp.has_extn("size"):
        options.append(f"SIZE={len(body)}")
    if not message.isascii() and smtp.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")
    if not all(map(str.isascii, (envelope.sender, *envelope.recipients))):
        if not smtp.has_extn("smtputf8"):
            raise PermanentSendError(
                Reply(None, f"{where} does not support SMTPUTF8 (non-ASCII address)")
            )
        options.append("SMTPUTF8")
    return options


class ConnectionGone(smtplib.SMTPServerDisconnected):
    """The connection was gone before the server said a word to this message's first command:
    nothing of the message reached it. On a reused connection (closed by the server while idle)
    the transport opens a new one and starts again, as the same attempt; otherwise it is a
    lost connection like any other."""


def _command(verb: str, address: str, options: list[str]) -> bytes:
    line = f"{verb}:<{address}>" + "".join(f" {o}" for o in options) + "\r\n"
    return line.encode("utf-8" if "SMTPUTF8" in options else "ascii")


def send_envelope(smtp: smtplib.SMTP, envelope: Envelope, options: list[str]) -> bool:
    """MAIL FROM, RCPT TO and DATA, up to the server's 354.

    Raises RefusedReply for the first command the server refused. Returns whether the commands
    went pipelined. All or nothing: delivering to some recipients and retrying for the rest
    would send the message twice to the ones that were accepted.
    """
    mail = _command("MAIL FROM", envelope.sender, options)
    rcpts = [_command("RCPT TO", r, []) for r in envelope.recipients]
    if not smtp.has_extn("pipelining"):
        _one_by_one(smtp, mail, rcpts)
        return False
    expected = len(rcpts) + 2
    try:
        smtp.send(mail + b"".join(rcpts) + b"DATA\r\n")
        first = smtp.getreply()
    except (OSError, smtplib.SMTPException) as exc:
        raise ConnectionGone(str(exc)) from exc
    replies = [first, *_replies(smtp, expected - 1, refused=not 200 <= first[0] <= 299)]
    envelope_replies = replies[: expected - 1]
    refused = next(
        (i for i, (code, _) in enumerate(envelope_replies) if not 200 <= code <= 299), None
    )
    if refused is not None:
        code, text = replies[refused]
        if len(replies) < expected or replies[-1][0] == 354:
            # Hung up after refusing, or took DATA all the same and now waits for a message:
            # nothing more may be sent on this connection.
            raise RefusedReply(code, decode(text), to_mail=refused == 0, out_of_step=True)
        raise RefusedReply(code, decode(text), to_mail=refused == 0)
    data_code, data_text = replies[-1]
    if data_code != 354:
        raise RefusedReply(data_code, decode(data_text))
    return True


def _replies(smtp: smtplib.SMTP, count: int, refused: bool) -> list[tuple[int, bytes]]:
    """Up to `count` more replies; fewer when the connection ends after a refusal (a 421 and
    a hang-up), so that the refusal is what the caller sees."""
    replies: list[tuple[int, bytes]] = []
    for _ in range(count):
        try:
            reply = smtp.getreply()
        except (OSError, smtplib.SMTPException):
            if not refused:
                raise
            break
        refused = refused or not 200 <= reply[0] <= 299
        replies.append(reply)
    return replies


def _one_by_one(smtp: smtplib.SMTP, mail: bytes, rcpts: list[bytes]) -> None:
    for index, line in enumerate([mail, *rcpts, b"DATA\r\n"]):
        try:
            smtp.send(line)
            code, text = smtp.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            if index == 0:
                raise ConnectionGone(str(exc)) from exc
            raise
        expected = code == 354 if index == len(rcpts) + 1 else 200 <= code <= 299
        if not expected:
            raise RefusedReply(code, decode(text), to_mail=index == 0)

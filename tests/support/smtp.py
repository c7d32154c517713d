"""Real SMTP servers for tests (aiosmtpd on loopback) that record what they accept and can be
told to misbehave per connection, per recipient or at random."""

from __future__ import annotations

import asyncio
import functools
import random
import ssl
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any, Literal

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from aiosmtpd.smtp import Envelope as ServerEnvelope
from aiosmtpd.smtp import Session as ServerSession

from distributie.settings import Settings

__all__ = [
    "RANDOM_KINDS",
    "Fault",
    "FaultPlan",
    "FiredFault",
    "ReceivedMessage",
    "RecordingSMTPServer",
    "smtp_ca",
    "smtp_ca_file",
    "smtp_implicit_tls_server",
    "smtp_server",
    "smtp_tls_server",
    "smtp_untrusted_server",
]

LOOPBACK = "127.0.0.1"
RECIPIENT_HEADER = "X-Distributie-Recipient"
# Long enough for any test; a dropped connection is normally gone within milliseconds.
_DROP_WAIT = 30.0

Stage = Literal["connect", "mail", "rcpt", "data_command", "end_of_data"]
Action = Literal["reply", "drop", "slow"]

_DEFAULT_TEXT = {
    421: "4.3.2 Service not available, closing transmission channel",
    450: "4.2.0 Mailbox temporarily unavailable",
    451: "4.3.0 Local error in processing, try again later",
    452: "4.3.1 Insufficient system storage",
    550: "5.1.1 Mailbox unavailable",
    552: "5.3.4 Message size exceeds fixed limit",
    553: "5.1.3 Mailbox name not allowed",
    554: "5.7.1 Transaction failed",
}

# What random_faults() can pick, and at which stage each one happens.
RANDOM_KINDS: dict[str, tuple[Stage, Action]] = {
    "connect_421": ("connect", "reply"),
    "mail_4xx": ("mail", "reply"),
    "drop_at_mail": ("mail", "drop"),
    "rcpt_4xx": ("rcpt", "reply"),
    "slow_rcpt": ("rcpt", "slow"),
    "data_command_4xx": ("data_command", "reply"),
    "drop_before_data": ("data_command", "drop"),
    "data_4xx": ("end_of_data", "reply"),
    "drop_after_data": ("end_of_data", "drop"),
    "slow_after_data": ("end_of_data", "slow"),
}


def _status(code: int, text: str | None) -> str:
    return f"{code} {text or _DEFAULT_TEXT.get(code, 'fault injected by the test')}"


@dataclass
class _Rule:
    stage: Stage
    action: Action
    address: str | None  # None: any recipient
    code: int = 0
    text: str | None = None
    seconds: float = 0.0
    times: int | None = 1  # None: every time

    def matches(self, stage: Stage, addresses: Iterable[str]) -> bool:
        if stage != self.stage or self.times == 0:
            return False
        return self.address is None or self.address in {a.lower() for a in addresses}


@dataclass(frozen=True)
class Fault:
    """What the server does at one point of one session."""

    action: Action
    code: int = 0
    text: str | None = None
    seconds: float = 0.0

    @property
    def status(self) -> str:
        return _status(self.code, self.text)


@dataclass(frozen=True)
class FiredFault:
    stage: Stage
    action: Action
    addresses: tuple[str, ...]
    code: int
    seconds: float
    at: float  # time.monotonic()


class FaultPlan:
    """Rules the test server consults at each stage of each session. Thread-safe.

    Explicit rules are tried in the order they were added; the first that matches fires and
    uses up one of its `times` (None = forever). Only when no rule matches does the random
    generator (random_faults / random_transient) get a say. `address` None matches any
    recipient; addresses compare case-insensitively.

    Stages: "connect" (before the greeting), "mail" (the reply to MAIL FROM; an `address` rule
    never matches it, it names no recipient yet), "rcpt" (the reply to RCPT TO), "data_command"
    (the reply to DATA, i.e. before the client sends the message: nothing is recorded), and
    "end_of_data" (the reply after the final dot). At "end_of_data" a "drop" or "slow" fault
    happens after the message was recorded as accepted; a "reply" fault means not accepted.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._rng: random.Random | None = None
        self._probability = 0.0
        self._kinds: tuple[str, ...] = ()
        self._random_code = 451
        self._random_seconds = 2.0
        self._fired: list[FiredFault] = []

    # -- scripting -------------------------------------------------------------------------

    def _add(self, rule: _Rule) -> FaultPlan:
        if rule.address is not None:
            rule.address = rule.address.lower()
        with self._lock:
            self._rules.append(rule)
        return self

    def refuse_connections(
        self, times: int | None = 1, code: int = 421, text: str | None = None
    ) -> FaultPlan:
        """Greet the next `times` connections with `code` (421) and hang up."""
        return self._add(_Rule("connect", "reply", None, code, text, times=times))

    def fail_rcpt(
        self,
        address: str | None = None,
        code: int = 451,
        times: int | None = 1,
        text: str | None = None,
    ) -> FaultPlan:
        """Answer RCPT TO with `code`. A 421 also hangs up, as real servers do."""
        return self._add(_Rule("rcpt", "reply", address, code, text, times=times))

    def refuse(self, address: str, code: int = 550, text: str | None = None) -> FaultPlan:
        """Refuse this recipient at RCPT TO, every time (a permanent rejection)."""
        return self._add(_Rule("rcpt", "reply", address, code, text, times=None))

    def fail_mail(
        self, code: int = 451, times: int | None = 1, text: str | None = None
    ) -> FaultPlan:
        """Answer MAIL FROM with `code` (421 also hangs up)."""
        return self._add(_Rule("mail", "reply", None, code, text, times=times))

    def drop_at_mail(self, times: int | None = 1) -> FaultPlan:
        """Hang up instead of answering MAIL FROM."""
        return self._add(_Rule("mail", "drop", None, times=times))

    def fail_data_command(
        self,
        address: str | None = None,
        code: int = 451,
        times: int | None = 1,
        text: str | None = None,
    ) -> FaultPlan:
        """Answer the DATA command itself with `code` (the message is never sent)."""
        return self._add(_Rule("data_command", "reply", address, code, text, times=times))

    def fail_data(
        self,
        address: str | None = None,
        code: int = 451,
        times: int | None = 1,
        text: str | None = None,
    ) -> FaultPlan:
        """Answer the end of DATA with `code`: the message was received but NOT accepted."""
        return self._add(_Rule("end_of_data", "reply", address, code, text, times=times))

    def drop_before_data(self, address: str | None = None, times: int | None = 1) -> FaultPlan:
        """Hang up on the DATA command: before the end of DATA, nothing accepted."""
        return self._add(_Rule("data_command", "drop", address, times=times))

    def drop_after_data(self, address: str | None = None, times: int | None = 1) -> FaultPlan:
        """Accept (record) the message at the end of DATA, then hang up without replying."""
        return self._add(_Rule("end_of_data", "drop", address, times=times))

    def slow_reply_after_data(
        self, address: str | None = None, seconds: float = 2.0, times: int | None = 1
    ) -> FaultPlan:
        """Accept (record) the message, then wait `seconds` before replying 250."""
        return self._add(_Rule("end_of_data", "slow", address, seconds=seconds, times=times))

    def slow_reply_to_rcpt(
        self, address: str | None = None, seconds: float = 2.0, times: int | None = 1
    ) -> FaultPlan:
        """Wait `seconds` before answering RCPT TO (then answer normally)."""
        return self._add(_Rule("rcpt", "slow", address, seconds=seconds, times=times))

    def random_faults(
        self,
        probability: float,
        seed: int,
        kinds: Iterable[str] = ("rcpt_4xx", "data_4xx", "drop_before_data", "drop_after_data"),
        code: int = 451,
        seconds: float = 2.0,
    ) -> FaultPlan:
        """At each stage where one of `kinds` (see RANDOM_KINDS) applies, fire one of them with
        `probability`. The seed fixes the sequence of decisions; which session gets which
        decision still depends on the order in which concurrent clients arrive."""
        kinds = tuple(kinds)
        unknown = set(kinds) - set(RANDOM_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {list(RANDOM_KINDS)}")
        with self._lock:
            self._rng = random.Random(seed)
            self._probability = probability
            self._kinds = kinds
            self._random_code = code
            self._random_seconds = seconds
        return self

    def random_transient(self, probability: float, seed: int, code: int = 451) -> FaultPlan:
        """Randomly answer RCPT TO or the end of DATA with a 4xx (nothing dropped or slow)."""
        return self.random_faults(probability, seed, kinds=("rcpt_4xx", "data_4xx"), code=code)

    def clear(self) -> None:
        """Forget all rules and the random generator (the log of fired faults stays)."""
        with self._lock:
            self._rules.clear()
            self._rng = None

    @property
    def fired(self) -> list[FiredFault]:
        """Every fault that happened, in order."""
        with self._lock:
            return list(self._fired)

    def fired_count(self, stage: Stage | None = None, action: Action | None = None) -> int:
        return sum(
            1
            for f in self.fired
            if (stage is None or f.stage == stage) and (action is None or f.action == action)
        )

    # -- consulted by the server -----------------------------------------------------------

    def take(self, stage: Stage, addresses: Iterable[str] = ()) -> Fault | None:
        addresses = tuple(addresses)
        with self._lock:
            fault = self._take_rule(stage, addresses) or self._take_random(stage)
            if fault is not None:
                self._fired.append(
                    FiredFault(
                        stage, fault.action, addresses, fault.code, fault.seconds, time.monotonic()
                    )
                )
            return fault

    def _take_rule(self, stage: Stage, addresses: tuple[str, ...]) -> Fault | None:
        for rule in self._rules:
            if rule.matches(stage, addresses):
                if rule.times is not None:
                    rule.times -= 1
                return Fault(rule.action, rule.code, rule.text, rule.seconds)
        return None

    def _take_random(self, stage: Stage) -> Fault | None:
        if self._rng is None:
            return None
        candidates = [k for k in self._kinds if RANDOM_KINDS[k][0] == stage]
        if not candidates or self._rng.random() >= self._probability:
            return None
        action = RANDOM_KINDS[self._rng.choice(candidates)][1]
        code = 421 if stage == "connect" else self._random_code
        return Fault(action, code if action == "reply" else 0, None, self._random_seconds)


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the server accepted (recorded at the end of DATA, before it replies)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    recipient: str | None  # the X-Distributie-Recipient header, RFC 2047 decoded
    message_id: str | None
    connection: int
    received_monotonic: float
    received_at: float  # time.time()


def _header(message: Any, name: str) -> str | None:
    raw = message.get(name)
    if raw is None:
        return None
    return str(make_header(decode_header(str(raw)))).strip()


def _parse(data: bytes) -> tuple[str | None, str | None]:
    headers = BytesHeaderParser(policy=compat32).parsebytes(data)
    return _header(headers, RECIPIENT_HEADER), _header(headers, "Message-ID")


class _FaultySMTP(SMTP):
    """aiosmtpd's SMTP session, numbered, logged, and able to refuse or hang up on cue."""

    def __init__(self, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._recorder = handler.recorder
        self.connection_id = 0
        # Log every command as it is dispatched, whatever the handler does with it.
        self._smtp_methods = {
            name: self._logged(name, method) for name, method in self._smtp_methods.items()
        }

    def _logged(
        self, name: str, method: Callable[[str], Awaitable[None]]
    ) -> Callable[[str], Awaitable[None]]:
        @functools.wraps(method)
        async def logged(arg: str) -> None:
            self._recorder._command(self.connection_id, name)
            await method(arg)

        return logged

    async def _handle_client(self) -> None:
        self.connection_id = self._recorder._connection_opened(self)
        if self.connection_id:
            fault = self._recorder.plan.take("connect")
            if fault is not None:
                await self.push(fault.status)
                assert self.transport is not None
                self.transport.close()
                return
        await super()._handle_client()

    def connection_lost(self, error: Exception | None) -> None:
        self._recorder._connection_closed(self)
        super().connection_lost(error)

    async def push(self, status: Any) -> None:
        text = status.decode() if isinstance(status, bytes) else str(status)
        self._recorder._reply(self.connection_id, text)
        await super().push(status)

    async def smtp_DATA(self, arg: str) -> None:
        if self.envelope is not None and self.envelope.rcpt_tos and not arg:
            fault = self._recorder.plan.take("data_command", self.envelope.rcpt_tos)
            if fault is not None and fault.action == "drop":
                await hang_up(self)
                return
            if fault is not None and fault.action == "reply":
                await self.push(fault.status)
                if fault.code == 421:
                    await hang_up(self)
                return
        await super().smtp_DATA(arg)


async def hang_up(server: SMTP) -> None:
    """Close the session's connection and wait to be cancelled, as aiosmtpd does on connection
    loss (returning instead would make aiosmtpd write to a closed transport)."""
    if server.transport is not None:
        server.transport.close()
    await asyncio.sleep(_DROP_WAIT)


class _Handler:
    def __init__(self, recorder: RecordingSMTPServer) -> None:
        self.recorder = recorder

    async def handle_EHLO(
        self,
        server: SMTP,
        session: ServerSession,
        envelope: ServerEnvelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self.recorder.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self,
        server: SMTP,
        session: ServerSession,
        envelope: ServerEnvelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.recorder.username is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        # The client's next commands already waiting unread: they came in one write with MAIL.
        waiting = bytes(getattr(server._reader, "_buffer", b""))
        if b"RCPT TO" in waiting.upper() and b"DATA" in waiting.upper():
            self.recorder.pipelined_envelopes += 1
        fault = self.recorder.plan.take("mail")
        if fault is not None:
            if fault.action == "drop":
                await hang_up(server)
            if fault.code == 421:
                await server.push(fault.status)
                await hang_up(server)
            return fault.status
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: ServerSession,
        envelope: ServerEnvelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        fault = self.recorder.plan.take("rcpt", [address])
        if fault is not None:
            if fault.action == "slow":
                await asyncio.sleep(fault.seconds)
            elif fault.action == "drop":
                await hang_up(server)
            elif fault.code == 421:
                await server.push(fault.status)
                await hang_up(server)
            else:
                return fault.status
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(
        self, server: SMTP, session: ServerSession, envelope: ServerEnvelope
    ) -> str:
        fault = self.recorder.plan.take("end_of_data", envelope.rcpt_tos)
        if fault is not None and fault.action == "reply":
            if fault.code == 421:
                await server.push(fault.status)
                await hang_up(server)
            return fault.status
        number = self.recorder._accept(getattr(server, "connection_id", 0), envelope)
        if fault is not None and fault.action == "drop":
            await hang_up(server)
        elif fault is not None and fault.action == "slow":
            await asyncio.sleep(fault.seconds)
        return f"250 2.0.0 OK: queued as {number}"


class _Controller(Controller):
    def __init__(self, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, hostname=LOOPBACK, port=0, **kwargs)

    def factory(self) -> SMTP:
        return _FaultySMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # Bound to port 0: learn the real port before aiosmtpd's own start-up probe uses it.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


def _server_tls_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(LOOPBACK, "localhost").configure_cert(context)
    return context


class RecordingSMTPServer:
    """A loopback SMTP server in a thread of this process, recording every accepted message.

    security: "none" (plaintext), "starttls" (STARTTLS required before anything else) or "tls"
    (implicit TLS). With a username the server requires AUTH (PLAIN or LOGIN).
    """

    def __init__(
        self,
        *,
        security: Literal["none", "starttls", "tls"] = "none",
        ca: trustme.CA | None = None,
        ca_file: Path | None = None,
        username: str | None = None,
        password: str | None = None,
        plan: FaultPlan | None = None,
        echo_password_on_auth_failure: bool = False,
        pipelining: bool = True,
    ) -> None:
        if security != "none" and ca is None:
            raise ValueError("a TLS server needs a trustme CA")
        self.security = security
        self.host = LOOPBACK
        self.port = 0
        self.ca_file = ca_file  # what a client should trust (for the untrusted server: not ours)
        self.username = username
        self.password = password
        self.plan = plan or FaultPlan()
        self._echo_password = echo_password_on_auth_failure
        # PIPELINING is advertised as relays do; the server reads commands in order either way.
        self.pipelining = pipelining
        self.pipelined_envelopes = 0  # MAIL FROMs whose RCPT and DATA were already in the buffer
        self._lock = threading.Condition()
        self._messages: list[ReceivedMessage] = []
        self._commands: list[tuple[int, str]] = []
        self._replies: list[tuple[int, str]] = []
        self._connections = 0
        self._live: set[_FaultySMTP] = set()
        self._started = False

        smtp_kwargs: dict[str, Any] = {
            "server_hostname": "localhost",  # aiosmtpd would otherwise call getfqdn()
            "enable_SMTPUTF8": True,
        }
        if username is not None:
            smtp_kwargs["authenticator"] = self._authenticate
            # Enforced in handle_MAIL rather than with auth_required, which aiosmtpd pairs
            # with auth_require_tls (see below) and warns about otherwise.
        tls_context = _server_tls_context(ca) if ca is not None else None
        if security == "starttls":
            smtp_kwargs.update(tls_context=tls_context, require_starttls=True)
            smtp_kwargs["auth_require_tls"] = True
        elif security == "tls":
            smtp_kwargs["ssl_context"] = tls_context
            # aiosmtpd only counts STARTTLS as "TLS"; on an implicit-TLS socket it would
            # refuse AUTH with 538 unless told not to insist.
            smtp_kwargs["auth_require_tls"] = False
        else:
            smtp_kwargs["auth_require_tls"] = False
        self._controller = _Controller(_Handler(self), **smtp_kwargs)

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> RecordingSMTPServer:
        self._controller.start()
        self.port = self._controller.port
        # aiosmtpd's start-up probe has connected by now; count and fault only real clients.
        with self._lock:
            self._started = True
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> RecordingSMTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RecordingSMTPServer({self.security}, {self.host}:{self.port})"

    # -- what happened ---------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._lock:
            return list(self._messages)

    @property
    def connections(self) -> int:
        """How many client connections were opened (aiosmtpd's start-up probe not counted)."""
        with self._lock:
            return self._connections

    @property
    def open_connections(self) -> int:
        with self._lock:
            return sum(1 for s in self._live if s.connection_id)

    def commands(self, connection: int | None = None) -> list[str]:
        """SMTP verbs received (EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, RSET, QUIT...)."""
        with self._lock:
            return [c for n, c in self._commands if connection is None or n == connection]

    def replies(self, connection: int | None = None) -> list[str]:
        """Every reply line the server sent, e.g. '250 OK' or '503 Error: nested MAIL command'."""
        with self._lock:
            return [r for n, r in self._replies if connection is None or n == connection]

    def deliveries_by_recipient(self) -> Counter[str]:
        """Accepted messages per X-Distributie-Recipient header (per envelope address when
        the header is missing)."""
        counter: Counter[str] = Counter()
        for message in self.messages:
            if message.recipient is not None:
                counter[message.recipient] += 1
            else:
                counter.update(message.rcpt_tos)
        return counter

    def deliveries_by_address(self) -> Counter[str]:
        """Accepted messages per envelope recipient address."""
        counter: Counter[str] = Counter()
        for message in self.messages:
            counter.update(message.rcpt_tos)
        return counter

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Block until at least `count` messages were accepted; raise TimeoutError if not."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(f"{len(self._messages)} of {count} messages within {timeout}s")
            return list(self._messages)

    def disconnect_all(self) -> None:
        """Hang up on every open session, as a server does on an idle timeout or restart."""

        done = threading.Event()

        def close_all() -> None:
            for session in list(self._live):
                if session.transport is not None:
                    session.transport.close()
            done.set()

        self._controller.loop.call_soon_threadsafe(close_all)
        done.wait(5)

    # -- client configuration --------------------------------------------------------------

    def settings(self, **overrides: Any) -> Settings:
        """Settings for a client of this server (in this process); no .env file is read."""
        values: dict[str, Any] = {
            "smtp_host": self.host,
            "smtp_port": self.port,
            "smtp_security": self.security,
            "smtp_username": self.username,
            "smtp_password": self.password,
            "smtp_ca_file": self.ca_file,
            "smtp_helo_name": "client.test",
            "smtp_timeout": 5.0,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    def environ(self, timeout: float = 5.0) -> dict[str, str]:
        """DISTRIBUTIE_SMTP_* variables for clients in other processes (e.g. Celery workers)."""
        env = {
            "DISTRIBUTIE_SMTP_HOST": self.host,
            "DISTRIBUTIE_SMTP_PORT": str(self.port),
            "DISTRIBUTIE_SMTP_SECURITY": self.security,
            "DISTRIBUTIE_SMTP_HELO_NAME": "client.test",
            "DISTRIBUTIE_SMTP_TIMEOUT": str(timeout),
        }
        if self.username is not None:
            env["DISTRIBUTIE_SMTP_USERNAME"] = self.username
        if self.password is not None:
            env["DISTRIBUTIE_SMTP_PASSWORD"] = self.password
        if self.ca_file is not None:
            env["DISTRIBUTIE_SMTP_CA_FILE"] = str(self.ca_file)
        return env

    # -- called from the server thread -----------------------------------------------------

    def _connection_opened(self, session: _FaultySMTP) -> int:
        with self._lock:
            self._live.add(session)
            if not self._started:
                return 0
            self._connections += 1
            return self._connections

    def _connection_closed(self, session: _FaultySMTP) -> None:
        with self._lock:
            self._live.discard(session)

    def _command(self, connection: int, verb: str) -> None:
        if connection:
            with self._lock:
                self._commands.append((connection, verb))

    def _reply(self, connection: int, text: str) -> None:
        if connection:
            with self._lock:
                self._replies.append((connection, text))

    def _accept(self, connection: int, envelope: ServerEnvelope) -> int:
        data = envelope.original_content or b""
        recipient, message_id = _parse(data)
        message = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            data=data,
            recipient=recipient,
            message_id=message_id,
            connection=connection,
            received_monotonic=time.monotonic(),
            received_at=time.time(),
        )
        with self._lock:
            self._messages.append(message)
            self._lock.notify_all()
            return len(self._messages)

    def _authenticate(
        self,
        server: SMTP,
        session: ServerSession,
        envelope: ServerEnvelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        ):
            return AuthResult(success=True)
        text = "535 5.7.8 Authentication credentials invalid"
        if self._echo_password and isinstance(auth_data, LoginPassword):
            # A careless server quoting the client's input back: the client must redact it.
            text += f" (password {auth_data.password.decode()!r} is wrong)"
        return AuthResult(success=False, handled=False, message=text)


# -- pytest fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def smtp_ca() -> trustme.CA:
    """The CA the test servers' certificates chain to."""
    return trustme.CA()


@pytest.fixture(scope="session")
def smtp_ca_file(smtp_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """smtp_ca as a PEM file, for DISTRIBUTIE_SMTP_CA_FILE."""
    path = tmp_path_factory.mktemp("smtp-ca") / "ca.pem"
    smtp_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def smtp_server() -> Iterator[RecordingSMTPServer]:
    """Plaintext, no AUTH, loopback."""
    with RecordingSMTPServer() as server:
        yield server


@pytest.fixture
def smtp_tls_server(smtp_ca: trustme.CA, smtp_ca_file: Path) -> Iterator[RecordingSMTPServer]:
    """STARTTLS required, AUTH required (username/password attributes), cert from smtp_ca."""
    with RecordingSMTPServer(
        security="starttls",
        ca=smtp_ca,
        ca_file=smtp_ca_file,
        username="distributie",
        password="s3cret-Pa55word",
    ) as server:
        yield server


@pytest.fixture
def smtp_implicit_tls_server(
    smtp_ca: trustme.CA, smtp_ca_file: Path
) -> Iterator[RecordingSMTPServer]:
    """Implicit TLS (as on port 465) with AUTH required, cert from smtp_ca."""
    with RecordingSMTPServer(
        security="tls",
        ca=smtp_ca,
        ca_file=smtp_ca_file,
        username="distributie",
        password="s3cret-Pa55word",
    ) as server:
        yield server


@pytest.fixture
def smtp_untrusted_server(smtp_ca_file: Path) -> Iterator[RecordingSMTPServer]:
    """STARTTLS with a certificate from a CA the client does not trust: its ca_file is
    smtp_ca's, which did not sign this server's certificate."""
    with RecordingSMTPServer(security="starttls", ca=trustme.CA(), ca_file=smtp_ca_file) as server:
        yield server

"""SMTP at the protocol's pace: MAIL FROM, RCPT TO and DATA in one write where the server offers
PIPELINING (RFC 2920), no RSET after a completed transaction, and every reply classified per
command exactly as when the commands go one by one, against a real server with scripted
faults."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from distributie.delivery.transport import (
    PermanentSendError,
    SendError,
    SMTPTransport,
    TransientSendError,
    UnknownOutcomeError,
)
from tests.delivery.test_transport import Calls, envelope, message, transport_for
from tests.support.smtp import FaultPlan, RecordingSMTPServer

ADDRESS = "burgemeester@utrecht.example"

# (name, how the server misbehaves, what the transport must say, whether the dot may go out)
FAULTS: list[tuple[str, Callable[[FaultPlan], object], type[SendError]]] = [
    ("MAIL refused 451", lambda p: p.fail_mail(451), TransientSendError),
    ("MAIL refused 550", lambda p: p.fail_mail(550), PermanentSendError),
    ("MAIL answered 421 and hung up", lambda p: p.fail_mail(421), TransientSendError),
    ("hang-up at MAIL", lambda p: p.drop_at_mail(), TransientSendError),
    ("RCPT refused 451", lambda p: p.fail_rcpt(ADDRESS, code=451), TransientSendError),
    ("RCPT refused 550", lambda p: p.refuse(ADDRESS, 550), PermanentSendError),
    ("hang-up at RCPT", lambda p: p.drop_before_data(ADDRESS), TransientSendError),
    ("DATA refused 451", lambda p: p.fail_data_command(ADDRESS, 451), TransientSendError),
    ("DATA refused 554", lambda p: p.fail_data_command(ADDRESS, 554), PermanentSendError),
    ("refused after the dot 451", lambda p: p.fail_data(ADDRESS, 451), TransientSendError),
    ("hang-up after the dot", lambda p: p.drop_after_data(ADDRESS), UnknownOutcomeError),
]


def test_the_envelope_goes_in_one_write_when_the_server_offers_pipelining(
    smtp_server: RecordingSMTPServer,
) -> None:
    with transport_for(smtp_server) as transport:
        for key in ("utrecht", "zeist"):
            transport.send(envelope(key), message(key), Calls())

    assert smtp_server.pipelined_envelopes == 2
    assert len(smtp_server.messages) == 2


def test_without_pipelining_the_commands_go_one_by_one(smtp_server: RecordingSMTPServer) -> None:
    smtp_server.pipelining = False
    with transport_for(smtp_server) as transport:
        for key in ("utrecht", "zeist"):
            transport.send(envelope(key), message(key), Calls())

    assert smtp_server.pipelined_envelopes == 0
    assert len(smtp_server.messages) == 2
    assert "RSET" not in smtp_server.commands()


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
@pytest.mark.parametrize(("name", "fault", "error"), FAULTS, ids=[f[0] for f in FAULTS])
def test_each_refusal_and_hang_up_is_classified_as_its_command_says(
    smtp_server: RecordingSMTPServer,
    pipelining: bool,
    name: str,
    fault: Callable[[FaultPlan], object],
    error: type[SendError],
) -> None:
    smtp_server.pipelining = pipelining
    fault(smtp_server.plan)
    calls = Calls()

    with transport_for(smtp_server) as transport:
        with pytest.raises(error):
            transport.send(envelope("utrecht"), message("utrecht"), calls)
        # The next message goes out cleanly after whatever happened to this one.
        after = transport.send(envelope("zeist"), message("zeist"), Calls())

    accepted = [m.rcpt_tos for m in smtp_server.messages]
    if error is UnknownOutcomeError:
        assert calls.count == 1  # the dot went out: the server has it
    else:
        assert ("burgemeester@utrecht.example",) not in accepted
        assert calls.count == (1 if "after the dot" in name else 0)
    assert after.code == 250
    assert ("burgemeester@zeist.example",) in accepted
    assert not [r for r in smtp_server.replies() if "nested MAIL" in r]


def test_a_connection_closed_while_idle_is_replaced_without_failing_the_message(
    smtp_server: RecordingSMTPServer,
) -> None:
    transport: SMTPTransport
    with transport_for(smtp_server) as transport:
        transport.send(envelope("utrecht"), message("utrecht"), Calls())
        smtp_server.disconnect_all()
        reply = transport.send(envelope("zeist"), message("zeist"), Calls())

    assert reply.code == 250
    assert smtp_server.connections == 2

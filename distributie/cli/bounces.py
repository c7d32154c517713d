"""`distributie bounces`: read the bounce mailbox and put what came back onto the recipients."""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Annotated

import typer

from distributie.cli.app import cli, err, fail_usage, guarded, load, out
from distributie.errors import DistributieError
from distributie.operations.session import Session, open_session

if TYPE_CHECKING:
    from distributie.operations.bounces import MailboxRead


def _kinds(counter: Counter[str]) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(counter.items()))


def _print_pass(result: MailboxRead) -> None:
    if not result.handled:
        out.print(f"No messages in {result.folder} at {result.where}.")
        return
    for handled in result.recorded:
        match = handled.match
        how = f"matched by {match.method}" if match else ""
        again = "; recorded before, nothing changed" if handled.already else ""
        out.print(
            f"  {handled.outcome:<10} {handled.gemeente} (run {match.run if match else '?'}, "
            f"{handled.kind}, {how}): {handled.reply} -> {handled.state}{again}"
        )
    for handled in result.set_aside:
        out.print(f"  set aside  {handled.subject!r} ({handled.kind}): {handled.reply}")
    recorded, aside = result.recorded, result.set_aside
    summary = f"{len(result.handled)} message(s) read from {result.folder} at {result.where}: "
    summary += f"{len(recorded)} matched and moved to {result.processed_folder}"
    if recorded:
        summary += f" ({_kinds(result.by_kind(recorded))})"
    summary += f", {len(aside)} set aside in {result.unknown_folder}"
    if aside:
        summary += f" ({_kinds(result.by_kind(aside))})"
    out.print(summary + ".")


def _poll(session: Session, every: float) -> int:
    from distributie.operations.bounces import read_bounces

    """Read the mailbox every `every` seconds until Ctrl-C; a pass that fails is reported and
    the next one tried (the first one's failure has already ended the command)."""
    try:
        while True:
            time.sleep(every)
            try:
                result = read_bounces(session)
                if result.handled:  # an empty pass every minute is not news
                    _print_pass(result)
            except DistributieError as exc:
                err.print(str(exc), style="red")
    except KeyboardInterrupt:
        return 130


@cli.command()
def bounces(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Read the mailbox once and stop (default: again every "
            "DISTRIBUTIE_BOUNCE_POLL_SECONDS until Ctrl-C).",
        ),
    ] = False,
) -> None:
    """Read the bounce mailbox: bounces, delays and auto-replies onto their recipients.

    Processed messages move to distributie/verwerkt, the rest to distributie/onbekend.
    """
    settings = load()
    if not settings.uses_bounce_mailbox:
        fail_usage("DISTRIBUTIE_BOUNCE_IMAP_HOST is not set: there is no bounce mailbox to read")

    # imapclient and the report parsers load only for this command.
    from distributie.operations.bounces import read_bounces

    def run() -> int:
        with open_session(settings) as session:
            _print_pass(read_bounces(session))
            if once:
                return 0
            return _poll(session, settings.bounce_poll_seconds)

    raise typer.Exit(guarded(run))

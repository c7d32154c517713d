"""`distributie archive`: every message a run sent, rebuilt and proven, in one zip."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from distributie.cli.app import cli, err, guarded, load, out
from distributie.operations.session import open_session

if TYPE_CHECKING:
    from distributie.operations.archive import Archive


@cli.command()
def archive(
    run: Annotated[str, typer.Argument(help="Run id.")],
    out_file: Annotated[Path, typer.Option("--out", help="The zip to write (must not exist yet).")],
) -> None:
    """Write every message a run sent, rebuilt and proven, into one zip.

    Each message is rebuilt byte for byte and checked against the sha256 recorded when it was
    sent; the zip also holds the status, a manifest and the mailing. Exit 1 when a message
    does not match (the zip is written all the same, the mismatch in its manifest.json).
    """
    settings = load()

    from distributie.operations.archive import write_archive  # the rebuilding loads only here

    def write() -> Archive:
        with open_session(settings) as session:
            return write_archive(session.ledger, run, out_file)

    result = guarded(write)
    for message in result.mismatches:
        err.print(
            f"{message.file} ({message.gemeente}, {message.message_id}): "
            f"{message.mismatch()['reason']}; recorded sha256 {message.sha256}, "
            f"rebuilt {message.rebuilt_sha256 or '-'}",
            style="red",
        )
    if result.unrecorded:
        err.print(
            f"{len(result.unrecorded)} recipient(s) were sent before distributie recorded what it "
            f"sent, and are not in the archive: {', '.join(result.unrecorded[:10])}"
            + (" ..." if len(result.unrecorded) > 10 else ""),
            style="yellow",
        )
    matched = len(result.messages) - len(result.mismatches)
    out.print(
        f"{result.path}: {len(result.messages)} message(s) of run {result.run}, "
        f"{matched} identical to what was sent, {len(result.mismatches)} not."
    )
    raise typer.Exit(1 if result.mismatches else 0)

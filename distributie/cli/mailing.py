"""Commands that look at a mailing without sending: check, preview, render."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distributie.cli.app import MailingOption, RecipientsOption, cli, guarded, load, out
from distributie.errors import MAX_LISTED_PROBLEMS
from distributie.operations import mailings
from distributie.operations.dkim import DKIMSetup, dkim_setup
from distributie.operations.mailings import BUNDLED_MAILING, CheckedMailing
from distributie.operations.signin import SignIn, try_sign_in


def _print_senders(checked: CheckedMailing) -> None:
    sender = checked.mailing.spec.sender
    author = sender.from_address
    out.print(f"From:        {sender.from_name} <{author}>" if sender.from_name else author)
    if sender.on_behalf_of:
        out.print(
            f"Sender:      {sender.name} <{sender.address}> (sends on behalf of From: the "
            f"mailbox needs the right to, on Microsoft 365 Send on Behalf)"
        )


def _print_dkim(setup: DKIMSetup | None) -> None:
    if setup is None:
        out.print("DKIM:        not signed (no DISTRIBUTIE_DKIM_KEY_FILE)")
        return
    selectors = ", ".join(setup.selectors)
    out.print(
        f"DKIM:        signed for {setup.domain} (selector {selectors}; {', '.join(setup.keys)}), "
        f"aligned with From"
    )
    out.print(
        "             The published DNS record cannot be checked offline: make sure it is what "
        "`distributie dkim dns` prints."
    )


def _print_sign_in(signed_in: SignIn | None) -> None:
    if signed_in is not None:
        where = f" at {signed_in.smtp}" if signed_in.smtp else " (token only: no SMTP host)"
        out.print(
            f"Sign-in:     OAuth2 (XOAUTH2) as {signed_in.mailbox}{where}: OK, token valid "
            f"{signed_in.token_lifetime:g} s"
        )


@cli.command()
def check(mailing: MailingOption = BUNDLED_MAILING, recipients: RecipientsOption = None) -> None:
    """Validate the mailing and recipient list; print every problem (exit 2) or a summary."""
    settings = load()
    checked = guarded(lambda: mailings.check(settings, mailing, recipients))
    sample = checked.sample
    out.print(f"Mailing:     {checked.mailing.spec.name} ({checked.mailing.directory})")
    out.print(f"Recipients:  {len(checked.recipients.recipients)} in {checked.recipients.path}")
    out.print(
        "Attachments: "
        + (", ".join(a.filename for a in sample.attachments) or "none")
        + "  (first recipient)"
    )
    out.print(f"Subject:     {sample.subject}")
    _print_senders(checked)
    _print_dkim(guarded(lambda: dkim_setup(settings, checked.mailing)))
    _print_sign_in(guarded(lambda: try_sign_in(settings)))
    if checked.warnings:
        out.print(f"Warnings:    {len(checked.warnings)} (accepted; look at these cells):")
        for warning in checked.warnings[:MAX_LISTED_PROBLEMS]:
            out.print(f"  {warning}")
        if len(checked.warnings) > MAX_LISTED_PROBLEMS:
            out.print(f"  ... and {len(checked.warnings) - MAX_LISTED_PROBLEMS} more")
    out.print("OK: every recipient renders; nothing was sent.", style="green")


@cli.command()
def preview(
    gemeente: Annotated[str, typer.Option("--gemeente", help="The recipient to preview.")],
    mailing: MailingOption = BUNDLED_MAILING,
    recipients: RecipientsOption = None,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write the .eml (default: <gemeente>.eml)."),
    ] = None,
) -> None:
    """Show one recipient's subject and text, and write the exact .eml that would be sent."""
    settings = load()
    checked = guarded(lambda: mailings.check(settings, mailing, recipients))
    shown = guarded(lambda: mailings.preview(checked, gemeente))
    path = out_file or Path(f"{shown.recipient.key}.eml")
    guarded(lambda: mailings.write_file(path, shown.message.data))
    rendered = shown.message.rendered
    out.print(f"To:      {rendered.to_name} <{shown.recipient.email}>")
    out.print(f"Subject: {rendered.subject}")
    for attachment in rendered.attachments:
        out.print(f"Attachment: {attachment.filename} ({len(attachment.content):,} bytes)")
    out.print()
    out.print(rendered.text)
    out.print()
    out.print(f"Written to {path}; nothing was sent.")


@cli.command()
def render(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the .eml files.")],
    mailing: MailingOption = BUNDLED_MAILING,
    recipients: RecipientsOption = None,
) -> None:
    """Write every recipient's message as an .eml file (a dry run: nothing is sent)."""
    settings = load()
    checked = guarded(lambda: mailings.check(settings, mailing, recipients))
    count = guarded(lambda: mailings.render_all(checked, out_dir))
    out.print(f"Wrote {count} messages to {out_dir}; nothing was sent.")

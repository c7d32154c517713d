"""`distributie dkim dns`: the DNS TXT record(s) that publish the DKIM key."""

from __future__ import annotations

import typer

from distributie.cli.app import MailingOption, cli, guarded, load, out
from distributie.operations.dkim import dkim_dns
from distributie.operations.mailings import BUNDLED_MAILING

dkim = typer.Typer(
    name="dkim",
    help="DKIM signing: what to publish in DNS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
cli.add_typer(dkim)


@dkim.command()
def dns(mailing: MailingOption = BUNDLED_MAILING) -> None:
    """Print the TXT record(s) to publish so receivers can verify the signatures (for the
    mailing's From domain unless DISTRIBUTIE_DKIM_DOMAIN says otherwise)."""
    settings = load()
    setup = guarded(lambda: dkim_dns(settings, mailing))
    count = len(setup.records)
    out.print(
        f"Publish {'this TXT record' if count == 1 else f'these {count} TXT records'} in the "
        f"DNS of {setup.domain} (mail from {setup.from_address} is signed with "
        f"{' and '.join(setup.keys)}):"
    )
    for record in setup.records:
        out.print()
        out.print(f"Name:  {record.name}")
        out.print("Type:  TXT")
        out.print(f"Value: {record.value}")
        out.print(f"Zone file line: {record.zone_line()}")

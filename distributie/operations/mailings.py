"""Checking a mailing with its list, and looking at its messages before anything is sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from distributie.compose.addressing import addressing_for
from distributie.compose.checking import CheckedMailing, check_mailing
from distributie.compose.mailing import BUNDLED_MAILING, DEFINITION_FILE, load_mailing
from distributie.compose.message import ComposedMessage, compose
from distributie.compose.recipients import Recipient
from distributie.errors import InputError, Problem, UsageError
from distributie.settings import Settings

__all__ = [
    "BUNDLED_MAILING",
    "CheckedMailing",
    "MailingChoice",
    "Preview",
    "Recipient",
    "available_mailings",
    "check",
    "preview",
    "render_all",
    "select_recipients",
]


def check(settings: Settings, mailing_dir: Path, recipients: Path | None) -> CheckedMailing:
    """Load and check everything; InputError lists every problem."""
    return check_mailing(mailing_dir, recipients, settings.max_message_bytes)


@dataclass(frozen=True)
class MailingChoice:
    """A mailing a front end offers: a folder under DISTRIBUTIE_MAILINGS_DIR."""

    folder: str  # its name: what a person picks, and the only part a URL carries
    directory: Path
    name: str  # from mailing.toml, or the folder's name when that cannot be read
    default_list: Path | None  # its own recipient list, if it names one that exists
    problems: list[Problem]  # why it cannot be used (mailing.toml or its files)


def available_mailings(settings: Settings) -> list[MailingChoice]:
    """Every folder with a mailing.toml under DISTRIBUTIE_MAILINGS_DIR, by folder name."""
    root = settings.mailings_dir.resolve()
    try:
        folders = sorted(p for p in root.iterdir() if (p / DEFINITION_FILE).is_file())
    except OSError:
        return []
    choices = []
    for folder in folders:
        try:
            mailing = load_mailing(folder)
        except InputError as exc:
            choices.append(MailingChoice(folder.name, folder, folder.name, None, exc.problems))
            continue
        default = mailing.default_recipients
        choices.append(
            MailingChoice(
                folder.name,
                folder,
                mailing.spec.name,
                default if default is not None and default.is_file() else None,
                [],
            )
        )
    return choices


def find_mailing(settings: Settings, folder: str) -> MailingChoice | None:
    """The mailing in this folder of DISTRIBUTIE_MAILINGS_DIR, if it is one (never elsewhere)."""
    return next((m for m in available_mailings(settings) if m.folder == folder), None)


def select_recipients(
    recipients: Sequence[Recipient], only: Sequence[str], limit: int | None
) -> list[Recipient]:
    """The recipients named by gemeente or key (all when none named), the first `limit` of them."""
    chosen = list(recipients)
    if only:
        by_name = {r.gemeente.casefold(): r for r in recipients} | {r.key: r for r in recipients}
        missing = [name for name in only if name.strip().casefold() not in by_name]
        if missing:
            raise UsageError(
                "not in the recipient list: " + ", ".join(repr(name) for name in missing)
            )
        wanted = {by_name[name.strip().casefold()].key for name in only}
        chosen = [r for r in recipients if r.key in wanted]
    if limit is not None:
        chosen = chosen[:limit]
    return chosen


@dataclass(frozen=True)
class Preview:
    recipient: Recipient
    message: ComposedMessage


def message_of(checked: CheckedMailing, recipient: Recipient, run_id: str) -> ComposedMessage:
    """The exact message this recipient would get (a first send, resend 0)."""
    sender = checked.mailing.spec.sender
    addressing = addressing_for(sender, recipient, run_id, 0)
    return compose(checked.compiled, recipient, addressing, limits=checked.limits)


def preview(checked: CheckedMailing, gemeente: str) -> Preview:
    """One recipient's message, exactly as it would be sent."""
    recipient = select_recipients(checked.recipients.recipients, [gemeente], None)[0]
    return Preview(recipient, message_of(checked, recipient, "preview"))


def write_file(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror}") from None


def render_all(checked: CheckedMailing, out_dir: Path) -> int:
    """Write every recipient's message as `<out_dir>/<gemeente key>.eml`; returns the count."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out_dir}: cannot create this folder: {exc.strerror}") from None
    for recipient in checked.recipients.recipients:
        # The key is a slug of the gemeente: a '/' in a name can never leave the folder.
        data = message_of(checked, recipient, "render").data
        write_file(out_dir / f"{recipient.key}.eml", data)
    return len(checked.recipients.recipients)

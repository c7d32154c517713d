"""The mailing definition: `mailing.toml` and the template files beside it, validated as a whole.

A mailing is read into a `MailingBundle` (file name -> bytes) so that a run can store exactly the
files it was checked with, and workers on any host send exactly those.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from distributie.compose.addresses import AddressError, normalise_address
from distributie.compose.bundled import BUNDLED_MAILING as BUNDLED_MAILING
from distributie.errors import InputError, Problem

DEFINITION_FILE = "mailing.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _valid_address(value: str) -> str:
    # The address goes into From, Reply-To, Message-ID and MAIL FROM, which all need ASCII.
    try:
        return normalise_address(value)
    except AddressError as exc:
        raise ValueError(f"{value!r}: {exc}") from None


# "Name <address>", the name optionally in double quotes, or the address alone.
_NAME_ADDR = re.compile(
    r'^\s*(?:"(?P<quoted>[^"]*)"|(?P<name>[^"<>]*?))\s*<(?P<address>[^<>]*)>\s*$'
)


def parse_name_address(value: str) -> tuple[str, str]:
    """("Name", "address") from "Name <address>" or a bare address; raises ValueError."""
    found = _NAME_ADDR.match(value)
    name, address = "", value
    if found is not None:
        name = found.group("name") if found.group("quoted") is None else found.group("quoted")
        address = found.group("address")
    if any(not c.isprintable() for c in name):
        # It goes into the From header: no line breaks or control characters.
        raise ValueError(f"{value!r}: the name contains a line break or control character")
    return name.strip(), _valid_address(address.strip())


class Sender(_Strict):
    """Who sends: the mailbox (`address`, MAIL FROM and the relay's sign-in), and with
    `on_behalf_of` someone else in From, the mailbox then in Sender."""

    name: str
    address: str
    reply_to: str | None = None
    on_behalf_of: str | None = None  # "Voorzitter Regionaal Veiligheidscollege <voorzitter@…>"

    _address = field_validator("address", "reply_to")(
        lambda value: None if value is None else _valid_address(value)
    )

    @field_validator("on_behalf_of")
    @classmethod
    def _name_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name, address = parse_name_address(value)
        return f"{name} <{address}>" if name else address

    @model_validator(mode="after")
    def _someone_else(self) -> Self:
        if self.on_behalf_of is not None and self.from_address == self.address:
            raise ValueError(
                "on_behalf_of has the sender's own address: leave it out to send as yourself"
            )
        return self

    @property
    def domain(self) -> str:
        """The sending mailbox's domain: the right-hand side of every Message-ID."""
        return self.address.rpartition("@")[2]

    @property
    def from_name(self) -> str:
        """The display name in From."""
        return parse_name_address(self.on_behalf_of)[0] if self.on_behalf_of else self.name

    @property
    def from_address(self) -> str:
        """The address in From (what DKIM and DMARC align with)."""
        return parse_name_address(self.on_behalf_of)[1] if self.on_behalf_of else self.address


class MessageSpec(_Strict):
    subject: str
    text: str
    html: str | None = None
    to_name: str = "{{ naam or gemeente }}"


class AttachmentSpec(_Strict):
    filename: str
    template: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.template is None) == (self.file is None):
            raise ValueError("give exactly one of 'template' (rendered per recipient) or 'file'")
        return self

    @property
    def source(self) -> str:
        return self.template or self.file or ""


class MailingSpec(_Strict):
    name: str
    sender: Sender
    message: MessageSpec
    attachments: list[AttachmentSpec] = []
    recipients: str | None = None
    required_columns: list[str] = ["gemeente", "email"]


@dataclass(frozen=True)
class MailingBundle:
    """The definition and every file it names, as bytes."""

    files: dict[str, bytes]

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(name.encode("utf-8") + b"\0")
            digest.update(hashlib.sha256(self.files[name]).digest())
        return digest.hexdigest()


@dataclass(frozen=True)
class Mailing:
    spec: MailingSpec
    bundle: MailingBundle
    directory: Path | None = None  # None when loaded from a run's stored bundle

    @property
    def sha256(self) -> str:
        return self.bundle.sha256

    @property
    def default_recipients(self) -> Path | None:
        if self.spec.recipients is None or self.directory is None:
            return None
        return (self.directory / self.spec.recipients).resolve()


def _parse_spec(text: bytes, label: str) -> MailingSpec:
    try:
        raw = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError([Problem(label, f"not valid TOML: {exc}")]) from None
    try:
        return MailingSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(
                f"[{p}]" if isinstance(p, int) else str(p) for p in error["loc"]
            ).replace(".[", "[")
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key (misspelt?)"
            elif error["type"] == "missing":
                message = "required key is missing"
            problems.append(Problem(label, f"key {key!r}: {message}" if key else message))
        raise InputError(problems) from None


def _referenced_files(spec: MailingSpec) -> list[tuple[str, str]]:
    """(key, relative path) of every file the definition names."""
    refs = [("message.text", spec.message.text)]
    if spec.message.html is not None:
        refs.append(("message.html", spec.message.html))
    for index, attachment in enumerate(spec.attachments):
        kind = "template" if attachment.template is not None else "file"
        refs.append((f"attachments[{index}].{kind}", attachment.source))
    return refs


def _inside(path: Path, root: Path) -> bool:
    """Whether `path` is inside `root` by its name alone, without following symlinks."""
    return Path(os.path.normpath(path)).is_relative_to(root)


def load_mailing(directory: Path) -> Mailing:
    """Read and validate a mailing folder; every problem is reported at once."""
    directory = Path(directory)
    definition = directory / DEFINITION_FILE
    label = str(definition)
    if not directory.is_dir():
        raise InputError([Problem(str(directory), "mailing folder not found")])
    try:
        text = definition.read_bytes()
    except OSError as exc:
        raise InputError(
            [Problem(label, f"cannot read the mailing definition: {exc.strerror}")]
        ) from None
    spec = _parse_spec(text, label)

    root = directory.resolve()
    files = {DEFINITION_FILE: text}
    problems = []
    for key, relative in _referenced_files(spec):
        path = directory / relative
        resolved = path.resolve()
        # resolve() follows symlinks, so a link pointing outside the folder is caught here too.
        if Path(relative).is_absolute() or not resolved.is_relative_to(root):
            reason = f"key {key!r}: {relative!r} is outside the mailing folder {root}"
            if not Path(relative).is_absolute() and _inside(root / relative, root):
                reason += f" (through a symbolic link: it leads to {resolved})"
            problems.append(Problem(label, reason))
        elif not resolved.is_file():
            problems.append(Problem(label, f"key {key!r}: file {relative!r} not found in {root}"))
        else:
            try:
                files[relative] = resolved.read_bytes()
            except OSError as exc:
                problems.append(
                    Problem(label, f"key {key!r}: cannot read {relative!r}: {exc.strerror}")
                )
            else:
                if not files[relative]:
                    problems.append(Problem(label, f"key {key!r}: file {relative!r} is empty"))
    if problems:
        raise InputError(problems)
    return Mailing(spec, MailingBundle(files), directory.resolve())


def mailing_from_bundle(bundle: MailingBundle) -> Mailing:
    """A mailing as stored with a run (already validated when the run was created)."""
    return Mailing(_parse_spec(bundle.files[DEFINITION_FILE], DEFINITION_FILE), bundle)

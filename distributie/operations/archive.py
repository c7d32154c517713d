"""`distributie archive RUN --out FILE.zip`: proof of what a run sent. Every message an attempt
handed to a server (it sent the end of DATA) is rebuilt byte for byte from the run's stored
mailing and rows and checked against the sha256 the ledger recorded at that moment. The zip
holds the messages (eml/), the status as `status --csv` writes it, a manifest, and the mailing's
files (mailing/). A message that does not match is named in the manifest, and still written.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distributie import states
from distributie.errors import UsageError
from distributie.ledger import Ledger, RecipientStatus, RunStatus, SentMessage
from distributie.operations.rebuild import Job, Rebuilt, rebuild_all
from distributie.operations.reports import write_status_csv
from distributie.operations.runs import require_run

# What ends an attempt in its history: its reply, and whether the server accepted the message.
_ATTEMPT_ENDS = frozenset(
    {
        states.OUTCOME_ACCEPTED,
        states.OUTCOME_TRANSIENT,
        states.OUTCOME_PERMANENT,
        states.OUTCOME_UNKNOWN,
        states.OUTCOME_ERROR,
        states.OUTCOME_WORKER_LOST,
    }
)

# States that say a message was handed over (so a record of it is expected).
_HANDED_OVER = frozenset({states.SENT, states.UNKNOWN, states.BOUNCED})


@dataclass(frozen=True)
class ArchivedMessage:
    """One message in the archive: what the ledger recorded, and what was rebuilt."""

    gemeente: str
    email: str
    message_id: str
    file: str
    sha256: str  # recorded at the end of DATA: of the bytes handed to the server
    size: int
    accepted_at: float | None
    reply: str
    events: list[dict[str, Any]]
    rebuilt_sha256: str
    rebuilt_size: int
    error: str = ""

    @property
    def matches(self) -> bool:
        return self.rebuilt_sha256 == self.sha256 and not self.error

    def manifest_entry(self) -> dict[str, Any]:
        return {
            "gemeente": self.gemeente,
            "email": self.email,
            "message_id": self.message_id,
            "file": self.file,
            "sha256": self.sha256,
            "bytes": self.size,
            "accepted_at": self.accepted_at,
            "reply": self.reply,
            "events": self.events,
        }

    def mismatch(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "message_id": self.message_id,
            "recorded_sha256": self.sha256,
            "recorded_bytes": self.size,
            "rebuilt_sha256": self.rebuilt_sha256,
            "rebuilt_bytes": self.rebuilt_size,
            "reason": self.error or "the rebuilt message differs from what was sent",
        }


@dataclass
class Archive:
    path: Path
    run: str
    messages: list[ArchivedMessage] = field(default_factory=list)
    # Gemeenten whose message went out before distributie recorded what it sent: not in the zip.
    unrecorded: list[str] = field(default_factory=list)

    @property
    def mismatches(self) -> list[ArchivedMessage]:
        return [m for m in self.messages if not m.matches]


def _file_names(key: str, sent: list[SentMessage]) -> dict[int, str]:
    """eml/<key>.eml for the first send, eml/<key>-<resend>.eml for a resend. Of several
    attempts of one send that sent the end of DATA (a server that refused after the dot), the
    latest is the one the server may have accepted; the others get -attempt-<n>."""
    latest = {m.resend: m.attempt for m in sent}
    names = {}
    for m in sent:
        base = key if m.resend == 0 else f"{key}-{m.resend}"
        if latest[m.resend] != m.attempt:
            base += f"-attempt-{m.attempt}"
        names[m.attempt] = f"eml/{base}.eml"
    return names


def _attempt_end(history: list[dict[str, Any]], attempt: int) -> tuple[float | None, str]:
    """When the server accepted this attempt (None if it did not), and its reply."""
    accepted_at, reply = None, ""
    for entry in history:
        if entry.get("attempt") == attempt and entry.get("outcome") in _ATTEMPT_ENDS:
            reply = str(entry.get("reply", ""))
            if entry["outcome"] == states.OUTCOME_ACCEPTED:
                accepted_at = float(entry["at"])
    return accepted_at, reply


def _report_events(history: list[dict[str, Any]], resend: int) -> list[dict[str, Any]]:
    return [
        e
        for e in history
        if e.get("outcome") in states.REPORT_OUTCOMES and e.get("resend") == resend
    ]


def _archived(
    recipient: RecipientStatus, gemeente: str, record: SentMessage, name: str, rebuilt: Rebuilt
) -> ArchivedMessage:
    accepted_at, reply = _attempt_end(recipient.history, record.attempt)
    main = "-attempt-" not in name
    return ArchivedMessage(
        gemeente=gemeente,
        email=record.email,
        message_id=record.message_id,
        file=name,
        sha256=record.sha256,
        size=record.size,
        accepted_at=accepted_at,
        reply=reply,
        events=_report_events(recipient.history, record.resend) if main else [],
        rebuilt_sha256=rebuilt.sha256,
        rebuilt_size=len(rebuilt.data),
        error=rebuilt.error,
    )


def _mailing_name(name: str) -> str:
    clean = posixpath.normpath(name.replace("\\", "/"))
    if clean.startswith(("/", "../")) or clean in ("..", "."):
        raise UsageError(f"the run's mailing holds a file with an unsafe name: {name!r}")
    return f"mailing/{clean}"


class _Writer:
    """Rebuilds and writes the messages of one run into an open zip."""

    def __init__(self, ledger: Ledger, status: RunStatus, zip_file: zipfile.ZipFile) -> None:
        self.ledger = ledger
        self.status = status
        self.zip = zip_file
        self.bundle = ledger.load_bundle(status.templates_sha256)

    def messages(self, archive: Archive) -> Iterator[ArchivedMessage]:
        keys = [r.key for r in self.status.recipients]
        sent = self.ledger.sent_messages_of(self.status.run, keys)
        rows = self.ledger.stored_rows(self.status.run, keys)
        jobs: list[Job] = []
        places: list[tuple[RecipientStatus, str]] = []
        for recipient in self.status.recipients:
            gemeente, row = rows[recipient.key]
            if not sent[recipient.key] and recipient.state in _HANDED_OVER:
                archive.unrecorded.append(gemeente)
            names = _file_names(recipient.key, sent[recipient.key])
            for record in sent[recipient.key]:
                jobs.append((recipient.key, gemeente, row, record))
                places.append((recipient, names[record.attempt]))
        test = self.status.control.kind == states.RUN_KIND_TEST
        rebuilt = rebuild_all(self.status.run, self.bundle, jobs, test)
        for job, (recipient, name), message in zip(jobs, places, rebuilt, strict=True):
            self.zip.writestr(name, message.data)
            yield _archived(recipient, job[1], job[3], name, message)

    def rest(self, archive: Archive) -> None:
        """status.csv, manifest.json and the mailing's files."""
        stream = io.StringIO(newline="")
        write_status_csv(stream, self.status.recipients)
        self.zip.writestr("status.csv", stream.getvalue().encode("utf-8"))
        manifest = {
            "run": self.status.run,
            "mailing": self.status.mailing,
            "recipients_sha256": self.status.recipients_sha256,
            "templates_sha256": self.status.templates_sha256,
            "messages": [m.manifest_entry() for m in archive.messages],
            "mismatches": [m.mismatch() for m in archive.mismatches],
        }
        text = json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
        self.zip.writestr("manifest.json", text.encode("utf-8"))
        for name in sorted(self.bundle.files):
            self.zip.writestr(_mailing_name(name), self.bundle.files[name])


def write_archive(ledger: Ledger, run: str, out: Path) -> Archive:
    """Write the archive of `run` to `out` (a new file); a mismatch is in the result and the
    manifest, and the file is written all the same."""
    run_id = require_run(ledger, run)
    out = Path(out)
    if out.exists():
        raise UsageError(f"{out} already exists: choose another name for the archive")
    if not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: the folder {out.parent} does not exist")
    status = ledger.status(run_id)
    archive = Archive(out, run_id)
    fd, temp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as zf:
            writer = _Writer(ledger, status, zf)
            archive.messages.extend(writer.messages(archive))
            writer.rest(archive)
        os.replace(temp_name, out)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return archive

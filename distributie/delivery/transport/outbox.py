"""The outbox: each message written to `<folder>/<run>/<recipient>.eml` instead of being sent,
atomically, so a file is there exactly when the ledger may say `sent`."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from distributie.delivery.transport.base import (
    Envelope,
    PermanentSendError,
    Reply,
    TransientSendError,
)


def _safe_name(name: str, what: str) -> str:
    if (
        not name
        or name.startswith(".")
        or any(c in name for c in "/\\\0")
        or Path(name).name != name
    ):
        raise PermanentSendError(
            Reply(None, f"refusing {what} {name!r}: it must be a plain file name")
        )
    return name


class OutboxTransport:
    """Writes each message to `<directory>/<run_id>/<recipient_key>.eml` instead of sending it."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"OutboxTransport({str(self.directory)!r})"

    def send(
        self, envelope: Envelope, message: bytes, before_end_of_data: Callable[[], None]
    ) -> Reply:
        folder = self.directory / _safe_name(envelope.run_id, "run id")
        key = _safe_name(envelope.recipient_key, "recipient key")
        target = folder / f"{key}.eml"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # The temp file starts with a dot, which a key may not: no clash with any .eml.
            fd, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
        except OSError as exc:
            raise TransientSendError(Reply(None, f"cannot write to {folder}: {exc}")) from exc
        temp = Path(temp_name)
        try:
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(message)
                    file.flush()
                    os.fsync(file.fileno())
            except OSError as exc:
                raise TransientSendError(Reply(None, f"cannot write {temp}: {exc}")) from exc
            before_end_of_data()
            try:
                os.replace(temp, target)
            except OSError as exc:
                raise TransientSendError(Reply(None, f"cannot write {target}: {exc}")) from exc
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        return Reply(250, f"written to {target}")

    def close(self) -> None:
        pass

"""Recipient lists uploaded through a front end (the web page): checked exactly as `check` does,
and kept under DISTRIBUTIE_DATA_DIR/uploads/ only when they pass, so that nothing of a refused
file stays behind and a run started from a kept one records a real file as its list."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from distributie.errors import InputError, Problem, UsageError
from distributie.operations.mailings import CheckedMailing, check
from distributie.settings import Settings

SUFFIXES = (".csv", ".xlsx")
_ID = re.compile(r"^[0-9a-f]{16}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()-]+")
_MAX_NAME = 100


class UploadTooLarge(UsageError):
    """The uploaded file is larger than DISTRIBUTIE_WEB_MAX_UPLOAD_BYTES."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(
            f"the file has {size:,} bytes, more than the {limit:,} allowed "
            f"(DISTRIBUTIE_WEB_MAX_UPLOAD_BYTES)"
        )


@dataclass(frozen=True)
class Upload:
    """A kept upload: its id (what a URL carries) and the file."""

    id: str
    path: Path

    @property
    def filename(self) -> str:
        return self.path.name


def uploads_dir(settings: Settings) -> Path:
    return settings.data_dir.resolve() / "uploads"


def safe_filename(name: str) -> str:
    """The file's own name without any folder, reduced to characters safe everywhere."""
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip(" .")
    stem, dot, suffix = cleaned.rpartition(".")
    if not dot:
        stem, suffix = cleaned, ""
    stem = stem[: _MAX_NAME - len(suffix) - 1] or "lijst"
    return f"{stem}.{suffix}" if suffix else stem


def check_upload(
    settings: Settings, mailing_dir: Path, filename: str, data: bytes
) -> tuple[Upload, CheckedMailing]:
    """Check an uploaded list against a mailing; keep it only if it passes.

    Raises UploadTooLarge, or InputError with every problem (as `check`), and then keeps
    nothing. The same content uploaded twice is kept once.
    """
    if len(data) > settings.web_max_upload_bytes:
        raise UploadTooLarge(len(data), settings.web_max_upload_bytes)
    name = safe_filename(filename)
    if not data:
        raise InputError([Problem(name, "the file is empty")])
    if not name.lower().endswith(SUFFIXES):
        raise InputError(
            [
                Problem(
                    name,
                    f"unsupported file type {PurePosixPath(name).suffix or '(none)'!r}; "
                    "save the list as .xlsx or as CSV (.csv)",
                )
            ]
        )
    root = uploads_dir(settings)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = Path(tempfile.mkdtemp(prefix=".check-", dir=root))
    try:
        (staging / name).write_bytes(data)
        checked = check(settings, mailing_dir, staging / name)
        upload = _keep(root, staging, hashlib.sha256(data).hexdigest()[:16])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    recipients = dataclasses.replace(checked.recipients, path=upload.path)
    return upload, dataclasses.replace(checked, recipients=recipients)


def _keep(root: Path, staging: Path, upload_id: str) -> Upload:
    final = root / upload_id
    try:
        staging.rename(final)
    except OSError:
        if not final.is_dir():  # not the same content kept before (or at the same moment)
            raise
    kept = stored_upload_in(root, upload_id)
    if kept is None:
        raise UsageError(f"the uploaded list could not be kept in {root}")
    return kept


def stored_upload(settings: Settings, upload_id: str) -> Upload | None:
    """A kept upload by its id, or None (an id that is not one never reaches the disk)."""
    return stored_upload_in(uploads_dir(settings), upload_id)


def stored_upload_in(root: Path, upload_id: str) -> Upload | None:
    if not _ID.match(upload_id):
        return None
    try:
        files = [p for p in (root / upload_id).iterdir() if p.is_file()]
    except OSError:
        return None
    return Upload(upload_id, files[0]) if len(files) == 1 else None

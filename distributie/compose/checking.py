"""Validates a recipient list against a mailing: every row rendered, all problems at once."""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass, field
from pathlib import Path

from distributie.compose.bounds import RenderLimits
from distributie.compose.mailing import Mailing, load_mailing
from distributie.compose.recipients import Recipient, RecipientList, read_recipients
from distributie.compose.rendering import (
    CompiledMailing,
    RenderedMessage,
    RenderError,
    compile_mailing,
)
from distributie.errors import InputError, InvariantError, Problem

# Headers, MIME boundaries and base64's 4/3 growth, rounded up.
_MIME_OVERHEAD = 4096
_BASE64_GROWTH = 1.37
# Below this many rows, starting processes costs more than it saves.
PARALLEL_FROM_ROWS = 2000


@dataclass(frozen=True)
class CheckedMailing:
    """A mailing and a list that passed every check: ready to render and send."""

    mailing: Mailing
    compiled: CompiledMailing
    recipients: RecipientList
    sample: RenderedMessage  # the first recipient's message
    # Accepted, but worth a look (invisible characters in text columns): `check` lists them.
    warnings: tuple[Problem, ...] = ()
    limits: RenderLimits = field(default_factory=RenderLimits)  # what one recipient may cost


def estimated_size(rendered: RenderedMessage) -> int:
    size = len(rendered.text.encode()) * 1.1 + _MIME_OVERHEAD
    if rendered.html is not None:
        size += len(rendered.html.encode()) * 1.1
    size += sum(a.size * _BASE64_GROWTH for a in rendered.attachments)
    return int(size)


def _render_problem(recipients: RecipientList, recipient: Recipient, exc: RenderError) -> Problem:
    return Problem(str(recipients.path), str(exc), row=recipient.row, column=exc.variable)


def _render_rows(
    compiled: CompiledMailing,
    recipients: RecipientList,
    max_message_bytes: int,
    start: int,
    stop: int,
) -> tuple[list[Problem], RenderedMessage | None]:
    """Render rows [start, stop): the problems found, and the first message that rendered."""
    problems: list[Problem] = []
    sample: RenderedMessage | None = None
    limits = RenderLimits(max_message_bytes)
    for recipient in recipients.recipients[start:stop]:
        context = recipient.context()
        try:
            # Measured, not built: the .docx's zip is only made when its most possible size
            # might not fit, which then decides.
            rendered = compiled.render(context, verify=True, limits=limits, measure=True)
            size = estimated_size(rendered)
            if size > max_message_bytes or sample is None:
                rendered = compiled.render(context, limits=limits)
                size = estimated_size(rendered)
        except RenderError as exc:
            problems.append(_render_problem(recipients, recipient, exc))
            continue
        if size > max_message_bytes:
            problems.append(
                Problem(
                    str(recipients.path),
                    f"the message would be about {size:,} bytes, more than the limit of "
                    f"{max_message_bytes:,} bytes (DISTRIBUTIE_MAX_MESSAGE_BYTES)",
                    row=recipient.row,
                )
            )
        sample = sample or rendered
    return problems, sample


# Inherited by the forked processes of _render_all: compiled templates don't pickle.
_forked_job: tuple[CompiledMailing, RecipientList, int] | None = None


def _render_chunk(bounds: tuple[int, int]) -> tuple[list[Problem], RenderedMessage | None]:
    if _forked_job is None:
        raise InvariantError("a forked check process started without its job")
    return _render_rows(*_forked_job, *bounds)


def _render_all(
    compiled: CompiledMailing, recipients: RecipientList, max_message_bytes: int
) -> tuple[list[Problem], RenderedMessage | None]:
    """Every row rendered; a long list on every core, since each row costs about half a ms."""
    global _forked_job
    total = len(recipients.recipients)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if total < PARALLEL_FROM_ROWS or cores < 2 or "fork" not in mp.get_all_start_methods():
        return _render_rows(compiled, recipients, max_message_bytes, 0, total)
    step = -(-total // (cores * 4))
    chunks = [(i, min(i + step, total)) for i in range(0, total, step)]
    _forked_job = (compiled, recipients, max_message_bytes)
    try:
        with mp.get_context("fork").Pool(cores) as pool:
            results = pool.map(_render_chunk, chunks)
    finally:
        _forked_job = None
    problems = [problem for chunk_problems, _ in results for problem in chunk_problems]
    sample = next((s for _, s in results if s is not None), None)
    return problems, sample


def check_mailing(
    mailing_dir: Path, recipients_path: Path | None, max_message_bytes: int
) -> CheckedMailing:
    """Load and check everything; raises InputError listing every problem found."""
    mailing = load_mailing(mailing_dir)
    compiled = compile_mailing(mailing)
    path = recipients_path or mailing.default_recipients
    if path is None:
        raise InputError(
            [Problem(str(mailing_dir / "mailing.toml"), "no recipient list: give --recipients")]
        )
    recipients = read_recipients(path, mailing.spec.required_columns)
    if not recipients.recipients:
        raise InputError([Problem(str(path), "the list has no recipients")])

    problems, sample = _render_all(compiled, recipients, max_message_bytes)
    if problems:
        raise InputError(problems)
    if sample is None:
        raise InvariantError("no problem and no message: every row must have rendered")
    return CheckedMailing(
        mailing,
        compiled,
        recipients,
        sample,
        tuple(recipients.warnings),
        RenderLimits(max_message_bytes),
    )

"""Renders one recipient's subject, bodies and attachments from a mailing's Jinja2 templates.

Templates are compiled once per process (per mailing content hash) and run in Jinja2's sandbox
with StrictUndefined: a template can neither reach Python internals nor silently print nothing.
"""

from __future__ import annotations

import mimetypes
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from jinja2 import (
    Template,
    TemplateError,
    TemplateSyntaxError,
    UndefinedError,
)
from jinja2.exceptions import SecurityError

from distributie.compose.bounds import RenderLimits, TemplateLimitError, bounded
from distributie.compose.characters import describe, find_invisible
from distributie.compose.docx import (
    DOCX_MIMETYPE,
    CompiledDocx,
    DocxTemplateError,
    StaticRuns,
    xml_problem,
)
from distributie.compose.mailing import AttachmentSpec, Mailing
from distributie.compose.templates import TemplateCompiler, make_environment
from distributie.errors import InputError, Problem

# Anything that would break a header line or smuggle in a new one.
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_UNDEFINED_NAME = re.compile(r"^'([^']+)' is undefined$")


class RenderError(Exception):
    """A template failed for one recipient; `template` names it, `variable` the variable at fault
    (a missing name, or the column that put a line break in a header), if known."""

    def __init__(self, template: str, reason: str, variable: str | None = None) -> None:
        super().__init__(f"{template}: {reason}")
        self.template = template
        self.reason = reason
        self.variable = variable


@dataclass(frozen=True)
class RenderedAttachment:
    filename: str
    content: bytes  # b"" when only measured (render(..., measure=True))
    mimetype: str
    static: bool  # the same bytes for every recipient (encoded once per process)
    size_bound: int | None = None  # measured: the file is at most this large
    # Stretches of `content` that are the same for every recipient (a .docx's static members):
    # (offset, bytes). The message encodes them once per process.
    static_runs: StaticRuns = ()

    @property
    def size(self) -> int:
        """The file's size, or the most it can be when it was only measured."""
        return len(self.content) if self.size_bound is None else self.size_bound


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    to_name: str
    text: str
    html: str | None
    attachments: tuple[RenderedAttachment, ...]


@dataclass(frozen=True)
class _Attachment:
    filename: Template
    filename_source: str
    content: CompiledDocx | RenderedAttachment  # a .docx template, or a static file
    label: str


def _attachment_content(
    compiler: TemplateCompiler, attachment: AttachmentSpec
) -> CompiledDocx | RenderedAttachment | None:
    """A compiled .docx template or a static file; None (and a problem) when it won't compile."""
    if attachment.template is None:
        mimetype = mimetypes.guess_type(attachment.filename)[0] or "application/octet-stream"
        return RenderedAttachment("", compiler.files[attachment.file or ""], mimetype, static=True)
    label = compiler.label(attachment.template)
    try:
        xml_env = make_environment(autoescape=True)
        return CompiledDocx(compiler.files[attachment.template], xml_env, attachment.template)
    except DocxTemplateError as exc:
        compiler.problems.append(Problem(label, str(exc)))
    except TemplateSyntaxError as exc:
        compiler.problems.append(Problem(label, f"template error: {exc.message}"))
    return None


class CompiledMailing:
    """Every template of a mailing, parsed and compiled once."""

    def __init__(self, mailing: Mailing) -> None:
        self.mailing = mailing
        spec = mailing.spec
        compiler = TemplateCompiler(mailing.bundle.files, mailing.directory)
        text_env = make_environment(autoescape=False)
        html_env = make_environment(autoescape=True)
        label = compiler.label("mailing.toml")
        self.subject = compiler.string(text_env, spec.message.subject, f"{label} (message.subject)")
        self.to_name = compiler.string(text_env, spec.message.to_name, f"{label} (message.to_name)")
        self.text = compiler.file(text_env, spec.message.text)
        self.html = compiler.file(html_env, spec.message.html) if spec.message.html else None
        self._attachments: list[_Attachment] = []
        for index, attachment in enumerate(spec.attachments):
            key = f"{label} (attachments[{index}].filename)"
            filename = compiler.string(text_env, attachment.filename, key)
            content = _attachment_content(compiler, attachment)
            if content is not None:
                self._attachments.append(
                    _Attachment(filename, attachment.filename, content, attachment.source)
                )
        if compiler.problems:
            raise InputError(compiler.problems)

    def _render(self, template: Template, name: str, context: Mapping[str, object]) -> str:
        try:
            return template.render(context)
        except Exception as exc:  # whatever a template does wrong is its author's
            raise _render_error(name, exc) from None

    def _header(self, template: Template, name: str, context: Mapping[str, object]) -> str:
        value = self._render(template, name, context).strip()
        unsafe = _HEADER_UNSAFE.search(value)
        if unsafe:
            raise RenderError(
                name,
                f"renders a line break or control character: {value!r}",
                _column_with(unsafe.group(), value, context),
            )
        invisible = find_invisible(value)
        if invisible:
            # A subject or file name must read as what was checked (compose/characters.py).
            raise RenderError(
                name,
                f"renders {describe(invisible)}: {value!r}",
                _column_with(invisible, value, context),
            )
        return value

    def render(
        self,
        context: Mapping[str, object],
        *,
        verify: bool = False,
        limits: RenderLimits | None = None,
        measure: bool = False,
    ) -> RenderedMessage:
        """One recipient's message content. `verify` also parses every rendered .docx part;
        `measure` (for a check) skips building the .docx and gives the most it can weigh.

        Every template together stays within `limits` (compose/bounds.py: a few seconds, and
        the message limit for any value and any rendered template), or RenderError says which
        template went past which bound.
        """
        with bounded(limits or RenderLimits()):
            return self._render_all(context, verify, measure)

    def _render_all(
        self, context: Mapping[str, object], verify: bool, measure: bool
    ) -> RenderedMessage:
        spec = self.mailing.spec
        subject = self._header(self.subject, "message.subject", context)
        if not subject:
            raise RenderError("message.subject", "renders an empty subject")
        to_name = self._header(self.to_name, "message.to_name", context)
        text = self._render(self.text, spec.message.text, context)
        html = (
            self._render(self.html, spec.message.html or "", context)
            if self.html is not None
            else None
        )
        attachments = tuple(
            self._attachment(attachment, context, verify, measure)
            for attachment in self._attachments
        )
        return RenderedMessage(subject, to_name, text, html, attachments)

    def _attachment(
        self, attachment: _Attachment, context: Mapping[str, object], verify: bool, measure: bool
    ) -> RenderedAttachment:
        filename = self._header(attachment.filename, attachment.filename_source, context)
        # A file name is a name, not a path.
        filename = filename.replace("/", "-").replace("\\", "-")
        if not filename:
            raise RenderError(attachment.filename_source, "renders an empty file name")
        if isinstance(attachment.content, RenderedAttachment):
            static = attachment.content
            return RenderedAttachment(filename, static.content, static.mimetype, True)
        docx = attachment.content
        try:
            parts = docx.render_parts(context)
            if verify:
                for part, xml in parts.items():
                    problem = xml_problem(xml)
                    if problem:
                        raise RenderError(
                            attachment.label, f"renders invalid XML in {part}: {problem}"
                        )
            if measure:
                return RenderedAttachment(
                    filename, b"", DOCX_MIMETYPE, False, size_bound=docx.size_bound(parts)
                )
            content, static_runs = docx.assemble_with_runs(parts)
        except RenderError:
            raise
        except Exception as exc:
            raise _render_error(attachment.label, exc) from None
        return RenderedAttachment(filename, content, DOCX_MIMETYPE, False, None, static_runs)


def _column_with(char: str, rendered: str, context: Mapping[str, object]) -> str | None:
    """The variable whose value, containing `char`, appears as it is in `rendered`."""
    for name, value in context.items():
        if isinstance(value, str) and char in value and value in rendered:
            return name
    return None


def _render_error(name: str, exc: Exception) -> RenderError:
    if isinstance(exc, TemplateLimitError):
        return RenderError(name, str(exc))
    if isinstance(exc, RecursionError):
        return RenderError(name, "calls itself too deeply (a macro or loop without end?)")
    if isinstance(exc, MemoryError):
        return RenderError(name, "needs more memory than there is")
    if isinstance(exc, UndefinedError):
        match = _UNDEFINED_NAME.match(str(exc.message))
        if match:
            variable = match.group(1)
            return RenderError(
                name, f"uses {variable!r}, which this recipient does not have", variable
            )
        return RenderError(name, str(exc.message))
    if isinstance(exc, SecurityError):
        return RenderError(name, f"not allowed in a template: {exc}")
    if isinstance(exc, TemplateError):
        return RenderError(name, str(exc.message))
    return RenderError(name, f"{type(exc).__name__}: {exc}")


_cache: dict[str, CompiledMailing] = {}
_cache_lock = threading.Lock()


def compile_mailing(mailing: Mailing) -> CompiledMailing:
    """The compiled templates of this mailing content, compiled at most once per process."""
    with _cache_lock:
        compiled = _cache.get(mailing.sha256)
        if compiled is None:
            compiled = _cache[mailing.sha256] = CompiledMailing(mailing)
        return compiled

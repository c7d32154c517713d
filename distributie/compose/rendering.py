"""Renders one recipient's subject, bodies and attachments from a mailing's Jinja2 templates.

Templates are compiled once per process (per mailing content hash) and run in Jinja2's sandbox
with StrictUndefined: a template can neither reach Python internals nor silently print nothing.
"""

from __future__ import annotations

import functools
import mimetypes
import re
import textwrap
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

from jinja2 import (
    BaseLoader,
    Environment,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    UndefinedError,
    pass_environment,
)
from jinja2.exceptions import SecurityError
from jinja2.filters import do_wordwrap
from jinja2.sandbox import SandboxedEnvironment

from distributie.compose.docx import DOCX_MIMETYPE, CompiledDocx, DocxTemplateError, xml_problem
from distributie.compose.mailing import Mailing
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
    content: bytes
    mimetype: str
    static: bool  # the same bytes for every recipient (encoded once per process)


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    to_name: str
    text: str
    html: str | None
    attachments: tuple[RenderedAttachment, ...]


class _NoFiles(BaseLoader):
    """A template reads no other files: {% include %}, {% import %}, {% extends %} are refused."""

    def get_source(self, environment: Environment, template: str) -> NoReturn:
        raise SecurityError(
            f"{template!r}: a template cannot read other files "
            "({% include %}, {% import %} and {% extends %} are not allowed)"
        )


@functools.lru_cache(maxsize=8192)
def _wrap_paragraph(
    line: str, width: int, break_long_words: bool, break_on_hyphens: bool
) -> tuple[str, ...]:
    return tuple(
        textwrap.wrap(
            line,
            width=width,
            expand_tabs=False,
            replace_whitespace=False,
            break_long_words=break_long_words,
            break_on_hyphens=break_on_hyphens,
        )
    )


@pass_environment
def wordwrap(
    environment: Environment,
    s: str,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    """Jinja2's wordwrap filter, with each paragraph's wrapping remembered.

    textwrap is pure Python and was a third of a recipient's rendering; a letter's paragraphs
    are mostly the same for every recipient, and wrapping is a pure function of its arguments.
    """
    if wrapstring is None:
        wrapstring = environment.newline_sequence
    try:
        return wrapstring.join(
            [
                wrapstring.join(_wrap_paragraph(line, width, break_long_words, break_on_hyphens))
                for line in s.splitlines()
            ]
        )
    except TypeError:  # an unhashable argument: wrap as Jinja2 does, without remembering
        return str(
            do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)
        )


def make_environment(autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=_NoFiles(),
        undefined=StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["wordwrap"] = wordwrap
    return env


@dataclass(frozen=True)
class _Attachment:
    filename: Template
    filename_source: str
    content: CompiledDocx | RenderedAttachment  # a .docx template, or a static file
    label: str


class CompiledMailing:
    """Every template of a mailing, parsed and compiled once."""

    def __init__(self, mailing: Mailing) -> None:
        self.mailing = mailing
        spec = mailing.spec
        files = mailing.bundle.files
        text_env = make_environment(autoescape=False)
        html_env = make_environment(autoescape=True)
        xml_env = make_environment(autoescape=True)
        problems: list[Problem] = []
        label = str(mailing.directory / "mailing.toml") if mailing.directory else "mailing.toml"

        def compile_string(env: SandboxedEnvironment, source: str, name: str) -> Template:
            try:
                return env.from_string(source)
            except TemplateSyntaxError as exc:
                problems.append(
                    Problem(name, f"template error on line {exc.lineno}: {exc.message}")
                )
                return env.from_string("")

        def file_label(relative: str) -> str:
            return str(mailing.directory / relative) if mailing.directory else relative

        def compile_file(env: SandboxedEnvironment, relative: str) -> Template:
            try:
                source = files[relative].decode("utf-8")
            except UnicodeDecodeError as exc:
                problems.append(Problem(file_label(relative), f"not UTF-8 text: {exc}"))
                return env.from_string("")
            return compile_string(env, source, file_label(relative))

        self.subject = compile_string(text_env, spec.message.subject, f"{label} (message.subject)")
        self.to_name = compile_string(text_env, spec.message.to_name, f"{label} (message.to_name)")
        self.text = compile_file(text_env, spec.message.text)
        self.html = compile_file(html_env, spec.message.html) if spec.message.html else None
        self._attachments: list[_Attachment] = []
        for index, attachment in enumerate(spec.attachments):
            key = f"{label} (attachments[{index}].filename)"
            filename = compile_string(text_env, attachment.filename, key)
            content: CompiledDocx | RenderedAttachment
            if attachment.template is not None:
                try:
                    content = CompiledDocx(files[attachment.template], xml_env, attachment.template)
                except DocxTemplateError as exc:
                    problems.append(Problem(file_label(attachment.template), str(exc)))
                    continue
                except TemplateSyntaxError as exc:
                    problems.append(
                        Problem(file_label(attachment.template), f"template error: {exc.message}")
                    )
                    continue
            else:
                source = attachment.file or ""
                mimetype = (
                    mimetypes.guess_type(attachment.filename)[0] or "application/octet-stream"
                )
                content = RenderedAttachment("", files[source], mimetype, static=True)
            self._attachments.append(
                _Attachment(filename, attachment.filename, content, attachment.source)
            )
        if problems:
            raise InputError(problems)

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
        return value

    def render(self, context: Mapping[str, object], *, verify: bool = False) -> RenderedMessage:
        """One recipient's message content. `verify` also parses every rendered .docx part."""
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
            self._attachment(attachment, context, verify) for attachment in self._attachments
        )
        return RenderedMessage(subject, to_name, text, html, attachments)

    def _attachment(
        self, attachment: _Attachment, context: Mapping[str, object], verify: bool
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
            content = docx.assemble(parts)
        except RenderError:
            raise
        except Exception as exc:
            raise _render_error(attachment.label, exc) from None
        return RenderedAttachment(filename, content, DOCX_MIMETYPE, False)


def _column_with(char: str, rendered: str, context: Mapping[str, object]) -> str | None:
    """The variable whose value, containing `char`, appears as it is in `rendered`."""
    for name, value in context.items():
        if isinstance(value, str) and char in value and value in rendered:
            return name
    return None


def _render_error(name: str, exc: Exception) -> RenderError:
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

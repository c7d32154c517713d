"""The Jinja2 environments templates run in (sandboxed, StrictUndefined, no file access), and
compiling a mailing's templates while collecting every problem instead of stopping at the first."""

from __future__ import annotations

import functools
import textwrap
from pathlib import Path
from typing import NoReturn

from jinja2 import (
    BaseLoader,
    Environment,
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    pass_environment,
)
from jinja2.exceptions import SecurityError
from jinja2.filters import do_wordwrap
from jinja2.sandbox import SandboxedEnvironment

from distributie.compose.sandbox import BoundedSandbox, bound_filters
from distributie.errors import Problem


class _NoFiles(BaseLoader):
    """A template reads no other files: {% include %}, {% import %}, {% extends %} are refused."""

    def get_source(self, environment: Environment, template: str) -> NoReturn:
        raise SecurityError(
            f"{template!r}: a template cannot read other files "
            "({% include %}, {% import %} and {% extends %} are not allowed)"
        )


def _wrap_spaced(words: list[str], width: int, break_long_words: bool) -> tuple[str, ...] | None:
    """textwrap's greedy wrapping of words that single spaces separate, or None for a word
    that does not fit a line when long words are to be broken (textwrap then decides)."""
    lines: list[str] = []
    line: list[str] = []
    length = 0
    for word in words:
        size = len(word)
        if size > width:
            if break_long_words:
                return None
            if line:
                lines.append(" ".join(line))
            lines.append(word)  # on a line of its own, as textwrap puts it
            line, length = [], 0
        elif line and length + 1 + size <= width:
            line.append(word)
            length += 1 + size
        else:
            if line:
                lines.append(" ".join(line))
            line, length = [word], size
    if line:
        lines.append(" ".join(line))
    return tuple(lines)


@functools.lru_cache(maxsize=8192)
def _wrap_paragraph(
    line: str, width: int, break_long_words: bool, break_on_hyphens: bool
) -> tuple[str, ...]:
    # A paragraph of words with single spaces between them (no other whitespace, none at either
    # end) and no hyphen to break at wraps with a plain loop: textwrap's chunking and regular
    # expressions cost five times as much, for every paragraph that holds a recipient's name.
    words = line.split(" ")
    if width > 0 and words == line.split() and not (break_on_hyphens and "-" in line):
        wrapped = _wrap_spaced(words, width, break_long_words)
        if wrapped is not None:
            return wrapped
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
    """Jinja2's sandbox, with every template's work bounded (compose/sandbox.py)."""
    env = BoundedSandbox(
        loader=_NoFiles(),
        undefined=StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["wordwrap"] = wordwrap
    bound_filters(env)
    return env


class TemplateCompiler:
    """Compiles a mailing's templates; a template that does not compile is a Problem, and an
    empty template stands in for it so every other problem is found too."""

    def __init__(self, files: dict[str, bytes], directory: Path | None) -> None:
        self.files = files
        self.directory = directory
        self.problems: list[Problem] = []

    def label(self, relative: str) -> str:
        """How a problem names a file of the mailing: its path when the mailing has a folder."""
        return str(self.directory / relative) if self.directory else relative

    def string(self, env: SandboxedEnvironment, source: str, name: str) -> Template:
        try:
            return env.from_string(source)
        except TemplateSyntaxError as exc:
            self.problems.append(
                Problem(name, f"template error on line {exc.lineno}: {exc.message}")
            )
            return env.from_string("")

    def file(self, env: SandboxedEnvironment, relative: str) -> Template:
        try:
            source = self.files[relative].decode("utf-8")
        except UnicodeDecodeError as exc:
            self.problems.append(Problem(self.label(relative), f"not UTF-8 text: {exc}"))
            return env.from_string("")
        return self.string(env, source, self.label(relative))

"""How much one recipient's rendering may cost: time, the size of any value a template makes,
the size of what it renders, and all it makes together.

A template is code written by whoever prepares a mailing (and, through the web page, by anyone
allowed to start one). Jinja2's sandbox keeps it from Python's internals, not from
`{{ 'x' * 10**10 }}` or a loop without end. Rendering one recipient (subject, text, HTML, file
names and .docx together) therefore runs under a `Budget`:

- a deadline, `RENDER_SECONDS` after the render started, checked at every step the template takes
  (each loop iteration, attribute, call, operator, filter and piece of output), so it holds in
  any thread (the web page renders in waitress threads, where no signal can interrupt);
- no value larger than the message limit (DISTRIBUTIE_MAX_MESSAGE_BYTES): operators, methods and
  filters that would make one are refused BEFORE they make it;
- no rendered template larger than the message limit;
- at most `ALLOCATION_FACTOR` times the message limit made in all, so a loop that keeps many
  large values alive cannot exhaust memory either.

compose/sandbox.py puts the checks into the template environment; this module holds the budget,
the estimates and the error. A budget belongs to one thread (threading.local).
"""

from __future__ import annotations

import re
import string
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

RENDER_SECONDS = 5.0
DEFAULT_MAX_BYTES = 10_000_000  # DISTRIBUTIE_MAX_MESSAGE_BYTES's default
ALLOCATION_FACTOR = 8
POINTER = 8  # bytes a list, tuple, set or dict spends per element


class TemplateLimitError(Exception):
    """A template went past a bound; the message says which, for the mailing's author."""


@dataclass(frozen=True)
class RenderLimits:
    """The bounds of one recipient's rendering."""

    max_bytes: int = DEFAULT_MAX_BYTES
    seconds: float = RENDER_SECONDS


class Budget:
    """What one render may still spend. Without a deadline (None) only sizes are checked."""

    def __init__(self, limits: RenderLimits, timed: bool = True) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds if timed else None
        self.made = 0

    def tick(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TemplateLimitError(
                f"takes longer than {self.limits.seconds:g} seconds to render for one recipient "
                "(a loop without end, or far too much work for a letter)"
            )

    def value(self, size: int, new: int | None = None) -> None:
        """A value of `size` (bytes, about) is about to be made, `new` of them newly (all,
        unless said): refuse it if too large, or if the render has made too much in all."""
        limit = self.limits.max_bytes
        if size > limit:
            raise TemplateLimitError(
                f"makes a value of {size:,} characters, more than a whole message may hold "
                f"({limit:,}, DISTRIBUTIE_MAX_MESSAGE_BYTES)"
            )
        self.made += size if new is None else new
        if self.made > limit * ALLOCATION_FACTOR:
            raise TemplateLimitError(
                f"makes more than {limit * ALLOCATION_FACTOR:,} characters of values for one "
                f"recipient ({ALLOCATION_FACTOR} times DISTRIBUTIE_MAX_MESSAGE_BYTES)"
            )

    def output(self, size: int) -> None:
        if size > self.limits.max_bytes:
            raise TemplateLimitError(
                f"renders more than {self.limits.max_bytes:,} characters, more than a whole "
                "message may hold (DISTRIBUTIE_MAX_MESSAGE_BYTES)"
            )


_local = threading.local()


def current() -> Budget:
    """This thread's budget; outside `bounded()` a fresh one that checks sizes only."""
    budget: Budget | None = getattr(_local, "budget", None)
    return budget if budget is not None else Budget(RenderLimits(), timed=False)


@contextmanager
def bounded(limits: RenderLimits) -> Iterator[Budget]:
    """Everything rendered in this block, in this thread, shares one budget."""
    outer = getattr(_local, "budget", None)
    if outer is not None:  # already inside one recipient's render: keep its deadline
        yield outer
        return
    _local.budget = budget = Budget(limits)
    try:
        yield budget
    finally:
        _local.budget = None


# --- estimates of what an operation will make, before it makes it -------------------------------


def size_of(value: object) -> int:
    if isinstance(value, str | bytes | bytearray):
        return len(value)
    if isinstance(value, list | tuple | set | frozenset | dict):
        return len(value) * POINTER
    return 0


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def product_size(left: Any, right: Any) -> int:
    """`left * right`: a sequence repeated, or the bytes of an integer product."""
    if is_int(left) and is_int(right):
        return int(abs(left).bit_length() + abs(right).bit_length()) // 8
    for sequence, count in ((left, right), (right, left)):
        if is_int(count) and isinstance(sequence, str | bytes | list | tuple):
            return size_of(sequence) * max(0, int(count))
    return 0


def power_size(base: Any, exponent: Any) -> int:
    if is_int(base) and is_int(exponent) and exponent > 0:
        return int(abs(base).bit_length() * exponent // 8)
    return 0


def sum_size(left: Any, right: Any) -> int:
    sequences = (str, bytes, list, tuple)
    if isinstance(left, sequences) and isinstance(right, sequences):
        return size_of(left) + size_of(right)
    return 0


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_percent_format(budget: Budget, template: object, args: object) -> None:
    """`template % args` (and the `format` filter): no field wider than a message."""
    if not isinstance(template, str | bytes):
        return
    text = template.decode("latin-1") if isinstance(template, bytes) else template
    for width, precision in _PERCENT_SPEC.findall(text):
        for number in (width, precision):
            if number.isdigit():
                budget.value(int(number))
            elif number == "*":
                values = args if isinstance(args, tuple) else (args,)
                for value in values:
                    if is_int(value):
                        budget.value(abs(value))


def check_brace_format(
    budget: Budget, template: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> None:
    """`template.format(...)`: no field wider than a message, also through a nested {width}."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return  # str.format raises the same error, which names the problem
    for _, _, spec, _ in fields:
        for number in re.findall(r"\d+", spec or ""):
            budget.value(int(number))
        if spec and "{" in spec:
            for value in (*args, *kwargs.values()):
                if is_int(value):
                    budget.value(abs(value))

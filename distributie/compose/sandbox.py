"""The template environment with bounds (compose/bounds.py): Jinja2's sandbox, with every step a
template can take counted against the budget of the recipient being rendered.

The hooks: the operators that can make a large value (`*`, `**`, `+`, `%`, `~`) check its size
before making it; every loop iteration, call, attribute and item access checks the deadline;
methods of strings and containers that can grow (`ljust`, `replace`, `join`, `extend`, ...)
and filters that can (`center`, `indent`, `batch`, ...) check what they would make; and every
joined piece of output (a template, a macro, a `{% set %}` block) is checked against the message
limit before it is joined.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from distributie.compose.bounds import (
    POINTER,
    Budget,
    TemplateLimitError,
    check_brace_format,
    check_percent_format,
    current,
    power_size,
    product_size,
    size_of,
    sum_size,
)

_BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "*": operator.mul,
    "**": operator.pow,
    "+": operator.add,
    "%": operator.mod,
}
_GROWING = (str, bytes, list, dict, set)
_JOIN_CHUNK = 256
# Methods of str and bytes that make nothing (or a number, or a bool).
_READING = frozenset({"count", "find", "rfind", "index", "rindex", "startswith", "endswith"})
# Methods that grow a list, dict or set in place, and by how much: one element, or another's.
_GROWS_BY_ONE = frozenset({"append", "insert", "add", "setdefault"})
_GROWS_BY_ANOTHER = frozenset({"extend", "update"})


def bounded_join(parts: Iterable[str]) -> str:
    """Environment.concat: joins rendered output (a template's, a macro's, a {% set %}
    block's), stopping as soon as it is more than a message may hold.

    It takes the pieces a few hundred at a time: holding references costs nothing, and every
    piece is a value the budget already allowed, so only the join itself needs the check.
    """
    budget = current()
    limit = budget.limits.max_bytes
    pieces: list[str] = []
    size = 0
    parts = iter(parts)
    while chunk := list(itertools.islice(parts, _JOIN_CHUNK)):
        size += sum(map(len, chunk))
        if size > limit:
            budget.output(size)
        pieces += chunk
        budget.tick()  # the template's own steps tick too; this is for long outputs
    return "".join(pieces)


def _bounded_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    budget = current()
    for item in iterable:
        budget.tick()
        yield item


def _check_method(budget: Budget, owner: object, name: str, args: tuple[Any, ...]) -> None:
    """Refuse `owner.name(*args)` if what it would make (or grow `owner` to) is too large."""
    if isinstance(owner, str | bytes):
        if name not in _READING and not name.startswith("is"):
            budget.value(_string_result(owner, name, args))
    elif name in _GROWS_BY_ONE or name in _GROWS_BY_ANOTHER:
        added = size_of(args[0]) if name in _GROWS_BY_ANOTHER and args else POINTER
        budget.value(size_of(owner) + added, new=added)


def _string_result(owner: str | bytes, name: str, args: tuple[Any, ...]) -> int:
    """About how long the result of a method of a str or bytes will be."""
    size = len(owner)
    if name in ("center", "ljust", "rjust", "zfill") and args:
        return max(size, int(args[0]))
    if name == "expandtabs":
        tabs = owner.count("\t" if isinstance(owner, str) else b"\t")  # type: ignore[arg-type]
        return size + tabs * max(0, int(args[0]) if args else 8)
    if name == "replace" and len(args) >= 2:
        occurrences = owner.count(args[0]) if args[0] else size + 1
        return size + occurrences * max(0, len(args[1]) - len(args[0]))
    if name == "translate" and args and isinstance(args[0], dict):
        longest = max((size_of(v) for v in args[0].values()), default=1)
        return size * max(1, longest)
    return size


def _bounded_method(method: Any, owner: object, name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.tick()
        if name == "join" and isinstance(owner, str | bytes) and args:
            items = list(_bounded_iter(args[0]))
            budget.value(sum(size_of(i) for i in items) + len(owner) * max(0, len(items) - 1))
            args = (items, *args[1:])
        else:
            _check_method(budget, owner, name, args)
        return method(*args, **kwargs)

    return call


def _bounded_format(formatted: Callable[..., Any], template: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.tick()
        check_brace_format(budget, template, args, kwargs)
        result = formatted(*args, **kwargs)
        budget.value(size_of(result))
        return result

    return call


class BoundedCodeGenerator(CodeGenerator):
    """Jinja2's code generator, with `~` and `{% for %}` going through the budget."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat(")
        super().visit_Concat(node, frame)
        self.write(")")

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if not isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        # Jinja2 slices with Python's own subscript; a slice is a copy, which the budget counts.
        self.write("environment.getitem(")
        self.visit(node.node, frame)
        self.write(", slice(")
        for index, part in enumerate((node.arg.start, node.arg.stop, node.arg.step)):
            self.write(", " if index else "")
            if part is None:
                self.write("None")
            else:
                self.visit(part, frame)
        self.write("))")

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        counted = nodes.Call(
            nodes.EnvironmentAttribute("bounded_iter"), [node.iter], [], None, None
        )
        counted.set_lineno(node.iter.lineno)
        bounded = nodes.For(node.target, counted, node.body, node.else_, node.test, node.recursive)
        bounded.set_lineno(node.lineno)
        super().visit_For(bounded, frame)


class BoundedSandbox(SandboxedEnvironment):
    """SandboxedEnvironment whose templates spend from the current thread's render budget."""

    code_generator_class = BoundedCodeGenerator
    intercepted_binops = frozenset(_BINOPS)
    concat = staticmethod(bounded_join)
    bounded_iter = staticmethod(_bounded_iter)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["lipsum"] = _bounded_lipsum(cast(Callable[..., str], self.globals["lipsum"]))

    @staticmethod
    def bounded_concat(joined: str) -> str:
        # Pieces of `~` are values already counted; the joined result is one more value.
        current().value(len(joined))
        return joined

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = current()
        budget.tick()
        if operator == "*":
            budget.value(product_size(left, right))
        elif operator == "**":
            budget.value(power_size(left, right))
        elif operator == "+":
            budget.value(sum_size(left, right))
        elif operator == "%":
            check_percent_format(budget, left, right)
            result = _BINOPS[operator](left, right)
            budget.value(size_of(result))
            return result
        return _BINOPS[operator](left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        current().tick()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        current().tick()
        return self._bounded(obj, attribute, super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        budget = current()
        budget.tick()
        value = super().getitem(obj, argument)
        if isinstance(argument, slice):
            budget.value(size_of(value))  # a slice is a copy: one more value made
        return self._bounded(obj, argument, value) if isinstance(argument, str) else value

    @staticmethod
    def _bounded(obj: Any, name: str, value: Any) -> Any:
        """A method that can make a large value, wrapped to check what it would make."""
        if name in ("format", "format_map") and isinstance(obj, str) and callable(value):
            return _bounded_format(value, obj)
        if isinstance(obj, _GROWING) and getattr(value, "__self__", None) is obj:
            return _bounded_method(value, obj, name)
        return value


def _bounded_lipsum(lipsum: Callable[..., str]) -> Callable[..., str]:
    def bounded(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
        # Its arguments keep lipsum's names, which a template may pass by name.
        current().value(max * n * 12)  # about 12 characters per word, with markup
        return lipsum(n, html, min, max)

    return bounded


# --- filters ------------------------------------------------------------------------------------


def _lines(value: object) -> int:
    return str(value).count("\n") + 1


def _filter_estimate(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """What the filter `name` would make of `value`; 0 when it cannot grow beyond its input."""

    def arg(position: int, key: str, default: Any) -> Any:
        return args[position] if len(args) > position else kwargs.get(key, default)

    if name == "center":
        return max(size_of(value), int(arg(0, "width", 80)))
    if name == "indent":
        width = arg(0, "width", 4)
        each = len(width) if isinstance(width, str) else int(width)
        return size_of(str(value)) + _lines(value) * each
    if name == "wordwrap":
        width, wrapstring = int(arg(0, "width", 79)), arg(2, "wrapstring", None) or "\n"
        return size_of(value) * (1 + len(wrapstring)) // max(1, width) + size_of(value)
    if name == "replace" and len(args) >= 2 and isinstance(value, str):
        old, new = str(args[0]), str(args[1])
        occurrences = value.count(old) if old else len(value) + 1
        return len(value) + occurrences * max(0, len(new) - len(old))
    if name == "format":
        check_percent_format(current(), value, args or kwargs)
    if name in ("batch", "slice"):
        return int(arg(0, "linecount" if name == "batch" else "slices", 1)) * POINTER
    if name == "sum" and not isinstance(arg(1, "start", 0), int | float):
        raise TemplateLimitError("the sum filter only adds numbers (join lists or text instead)")
    if name == "join" and isinstance(value, list | tuple):
        separator = str(arg(0, "d", ""))
        return sum(size_of(str(v)) for v in value) + len(separator) * len(value)
    return 0


def bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """The filter, checking what it would make before, and what it made after."""
    # pass_environment, pass_context, pass_eval_context: Jinja passes one argument first.
    passes = hasattr(function, "jinja_pass_arg")

    @functools.wraps(function)  # keeps jinja_pass_arg: Jinja passes the same arguments
    def bounded(*args: Any, **kwargs: Any) -> Any:
        budget = current()
        budget.tick()
        value, rest = (args[1], args[2:]) if passes else (args[0], args[1:])
        try:
            estimate = _filter_estimate(name, value, rest, kwargs)
        except TemplateLimitError:
            raise
        except Exception:
            estimate = 0  # arguments the filter itself will refuse, with its own message
        budget.value(estimate)
        result = function(*args, **kwargs)
        if result is not value:
            budget.value(size_of(result))
        return result

    return bounded


def bound_filters(environment: SandboxedEnvironment) -> None:
    environment.filters = {
        name: bounded_filter(name, function) for name, function in environment.filters.items()
    }

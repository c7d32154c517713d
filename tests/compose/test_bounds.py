"""Templates have bounds: a template that builds a huge value, renders too much or runs too long
stops with a RenderError naming the template and the bound, quickly and in little memory, in
any thread. The sizes here are small enough that the unbounded code of before survived them
(slowly, and using far more memory), which is what these tests fail on."""

from __future__ import annotations

import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from distributie.compose.bounds import RenderLimits
from distributie.compose.mailing import load_mailing
from distributie.compose.rendering import CompiledMailing, RenderError, compile_mailing
from tests.support.docx_factory import minimal_docx
from tests.support.mailings import copy_mailing, recipient, replace_in

SMALL = RenderLimits(max_bytes=1_000_000, seconds=0.5)
SUBJECT = "Testmailing voor gemeente {{ gemeente }}"


def mailing_with(tmp_path: Path, expression: str, place: str = "text") -> CompiledMailing:
    """The minimal test mailing with `expression` in one place."""
    folder = copy_mailing(tmp_path)
    if place == "text":
        with (folder / "bericht.txt.j2").open("a", encoding="utf-8") as text:
            text.write(expression + "\n")
    elif place == "html":
        replace_in(folder / "bericht.html.j2", "</p>", f"</p><p>{expression}</p>")
    elif place == "subject":
        replace_in(folder / "mailing.toml", SUBJECT, SUBJECT + " " + expression.replace('"', "'"))
    elif place == "filename":
        replace_in(folder / "mailing.toml", '"Bijlage.pdf"', f'"Bijlage{expression}.pdf"')
    elif place == "docx":
        paragraphs = ["Aan de gemeenteraad van {{ gemeente }}", expression]
        (folder / "brief.docx").write_bytes(minimal_docx(paragraphs))
    return compile_mailing(load_mailing(folder))


def render_error(compiled: CompiledMailing, limits: RenderLimits = SMALL) -> RenderError:
    with pytest.raises(RenderError) as caught:
        compiled.render(recipient("Baarn").context(), verify=True, limits=limits)
    return caught.value


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("{{ 'x' * 50000000 }}", "makes a value of 50,000,000 characters"),
        ("{{ 50000000 * 'x' }}", "makes a value of 50,000,000 characters"),
        ("{{ 10 ** 100000000 }}", "makes a value of 50,000,000 characters"),
        ("{{ 'x'.ljust(50000000) }}", "makes a value of 50,000,000 characters"),
        ("{{ 'x'|center(50000000) }}", "makes a value of 50,000,000 characters"),
        ("{{ '%50000000d' % 1 }}", "makes a value of 50,000,000 characters"),
        ("{{ '{:>50000000}'.format('x') }}", "makes a value of 50,000,000 characters"),
        ("{{ '{:>{w}}'.format('x', w=50000000) }}", "makes a value of 50,000,000 characters"),
        ("{{ ('a' * 400000)|replace('a', 'xxxxxxxxxx') }}", "makes a value of 4,000,000"),
        ("{{ ('a' * 400000).replace('a', 'xxxxxxxxxx') }}", "makes a value of 4,000,000"),
        ("{{ ('a' * 100).translate({97: 'x' * 900000}) }}", "makes a value of 90,000,000"),
        ("{{ ('a\\n' * 100)|indent('x' * 900000) }}", "makes a value of 90,"),
        ("{{ [1]|batch(10000000, 'x')|list }}", "makes a value of 80,000,000"),
        ("{{ lipsum(20000) }}", "makes a value of 24,000,000"),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(30) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
            "makes a value of 1,048,576 characters",
        ),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(30) %}"
            "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
            "makes a value of 1,048,576 characters",
        ),
        (
            "{% set l = ['x'] %}{% for i in range(22) %}{{ l.extend(l) or '' }}{% endfor %}",
            "makes a value of 1,048,576 characters",
        ),
        (
            "{% set ns = namespace(l=[]) %}{% for i in range(200) %}"
            "{% set ns.l = ns.l + [('x' * 900000) ~ i] %}{% endfor %}",
            "makes more than 8,000,000 characters of values for one recipient",
        ),
        (
            "{% set big = 'x' * 900000 %}{% set l = [] %}"
            "{% for i in range(60) %}{{ l.append(big[i:]) or '' }}{% endfor %}",
            "makes more than 8,000,000 characters of values for one recipient",
        ),
        (
            "{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}",
            "renders more than 1,000,000 characters",
        ),
        (
            "{% set big %}{% for i in range(2000) %}{{ 'y' * 1000 }}{% endfor %}{% endset %}"
            "{{ big|length }}",
            "renders more than 1,000,000 characters",
        ),
        ("{{ [[1], [2]]|sum(start=[]) }}", "the sum filter only adds numbers"),
    ],
)
def test_a_template_making_too_much_is_stopped_before_it_does(
    tmp_path: Path, expression: str, reason: str
) -> None:
    compiled = mailing_with(tmp_path, expression)

    started = time.monotonic()
    error = render_error(compiled)

    assert error.template == "bericht.txt.j2"
    assert reason in error.reason, error.reason
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "expression",
    [
        "{% for i in range(100000) %}{% for j in range(300) %}{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(20) }}",
        "{% for i in range(100000) %}{% for c in 'x' * 300 %}{% endfor %}{% endfor %}",
        "{% for i in range(100000) %}{% for j in range(300) %}{% if j|abs < 0 %}x{% endif %}"
        "{% endfor %}{% endfor %}",
    ],
)
def test_a_template_running_too_long_is_stopped_at_the_time_limit(
    tmp_path: Path, expression: str
) -> None:
    compiled = mailing_with(tmp_path, expression)

    started = time.monotonic()
    error = render_error(compiled)
    took = time.monotonic() - started

    assert error.reason.startswith("takes longer than 0.5 seconds to render for one recipient")
    assert took < 3


def test_the_time_limit_holds_in_a_thread_that_is_not_the_main_thread(tmp_path: Path) -> None:
    # The web page renders in waitress's threads, where no signal can interrupt a template.
    compiled = mailing_with(
        tmp_path, "{% for i in range(100000) %}{% for j in range(300) %}{% endfor %}{% endfor %}"
    )
    errors: list[RenderError] = []

    def render() -> None:
        try:
            compiled.render(recipient("Baarn").context(), limits=SMALL)
        except RenderError as exc:
            errors.append(exc)

    thread = threading.Thread(target=render)
    started = time.monotonic()
    thread.start()
    thread.join(timeout=10)

    assert [e.template for e in errors] == ["bericht.txt.j2"]
    assert time.monotonic() - started < 3


def test_endless_recursion_is_named_as_such(tmp_path: Path) -> None:
    compiled = mailing_with(tmp_path, "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")

    error = render_error(compiled)

    assert error.reason == "calls itself too deeply (a macro or loop without end?)"


@pytest.mark.parametrize(
    ("place", "template"),
    [
        ("subject", "message.subject"),
        ("html", "bericht.html.j2"),
        ("filename", "Bijlage{{ 'x' * 50000000 }}.pdf"),
        ("docx", "brief.docx"),
    ],
)
def test_every_template_of_a_message_is_bounded_and_named(
    tmp_path: Path, place: str, template: str
) -> None:
    compiled = mailing_with(tmp_path, "{{ 'x' * 50000000 }}", place)

    error = render_error(compiled)

    assert error.template == template
    assert "makes a value of 50,000,000 characters" in error.reason


def test_the_default_limit_is_the_message_limit_and_memory_stays_small(tmp_path: Path) -> None:
    compiled = mailing_with(tmp_path, "{{ 'x' * 200000000 }}")

    tracemalloc.start()
    try:
        error = render_error(compiled, RenderLimits())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert "more than a whole message may hold (10,000,000, DISTRIBUTIE_MAX_MESSAGE_BYTES)" in (
        error.reason
    )
    assert peak < 20_000_000


def test_a_template_within_the_limits_renders_as_before(tmp_path: Path) -> None:
    compiled = mailing_with(
        tmp_path,
        "{% for i in range(3) %}{{ ('-' * 3) ~ i }}{{ '{:>4}'.format(i) }}"
        "{{ '%03d' % i }}{{ 'x'.ljust(3) }}|{% endfor %}{{ [1, 2]|sum }}",
    )

    rendered = compiled.render(recipient("Baarn").context(), limits=SMALL)

    assert "---0   0000x  |---1   1001x  |---2   2002x  |3" in rendered.text

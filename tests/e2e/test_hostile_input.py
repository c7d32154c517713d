"""Hostile input: every file of the corpus in tests/hostile/ through `check` and `send --yes`.

Each case is run as a real `distributie` subprocess from an empty folder of its own, with no
DISTRIBUTIE_* settings but the test Redis and an outbox folder. A refused case must exit 2 with
its exact problems (file, row, column, reason), no traceback, and nothing queued or sent: no run
and no task in Redis, no outbox folder. tests/hostile/expected.toml is the table of cases.

All subprocesses of the module run at once, on a thread pool, before the first test looks at
its result: one by one they would take well over a minute.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.support.docx_factory import minimal_docx
from tests.support.redis import TestRedis
from tests.support.workers import write_recipients

HOSTILE = Path(__file__).resolve().parent.parent / "hostile"
TABLE = tomllib.loads((HOSTILE / "expected.toml").read_text(encoding="utf-8"))
DEFAULT_RECIPIENTS = "mailings/ontvangers.csv"
COMMAND = [sys.executable, "-m", "distributie"]
TIMEOUT = 60  # a run queued by mistake would wait for a worker for ever
ADDRESS_SPACE = 4 * 1024**3  # per command: far more than any command needs
SANDBOX_PLACES = {
    "subject": "message.subject",
    "text": "bericht.txt.j2",
    "html": "bericht.html.j2",
    "docx": "brief.docx",
}
BIG_LIST_ROWS = 40_000
BIG_LIST_BAD_ROWS = {  # row: (column, value, reason)
    3: ("email", "jan@", "not a valid e-mail address"),
    9_876: ("gemeente", "Gemeente 0001", "gemeente 'Gemeente 0001' already appears in row 2"),
    20_000: ("achternaam", "Proef\r\nBcc: x@y.example", "contains carriage return (U+000D)"),
    33_333: ("email", "jöhn@g33333.example", "the part before the @ contains non-ASCII"),
    40_001: ("aanhef", "Prof.", "unknown aanhef"),
}


@dataclass(frozen=True)
class Case:
    """One row of the table, made ready to run in a folder of its own."""

    name: str
    workdir: Path  # the current folder of its commands, empty at the start
    recipients: Path
    mailing: Path | None  # None: the bundled mailing
    expect: list[str]
    exit: int = 2
    send: bool = True
    env: dict[str, str] = field(default_factory=dict)
    render: dict[str, list[str]] = field(default_factory=dict)

    def args(self, command: str) -> list[str]:
        args = [command, "--recipients", str(self.recipients)]
        if self.mailing is not None:
            args += ["--mailing", str(self.mailing)]
        return args + (["--yes"] if command == "send" else [])

    def expected(self) -> list[str]:
        mailing = self.mailing
        return [
            line.format(
                recipients=self.recipients,
                mailing=mailing.resolve() if mailing else "",
                mailing_toml=mailing / "mailing.toml" if mailing else "",
            )
            for line in self.expect
        ]


@dataclass(frozen=True)
class Outcome:
    args: list[str]
    returncode: int | None  # None: timed out
    output: str  # stdout and stderr
    seconds: float

    def __str__(self) -> str:
        return f"$ distributie {' '.join(self.args)}\nexit {self.returncode}\n{self.output}"


def _environment(case: Case, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIBUTIE_")}
    env.update(
        DISTRIBUTIE_REDIS_URL=redis_url,
        DISTRIBUTIE_OUTBOX_DIR=str(case.workdir / "outbox"),
        COLUMNS="300",  # no line wrapping of long problems
    )
    env.update(case.env)
    return env


def _limit_memory() -> None:
    # Runaway templates (see [[runaway]]) must be refused, not exhaust the machine: if bounds
    # ever regress, a command fails here with a MemoryError instead of taking gigabytes from
    # everything else running on this machine.
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_cli(case: Case, args: list[str], redis_url: str) -> Outcome:
    started = time.monotonic()
    try:
        done = subprocess.run(
            [*COMMAND, *args],
            cwd=case.workdir,
            env=_environment(case, redis_url),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired as exc:
        output = f"{exc.stdout or ''}{exc.stderr or ''}"
        return Outcome(args, None, str(output), time.monotonic() - started)
    return Outcome(args, done.returncode, done.stdout + done.stderr, time.monotonic() - started)


# --- making the cases ---------------------------------------------------------------------------


def _write_xlsx(source: Path, target: Path) -> Path:
    """The rows of a *.xlsx.json file as the first sheet of a real workbook, every cell text;
    a cell given as {"formula": "=..."} is a formula, saved (by openpyxl) without a value."""
    content = json.loads(source.read_text(encoding="utf-8"))
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = content.get("sheet", sheet.title)
    for r, values in enumerate(content["rows"], start=1):
        for c, value in enumerate(values, start=1):
            if isinstance(value, dict):
                sheet.cell(row=r, column=c, value=value["formula"])
                continue
            cell = sheet.cell(row=r, column=c, value=value)
            cell.data_type = "s"  # "=..." is text here, as Excel stores a typed-in '=...
    workbook.save(target)
    return target


def _filler(size: int) -> bytes:
    return (b"%PDF-1.4 vulling " * (size // 17 + 1))[:size]


def _table_case(entry: dict[str, Any], root: Path) -> Case:
    workdir = root / entry["name"]
    workdir.mkdir(parents=True)
    recipients = HOSTILE / entry.get("recipients", DEFAULT_RECIPIENTS)
    if recipients.name.endswith(".xlsx.json"):
        recipients = _write_xlsx(recipients, root / f"{entry['name']}.xlsx")
    mailing = HOSTILE / entry["mailing"] if "mailing" in entry else None
    if mailing is not None and any(k in entry for k in ("generate", "outside", "symlinks")):
        # A private copy, so that nothing generated or linked ends up in the repository.
        copy = root / f"{entry['name']}-mailing" / "mailing"
        shutil.copytree(mailing, copy)
        mailing = copy
        for relative, size in entry.get("generate", {}).items():
            (mailing / relative).write_bytes(_filler(size))
        for relative, size in entry.get("outside", {}).items():
            path = mailing.parent / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(_filler(size))
        for link, target in entry.get("symlinks", {}).items():
            (mailing / link).symlink_to(target)
    exit_code = entry.get("exit", 2)
    return Case(
        name=entry["name"],
        workdir=workdir,
        recipients=recipients,
        mailing=mailing,
        expect=entry["expect"],
        exit=exit_code,
        send=entry.get("send", exit_code == 2),
        env=entry.get("env", {}),
        render=entry.get("render", {}),
    )


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def sandbox_mailing(folder: Path, place: str, expression: str) -> Path:
    """A mailing with `expression` in one place: subject, text, HTML or a .docx paragraph."""
    folder.mkdir(parents=True)
    subject = "Testmailing voor {{ gemeente }}" + (f" {expression}" if place == "subject" else "")
    text = "Geachte {{ aanspreking }},\n" + (f"{expression}\n" if place == "text" else "")
    html = "<p>Geachte {{ aanspreking }},</p>\n" + (
        f"<p>{expression}</p>\n" if place == "html" else ""
    )
    paragraphs = ["Aan de gemeenteraad van {{ gemeente }}"]
    paragraphs += [expression] if place == "docx" else []
    (folder / "bericht.txt.j2").write_text(text, encoding="utf-8")
    (folder / "bericht.html.j2").write_text(html, encoding="utf-8")
    (folder / "brief.docx").write_bytes(minimal_docx(paragraphs))
    (folder / "mailing.toml").write_text(
        f"""name = "Sandbox: {place}"

[sender]
name = "Secretariaat Testregio"
address = "secretariaat@testregio.example"

[message]
subject = {_toml_string(subject)}
text = "bericht.txt.j2"
html = "bericht.html.j2"

[[attachments]]
template = "brief.docx"
filename = "Brief {{{{ gemeente }}}}.docx"
""",
        encoding="utf-8",
    )
    return folder


def _sandbox_case(entry: dict[str, Any], place: str, root: Path, kind: str = "sandbox") -> Case:
    """A [[sandbox]] or [[runaway]] entry in one place of a mailing the test writes."""
    name = f"{kind}-{entry['name']}-in-{place}"
    workdir = root / name
    workdir.mkdir(parents=True)
    mailing = sandbox_mailing(root / f"{name}-mailing", place, entry["expression"])
    template = SANDBOX_PLACES[place]
    prefix = "not allowed in a template: " if kind == "sandbox" else ""
    return Case(
        name=name,
        workdir=workdir,
        recipients=HOSTILE / DEFAULT_RECIPIENTS,
        mailing=mailing,
        expect=[
            f"{{recipients}}, row {row}: {template}: {prefix}{entry['reason']}" for row in (2, 3, 4)
        ],
        send=entry["send_in"] == place,
    )


def _big_list_case(root: Path) -> Case:
    """40,000 good rows for the bundled mailing (about 5 MB) with five bad rows spread out."""
    workdir = root / "big-list"
    workdir.mkdir(parents=True)
    path = write_recipients(root / "groot.csv", BIG_LIST_ROWS, prefix="Gemeente")
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    padding = "|Uitgebreide toelichting op de consultatie"  # to about 5 MB in all
    for index in range(1, len(lines)):
        row = index + 1
        cells = lines[index].split(",")
        cells[-1] += padding
        if row in BIG_LIST_BAD_ROWS:
            column, value, _ = BIG_LIST_BAD_ROWS[row]
            cells[header.index(column)] = '"' + value.replace('"', '""') + '"'
        lines[index] = ",".join(cells)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return Case(
        name="big-list",
        workdir=workdir,
        recipients=path,
        mailing=None,
        expect=[
            f"{len(BIG_LIST_BAD_ROWS)} problem(s); nothing was sent:",
            *(
                f"{{recipients}}, row {row}, column {column!r}: {reason}"
                for row, (column, _, reason) in BIG_LIST_BAD_ROWS.items()
            ),
        ],
    )


def make_cases(root: Path) -> list[Case]:
    cases = [_table_case(entry, root) for entry in TABLE["case"]]
    for kind in ("sandbox", "runaway"):
        for entry in TABLE[kind]:
            cases += [_sandbox_case(entry, place, root, kind) for place in SANDBOX_PLACES]
    cases.append(_big_list_case(root))
    return cases


# --- running them all at once -------------------------------------------------------------------


@dataclass
class Results:
    root: Path  # every case's folders
    cases: dict[str, Case]
    outcomes: dict[tuple[str, str], Outcome]
    redis_keys: list[bytes]  # every key in the test Redis after every command has run
    queue_length: int


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, redis_server: TestRedis) -> Iterator[Results]:
    root = tmp_path_factory.mktemp("hostile")
    cases = {case.name: case for case in make_cases(root)}
    jobs = [(case, "check") for case in cases.values()]
    jobs += [(case, "send") for case in cases.values() if case.send]
    jobs += [(case, "render") for case in cases.values() if case.render]
    redis_server.flush()
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        futures = {
            (case.name, command): pool.submit(
                run_cli,
                case,
                case.args(command) + (["--out", "berichten"] if command == "render" else []),
                redis_server.url,
            )
            for case, command in jobs
        }
        outcomes = {key: future.result() for key, future in futures.items()}
    with redis_server.client() as client:
        keys = sorted(client.keys("*"))
        queue_length = int(client.llen("distributie"))
    big = outcomes[("big-list", "check")]
    print(
        f"\ncheck of {BIG_LIST_ROWS:,} rows with 5 bad rows: {big.seconds:.1f} s", file=sys.stderr
    )
    yield Results(root, cases, outcomes, keys, queue_length)
    redis_server.flush()


def _case_names(*, send: bool = False) -> list[str]:
    # Case objects need a folder; their names and send flags follow from the table alone.
    names = []
    for entry in TABLE["case"]:
        if not send or entry.get("send", entry.get("exit", 2) == 2):
            names.append(entry["name"])
    for kind in ("sandbox", "runaway"):
        for entry in TABLE[kind]:
            for place in SANDBOX_PLACES:
                if not send or entry["send_in"] == place:
                    names.append(f"{kind}-{entry['name']}-in-{place}")
    return [*names, "big-list"]


def _assert_refused(case: Case, outcome: Outcome, results: Results) -> None:
    assert outcome.returncode == 2, outcome
    assert "Traceback" not in outcome.output, outcome
    assert "problem(s); nothing was sent:" in outcome.output, outcome
    position = 0
    for line in case.expected():
        found = outcome.output.find(line, position)
        assert found >= 0, f"missing (in this order): {line!r}\n\n{outcome}"
        position = found + len(line)
    # Nothing queued or sent, by this command or any other of the module: the Redis they all
    # share was flushed before they ran and is still empty (no run, no task, no kombu binding).
    assert results.redis_keys == [], results.redis_keys
    assert results.queue_length == 0
    assert not (case.workdir / "outbox").exists()
    assert not (case.workdir / ".distributie").exists()  # no embedded Redis was started
    assert not any(results.root.rglob("pwned")), "a template ran a command"


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", _case_names())
def test_check(name: str, results: Results) -> None:
    case = results.cases[name]
    outcome = results.outcomes[(name, "check")]

    if case.exit == 2:
        _assert_refused(case, outcome, results)
    else:
        assert outcome.returncode == case.exit, outcome
        assert "Traceback" not in outcome.output, outcome
        for line in case.expected():
            assert line in outcome.output, f"missing: {line!r}\n\n{outcome}"


@pytest.mark.parametrize("name", _case_names(send=True))
def test_send_queues_and_sends_nothing(name: str, results: Results) -> None:
    _assert_refused(results.cases[name], results.outcomes[(name, "send")], results)


def _eml_view(path: Path) -> str:
    """A message's decoded headers and plain-text body, as a reader would see them."""
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    body = message.get_body(("plain",))
    assert isinstance(body, email.message.EmailMessage)
    headers = [f"{name}: {value}" for name, value in message.items()]
    return "\n".join([*headers, "", body.get_content()])


@pytest.mark.parametrize("name", [e["name"] for e in TABLE["case"] if "render" in e])
def test_accepted_input_is_rendered_as_data(name: str, results: Results) -> None:
    case = results.cases[name]
    outcome = results.outcomes[(name, "render")]

    assert outcome.returncode == 0, outcome
    assert "Traceback" not in outcome.output, outcome
    for stem, lines in case.render.items():
        view = _eml_view(case.workdir / "berichten" / stem)
        for line in lines:
            assert line in view, f"{stem}: missing {line!r}\n\n{view}"


def test_every_corpus_file_is_in_the_table() -> None:
    named = {e.get("recipients", DEFAULT_RECIPIENTS) for e in TABLE["case"]}
    named |= {e["mailing"] for e in TABLE["case"] if "mailing" in e}
    files = {str(p.relative_to(HOSTILE)) for p in HOSTILE.glob("*/*")}

    assert files <= named, f"corpus files without an expected error: {sorted(files - named)}"

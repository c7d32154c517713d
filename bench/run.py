"""distributie against awdeorio's mailmerge and a plain smtplib loop, on this machine.

    make bench                         # or: .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py --big --rate   # also 50,000 recipients and the rate limit

Everything runs against one SMTP sink in its own process (Postfix's smtp-sink when installed,
else an aiosmtpd sink) and, for distributie, a private Redis per run. See bench/README.md for
what each figure means. Writes bench/results.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import csv
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from distributie.compose.mailing import BUNDLED_MAILING, load_mailing  # noqa: E402
from distributie.compose.recipients import Recipient, read_recipients, recipient_key  # noqa: E402
from distributie.runtime.redis_server import RedisServer  # noqa: E402
from distributie.runtime.workers import stop_process  # noqa: E402

if TYPE_CHECKING:
    from distributie.compose.checking import CheckedMailing

BENCH = ROOT / "bench"
WORK = BENCH / "work"
BIN = Path(sys.executable).parent
# Starts a command and writes its peak RSS (KiB, from wait4) to the file in argv[1]. The kernel
# counts into a process's peak the memory it had before exec, and a child of this bench process
# had this process's: started from a small Python, the CLI's figure is its own.
REAPER = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as out:
    out.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""
SENDER = "secretariaat@veiligheidscollege-mn.example"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return found


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process ever had."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclass
class Sink:
    kind: str
    port: int
    process: subprocess.Popen[bytes]
    arrivals: Path | None

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)


@contextmanager
def smtp_sink(kind: str, arrivals: Path | None = None) -> Iterator[Sink]:
    """Postfix's smtp-sink (C, discards everything) or an aiosmtpd sink, in their own process."""
    port = free_port()
    if kind == "smtp-sink":
        binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        command = [binary]
        if os.geteuid() == 0:
            command += ["-u", "nobody"]  # it refuses to keep super-user privileges
        command += [f"127.0.0.1:{port}", "256"]
    else:
        command = [sys.executable, str(BENCH / "sink.py"), str(port)]
        if arrivals is not None:
            command.append(str(arrivals))
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_for_port(port)
        yield Sink(kind, port, process, arrivals)
    finally:
        stop_process(process, timeout=5)


def sink_kind(requested: str) -> str:
    if requested != "auto":
        return requested
    return (
        "smtp-sink"
        if shutil.which("smtp-sink") or Path("/usr/sbin/smtp-sink").exists()
        else "aiosmtpd"
    )


# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    n: int
    recipients: Path  # distributie's list
    database: Path  # the same rows plus the derived fields, for mailmerge and the plain loop
    mm_template: Path
    static_docx: Path


def generate(n: int) -> Inputs:
    """N synthetic burgemeesters built from the bundled 39: every name, title and point mix."""
    mailing = load_mailing(BUNDLED_MAILING)
    assert mailing.default_recipients is not None
    base = read_recipients(mailing.default_recipients, mailing.spec.required_columns)
    columns = base.columns
    directory = WORK / f"inputs-{n}"
    directory.mkdir(parents=True, exist_ok=True)
    recipients_csv = directory / "recipients.csv"
    database_csv = directory / "database.csv"
    rows = []
    for i in range(n):
        model = base.recipients[i % len(base.recipients)]
        gemeente = f"{model.gemeente} {i + 1:06d}"
        fields = dict(model.fields, gemeente=gemeente, email=f"b{i + 1}@{model.key}.example")
        rows.append(fields)
    with recipients_csv.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        writer.writerows(rows)
    derived = ["aanspreking", "naam", "achternaam_volledig"]
    with database_csv.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, [*columns, *derived])
        writer.writeheader()
        for fields in rows:
            context = Recipient(0, fields["gemeente"], fields["email"], fields, "x").context()
            writer.writerow({**fields, **{k: context[k] for k in derived}})
    # The static .docx for the tools that cannot personalise: one recipient's letter.
    from distributie.compose.rendering import compile_mailing

    first = Recipient(2, rows[0]["gemeente"], rows[0]["email"], rows[0], recipient_key("x"))
    rendered = compile_mailing(mailing).render(first.context())
    static_docx = directory / "Voorbeeld-aanbiedingsbrief.docx"
    static_docx.write_bytes(rendered.attachments[0].content)
    # mailmerge: the same text template, its headers on top, punten from the column.
    body = (BUNDLED_MAILING / "bericht.txt.j2").read_text("utf-8")
    mm_template = directory / "mailmerge_template.txt"
    mm_template.write_text(
        "TO: {{ email }}\n"
        f"FROM: Regionaal Veiligheidscollege Midden-Nederland <{SENDER}>\n"
        "SUBJECT: Regionale Veiligheidsstrategie 2019-2022 voor gemeente {{ gemeente }}\n"
        f"ATTACHMENT: {static_docx.name}\n"
        "\n"
        '{% set punten = consultatiepunten.split("|") | map("trim") | select | list %}' + body,
        encoding="utf-8",
    )
    return Inputs(n, recipients_csv, database_csv, mm_template, static_docx)


# --- the contenders -----------------------------------------------------------------------------


def _result(
    name: str, n: int, seconds: float, sink: Sink, sink_cpu: float, **extra: Any
) -> dict[str, Any]:
    return {
        "tool": name,
        "n": n,
        "seconds": round(seconds, 3),
        "per_second": round(n / seconds, 1),
        "sink": sink.kind,
        "sink_cpu_seconds": round(sink_cpu, 3),
        **extra,
    }


def run_mailmerge(inputs: Inputs, sink: Sink) -> dict[str, Any]:
    config = inputs.mm_template.parent / f"mailmerge_server-{sink.port}.conf"
    config.write_text(
        f"[smtp_server]\nhost = 127.0.0.1\nport = {sink.port}\nsecurity = Never\nratelimit = 0\n"
    )
    cpu0 = sink.cpu()
    start = time.perf_counter()
    subprocess.run(
        [
            str(BIN / "mailmerge"),
            "--no-dry-run",
            "--no-limit",
            "--output-format",
            "text",
            "--template",
            str(inputs.mm_template),
            "--database",
            str(inputs.database),
            "--config",
            str(config),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=inputs.mm_template.parent,
    )
    seconds = time.perf_counter() - start
    return _result("mailmerge", inputs.n, seconds, sink, sink.cpu() - cpu0, docx="static")


def run_plain(inputs: Inputs, sink: Sink) -> dict[str, Any]:
    cpu0 = sink.cpu()
    start = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            str(BENCH / "plain_loop.py"),
            str(inputs.database),
            str(BUNDLED_MAILING),
            str(inputs.static_docx),
            str(sink.port),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    assert int(out.stdout.strip()) == inputs.n, out.stdout
    return _result("plain loop", inputs.n, seconds, sink, sink.cpu() - cpu0, docx="static")


def _commandstats(client: redis.Redis) -> dict[str, int]:
    info = client.info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items()}


def _workers_online(server: RedisServer, timeout: float = 60.0) -> None:
    """Until the worker's consumer waits on the queue (BRPOP) and its pool has started."""
    client = server.client()
    deadline = time.monotonic() + timeout
    try:
        while not any(c.get("cmd") == "brpop" for c in client.client_list()):
            if time.monotonic() > deadline:
                raise RuntimeError("the distributie worker did not come up")
            time.sleep(0.1)
    finally:
        client.close()


def distributie_env(url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTRIBUTIE_")}
    env.update(
        DISTRIBUTIE_REDIS_URL=url,
        DISTRIBUTIE_SMTP_HOST="127.0.0.1",
        DISTRIBUTIE_SMTP_PORT=str(port),
        DISTRIBUTIE_SMTP_SECURITY="none",
        **extra,
    )
    return env


def start_worker(env: dict[str, str], concurrency: int) -> subprocess.Popen[bytes]:
    # Its log (a line per attempt, as in production) goes to a file, as a real deployment's
    # would; not to the terminal the table is printed on.
    with (WORK / "worker.log").open("ab") as log:
        return subprocess.Popen(
            [str(BIN / "distributie"), "worker", "--quiet", "--concurrency", str(concurrency)],
            env=env,
            cwd=WORK,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )


def checked_inputs(inputs: Inputs) -> CheckedMailing:
    """The bundled mailing and the generated list, ready for create_run (rows not re-checked)."""
    from distributie.compose.checking import CheckedMailing
    from distributie.compose.rendering import compile_mailing

    mailing = load_mailing(BUNDLED_MAILING)
    recipients = read_recipients(inputs.recipients, mailing.spec.required_columns)
    compiled = compile_mailing(mailing)
    sample = compiled.render(recipients.recipients[0].context())
    return CheckedMailing(mailing, compiled, recipients, sample)


@contextmanager
def redis_and_worker(
    tag: str, port: int, concurrency: int, **extra: str
) -> Iterator[tuple[RedisServer, subprocess.Popen[bytes], dict[str, str]]]:
    data = WORK / f"redis-{tag}"
    shutil.rmtree(data, ignore_errors=True)
    server = RedisServer(data)
    server.start()
    try:
        env = distributie_env(server.url, port, **extra)
        worker = start_worker(env, concurrency)
        try:
            _workers_online(server)
            yield server, worker, env
        finally:
            stop_process(worker)
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


def dkim_key_file() -> Path:
    """An RSA 2048 key for the DKIM contender, made once in bench/work/."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = WORK / "dkim-bench.pem"
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return path


def run_distributie_dkim(inputs: Inputs, sink: Sink) -> dict[str, Any]:
    """distributie as above with every message DKIM-signed (RSA 2048) per attempt."""
    result = run_distributie(
        inputs,
        sink,
        DISTRIBUTIE_DKIM_SELECTOR="bench",
        DISTRIBUTIE_DKIM_KEY_FILE=str(dkim_key_file()),
    )
    return {**result, "tool": "distributie + DKIM"}


def run_distributie(
    inputs: Inputs, sink: Sink, concurrency: int = 2, **extra: str
) -> dict[str, Any]:
    """`distributie send --yes --no-wait` until the ledger says every recipient is sent."""
    with redis_and_worker(f"e2e-{inputs.n}", sink.port, concurrency, **extra) as (
        server,
        worker,
        env,
    ):
        client = server.client()
        client.config_resetstat()
        redis_cpu0 = _redis_cpu(client)
        pool = children(worker.pid)
        worker_pids = [worker.pid, *pool]
        worker_cpu0 = sum(cpu_seconds(p) for p in worker_pids)
        cpu0 = sink.cpu()
        start = time.perf_counter()
        peak_file = WORK / "cli-peak-rss.txt"
        cli = subprocess.Popen(
            [
                sys.executable,
                "-c",
                REAPER,
                str(peak_file),
                str(BIN / "distributie"),
                "send",
                "--yes",
                "--no-wait",
                "--json",
                "--recipients",
                str(inputs.recipients),
            ],
            env=env,
            cwd=WORK,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        marks: dict[str, float] = {}
        cli_usage: dict[str, Any] = {}

        def watch_cli() -> None:
            # Read its progress, then its peak RSS as the kernel counted it (REAPER).
            assert cli.stderr is not None
            for line in cli.stderr:
                if line.startswith("Run "):
                    marks["run"] = time.perf_counter()
            cli_usage["code"] = cli.wait()
            marks["cli_exit"] = time.perf_counter()
            cli_usage["rss_mb"] = int(peak_file.read_text()) / 1024

        watcher = threading.Thread(target=watch_cli, daemon=True)
        watcher.start()
        polls = 0
        run_id = None
        counts: dict[str, int] = {}
        while True:
            if run_id is None:
                latest = client.zrange("distributie:runs", -1, -1)
                polls += 1
                run_id = latest[0].decode() if latest else None
            if run_id is not None:
                raw = client.hgetall(f"distributie:run:{run_id}:counts")
                polls += 1
                counts = {k.decode(): int(v) for k, v in raw.items()}
                done = sum(counts.get(s, 0) for s in ("sent", "failed", "unknown", "cancelled"))
                if done >= inputs.n:
                    break
            if "cli_exit" in marks and run_id is None:
                raise RuntimeError(f"distributie send exited with {cli_usage} and no run")
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        watcher.join(timeout=30)
        cli.returncode = cli_usage.get("code")
        sink_cpu = sink.cpu() - cpu0
        worker_cpu = sum(cpu_seconds(p) for p in worker_pids) - worker_cpu0
        rss = {"main": round(peak_rss_mb(worker.pid), 1)}
        for i, pid in enumerate(pool):
            rss[f"pool-{i + 1}"] = round(peak_rss_mb(pid), 1)
        redis_cpu = _redis_cpu(client) - redis_cpu0
        stats = _commandstats(client)
        client.close()
    if counts.get("sent") != inputs.n:
        raise RuntimeError(f"distributie: not every recipient was sent: {counts}")
    scripts = stats.get("evalsha", 0) + stats.get("eval", 0)
    polls_cmds = polls + stats.get("config|resetstat", 0) + stats.get("info", 0)
    return _result(
        "distributie",
        inputs.n,
        seconds,
        sink,
        sink_cpu,
        docx="personalised",
        check_and_create_seconds=round(marks.get("run", start) - start, 3),
        sending_seconds=round(start + seconds - marks.get("run", start), 3),
        cli_exit_code=cli_usage.get("code"),
        cli_peak_rss_mb=round(cli_usage.get("rss_mb", 0.0), 1),
        worker_peak_rss_mb=rss,
        worker_cpu_ms_per_message=round(worker_cpu * 1000 / inputs.n, 3),
        redis_cpu_ms_per_message=round(redis_cpu * 1000 / inputs.n, 3),
        redis_commands_per_message={
            "ledger_scripts": round(scripts / inputs.n, 2),
            "everything_else": round((sum(stats.values()) - scripts - polls_cmds) / inputs.n, 2),
        },
        redis_commands=dict(sorted(stats.items(), key=lambda kv: -kv[1])),
    )


def _redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def queue_run(inputs: Inputs, env: dict[str, str]) -> None:
    """`distributie send --yes --no-wait` of the generated list: checked, stored and queued."""
    subprocess.run(
        [
            str(BIN / "distributie"),
            *("send", "--yes", "--no-wait", "--json"),
            *("--recipients", str(inputs.recipients)),
        ],
        env=env,
        cwd=WORK,
        check=True,
        capture_output=True,
    )


def measure_round_trips(inputs: Inputs, sink: Sink) -> dict[str, Any]:
    """What the workers send to Redis per message, from MONITOR (untimed; TCP, to tell clients
    apart). The run is queued first, then the worker starts, so only worker traffic is seen.
    Commands a Lua script runs are not round trips; a MULTI ... EXEC block is one."""
    data = WORK / "redis-round-trips"
    shutil.rmtree(data, ignore_errors=True)
    server = RedisServer(data, unix_socket=False)
    server.start()
    seen: dict[str, int] = {}
    try:
        env = distributie_env(server.url, sink.port)
        queue_run(inputs, env)
        poller = server.client()
        me = str(poller.client_info()["addr"])
        [run_id] = [r.decode() for r in poller.zrange("distributie:runs", 0, -1)]
        watcher = server.client()
        monitor = watcher.monitor()
        monitor.__enter__()
        in_multi: set[str] = set()

        def listen() -> None:
            with contextlib.suppress(Exception):
                for command in monitor.listen():
                    client = f"{command['client_address']}:{command['client_port']}"
                    if command["client_type"] == "lua" or client == me:
                        continue
                    name = command["command"].split(" ", 1)[0].strip('"').lower()
                    if client in in_multi:
                        if name in ("exec", "discard"):
                            in_multi.discard(client)
                        continue
                    if name == "multi":
                        in_multi.add(client)
                    seen[name] = seen.get(name, 0) + 1

        thread = threading.Thread(target=listen, daemon=True)
        thread.start()
        time.sleep(0.2)
        worker = start_worker(env, 2)
        try:
            while int(poller.hget(f"distributie:run:{run_id}:counts", "sent") or 0) < inputs.n:
                time.sleep(0.1)
        finally:
            stop_process(worker)
        time.sleep(0.2)
        with contextlib.suppress(Exception):
            monitor.connection.disconnect()
        thread.join(timeout=5)
        poller.close()
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
    scripts = seen.get("evalsha", 0) + seen.get("eval", 0)
    other = sum(seen.values()) - scripts
    return {
        "n": inputs.n,
        "ledger_scripts_per_message": round(scripts / inputs.n, 2),
        "broker_and_other_per_message": round(other / inputs.n, 2),
        "commands": dict(sorted(seen.items(), key=lambda kv: -kv[1])),
    }


def measure_enqueue(inputs: Inputs) -> dict[str, Any]:
    """create_run + enqueue of N recipients, in process, with no worker consuming."""
    from distributie.delivery import tasks
    from distributie.ledger import Ledger
    from distributie.operations import runs
    from distributie.settings import load_settings

    data = WORK / "redis-enqueue"
    shutil.rmtree(data, ignore_errors=True)
    server = RedisServer(data)
    server.start()
    try:
        os.environ["DISTRIBUTIE_REDIS_URL"] = server.url
        settings = load_settings()
        checked = checked_inputs(inputs)
        recipients = checked.recipients
        ledger = Ledger.from_url(server.url)
        tasks.configure(settings, redis_url=server.url)
        client = server.client()
        client.config_resetstat()
        start = time.perf_counter()
        run_id = runs.create_run(ledger, checked, recipients.recipients, "bench", "bench")
        created = time.perf_counter()
        items = [(r.key, 1) for r in recipients.recipients]
        batches = tasks.enqueue(run_id, items, settings.batch_size)
        ledger.published(run_id, items)  # as operations.runs.enqueue confirms them
        enqueued = time.perf_counter()
        stats = _commandstats(client)
        client.close()
        ledger.client.close()
        tasks.app.pool.force_close_all()
    finally:
        os.environ.pop("DISTRIBUTIE_REDIS_URL", None)
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
    return {
        "n": inputs.n,
        "batch_size": settings.batch_size,
        "batches": batches,
        "create_run_seconds": round(created - start, 3),
        "enqueue_seconds": round(enqueued - created, 3),
        "redis_commands": stats,
    }


def measure_units(samples: int = 2000) -> dict[str, Any]:
    """Per-recipient costs inside one worker process (medians): the unit-level speed checks."""
    from distributie.compose.addressing import Addressing
    from distributie.compose.dkim import dkim_signer
    from distributie.compose.docx import CompiledDocx
    from distributie.compose.message import build_message
    from distributie.compose.rendering import compile_mailing
    from distributie.settings import load_settings

    mailing = load_mailing(BUNDLED_MAILING)
    assert mailing.default_recipients is not None
    recipients = read_recipients(mailing.default_recipients, mailing.spec.required_columns)
    compiled = compile_mailing(mailing)
    contexts = [r.context() for r in recipients.recipients]
    [docx] = [a.content for a in compiled._attachments if isinstance(a.content, CompiledDocx)]
    spec = mailing.spec

    def median_ms(action: Callable[[int], object]) -> float:
        for i in range(50):
            action(i)
        times = []
        for i in range(samples):
            begin = time.perf_counter()
            action(i)
            times.append(time.perf_counter() - begin)
        return round(statistics.median(times) * 1000, 3)

    rendered = [compiled.render(c) for c in contexts]
    addressing = [
        Addressing(
            spec.sender.name,
            spec.sender.address,
            spec.sender.reply_to,
            r.email,
            "20190408-143005-ab12",
            r.gemeente,
            r.key,
            0,
        )
        for r in recipients.recipients
    ]
    k = len(contexts)
    size = len(build_message(rendered[0], addressing[0]))
    signer = dkim_signer(
        load_settings(dkim_selector="bench", dkim_key_file=dkim_key_file()), spec.sender.address
    )
    assert signer is not None
    built = [build_message(rendered[i], addressing[i]) for i in range(k)]
    return {
        "dkim_sign_ms": median_ms(lambda i: signer.signature_headers(built[i % k])),
        "docx_ms": median_ms(lambda i: docx.render(contexts[i % k])),
        "render_all_ms": median_ms(lambda i: compiled.render(contexts[i % k])),
        "message_bytes_ms": median_ms(lambda i: build_message(rendered[i % k], addressing[i % k])),
        "message_size_bytes": size,
        "docx_size_bytes": len(rendered[0].attachments[0].content),
    }


def measure_rate(runs_dir: Path) -> dict[str, Any]:
    """DISTRIBUTIE_RATE_LIMIT=30/m, 4 worker processes, 90 recipients: what the sink sees."""
    inputs = generate(90)
    arrivals = runs_dir / "arrivals.txt"
    arrivals.unlink(missing_ok=True)
    with smtp_sink("aiosmtpd", arrivals) as sink:
        result = run_distributie(inputs, sink, concurrency=4, DISTRIBUTIE_RATE_LIMIT="30/m")
    times = sorted(float(x) for x in arrivals.read_text().split())
    window = max(sum(1 for u in times if t <= u < t + 60.0) for t in times)
    achieved = (len(times) - 1) / (times[-1] - times[0]) * 60
    return {
        "limit": "30/m",
        "workers": 4,
        "n": len(times),
        "max_in_any_60s": window,
        "achieved_per_minute": round(achieved, 2),
        "deviation_percent": round((achieved - 30) / 30 * 100, 2),
        "seconds": result["seconds"],
    }


# --- main ---------------------------------------------------------------------------------------


def median_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: r["seconds"])
    middle = dict(ordered[len(ordered) // 2])
    middle["runs_seconds"] = [r["seconds"] for r in results]
    return middle


def table(results: dict[str, Any]) -> str:
    lines = [
        f"N = {results['n']:,} recipients, {results['machine']['cpus']} cores, "
        f"sink: {results['sink']}, medians of {results['runs']} alternating runs",
        "",
        "| | .docx | seconds | messages/s | sink CPU s | vs mailmerge | vs plain loop |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    head = results["headline"]
    mm = head["mailmerge"]["per_second"]
    plain = head["plain loop"]["per_second"]
    for name in ("mailmerge", "plain loop", "distributie", "distributie + DKIM"):
        if name not in head:
            continue
        r = head[name]
        lines.append(
            f"| {name} | {r['docx']} | {r['seconds']:.1f} | {r['per_second']:.0f} | "
            f"{r['sink_cpu_seconds']:.1f} | {r['per_second'] / mm:.2f}x | "
            f"{r['per_second'] / plain:.2f}x |"
        )
    d = head["distributie"]
    lines += [
        "",
        "| distributie | value |",
        "|---|---:|",
        f"| check + create run (CLI, before the first task) | "
        f"{d['check_and_create_seconds']:.1f} s |",
        f"| sending phase (from the run's creation to the last sent) | "
        f"{results['n'] / d['sending_seconds']:.0f} messages/s |",
        f"| worker CPU per message | {d['worker_cpu_ms_per_message']:.2f} ms |",
        *(
            [
                f"| worker CPU per message with DKIM | "
                f"{head['distributie + DKIM']['worker_cpu_ms_per_message']:.2f} ms |"
            ]
            if "distributie + DKIM" in head
            else []
        ),
        f"| Redis CPU per message | {d['redis_cpu_ms_per_message']:.2f} ms |",
    ]
    trips = results.get("round_trips")
    if trips:
        lines += [
            f"| Redis round trips per message: ledger scripts | "
            f"{trips['ledger_scripts_per_message']} |",
            f"| Redis round trips per message: broker and other | "
            f"{trips['broker_and_other_per_message']} |",
        ]
    lines += [
        f"| peak RSS: CLI | {d['cli_peak_rss_mb']:.0f} MB |",
        "| peak RSS: worker processes | "
        + ", ".join(f"{k} {v:.0f}" for k, v in d["worker_peak_rss_mb"].items())
        + " MB |",
    ]
    units = results["units"]
    lines += [
        f"| personalised .docx, per recipient | {units['docx_ms']:.2f} ms |",
        f"| subject + text + HTML + .docx, per recipient | {units['render_all_ms']:.2f} ms |",
        f"| message bytes (MIME, base64), per recipient | {units['message_bytes_ms']:.2f} ms |",
        f"| DKIM signature (RSA 2048, relaxed/relaxed), per message | "
        f"{units['dkim_sign_ms']:.2f} ms |",
        f"| message size | {units['message_size_bytes'] / 1000:.0f} kB |",
    ]
    enqueue = results["enqueue"]
    lines.append(
        f"| create run + enqueue {enqueue['n']:,} ({enqueue['batches']} tasks) | "
        f"{enqueue['create_run_seconds']:.2f} s + {enqueue['enqueue_seconds']:.2f} s |"
    )
    if results.get("scaling"):
        lines += [
            "",
            "| distributie, N | seconds | messages/s | worker peak RSS (MB) |",
            "|---:|---:|---:|---|",
        ]
        for r in results["scaling"]:
            rss = ", ".join(f"{v:.0f}" for v in r["worker_peak_rss_mb"].values())
            lines.append(f"| {r['n']:,} | {r['seconds']:.1f} | {r['per_second']:.0f} | {rss} |")
    if results.get("rate"):
        rate = results["rate"]
        lines += [
            "",
            f"Rate limit {rate['limit']}, {rate['workers']} worker processes, {rate['n']} "
            f"recipients: at most {rate['max_in_any_60s']} messages in any 60 s at the sink, "
            f"{rate['achieved_per_minute']} per minute achieved "
            f"({rate['deviation_percent']:+.1f} %).",
        ]
    return "\n".join(lines)


def compile_package() -> None:
    """Bytecode for distributie, as `pip install` writes it for every installed package (and so
    for mailmerge here). An editable install has none until Python writes it on first import,
    which it never does where PYTHONDONTWRITEBYTECODE is set: then every `distributie send`
    would compile the whole package first (~0.2 s) and the bench would measure that."""
    compileall.compile_dir(str(ROOT / "distributie"), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="recipients (default 10,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each contender (median)")
    parser.add_argument("--sink", choices=["auto", "smtp-sink", "aiosmtpd"], default="auto")
    parser.add_argument("--big", action="store_true", help="also distributie with 50,000")
    parser.add_argument("--no-scaling", action="store_true", help="skip 1,000 (and 50,000)")
    parser.add_argument("--rate", action="store_true", help="also the 3-minute rate-limit run")
    parser.add_argument(
        "--only",
        choices=["mailmerge", "plain loop", "distributie", "distributie + DKIM"],
        action="append",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results.json")
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    compile_package()
    kind = sink_kind(args.sink)
    contenders: dict[str, Callable[[Inputs, Sink], dict[str, Any]]] = {
        "mailmerge": run_mailmerge,
        "plain loop": run_plain,
        "distributie": run_distributie,
        "distributie + DKIM": run_distributie_dkim,
    }
    if args.only:
        contenders = {k: v for k, v in contenders.items() if k in args.only}
    inputs = generate(args.n)
    print(f"sink: {kind}; N = {args.n}", file=sys.stderr)
    measured: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    with smtp_sink(kind) as sink:
        for round_ in range(args.runs):
            names = list(contenders)
            # Alternate the order so that no contender always runs on a warm (or hot) machine.
            names = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in names:
                result = contenders[name](inputs, sink)
                print(
                    f"  run {round_ + 1} {name}: {result['seconds']:.1f} s "
                    f"({result['per_second']:.0f}/s, sink CPU {result['sink_cpu_seconds']:.1f} s)",
                    file=sys.stderr,
                )
                measured[name].append(result)
        scaling = []
        if not args.no_scaling:
            sizes = [1_000, args.n] + ([50_000] if args.big else [])
            for n in sizes:
                if n == args.n and "distributie" in measured:
                    scaling.append(median_of(measured["distributie"]))
                    continue
                result = run_distributie(generate(n), sink)
                print(f"  scaling {n}: {result['seconds']:.1f} s", file=sys.stderr)
                scaling.append(result)
        round_trips = measure_round_trips(generate(1_000), sink)
    results: dict[str, Any] = {
        "n": args.n,
        "runs": args.runs,
        "sink": kind,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "command": " ".join(["python", "bench/run.py", *sys.argv[1:]]),
        "headline": {name: median_of(rs) for name, rs in measured.items()},
        "all_runs": measured,
        "scaling": sorted(scaling, key=lambda r: r["n"]),
        "round_trips": round_trips,
        "enqueue": measure_enqueue(inputs),
        "units": measure_units(),
    }
    if args.rate:
        results["rate"] = measure_rate(WORK)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    if {"mailmerge", "plain loop", "distributie"} <= set(contenders):
        print(table(results))
    else:
        print(json.dumps(results["headline"], indent=2))


if __name__ == "__main__":
    main()

"""How much twenty open run pages slow a send: a 2,000-recipient run with nobody watching,
against the same run with twenty people following it on the web page.

    .venv/bin/python bench/web_pollers.py [-n 2000] [--pages 20] [--runs 5]

Everything is real: a private Redis, `distributie worker --concurrency 2`, an SMTP sink in its
own process (Postfix's smtp-sink when installed), and `distributie web` on the same Redis.
Each "page" is a logged-in visitor that does what the browser does: it loads the run page once
(at a random moment in its first three seconds), then asks for the live fragment every three
seconds with htmx's header, and stops when the fragment comes without its trigger (the run is
done). The clock runs from the moment the run is in the ledger until every recipient is sent;
with and without pages alternate, and the medians are compared. Writes
bench/web_pollers.json and prints the figure the README carries.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run as bench  # noqa: E402  (bench/run.py: sink, Redis, worker, inputs)

PASSWORD = "wachtwoord voor de benchmark"
POLL_SECONDS = 3.0  # what the run page's hx-trigger says while a run sends (web/run_state.py)


@dataclass
class Visitor:
    """One person with the run page open: a keep-alive connection and a session cookie."""

    port: int
    cookie: str = ""
    requests: int = 0
    seconds: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(self, method: str, path: str, body: str | None = None, **headers: str) -> str:
        sent = dict(headers)
        if self.cookie:
            sent["Cookie"] = self.cookie
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        self.connection.request(method, path, body=body, headers=sent)
        response = self.connection.getresponse()
        text = response.read().decode("utf-8")
        self.seconds.append(time.perf_counter() - started)
        self.requests += 1
        for header in response.headers.get_all("Set-Cookie") or []:
            self.cookie = header.split(";")[0]
        return text

    def log_in(self, name: str) -> None:
        page = self.request("GET", "/inloggen")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        form = {"csrf_token": token.group(1), "username": name, "password": PASSWORD}
        self.request("POST", "/inloggen", urlencode(form))

    def follow(self, run_id: str, first_after: float, stop: threading.Event) -> None:
        """As the browser does: the page once, then the fragment until it stops asking."""
        if stop.wait(first_after):
            return
        page = self.request("GET", f"/verzendingen/{run_id}")
        while 'hx-trigger="every' in page and not stop.wait(POLL_SECONDS):
            page = self.request("GET", f"/verzendingen/{run_id}/stand", **{"HX-Request": "true"})


def start_web(env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    port = bench.free_port()
    process = subprocess.Popen(
        [str(bench.BIN / "distributie"), "web", "--port", str(port)],
        env=env,
        cwd=bench.WORK,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "listening on" in line:
            break
    threading.Thread(target=process.stdout.read, daemon=True).start()  # keep draining it
    return process, port


def one_run(inputs: bench.Inputs, sink: bench.Sink, pages: int) -> dict[str, Any]:
    with bench.redis_and_worker(f"web-{pages}", sink.port, 2) as (server, worker, env):
        web, port = start_web(env)
        try:
            subprocess.run(
                [str(bench.BIN / "distributie"), "users", "add", "kijker", "--role", "lezer",
                 "--password-stdin"],
                input=PASSWORD, env=env, cwd=bench.WORK, check=True, capture_output=True, text=True,
            )  # fmt: skip
            visitors = [Visitor(port) for _ in range(pages)]
            for visitor in visitors:
                visitor.log_in("kijker")
            workers = [worker.pid, *bench.children(worker.pid)]
            client = server.client()
            cpu0 = (
                bench.cpu_seconds(web.pid),
                sum(bench.cpu_seconds(pid) for pid in workers),
                bench._redis_cpu(client),
            )
            result = _timed_send(inputs, server, env, visitors)
            result["web_cpu_seconds"] = round(bench.cpu_seconds(web.pid) - cpu0[0], 2)
            result["worker_cpu_seconds"] = round(
                sum(bench.cpu_seconds(pid) for pid in workers) - cpu0[1], 2
            )
            result["redis_cpu_seconds"] = round(bench._redis_cpu(client) - cpu0[2], 2)
            client.close()
        finally:
            bench.stop_process(web)  # type: ignore[arg-type]
    return result


def _timed_send(
    inputs: bench.Inputs, server: Any, env: dict[str, str], visitors: list[Visitor]
) -> dict[str, Any]:
    client = server.client()
    cli = subprocess.Popen(
        [str(bench.BIN / "distributie"), "send", "--yes", "--no-wait", "--recipients",
         str(inputs.recipients)],
        env=env, cwd=bench.WORK, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while not client.zrange("distributie:runs", -1, -1):
        time.sleep(0.01)
    started = time.perf_counter()
    run_id = client.zrange("distributie:runs", -1, -1)[0].decode()
    stop = threading.Event()
    threads = [
        threading.Thread(target=v.follow, args=(run_id, random.uniform(0, POLL_SECONDS), stop))
        for v in visitors
    ]
    for thread in threads:
        thread.start()
    while True:
        counts = {
            k.decode(): int(v)
            for k, v in client.hgetall(f"distributie:run:{run_id}:counts").items()
        }
        if counts.get("sent", 0) >= inputs.n:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    stop.set()
    for thread in threads:
        thread.join()
    cli.wait()
    client.close()
    timings = [s for v in visitors for s in v.seconds[2:]]  # not the log-in
    return {
        "pages": len(visitors),
        "seconds": round(seconds, 3),
        "requests": sum(v.requests for v in visitors) - 2 * len(visitors),
        "median_response_ms": round(statistics.median(timings) * 1000, 1) if timings else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="recipients (default 2,000)")
    parser.add_argument("--pages", type=int, default=20, help="open run pages (default 20)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each (median)")
    parser.add_argument("--sink", choices=["auto", "smtp-sink", "aiosmtpd"], default="auto")
    parser.add_argument("--out", type=Path, default=BENCH / "web_pollers.json")
    args = parser.parse_args()
    bench.WORK.mkdir(parents=True, exist_ok=True)
    inputs = bench.generate(args.n)
    kind = bench.sink_kind(args.sink)
    measured: dict[int, list[dict[str, Any]]] = {0: [], args.pages: []}
    with bench.smtp_sink(kind) as sink:
        for round_ in range(args.runs):
            order = [0, args.pages] if round_ % 2 == 0 else [args.pages, 0]
            for pages in order:
                result = one_run(inputs, sink, pages)
                print(f"  run {round_ + 1}, {pages} pages: {result}", file=sys.stderr)
                measured[pages].append(result)
    alone = statistics.median(r["seconds"] for r in measured[0])
    watched = statistics.median(r["seconds"] for r in measured[args.pages])
    slowdown = (watched - alone) / alone * 100
    # On a shared machine the wall time of one run varies more than the pages cost. The CPU
    # they cost does not: what the web process and the extra Redis work take, against what the
    # send takes (workers and Redis), is what they can slow a send whose workers use every core.
    send_cpu = statistics.median(
        r["worker_cpu_seconds"] + r["redis_cpu_seconds"] for r in measured[0]
    )
    pages_cpu = statistics.median(r["web_cpu_seconds"] for r in measured[args.pages]) + max(
        0.0,
        statistics.median(r["redis_cpu_seconds"] for r in measured[args.pages])
        - statistics.median(r["redis_cpu_seconds"] for r in measured[0]),
    )
    cpu_share = pages_cpu / send_cpu * 100
    summary = {
        "n": args.n,
        "pages": args.pages,
        "runs": args.runs,
        "sink": kind,
        "seconds_without_pages": alone,
        "seconds_with_pages": watched,
        "slowdown_percent": round(slowdown, 1),
        "send_cpu_seconds": round(send_cpu, 2),
        "pages_cpu_seconds": round(pages_cpu, 2),
        "pages_cpu_percent_of_send": round(cpu_share, 1),
        "all_runs": {str(k): v for k, v in measured.items()},
    }
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"{args.n:,} recipients, 2 worker processes, medians of {args.runs}: "
        f"{alone:.2f} s with no page open, {watched:.2f} s with {args.pages} open run pages "
        f"({slowdown:+.1f} %); the pages cost {pages_cpu:.2f} s of CPU (web and Redis), "
        f"{cpu_share:.1f} % of the send's {send_cpu:.2f} s (workers and Redis)"
    )


if __name__ == "__main__":
    main()

"""Profile what one worker process does per message, without Celery around it.

    .venv/bin/python bench/profile_worker.py [-n 2000] [--html profile.html]

Starts a private Redis and the SMTP sink, creates a run of N synthetic recipients, then calls
RecipientSender.send for each (claim, render, message bytes, SMTP, finish: exactly what a pool
process does per recipient) under pyinstrument, and prints the profile (wall clock: waits for
Redis and the SMTP server show up as time in recv).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import run as bench
from pyinstrument import Profiler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--sink", choices=["auto", "smtp-sink", "aiosmtpd"], default="auto")
    parser.add_argument("--html", type=Path, help="also write the profile as HTML here")
    parser.add_argument(
        "--cpu-only",
        action="store_true",
        help="no profiler: only this process's CPU per message (the profiler's own cost left out)",
    )
    args = parser.parse_args()

    from distributie.delivery.sending import RecipientSender
    from distributie.delivery.throttle import RedisConnectionGate
    from distributie.delivery.transport import make_transport
    from distributie.ledger import Ledger
    from distributie.operations import runs
    from distributie.runtime.processes import holder_name
    from distributie.runtime.redis_server import RedisServer
    from distributie.settings import load_settings

    bench.WORK.mkdir(parents=True, exist_ok=True)
    inputs = bench.generate(args.n)
    data = bench.WORK / "redis-profile"
    shutil.rmtree(data, ignore_errors=True)
    server = RedisServer(data)
    server.start()
    try:
        with bench.smtp_sink(bench.sink_kind(args.sink)) as sink:
            os.environ.update(bench.distributie_env(server.url, sink.port))
            settings = load_settings()
            checked = bench.checked_inputs(inputs)
            recipients = checked.recipients
            ledger = Ledger.from_url(server.url)
            run_id = runs.create_run(ledger, checked, recipients.recipients, "bench", "bench")
            gate = RedisConnectionGate(ledger.client, holder_name(), 4)
            sender = RecipientSender(settings, ledger, make_transport(settings, gate), gate)
            keys = [r.key for r in recipients.recipients]
            sender.send(run_id, keys[0], 1, lambda *_: None)  # warm: compile, connect
            profiler = None if args.cpu_only else Profiler(interval=0.0005)
            start, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.start()
            for key in keys[1:]:
                sender.send(run_id, key, 1, lambda *_: None)
            if profiler:
                profiler.stop()
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            sender.transport.close()
            counts = ledger.counts(run_id)
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
    if profiler:
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        if args.html:
            args.html.write_text(profiler.output_html())
    n = len(keys) - 1
    print(
        f"{n} messages in {seconds:.2f} s: {seconds / n * 1000:.2f} ms per message, "
        f"{cpu / n * 1000:.2f} ms of this process's CPU; {counts}"
    )


if __name__ == "__main__":
    main()

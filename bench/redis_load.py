"""What one message costs the Redis server, as input for scale-out planning (bench/README.md,
"Scale-out on paper").

    .venv/bin/python bench/redis_load.py              # 10,000 recipients, 3 runs
    .venv/bin/python bench/redis_load.py -n 2000 --runs 1

Each run sends N recipients end to end exactly as bench/run.py does (`distributie send`, one
`distributie worker --concurrency 2`, the SMTP sink, a private Redis with AOF) and reads Redis's
own counters before and after: commands executed (also those inside Lua scripts), CPU of the
main thread (the one that executes commands, and so the one that saturates), network bytes, and
memory and keys left per recipient. Writes bench/redis_load.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redis
from run import (
    BENCH,
    WORK,
    compile_package,
    generate,
    queue_run,
    redis_and_worker,
    sink_kind,
    smtp_sink,
)


def counters(client: redis.Redis) -> dict[str, float]:
    cpu = client.info("cpu")
    stats = client.info("stats")
    memory = client.info("memory")
    commands = client.info("commandstats")
    scripts = sum(
        int(v["calls"]) for k, v in commands.items() if k in ("cmdstat_evalsha", "cmdstat_eval")
    )
    return {
        "main_cpu": float(cpu["used_cpu_user_main_thread"])
        + float(cpu["used_cpu_sys_main_thread"]),
        "all_cpu": float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
        "commands": sum(int(v["calls"]) for v in commands.values()),
        "scripts": scripts,
        "net_in": int(stats["total_net_input_bytes"]),
        "net_out": int(stats["total_net_output_bytes"]),
        "memory": int(memory["used_memory"]),
        "keys": int(client.dbsize()),
    }


def one_run(n: int, sink_port: int) -> dict[str, Any]:
    inputs = generate(n)
    with redis_and_worker(f"load-{n}", sink_port, 2) as (server, _worker, env):
        client = server.client()
        client.config_resetstat()
        before = counters(client)
        start = time.perf_counter()
        queue_run(inputs, env)
        [run_id] = [r.decode() for r in client.zrange("distributie:runs", 0, -1)]
        while int(client.hget(f"distributie:run:{run_id}:counts", "sent") or 0) < n:
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        after = counters(client)
        client.close()
    delta = {k: after[k] - before[k] for k in after}
    # The few commands of this script's own polling are left in: at most ~20 a second.
    return {
        "n": n,
        "seconds": round(seconds, 2),
        "per_second": round(n / seconds, 1),
        "commands_per_message": round(delta["commands"] / n, 2),
        "script_calls_per_message": round(delta["scripts"] / n, 2),
        "main_thread_cpu_ms_per_message": round(delta["main_cpu"] * 1000 / n, 4),
        "all_threads_cpu_ms_per_message": round(delta["all_cpu"] * 1000 / n, 4),
        "main_thread_busy_share": round(delta["main_cpu"] / seconds, 3),
        "net_in_bytes_per_message": round(delta["net_in"] / n),
        "net_out_bytes_per_message": round(delta["net_out"] / n),
        "memory_bytes_per_recipient": round(delta["memory"] / n),
        "keys_per_recipient": round(delta["keys"] / n, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=BENCH / "redis_load.json")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    compile_package()
    runs = []
    with smtp_sink(sink_kind("auto")) as sink:
        for i in range(args.runs):
            result = one_run(args.n, sink.port)
            print(f"  run {i + 1}: {json.dumps(result)}", file=sys.stderr)
            runs.append(result)
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    out = {"n": args.n, "runs": args.runs, "median": median, "all_runs": runs}
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(median, indent=2))


if __name__ == "__main__":
    main()

"""How long `distributie archive` takes for a run of N messages (issue 12: 10,000 in at most 30 s
on two cores).

    .venv/bin/python bench/archive.py            # N = 10,000
    .venv/bin/python bench/archive.py -n 2000    # a quick look
    .venv/bin/python bench/archive.py --serial --runs 3   # also rebuilding in one process

Untimed set-up: a private Redis, a run of N synthetic burgemeesters of the bundled mailing (a
personalised .docx each, ~57 kB per message), every one "sent" by the real RecipientSender on two
cores through a transport that takes the bytes and answers 250, so the ledger records each
attempt exactly as it does for SMTP. Timed: `write_archive`, as `distributie archive` runs it,
from reading the ledger to the finished zip. Prints the figures and checks that every message
matched.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from distributie.compose.checking import check_mailing  # noqa: E402
from distributie.compose.mailing import BUNDLED_MAILING, load_mailing  # noqa: E402
from distributie.compose.recipients import read_recipients  # noqa: E402
from distributie.delivery.sending import RecipientSender  # noqa: E402
from distributie.delivery.transport import Envelope, Reply  # noqa: E402
from distributie.ledger import Ledger  # noqa: E402
from distributie.operations import rebuild  # noqa: E402
from distributie.operations.archive import write_archive  # noqa: E402
from distributie.operations.rebuild import PARALLEL_FROM  # noqa: E402
from distributie.operations.runs import create_run  # noqa: E402
from distributie.runtime.redis_server import RedisServer  # noqa: E402
from distributie.settings import Settings  # noqa: E402

WORK = ROOT / "bench" / "work" / "archive"


class TakeAll:
    """A transport that takes every message: the end of DATA is marked, the answer is 250."""

    def send(
        self, envelope: Envelope, message: bytes, before_end_of_data: Callable[[], None]
    ) -> Reply:
        before_end_of_data()
        return Reply(250, "2.0.0 taken")

    def close(self) -> None:
        pass


def write_list(path: Path, n: int) -> Path:
    """N burgemeesters made from the bundled 39 (as bench/run.py makes them)."""
    mailing = load_mailing(BUNDLED_MAILING)
    assert mailing.default_recipients is not None
    base = read_recipients(mailing.default_recipients, mailing.spec.required_columns)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, base.columns)
        writer.writeheader()
        for i in range(n):
            model = base.recipients[i % len(base.recipients)]
            gemeente = f"{model.gemeente} {i + 1:06d}"
            writer.writerow(
                dict(model.fields, gemeente=gemeente, email=f"b{i + 1}@{model.key}.example")
            )
    return path


def _send_share(url: str, run_id: str, keys: list[str]) -> None:
    settings = Settings(_env_file=None, redis_url=url)  # type: ignore[call-arg]
    sender = RecipientSender(settings, Ledger.from_url(url), TakeAll())
    for key in keys:
        sender.send(run_id, key, 1, lambda *args: None)


def prepare(url: str, n: int) -> str:
    """A run of N, every recipient sent (untimed)."""
    checked = check_mailing(BUNDLED_MAILING, write_list(WORK / "list.csv", n), 10**7)
    ledger = Ledger.from_url(url)
    run_id = create_run(ledger, checked, checked.recipients.recipients, "bench", "bench")
    keys = ledger.recipient_keys(run_id)
    halves = [keys[0::2], keys[1::2]]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.starmap(_send_share, [(url, run_id, half) for half in halves])
    assert ledger.counts(run_id)["sent"] == n
    return run_id


def timed(ledger: Ledger, run_id: str, serial: bool) -> None:
    """One archive of the run, timed, with the load of the machine before and after."""
    rebuild.PARALLEL_FROM = sys.maxsize if serial else PARALLEL_FROM
    out = WORK / "archief.zip"
    out.unlink(missing_ok=True)
    load = os.getloadavg()[0]
    cpu = os.times()
    started = time.monotonic()
    result = write_archive(ledger, run_id, out)
    seconds = time.monotonic() - started
    after = os.times()
    used = sum(getattr(after, f) - getattr(cpu, f) for f in ("user", "system"))
    used_children = sum(
        getattr(after, f) - getattr(cpu, f) for f in ("children_user", "children_system")
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = out.stat().st_size / 1e6
    print(
        f"{'serial  ' if serial else 'parallel'}: archive of {len(result.messages)} messages in "
        f"{seconds:.1f} s ({len(result.messages) / seconds:.0f}/s); CPU {used:.1f} s in this "
        f"process + {used_children:.1f} s in its rebuilders; zip {size:.0f} MB; "
        f"peak RSS {rss:.0f} MB; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after; "
        f"{len(result.mismatches)} mismatches"
    )
    if result.mismatches:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=1, help="timed archives per mode")
    parser.add_argument("--serial", action="store_true", help="also rebuild in one process")
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    server = RedisServer(WORK / "redis")
    server.start()
    try:
        started = time.monotonic()
        run_id = prepare(server.url, args.n)
        print(f"set-up: {args.n} sent in {time.monotonic() - started:.1f} s (untimed)")
        ledger = Ledger.from_url(server.url)
        for _ in range(args.runs):
            timed(ledger, run_id, serial=False)
            if args.serial:
                timed(ledger, run_id, serial=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()

"""An SMTP sink in its own process (aiosmtpd): accepts every message and throws it away.

Used when Postfix's `smtp-sink` is not installed, and always for the rate-limit measurement,
because it writes the arrival time of every message (one line per message) to a file:

    python bench/sink.py PORT [ARRIVALS_FILE]
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from typing import IO, Any

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, arrivals: IO[str] | None) -> None:
        self.arrivals = arrivals
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        if self.arrivals is not None:
            self.arrivals.write(f"{time.time():.6f}\n")
            self.arrivals.flush()
        return "250 2.0.0 Ok: queued"


def main() -> None:
    port = int(sys.argv[1])
    arrivals = open(sys.argv[2], "a", encoding="ascii") if len(sys.argv) > 2 else None  # noqa: SIM115
    controller = Controller(
        Sink(arrivals), hostname="127.0.0.1", port=port, data_size_limit=0, decode_data=False
    )
    controller.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.run_until_complete(stop.wait())
    controller.stop()


if __name__ == "__main__":
    main()

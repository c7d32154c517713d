"""How fast a run goes, as this web process sees it: every page that follows a run adds a sample
of its counts, and the rate is measured over the last minute. It costs Redis nothing extra."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

WINDOW = 60.0  # seconds of samples the rate is measured over
MINIMUM = 4.0  # seconds of samples before a rate is shown
RUNS_KEPT = 64


class RateMeter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: OrderedDict[str, deque[tuple[float, int]]] = OrderedDict()

    def observe(self, run: str, done: int, now: float | None = None) -> float | None:
        """Record that `done` recipients of `run` are finished; messages per minute, or None
        while too little has been seen."""
        now = time.monotonic() if now is None else now
        with self._lock:
            samples = self._samples.setdefault(run, deque())
            self._samples.move_to_end(run)
            while len(self._samples) > RUNS_KEPT:
                self._samples.popitem(last=False)
            if samples and done < samples[-1][1]:
                samples.clear()  # a retry put recipients back in the queue: start again
            samples.append((now, done))
            while len(samples) > 2 and now - samples[1][0] >= WINDOW:
                samples.popleft()
            first_at, first_done = samples[0]
            if now - first_at < MINIMUM:
                return None
            return (done - first_done) * 60.0 / (now - first_at)


def rate_words(per_minute: float | None) -> str:
    """ "ongeveer 12 per minuut", or per second when it is fast."""
    if per_minute is None:
        return "wordt berekend"
    if per_minute >= 120:
        return f"ongeveer {round(per_minute / 60)} per seconde"
    if per_minute < 1:
        return "minder dan 1 per minuut"
    return f"ongeveer {round(per_minute)} per minuut"

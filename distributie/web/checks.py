"""Lists this web process checked a moment ago, so that looking at previews of one recipient
after another does not check and render the whole list every time. Starting a run always checks
again, exactly as `send` does."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from distributie.operations.mailings import CheckedMailing

KEPT = 4
SECONDS = 600.0


class CheckCache:
    def __init__(self, kept: int = KEPT, seconds: float = SECONDS) -> None:
        self.kept = kept
        self.seconds = seconds
        self._lock = threading.Lock()
        self._checked: OrderedDict[tuple[str, str], tuple[float, CheckedMailing]] = OrderedDict()

    def get(self, key: tuple[str, str], check: Callable[[], CheckedMailing]) -> CheckedMailing:
        """The check of `key` (mailing folder, list) from the last ten minutes, or a new one;
        `check` raises InputError for a list with problems, and nothing is kept then."""
        now = time.monotonic()
        with self._lock:
            found = self._checked.get(key)
            if found is not None and now - found[0] < self.seconds:
                self._checked.move_to_end(key)
                return found[1]
        checked = check()
        self.put(key, checked)
        return checked

    def put(self, key: tuple[str, str], checked: CheckedMailing) -> None:
        with self._lock:
            self._checked[key] = (time.monotonic(), checked)
            self._checked.move_to_end(key)
            while len(self._checked) > self.kept:
                self._checked.popitem(last=False)

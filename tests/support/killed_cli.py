"""`distributie` killed (SIGKILL) at the moment it would hand task messages to the broker: after
the ledger has queued the recipients, before any task message is published. That is where a
crash of the real command (a kill, an OOM, a lost terminal) strands recipients in `queued`.

For tests only, and only here: nothing in the package knows of it. Run as
`python -m tests.support.killed_cli send --yes ...` with the checkout on PYTHONPATH.
"""

from __future__ import annotations

import os
import signal
from typing import NoReturn

from distributie.cli import main
from distributie.delivery import tasks


def _killed(*_: object, **__: object) -> NoReturn:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("SIGKILL returned")


# operations/runs.py reads the function from the module when it publishes, so this is what runs.
tasks.enqueue = _killed

if __name__ == "__main__":
    main()

"""Stand-ins for ``kerasgene.demo._entry_process`` run in the demo's spawned processes by
tests/test_demo_format.py: each entry behaves as the ``truth`` argument says (no training)."""

import os
import signal
import time
from pathlib import Path

from kerasgene.errors import KerasgeneError


def entry(name, key, data, runs, seed, truth, level) -> dict:
    """``truth[name]``: "fail" (a KerasgeneError after 0.5 s), "kill" (SIGKILL itself),
    "sleep" (60 s), else a row; every entry but "fail" and "kill" first writes
    ``runs/<name>.<key>.started`` after 1 s (a stopped demo starts nothing more)."""
    what = truth.get(name if key is None else f"{name}.{key}", "ok")
    if what == "fail":
        time.sleep(0.5)
        raise KerasgeneError(f"{name}: a planted failure")
    if what == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(1.0)
    Path(runs, f"{name}.{key}.started").touch()
    if what == "sleep":
        time.sleep(60)
    return {"metric": "r2", "test": 0.5, "seconds": 1.0, "phases": {}}

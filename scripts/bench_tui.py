"""TUI cold start: from launching `python` to the first usable screen (the sign-in form mounted and
painted, input focused), in a fresh process each run, on the embedded default (emulated reader, demo
cards, a fresh terminal home). Median of several runs. Target: ≤ 1.5 s.

    python scripts/bench_tui.py            # 7 runs, prints JSON
    python scripts/bench_tui.py --quick    # 3 runs
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 1.5

# The child: the app as `ykt` starts it (headless, 120×36), reporting once the first screen is usable.
CHILD = """
import sys
from terminal.tui.app import TuiOptions, YktApp

async def ready(pilot):
    await pilot.pause()
    screen = pilot.app.screen
    focused = pilot.app.focused
    sys.stdout.write(f"ready {type(screen).__name__} {type(focused).__name__ if focused else '-'}\\n")
    sys.stdout.flush()
    pilot.app.exit()

YktApp(TuiOptions(pcsc=False)).run(headless=True, size=(120, 36), auto_pilot=ready)
"""


def one_run(home: Path) -> tuple[float, str]:
    env = {**os.environ, "YKT_HOME": str(home), "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    elapsed = time.perf_counter() - started
    proc.wait(timeout=30)
    if not line.startswith("ready"):
        raise RuntimeError(f"the app did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return elapsed, line.split(" ", 1)[1].strip()


def run(quick: bool = False) -> dict[str, Any]:
    runs = 3 if quick else 7
    samples: list[float] = []
    screen = ""
    with tempfile.TemporaryDirectory(prefix="ykt-bench-tui-") as tmp:
        for i in range(runs):
            home = Path(tmp) / f"home{i}"  # a fresh home: the first run of a new terminal
            home.mkdir()
            seconds, screen = one_run(home)
            samples.append(seconds)
    return {
        "what": "python start → first usable TUI screen (sign-in form focused), fresh process and home each run",
        "runs": runs,
        "median_s": round(statistics.median(samples), 3),
        "max_s": round(max(samples), 3),
        "min_s": round(min(samples), 3),
        "screen": screen,
        "target_s": TARGET_S,
    }


if __name__ == "__main__":
    sys.stdout.write(json.dumps(run("--quick" in sys.argv), ensure_ascii=False) + "\n")

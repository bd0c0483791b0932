"""The kill -9 machinery both harnesses share (killharness.py with the fake card, card_harness.py with the real
emulated one): the step counter that SIGKILLs its process at step k, the fork of one child, the loop that
kills every scenario at step k = 1, 2, … until a child finishes, the pool of harness workers and the summed
result, and the command line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

Step = Callable[[str], None]
R = TypeVar("R", bound="HarnessResult")


class HarnessFailure(AssertionError):
    pass


@dataclass
class HarnessResult:
    runs: int = 0
    kills: int = 0
    completed: int = 0
    scenarios: int = 0
    kill_steps: dict[str, int] = field(default_factory=dict)
    recovered_committed: int = 0
    recovered_failed: int = 0
    seconds: float = 0.0

    def add(self, part: dict[str, Any]) -> None:
        """Sum a worker's result (as saved by `json.dumps(result.__dict__)`) into this one; not the seconds."""
        for f in fields(self):
            if f.name == "seconds":
                continue
            mine = getattr(self, f.name)
            if isinstance(mine, dict):
                for key, n in part[f.name].items():
                    mine[key] = mine.get(key, 0) + n
            else:
                setattr(self, f.name, mine + part[f.name])


class Killer:
    """Counts steps; SIGKILLs this process at step `kill_at` after noting which step it was."""

    def __init__(self, kill_at: int, note: Path | None) -> None:
        self.n = 0
        self.kill_at = kill_at
        self.note = note

    def step(self, name: str) -> None:
        self.n += 1
        if self.n == self.kill_at:
            if self.note is not None:
                self.note.write_text(name)
            os.kill(os.getpid(), signal.SIGKILL)

    def sql(self, statement: str) -> None:
        words = statement.split(None, 1)
        self.step("sql " + (words[0].upper() if words else "?"))


def fork_child(run_dir: Path, body: Callable[[], None], where: str = "") -> bool:
    """Run `body` in a child; True when it was SIGKILLed, False when it finished; HarnessFailure otherwise."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            body()
        except BaseException:
            (run_dir / "child-error").write_text(traceback.format_exc())
            code = 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return True
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return False
    error = (run_dir / "child-error").read_text() if (run_dir / "child-error").exists() else f"status {status}"
    raise HarnessFailure(f"child failed{where}: {error}")


def kill_runs(result: HarnessResult, runs: int, base: Path, template: Path, next_scenario: Callable[[], list],
              child: Callable[[Path, list, int], None]) -> Iterator[tuple[Path, list, int, str | None]]:
    """Until `result.runs` reaches `runs`: for each new scenario, a fresh copy of `template` per k = 1, 2, …
    and a forked `child(run_dir, ops, k)` that should SIGKILL itself at step k, until one finishes.

    Counts runs, kills (by the first word of the step noted in `killed-at`) and completions into `result`,
    then yields (run_dir, ops, k, step noted or None when the child finished) for the restart and checks."""
    while result.runs < runs:
        ops = next_scenario()
        result.scenarios += 1
        k = 0
        while result.runs < runs:
            k += 1
            run_dir = base / "run"
            if run_dir.exists():
                shutil.rmtree(run_dir)
            shutil.copytree(template, run_dir)
            killed = fork_child(run_dir, lambda: child(run_dir, ops, k), f" at kill step {k}")
            result.runs += 1
            step = None
            if killed:
                result.kills += 1
                step = (run_dir / "killed-at").read_text()
                kind = step.split()[0]
                result.kill_steps[kind] = result.kill_steps.get(kind, 0) + 1
            else:
                result.completed += 1
            yield run_dir, ops, k, step
            if not killed:
                break


def run_parallel(workers: int, prefix: str, workdir: Path | None, part: Callable[[int], HarnessResult],
                 total: R) -> R:
    """Fork `workers` harness processes, worker i running `part(i)`, and sum their results into `total`."""
    started = time.perf_counter()
    out = Path(tempfile.mkdtemp(prefix=prefix, dir=workdir))
    pids = []
    for i in range(workers):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                (out / f"{i}.json").write_text(json.dumps(part(i).__dict__))
            except BaseException:
                (out / f"{i}.error").write_text(traceback.format_exc())
                code = 1
            finally:
                os._exit(code)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    try:
        errors = [p.read_text() for p in sorted(out.glob("*.error"))]
        if errors:
            raise HarnessFailure(errors[0])
        parts = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
        if len(parts) != workers:
            raise HarnessFailure("a harness worker died without a result")
        for p in parts:
            total.add(p)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    total.seconds = time.perf_counter() - started
    return total


def harness_main(doc: str | None, run_harness: Callable[..., HarnessResult], runs: int, ops: int,
                 argv: Sequence[str] | None = None) -> int:
    """The command line of a harness module: `python -m tests.ledger.<harness> --runs N --workers W`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=runs, help="minimum number of children (killed or not)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ops", type=int, default=ops, help="operations per scenario")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel harness processes")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: /dev/shm if present)")
    args = parser.parse_args(argv)
    workdir = args.dir or (Path("/dev/shm") if Path("/dev/shm").is_dir() else None)
    result = run_harness(args.runs, args.seed, workdir, args.ops, args.workers)
    print(json.dumps(result.__dict__, indent=2))
    return 0

"""Fault switches of the simulated centre, for testing other systems against it (docs/centre.md "Faults").

| switch | effect |
|---|---|
| `latency_ms` | every answer is delayed by this many milliseconds |
| `drop` | `{infno: n}`: the next n answers (infcode 0) of that infno are withheld after the commit — the connection hangs until the client gives up: a lost answer. A resent msgid's stored answer counts too. n = −1: always |
| `fail` | `{infno: n}`: the next n requests of that infno are answered infcode −1 (`fail_msg`) before anything is read or written. n = −1: always |
| `clock_skew_s` | the centre's clock runs this many seconds ahead (negative: behind): answer times, settlement times, sign-in times, and the inf_time check |

Set at start (`ykt centre serve --latency-ms 50 --drop 2102`), at run time over HTTP (`PUT /ykt/faults` with
the JSON above, `GET` to read them, `DELETE` to clear) or with `ykt centre faults`.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

INFNO_RE = re.compile(r"^[0-9A-Z]{4}$")
DEFAULT_FAIL_MSG = "simulated failure (fault switch)"


@dataclass
class Faults:
    latency_ms: int = 0
    drop: dict[str, int] = field(default_factory=dict)
    fail: dict[str, int] = field(default_factory=dict)
    fail_msg: str = DEFAULT_FAIL_MSG
    clock_skew_s: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    @classmethod
    def from_json(cls, doc: object) -> Faults:
        """Validate a faults document (ValueError naming the field)."""
        if not isinstance(doc, dict):
            raise ValueError("faults must be a JSON object")
        unknown = set(doc) - {"latency_ms", "drop", "fail", "fail_msg", "clock_skew_s"}
        if unknown:
            raise ValueError(f"unknown fault switch(es): {', '.join(sorted(unknown))}")
        latency = doc.get("latency_ms", 0)
        skew = doc.get("clock_skew_s", 0)
        for name, value, low, high in (("latency_ms", latency, 0, 60_000), ("clock_skew_s", skew, -86_400 * 366, 86_400 * 366)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer {low}..{high}, got {value!r}")
        counts = {}
        for name in ("drop", "fail"):
            table = doc.get(name, {})
            if not isinstance(table, dict):
                raise ValueError(f"{name} must be an object {{infno: count}}")
            for infno, n in table.items():
                if not INFNO_RE.match(str(infno)):
                    raise ValueError(f"{name}: {infno!r} is not an infno")
                if isinstance(n, bool) or not isinstance(n, int) or n < -1:
                    raise ValueError(f"{name}.{infno} must be a count >= 0 or -1 (always), got {n!r}")
            counts[name] = {str(k): v for k, v in table.items() if v}
        msg = doc.get("fail_msg", DEFAULT_FAIL_MSG)
        if not isinstance(msg, str) or not msg.strip():
            raise ValueError("fail_msg must be a non-empty string")
        return cls(latency, counts["drop"], counts["fail"], msg, skew)

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {"latency_ms": self.latency_ms, "drop": dict(self.drop), "fail": dict(self.fail),
                    "fail_msg": self.fail_msg, "clock_skew_s": self.clock_skew_s}

    def replace_with(self, other: Faults) -> None:
        with self._lock:
            self.latency_ms, self.drop, self.fail = other.latency_ms, dict(other.drop), dict(other.fail)
            self.fail_msg, self.clock_skew_s = other.fail_msg, other.clock_skew_s

    def _take(self, table: dict[str, int], infno: str) -> bool:
        with self._lock:
            n = table.get(infno, 0)
            if n == 0:
                return False
            if n > 0:
                if n == 1:
                    del table[infno]
                else:
                    table[infno] = n - 1
            return True

    def take_fail(self, infno: str) -> bool:
        """Whether this request of `infno` is to be failed (and count it)."""
        return self._take(self.fail, infno)

    def take_drop(self, infno: str) -> bool:
        """Whether this committed answer of `infno` is to be dropped (and count it)."""
        return self._take(self.drop, infno)

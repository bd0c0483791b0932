"""Wall-clock helpers of the clearing service (UTC, ISO 8601 with milliseconds)."""

from __future__ import annotations

import datetime as _dt
import time


def iso_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def unix_now() -> int:
    return int(time.time())

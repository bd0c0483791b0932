"""Test helpers around a real pcscd with the vpcd driver.

* `require_pcscd()` reuses or starts pcscd (process management lives in `reader.pcscd_service`);
  when pcscd / vpcd / pyscard is missing it skips — or fails when ``$CI`` is set — pointing to
  ``scripts/install-test-deps``.
* `served_card(card, slot)` serves a card object through a `VpcdBridge` in a background thread
  for the duration of a ``with`` block, and only returns once pyscard sees the card present (on
  entry) and absent (on exit).

Fixtures built on these are in ``tests/pcsc_fixtures.py``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import NoReturn

import pytest

from reader.errors import PcscUnavailable
from reader.pcscd_service import PcscdService, ensure_pcscd, serve_card, vpcd_lock
from reader.vpcd import Faults, ServedCard, VpcdBridge

PRESENCE_TIMEOUT = 5.0
LOCK_TIMEOUT = 600.0


INSTALL_ADVICE = "see scripts/install-test-deps"


def unavailable(reason: str, advice: str = INSTALL_ADVICE) -> NoReturn:
    """Skip the test — or fail it when ``$CI`` is set, where the dependencies must be there."""
    message = f"{reason} — {advice}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@contextmanager
def exclusive_vpcd(timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the machine-wide vpcd lock; skip/fail if another session keeps it past `timeout`."""
    with ExitStack() as stack:
        try:
            stack.enter_context(vpcd_lock(timeout))
        except TimeoutError as exc:
            unavailable(str(exc), "another test session or benchmark is using pcscd")
        yield


def require_pcscd(log_path: Path | None = None) -> PcscdService:
    """Reuse the running pcscd or start one; skip/fail (see `unavailable`) when it cannot be had."""
    try:
        return ensure_pcscd(log_path=log_path)
    except PcscUnavailable as exc:
        unavailable(str(exc))


def require_tool(name: str) -> str:
    """Path of a command-line tool from the test dependencies (skip/fail when missing)."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed")
    return path


def served_card(
    card: ServedCard,
    slot: int = 0,
    *,
    faults: Faults | None = None,
    reinsert_after: float | None = None,
    timeout: float = PRESENCE_TIMEOUT,
) -> AbstractContextManager[VpcdBridge]:
    """Put `card` in ``Virtual PCD 00 0<slot>`` for the ``with`` block; yield the bridge.

    Enters once pyscard sees the card present; on exit stops the bridge, joins its thread and
    waits until pyscard sees the slot empty, so the next test starts from a clean reader.
    (`reader.pcscd_service.serve_card`, shared with scripts/bench_pcsc.py.)
    """
    return serve_card(card, slot, faults=faults, reinsert_after=reinsert_after, timeout=timeout)

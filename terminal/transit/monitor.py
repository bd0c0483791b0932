"""Where taps come from, and the headless validator loop.

* `PcscTapSource` — a PC/SC reader watched with pyscard's `CardMonitor` (an observer queues insertions and
  removals). pyscard's monitor thread ends for good when pcscd goes away; the source notices, waits for
  pcscd to answer again and starts a fresh monitor, so a validator keeps running through pcscd restarts
  and reader unplugs.
* `EmulatedTapSource` — card images presented in turn to an in-process `EmulatedReader` (demos, tests,
  `--card`).
* `run(validator, source, emit, stop)` — wait for a card, process the tap, emit the outcome, wait until the
  card is gone; until `stop` is set or the source runs out. A reader or pcscd failure between taps is
  waited out, never fatal. While no card is presented the validator does its housekeeping (`idle()`: the
  ledger's WAL checkpoint), so that no tap pays for it.

Example::

    >>> source = PcscTapSource("Virtual PCD 00 00")                         # doctest: +SKIP
    >>> run(validator, source, lambda outcome: print(outcome.line()), threading.Event())   # doctest: +SKIP
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from applets.card import VirtualCard
from reader.base import Reader
from reader.emulated import EmulatedReader
from reader.errors import ReaderError
from terminal.transit.outcome import TapOutcome

log = logging.getLogger(__name__)


class TapSource(Protocol):
    reader: Reader

    def wait_for_card(self, timeout: float) -> bool:
        """True when a card was presented within `timeout` seconds."""
        ...

    def wait_for_removal(self, timeout: float) -> bool:
        """True once the presented card is gone (False on timeout)."""
        ...

    @property
    def exhausted(self) -> bool:
        """No more taps will ever come (an emulated source that presented all its cards)."""
        ...

    def close(self) -> None: ...


class EmulatedTapSource:
    """Presents `cards` one after another, `rounds` times, in an in-process reader; `on_present(card)` may
    e.g. advance a simulated clock."""

    def __init__(self, cards: Sequence[VirtualCard], *, rounds: int = 1, reader: EmulatedReader | None = None,
                 on_present: Callable[[VirtualCard], None] | None = None) -> None:
        self.reader = reader or EmulatedReader(None, "emulated validator")
        self._queue = [card for _ in range(rounds) for card in cards]
        self._on_present = on_present

    @property
    def exhausted(self) -> bool:
        return not self._queue and self.reader.card is None

    def wait_for_card(self, timeout: float) -> bool:
        if not self._queue:
            return False
        card = self._queue.pop(0)
        if self._on_present is not None:
            self._on_present(card)
        self.reader.insert(card)
        return True

    def wait_for_removal(self, timeout: float) -> bool:
        self.reader.remove()
        return True

    def close(self) -> None:
        self.reader.remove()


class _Quiet:
    """Stands in for the `traceback` module inside pyscard's monitor thread, which prints every PC/SC error
    (pcscd restarting) to stderr: logged at debug level instead."""

    @staticmethod
    def print_exc(*_: Any, **__: Any) -> None:
        log.debug("pyscard card monitor", exc_info=True)


def _release(thread: Any) -> None:
    """Release the dead monitor's PC/SC context now (its handle died with pcscd), instead of letting its
    destructor raise later."""
    request = getattr(getattr(thread, "cardrequest", None), "pcsccardrequest", None)
    if request is not None:
        try:
            request.release()
        except Exception:
            request.hcontext = None


def _forget_monitor_context() -> None:
    """At exit: pcscd may be gone already, so the monitor's context must not be released by its destructor."""
    try:
        from smartcard.CardMonitoring import CardMonitoringThread
    except ImportError:
        return
    thread = CardMonitoringThread.instance
    request = getattr(getattr(thread, "cardrequest", None), "pcsccardrequest", None)
    if request is not None:
        request.hcontext = None


class _Observer:
    def __init__(self, events: queue.Queue[tuple[str, str]]) -> None:
        self.events = events

    def update(self, observable: object, handlers: tuple[list[Any], list[Any]]) -> None:
        added, removed = handlers
        log.debug("card monitor: added %s, removed %s", [str(c.reader) for c in added], [str(c.reader) for c in removed])
        for card in removed:
            self.events.put(("removed", str(card.reader)))
        for card in added:
            self.events.put(("added", str(card.reader)))


POLL_S = 0.25


class PcscTapSource:
    """Taps on the PC/SC reader `selector` (a name, a unique part of one, or an index).

    Insertions come from pyscard's `CardMonitor`; while waiting, the source also asks pcscd for the reader's
    presence state every `POLL_S` seconds, so an insertion the monitor did not report is not lost. The reader
    disconnects without powering the card down (`PcscReader(leave_card=True)`)."""

    def __init__(self, selector: str | int, *, trace: Any = None, retry_s: float = 0.5) -> None:
        self.selector = selector
        from reader.pcsc import PcscReader

        self.reader = PcscReader(selector, trace=trace, leave_card=True)
        self.retry_s = retry_s
        self._events: queue.Queue[tuple[str, str]] = queue.Queue()
        self._observer: _Observer | None = None
        self._name: str | None = None
        self.restarts = 0

    @property
    def exhausted(self) -> bool:
        return False

    # ---- pyscard's CardMonitor ----

    def _monitor_alive(self) -> bool:
        from smartcard.CardMonitoring import CardMonitoringThread

        thread = CardMonitoringThread.instance
        return self._observer is not None and thread is not None and thread.is_alive()

    def _start_monitor(self) -> bool:
        """(Re)start the monitor once pcscd answers and our reader is there; False if not yet."""
        from smartcard import CardMonitoring
        from smartcard.CardMonitoring import CardMonitor, CardMonitoringThread

        from reader.pcsc import list_readers, select_reader

        try:
            self._name = select_reader(list_readers(), self.selector)
        except ReaderError as e:
            log.info("waiting for the reader %r: %s", self.selector, e)
            return False
        CardMonitoring.traceback = _Quiet  # type: ignore[attr-defined]
        if self._observer is not None:
            try:
                CardMonitor().deleteObserver(self._observer)
            except Exception:  # a dead monitor: nothing to detach from
                pass
            self._observer = None
        with CardMonitoringThread.lock:
            thread = CardMonitoringThread.instance
            if thread is not None and not thread.is_alive():
                _release(thread)
                CardMonitoringThread.instance = None  # pyscard's thread ended with pcscd: forget it
                CardMonitor.instance = None
        self.restarts += 1
        if self.restarts == 1:
            atexit.register(_forget_monitor_context)
        self._observer = _Observer(self._events)
        CardMonitor().addObserver(self._observer)  # replays the cards present now as "added"
        return True

    def _ours(self, name: str) -> bool:
        return name == self._name

    def wait_for_card(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if not self._monitor_alive() and not self._start_monitor():
                time.sleep(min(self.retry_s, max(0.0, deadline - time.monotonic())))
                if time.monotonic() >= deadline:
                    return False
                continue
            try:
                what, name = self._events.get(timeout=max(0.0, min(POLL_S, deadline - time.monotonic())))
            except queue.Empty:
                if self._present_now():  # an insertion the monitor did not report (see PcscTapSource)
                    return True
                if time.monotonic() >= deadline:
                    return False
                continue
            log.debug("event %s %s (ours: %s)", what, name, self._ours(name))
            if what == "added" and self._ours(name):
                return True

    def _present_now(self) -> bool:
        try:
            return self.reader.card_present()
        except ReaderError:
            return False

    def wait_for_removal(self, timeout: float) -> bool:
        """Wait for the card to leave (pcscd's presence state, not the event queue: a card pulled mid-tap
        may have left before its events were read)."""
        try:
            self.reader.disconnect()
        except ReaderError:
            pass
        try:
            gone = self.reader.wait_for_removal(timeout)
        except ReaderError as e:  # pcscd went away: the card is as good as gone
            log.info("waiting for removal: %s", e)
            gone = True
        if gone:
            self._drain()
        log.debug("removal: %s", "gone" if gone else "still there")
        return gone

    def _drain(self) -> None:
        """Forget queued events of cards that are gone, keep a later insertion."""
        kept: list[tuple[str, str]] = []
        while True:
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                break
            kept.append(item)
        last: dict[str, str] = {}
        for what, name in kept:
            last[name] = what
        for name, what in last.items():
            if what == "added":
                self._events.put((what, name))

    def close(self) -> None:
        from smartcard.CardMonitoring import CardMonitor

        if self._observer is not None:
            try:
                CardMonitor().deleteObserver(self._observer)
            except Exception:
                pass
            self._observer = None
        try:
            self.reader.disconnect()
        except ReaderError:
            pass


def run(validator: Any, source: TapSource, emit: Callable[[TapOutcome], None], stop: threading.Event, *,
        max_taps: int | None = None, removal_timeout: float = 3600.0) -> int:
    """The headless loop: one outcome per tap until `stop`, `max_taps`, or an exhausted source. Returns the
    number of taps."""
    taps = 0
    while not stop.is_set() and (max_taps is None or taps < max_taps):
        try:
            presented = source.wait_for_card(0.5)
        except ReaderError as e:
            log.info("reader not ready (%s): retrying", e)
            stop.wait(0.5)
            continue
        if not presented:
            validator.idle()  # no card in the field: the ledger's housekeeping happens now, not during a tap
            if source.exhausted:
                break
            continue
        try:
            emit(validator.process_tap())
        except Exception:  # a bug must not stop a validator in the field: logged, and the next card is served
            log.exception("tap failed")
        taps += 1
        while not stop.is_set() and not source.wait_for_removal(min(removal_timeout, 0.5)):
            pass
    return taps

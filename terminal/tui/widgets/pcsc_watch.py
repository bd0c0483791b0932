"""PC/SC readers and their cards, watched from a thread worker: `list_readers` for the readers, pyscard's
`CardMonitor` for insert / remove. Each change is posted to the screen as a `ReaderEvent`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from textual.message import Message

POLL_S = 0.5
RETRY_S = 3.0


class ReaderEvent(Message):
    """The readers pcscd knows now and whether each holds a card; or why PC/SC cannot be used."""

    def __init__(self, readers: dict[str, bool | None], problem: str | None = None) -> None:
        super().__init__()
        self.readers = readers
        self.problem = problem


def watch_readers(post: Callable[[ReaderEvent], Any], cancelled: Callable[[], bool]) -> None:
    """Blocking: runs until `cancelled()`; posts a ReaderEvent whenever the picture changes."""
    from reader.errors import ReaderError
    from reader.pcsc import list_readers

    present: dict[str, bool] = {}
    lock = threading.Lock()
    monitor: Any = None
    observer: Any = None
    last: tuple[Any, ...] | None = None
    next_list = 0.0
    names: list[str] = []
    problem: str | None = None
    try:
        while not cancelled():
            now = time.monotonic()
            if now >= next_list:
                try:
                    names = list_readers()
                    problem = None
                    next_list = now + 2.0
                except ReaderError as e:
                    names, problem = [], str(e)
                    next_list = now + RETRY_S
                if names and monitor is None:
                    monitor, observer = _start_monitor(present, lock)
            with lock:
                readers = {n: present.get(n, False if monitor is not None else None) for n in names}
            picture = (problem, tuple(sorted(readers.items())))
            if picture != last:
                last = picture
                post(ReaderEvent(readers, problem))
            time.sleep(POLL_S)
    finally:
        if monitor is not None and observer is not None:
            try:
                monitor.deleteObserver(observer)
            except Exception:  # pyscard's monitor thread may already be gone
                pass


def _start_monitor(present: dict[str, bool], lock: threading.Lock) -> tuple[Any, Any]:
    try:
        from smartcard.CardMonitoring import CardMonitor, CardObserver
    except ImportError:
        return None, None

    class Observer(CardObserver):  # type: ignore[misc]
        def update(self, observable: Any, actions: Any) -> None:
            added, removed = actions
            with lock:
                for card in added:
                    present[str(card.reader)] = True
                for card in removed:
                    present[str(card.reader)] = False

    try:
        monitor = CardMonitor()
        observer = Observer()
        monitor.addObserver(observer)
    except Exception:  # pcscd went away between listing and monitoring: listed as unknown
        return None, None
    return monitor, observer

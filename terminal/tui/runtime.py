"""The library objects a running TUI keeps open: the counter (terminal.counter.Counter) and the validator
(terminal.transit's Validator), each with the terminal's PSAM. SQLite connections belong to the thread that
opened them, so each runtime runs every call on its own single thread (`call`); screens reach them only
through thread workers (backend.py)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from reader.base import Reader
from terminal.tui.session import EmulatedSlot, Session

T = TypeVar("T")


def demo_psam(home: Path) -> Reader:
    """The terminal's PSAM: the demo PSAM image in the terminal's home, in-process (issued on first use,
    as `ykt purse` does)."""
    from reader.card_file import open_card_image
    from reader.emulated import EmulatedReader
    from terminal.demo import demo_psam_path

    psam = EmulatedReader(open_card_image(demo_psam_path(home)), name="PSAM")
    psam.connect()
    return psam


def psam_terminal_id(psam: Reader) -> str:
    from terminal.purse.psam import Psam

    return Psam(psam).open().hex().upper()


class ThreadBound:
    """Runs everything on one thread of its own."""

    def __init__(self, name: str) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self._thread.submit(fn, *args, **kwargs).result()

    def _close(self) -> None:
        pass

    def close(self) -> None:
        try:
            self.call(self._close)
        finally:
            self._thread.shutdown(wait=True)


class CounterRuntime(ThreadBound):
    """The counter: `Counter.open` on the session's ledger (created for the PSAM's terminal id)."""

    def __init__(self, session: Session) -> None:
        super().__init__("ykt-counter")
        self.counter: Any = None
        self.psam: Reader | None = None
        self.imported_demo_operators = 0
        try:
            self.call(self._open, session)
        except BaseException:
            self._thread.shutdown(wait=False)
            raise

    def _open(self, session: Session) -> None:
        from terminal.counter import Counter
        from terminal.datafiles import data_dir

        self.psam = demo_psam(session.home)
        self.counter = Counter.open(session.ledger_path, terminal_id=psam_terminal_id(self.psam),
                                    region=session.settings.terminal_region, clock=session.clock)
        if isinstance(session.slot, EmulatedSlot) and self.counter.operators.count() == 0:
            # The embedded demo terminal: its TEST operators (data/operators.example.csv), never on a
            # terminal with operators of its own.
            self.imported_demo_operators = self.counter.operators.import_csv(data_dir() / "operators.example.csv")

    def manager(self, reader: Reader) -> Any:
        return self.counter.manager(reader, self.psam)

    def _close(self) -> None:
        if self.counter is not None:
            self.counter.close()
        if self.psam is not None:
            self.psam.disconnect()


class KioskRuntime(ThreadBound):
    """The validator behind the kiosk: fare tables, the PSAM, the ledger, the hotlist file."""

    def __init__(self, session: Session) -> None:
        super().__init__("ykt-kiosk")
        self.ledger: Any = None
        self.psam: Reader | None = None
        self.validator: Any = None
        try:
            self.call(self._open, session)
        except BaseException:
            self._thread.shutdown(wait=False)
            raise

    def _open(self, session: Session) -> None:
        from terminal.hotlist import default_hotlist_path
        from terminal.ledger import Ledger
        from terminal.purse import LoadHost
        from terminal.transit.fares import load_fares
        from terminal.transit.validator import HotlistFile, Validator

        settings = session.settings
        self.psam = demo_psam(session.home)
        path = session.ledger_path
        self.ledger = Ledger.open(path, terminal_id=None if path.exists() else psam_terminal_id(self.psam))
        self.validator = Validator(
            load_fares(), settings.kiosk_mode, settings.kiosk_station, card=session.reader, psam=self.psam,
            ledger=self.ledger, hotlist=HotlistFile(default_hotlist_path()),
            block_mac=LoadHost.from_test_keys().application_block_mac, clock=session.clock,
            operator=session.operator,
        )

    def _close(self) -> None:
        if self.ledger is not None:
            self.ledger.close()
        if self.psam is not None:
            self.psam.disconnect()

"""Find, reuse or start a pcscd with the vpcd driver, for tests and benchmarks.

A pcscd that already answers on its socket (``/run/pcscd/pcscd.comm``, or ``$PCSCLITE_CSOCK_NAME``)
is reused and never stopped. Otherwise `ensure_pcscd` starts ``pcscd --foreground`` (from PATH or
/usr/sbin), waits for the socket and for the ``Virtual PCD 00 00`` reader, and the returned
`PcscdService` stops it by PID. Debian packages: ``pcscd vsmartcard-vpcd`` (see
``scripts/install-test-deps``).

Example::

    >>> with ensure_pcscd() as service:           # doctest: +SKIP
    ...     service.started                          # True if we started it
"""

from __future__ import annotations

import fcntl
import glob
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from reader.errors import PcscUnavailable, ReaderError
from reader.vpcd import Faults, ServedCard, VpcdBridge

logger = logging.getLogger(__name__)

DEFAULT_SOCKET = Path("/run/pcscd/pcscd.comm")
INSTALL_HINT = (
    "install the test dependencies with `sudo scripts/install-test-deps` "
    "(Debian packages pcscd vsmartcard-vpcd opensc pcsc-tools libpcsclite-dev swig, then pyscard)"
)
LOCK_PATH = Path(os.environ.get("YKT_VPCD_LOCK", "/tmp/yikatong-vpcd.lock"))
"""Lock file serializing test sessions / benchmarks that use the vpcd slots on this machine."""

_VPCD_DRIVER_GLOBS = (
    "/usr/lib/pcsc/drivers/serial/libifdvpcd.so*",
    "/usr/lib/*/pcsc/drivers/serial/libifdvpcd.so*",
    "/usr/local/lib/pcsc/drivers/serial/libifdvpcd.so*",
)


_lock_guard = threading.Lock()
_held: dict[Path, list[int]] = {}  # lock path → [fd, depth]: re-entrant per path within this process


@contextmanager
def vpcd_lock(timeout: float = 600.0, path: Path | None = None) -> Iterator[None]:
    """Hold the machine-wide vpcd lock for the ``with`` block (re-entrant within a process).

    pcscd, its socket and the vpcd ports are shared by every process on the machine: two test
    sessions serving cards in ``Virtual PCD 00 00`` at once, or one restarting pcscd under the
    other, make both fail. Whoever serves cards or manages pcscd holds this lock (an ``flock`` on
    `LOCK_PATH`, which records the holder's PID). Raises `TimeoutError` after `timeout` seconds.
    """
    lock_path = (path or LOCK_PATH).resolve()
    with _lock_guard:
        entry = _held.get(lock_path)
        if entry is not None:
            entry[1] += 1
        acquired_here = entry is None
    if acquired_here:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + timeout
        logged = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not logged:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    logger.info("waiting for the vpcd lock %s (held by pid %s)", lock_path, holder)
                    logged = True
                if time.monotonic() > deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    os.close(fd)
                    raise TimeoutError(
                        f"another process (pid {holder}) has used pcscd/vpcd for over "
                        f"{timeout:g} s (lock {lock_path})"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        with _lock_guard:
            _held[lock_path] = [fd, 1]
    try:
        yield
    finally:
        with _lock_guard:
            entry = _held[lock_path]
            entry[1] -= 1
            fd_to_close = _held.pop(lock_path)[0] if entry[1] == 0 else None
        if fd_to_close is not None:
            os.ftruncate(fd_to_close, 0)
            fcntl.flock(fd_to_close, fcntl.LOCK_UN)
            os.close(fd_to_close)


def vpcd_reader_name(slot: int = 0) -> str:
    """PC/SC name of vpcd slot `slot`: ``Virtual PCD 00 00``, ``Virtual PCD 00 01``."""
    return f"Virtual PCD 00 {slot:02d}"


def socket_path() -> Path:
    """Where libpcsclite looks for pcscd (``$PCSCLITE_CSOCK_NAME`` overrides the default)."""
    return Path(os.environ.get("PCSCLITE_CSOCK_NAME", str(DEFAULT_SOCKET)))


def socket_answers(path: Path | None = None) -> bool:
    """True when something accepts connections on pcscd's Unix socket."""
    target = path or socket_path()
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(target))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def find_pcscd() -> str | None:
    """Path of the pcscd binary (PATH, then /usr/sbin and /usr/local/sbin), or None."""
    found = shutil.which("pcscd")
    if found:
        return found
    for candidate in ("/usr/sbin/pcscd", "/usr/local/sbin/pcscd", "/sbin/pcscd"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def vpcd_driver_installed() -> bool:
    """True when vsmartcard's vpcd driver library is where pcscd loads serial drivers from."""
    return any(glob.glob(pattern) for pattern in _VPCD_DRIVER_GLOBS)


def missing_requirements() -> list[str]:
    """What is missing to run a pcscd with vpcd here ([] when all is there)."""
    missing = []
    if find_pcscd() is None and not socket_answers():
        missing.append("pcscd (Debian package pcscd)")
    if not vpcd_driver_installed():
        missing.append("the vpcd driver (Debian package vsmartcard-vpcd)")
    try:
        import smartcard  # noqa: F401
    except ImportError:
        missing.append("pyscard (pip install -e '.[test]')")
    return missing


def wait_for_reader(name: str, timeout: float) -> list[str]:
    """Poll until pcscd lists reader `name`; return the reader list. Raises `PcscUnavailable`."""
    from reader.pcsc import list_readers

    deadline = time.monotonic() + timeout
    readers: list[str] = []
    last_error: ReaderError | None = None
    while time.monotonic() < deadline:
        try:
            readers = list_readers()
            last_error = None
        except ReaderError as exc:
            last_error = exc
        if name in readers:
            return readers
        time.sleep(0.05)
    detail = f"; {last_error}" if last_error else ""
    raise PcscUnavailable(
        f"pcscd did not list reader {name!r} within {timeout:g} s (readers: {readers or 'none'}"
        f"{detail}); is vsmartcard-vpcd installed? {INSTALL_HINT}"
    )


@dataclass
class PcscdService:
    """A pcscd this process either reuses (``started`` False) or started and owns."""

    binary: str | None = None
    started: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    log_path: Path | None = None
    args: tuple[str, ...] = ("--foreground",)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self, timeout: float = 10.0) -> None:
        """Start ``pcscd --foreground`` and wait until it lists the vpcd reader."""
        if self.binary is None:
            raise PcscUnavailable(f"pcscd is not installed; {INSTALL_HINT}")
        if self.process is not None and self.process.poll() is None:
            return
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                [self.binary, *self.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()  # type: ignore[union-attr]
        self.started = True
        logger.info("started %s (pid %d)", self.binary, self.process.pid)
        deadline = time.monotonic() + timeout
        while not socket_answers():
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise PcscUnavailable(
                    f"{self.binary} exited with status {code} at start "
                    f"(another pcscd running? stale /run/pcscd/pcscd.pid?)"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise PcscUnavailable(f"pcscd socket {socket_path()} missing after {timeout:g} s")
            time.sleep(0.02)
        wait_for_reader(vpcd_reader_name(0), max(1.0, deadline - time.monotonic()))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the pcscd we started (SIGTERM, then SIGKILL), by its PID. No-op for a reused one."""
        process = self.process
        if process is None:
            return
        self.process = None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning("pcscd pid %d ignored SIGTERM; killing it", process.pid)
                process.kill()
                process.wait(timeout)
        deadline = time.monotonic() + timeout
        while socket_answers() and time.monotonic() < deadline:
            time.sleep(0.02)
        logger.info("stopped pcscd pid %d", process.pid)

    def restart(self, timeout: float = 10.0) -> None:
        """Stop and start again (only a pcscd we own)."""
        if not self.started:
            raise ReaderError("refusing to restart a pcscd this process did not start")
        self.stop()
        self.start(timeout)

    def __enter__(self) -> PcscdService:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def ensure_pcscd(timeout: float = 10.0, *, log_path: Path | None = None) -> PcscdService:
    """Reuse the running pcscd or start one; return it once ``Virtual PCD 00 00`` is listed.

    Raises `PcscUnavailable` (with `INSTALL_HINT`) when pcscd, the vpcd driver or pyscard is
    missing, or when pcscd does not come up.
    """
    missing = missing_requirements()
    if missing:
        raise PcscUnavailable(f"missing {', '.join(missing)}; {INSTALL_HINT}")
    if socket_answers():
        logger.info("reusing the running pcscd at %s", socket_path())
        wait_for_reader(vpcd_reader_name(0), timeout)
        return PcscdService(binary=find_pcscd(), started=False)
    service = PcscdService(binary=find_pcscd(), log_path=log_path)
    service.start(timeout)
    return service


@contextmanager
def serve_card(
    card: ServedCard,
    slot: int = 0,
    *,
    faults: Faults | None = None,
    reinsert_after: float | None = None,
    timeout: float = 5.0,
) -> Iterator[VpcdBridge]:
    """Put `card` in ``Virtual PCD 00 0<slot>`` for the ``with`` block; yield the bridge.

    Runs a `VpcdBridge` in a daemon thread; enters once PC/SC sees the card present, and on exit
    stops the bridge, joins its thread and waits until PC/SC sees the slot empty, so whatever
    comes next starts from an empty reader. Raises `TimeoutError` when pcscd does not follow.

    Example::

        >>> with serve_card(card, slot=0) as bridge:      # doctest: +SKIP
        ...     PcscReader("Virtual PCD 00 00").connect()
    """
    from reader.pcsc import PcscReader

    name = vpcd_reader_name(slot)
    bridge = VpcdBridge(card, slot, faults=faults, reinsert_after=reinsert_after)
    thread = threading.Thread(target=bridge.serve_forever, name=f"vpcd-slot{slot}", daemon=True)
    thread.start()
    watcher = PcscReader(name)
    try:
        if not watcher.wait_for_card(timeout):
            raise TimeoutError(f"pcscd did not see the card in {name} within {timeout:g} s")
        yield bridge
    finally:
        bridge.stop()
        thread.join(timeout)
        bridge.close()
        if thread.is_alive():
            raise TimeoutError(f"vpcd bridge on slot {slot} did not stop within {timeout:g} s")
        if not watcher.wait_for_removal(timeout):
            raise TimeoutError(f"pcscd still sees a card in {name} after {timeout:g} s")

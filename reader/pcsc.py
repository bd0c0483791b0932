"""A `reader.base.Reader` on a real PC/SC reader (pcscd), through pyscard's `smartcard.scard` layer.

pyscard is imported lazily, inside the functions that need it, so ``import reader.pcsc`` works
without it (pyscard builds from source on Linux: Debian ``libpcsclite-dev`` and ``swig`` first, then
``pip install 'yikatong[pcsc]'``).

Errors are those of `reader.errors`: `PcscUnavailable` (pcscd not running, or pyscard missing),
`NoReader` (the message lists the readers there are), `NoCard`, `CardRemoved` (card gone during a
session), `ResponseLost` (the command went out, no answer came back, the card is still there).

Example::

    >>> from reader.pcsc import PcscReader, list_readers
    >>> list_readers()                                   # doctest: +SKIP
    ['Virtual PCD 00 00', 'Virtual PCD 00 01']
    >>> with PcscReader("PCD 00 00") as card:            # doctest: +SKIP
    ...     card.transmit(bytes.fromhex("00A404000E315041592E5359532E4444463031")).hex()
"""

from __future__ import annotations

import logging
import time
from types import ModuleType, TracebackType
from typing import Any, Protocol

from reader.errors import CardRemoved, NoCard, NoReader, PcscUnavailable, ReaderError, ResponseLost
from reader.transport import exchange

logger = logging.getLogger(__name__)

PCSCD_HELP = (
    "pcscd is not running or not reachable. Start it with `sudo pcscd` (or `pcscd --foreground` in "
    "a terminal, or `sudo systemctl start pcscd.socket` under systemd). Debian packages: `pcscd`, "
    "and `vsmartcard-vpcd` for the virtual cards of this project (reader 'Virtual PCD 00 00')."
)
PYSCARD_HELP = (
    "pyscard is not installed: `pip install 'yikatong[pcsc]'` (on Debian first "
    "`apt-get install libpcsclite-dev swig`, since pyscard builds from source)."
)


class Trace(Protocol):
    """Receives every raw PC/SC exchange (GET RESPONSE and Le retries included)."""

    def record(self, command: bytes, response: bytes, duration_us: int) -> None: ...


def _scard() -> ModuleType:
    try:
        from smartcard import scard
    except ImportError as exc:
        raise PcscUnavailable(PYSCARD_HELP) from exc
    return scard


def _describe(scard: ModuleType, hresult: int) -> str:
    return f"{scard.SCardGetErrorMessage(hresult)} (0x{hresult & 0xFFFFFFFF:08X})"


def _service_gone(scard: ModuleType, hresult: int) -> bool:
    return hresult in (scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED)


def _establish(scard: ModuleType) -> Any:
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        raise PcscUnavailable(f"{PCSCD_HELP} [{_describe(scard, hresult)}]")
    return context


def _list(scard: ModuleType, context: Any) -> list[str]:
    hresult, names = scard.SCardListReaders(context, [])
    if hresult == scard.SCARD_E_NO_READERS_AVAILABLE:
        return []
    if _service_gone(scard, hresult) or hresult == scard.SCARD_E_INVALID_HANDLE:
        raise PcscUnavailable(f"{PCSCD_HELP} [{_describe(scard, hresult)}]")
    if hresult != scard.SCARD_S_SUCCESS:
        raise ReaderError(f"cannot list PC/SC readers: {_describe(scard, hresult)}")
    return list(names)


def list_readers() -> list[str]:
    """Names of the PC/SC readers pcscd knows, in its order. Raises `PcscUnavailable`.

    Example::

        >>> list_readers()                               # doctest: +SKIP
        ['Virtual PCD 00 00', 'Virtual PCD 00 01']
    """
    scard = _scard()
    context = _establish(scard)
    try:
        return _list(scard, context)
    finally:
        scard.SCardReleaseContext(context)


def select_reader(names: list[str], selector: str | int) -> str:
    """Pick a reader from `names`: by index, exact name, or unique (case-insensitive) substring.

    Raises `NoReader` with the available names when nothing or more than one reader matches.

    Example::

        >>> select_reader(["Virtual PCD 00 00", "Virtual PCD 00 01"], "00 01")
        'Virtual PCD 00 01'
        >>> select_reader(["Virtual PCD 00 00", "Virtual PCD 00 01"], 0)
        'Virtual PCD 00 00'
    """
    available = ", ".join(repr(n) for n in names) if names else "none"
    if isinstance(selector, int):
        if 0 <= selector < len(names):
            return names[selector]
        raise NoReader(f"no PC/SC reader #{selector}; readers: {available}")
    if selector in names:
        return selector
    matches = [n for n in names if selector.lower() in n.lower()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        listed = ", ".join(repr(n) for n in matches)
        raise NoReader(f"reader name {selector!r} is ambiguous: matches {listed}")
    raise NoReader(f"no PC/SC reader matches {selector!r}; readers: {available}")


class PcscReader:
    """One slot of a PC/SC reader, implementing `reader.base.Reader`.

    `selector` is a reader name, a unique substring of one, an index into `list_readers()`, or
    None for the first reader holding a card (else the first reader). It is resolved at `connect`,
    after which `name` is the full reader name. `trace`, if given, gets ``record(command,
    response, duration_us)`` for every raw exchange. `removal_grace` is how long a failed transmit
    waits for pcscd to tell "card gone" (`CardRemoved`) from "answer lost" (`ResponseLost`):
    pcscd polls vpcd for presence every 0.4 s. `leave_card` makes every disconnect leave the card powered
    (SCARD_LEAVE_CARD) instead of powering it down: a validator wants that, as a card pulled mid-tap but not
    yet noticed by pcscd would otherwise be powered down in a slot that is empty, and pcscd's vpcd driver then
    stops reporting the next card there (the next tap powers its card up with its own SELECT anyway).

    Example::

        >>> reader = PcscReader("Virtual PCD 00 00")     # doctest: +SKIP
        >>> reader.connect().hex()                       # doctest: +SKIP
        '3b8880010000000000000000'
        >>> reader.transmit(bytes.fromhex("00CA000000"))  # doctest: +SKIP
        >>> reader.disconnect()                          # doctest: +SKIP
    """

    def __init__(
        self,
        selector: str | int | None = None,
        *,
        trace: Trace | None = None,
        removal_grace: float = 1.0,
        leave_card: bool = False,
    ) -> None:
        self.selector = selector
        self.name: str = selector if isinstance(selector, str) else f"PC/SC reader {selector}"
        self.trace = trace
        self.removal_grace = removal_grace
        self.leave_card = leave_card
        self._context: Any = None
        self._card: Any = None
        self._pci: Any = None
        self._protocol: int = 0
        self._atr = b""
        self._scard_module: Any = None

    # ------------------------------------------------------------------------ Reader protocol

    def connect(self) -> bytes:
        """Connect (shared mode, T=0 or T=1) and return the ATR.

        Raises `PcscUnavailable`, `NoReader`, `NoCard` or `ReaderError`.
        """
        scard = self._scard_module = _scard()
        if self._card is not None:
            self.disconnect()
        self._open_context(scard)
        self.name = self._resolve(scard, self._context)
        hresult, card, protocol = scard.SCardConnect(
            self._context,
            self.name,
            scard.SCARD_SHARE_SHARED,
            scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
        )
        if _service_gone(scard, hresult) or hresult == scard.SCARD_E_INVALID_HANDLE:
            self._release_context(scard)  # pcscd restarted under us: one fresh context
            self._open_context(scard)
            hresult, card, protocol = scard.SCardConnect(
                self._context,
                self.name,
                scard.SCARD_SHARE_SHARED,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
        if hresult != scard.SCARD_S_SUCCESS:
            self._release_context(scard)
            raise self._connect_error(scard, hresult)
        self._card = card
        self._protocol = protocol
        t1 = protocol == scard.SCARD_PROTOCOL_T1
        self._pci = scard.SCARD_PCI_T1 if t1 else scard.SCARD_PCI_T0
        try:
            self._atr = self._read_atr(scard)
        except ReaderError:
            self.disconnect()
            raise
        logger.info("connected to %r, ATR %s", self.name, self._atr.hex())
        return self._atr

    @property
    def atr(self) -> bytes:
        """ATR read at `connect` (empty before)."""
        return self._atr

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU; return data ‖ SW1 SW2 with 61xx/6Cxx already handled.

        Raises `CardRemoved`, `ResponseLost`, `PcscUnavailable` or `ReaderError`.
        """
        if self._card is None:
            raise ReaderError(f"{self.name}: transmit before connect()")
        return exchange(self._transmit_raw, apdu)

    def card_present(self) -> bool:
        """Whether pcscd sees a card in this reader now. Raises `PcscUnavailable`, `NoReader`."""
        return self._wait_presence(True, 0.0)

    def disconnect(self) -> None:
        """Disconnect explicitly (card powered down, unless `leave_card`) and release the PC/SC context.
        Idempotent.

        A handle to a card that has gone is disconnected with "leave card", so that pcscd does not
        power down or reset the *next* card in the same slot (vpcd.md, "two traps").
        """
        if self._card is None and self._context is None:
            return
        scard = _scard()
        if self._card is not None:
            card, self._card = self._card, None
            leave = self.leave_card or self._stale(scard, card)
            disposition = scard.SCARD_LEAVE_CARD if leave else scard.SCARD_UNPOWER_CARD
            hresult = scard.SCardDisconnect(card, disposition)
            if hresult != scard.SCARD_S_SUCCESS:
                logger.debug("disconnect %r: %s", self.name, _describe(scard, hresult))
        self._release_context(scard)

    # ------------------------------------------------------------------------ extras

    def wait_for_card(self, timeout: float | None = None) -> bool:
        """Block until a card is in this reader (pyscard `CardRequest`); False on timeout.

        `timeout` in seconds, None to wait forever. Does not connect.
        """
        scard = _scard()
        from smartcard.CardRequest import CardRequest
        from smartcard.Exceptions import CardRequestTimeoutException, SmartcardException

        context = _establish(scard)
        try:
            names = _list(scard, context)
        finally:
            scard.SCardReleaseContext(context)
        name = select_reader(names, self.selector) if self.selector is not None else None
        try:
            request = CardRequest(
                readers=[name] if name else None, timeout=timeout, newcardonly=False
            )
        except SmartcardException as exc:
            raise PcscUnavailable(f"{PCSCD_HELP} [{exc}]") from exc
        # Both context managers release their PC/SC contexts explicitly (the service's also
        # disconnects its never-connected connection) instead of leaving them to the GC.
        with request:
            try:
                with request.waitforcard() as service:
                    found = str(service.connection.getReader())
            except CardRequestTimeoutException:
                return False
            except SmartcardException as exc:
                raise ReaderError(f"waiting for a card: {exc}") from exc
        if name is None:
            self.selector = self.name = found
        return True

    def wait_for_removal(self, timeout: float | None = None) -> bool:
        """Block until this reader holds no card; False on timeout (seconds; None: forever)."""
        return not self._wait_presence(False, timeout)

    def __enter__(self) -> PcscReader:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.disconnect()

    def __repr__(self) -> str:
        state = "connected" if self._card is not None else "disconnected"
        return f"PcscReader({self.name!r}, {state})"

    # ------------------------------------------------------------------------ internals

    def _open_context(self, scard: ModuleType) -> None:
        if self._context is None:
            self._context = _establish(scard)

    def _release_context(self, scard: ModuleType) -> None:
        if self._context is not None:
            context, self._context = self._context, None
            scard.SCardReleaseContext(context)

    def _resolve(self, scard: ModuleType, context: Any) -> str:
        names = _list(scard, context)
        if self.selector is not None:
            return select_reader(names, self.selector)
        if not names:
            raise NoReader("no PC/SC reader connected; readers: none")
        hresult, states = scard.SCardGetStatusChange(
            context, 0, [(n, scard.SCARD_STATE_UNAWARE) for n in names]
        )
        if hresult == scard.SCARD_S_SUCCESS:
            for reader_name, state, _atr in states:
                if state & scard.SCARD_STATE_PRESENT:
                    return str(reader_name)
        return names[0]

    def _connect_error(self, scard: ModuleType, hresult: int) -> ReaderError:
        what = _describe(scard, hresult)
        if hresult in (scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD):
            return NoCard(f"no card in {self.name!r} [{what}]")
        if hresult in (scard.SCARD_W_UNRESPONSIVE_CARD, scard.SCARD_W_UNPOWERED_CARD):
            return NoCard(f"card in {self.name!r} does not answer [{what}]")
        if hresult in (scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE):
            return NoReader(f"reader {self.name!r} went away [{what}]")
        if _service_gone(scard, hresult) or hresult == scard.SCARD_E_INVALID_HANDLE:
            return PcscUnavailable(f"{PCSCD_HELP} [{what}]")
        return ReaderError(f"cannot connect to {self.name!r}: {what}")

    def _read_atr(self, scard: ModuleType) -> bytes:
        hresult, _reader, _state, _protocol, atr = scard.SCardStatus(self._card)
        if hresult != scard.SCARD_S_SUCCESS:
            raise self._transmit_error(scard, hresult)
        return bytes(atr)

    def _stale(self, scard: ModuleType, card: Any) -> bool:
        hresult, _reader, _state, _protocol, _atr = scard.SCardStatus(card)
        return hresult != scard.SCARD_S_SUCCESS

    def _transmit_raw(self, command: bytes) -> bytes:
        scard = self._scard_module
        started = time.perf_counter_ns()
        hresult, response = scard.SCardTransmit(self._card, self._pci, list(command))
        if hresult == scard.SCARD_W_RESET_CARD:
            # Another program (or pcscd right after insertion) reset the card: re-attach the
            # handle without resetting again and retry once.
            logger.info("%r: card was reset; reconnecting and retrying once", self.name)
            hresult, _protocol = scard.SCardReconnect(
                self._card, scard.SCARD_SHARE_SHARED, self._protocol, scard.SCARD_LEAVE_CARD
            )
            if hresult == scard.SCARD_S_SUCCESS:
                hresult, response = scard.SCardTransmit(self._card, self._pci, list(command))
        duration_us = (time.perf_counter_ns() - started) // 1000
        if hresult == scard.SCARD_S_SUCCESS and len(response) < 2:
            # vpcd's way of saying the card hung up after reading the command: "success" with
            # no bytes. Same as a transaction failure.
            hresult = scard.SCARD_E_NOT_TRANSACTED
        if hresult != scard.SCARD_S_SUCCESS:
            raise self._transmit_error(scard, hresult)
        answer = bytes(response)
        if self.trace is not None:
            self.trace.record(command, answer, duration_us)
        return answer

    def _transmit_error(self, scard: ModuleType, hresult: int) -> ReaderError:
        what = _describe(scard, hresult)
        removed = (scard.SCARD_W_REMOVED_CARD, scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_RESET_CARD)
        if hresult in removed:
            return CardRemoved(f"card left {self.name!r} during the session [{what}]")
        if _service_gone(scard, hresult):
            return PcscUnavailable(f"pcscd went away during the session. {PCSCD_HELP} [{what}]")
        lost = (
            scard.SCARD_E_NOT_TRANSACTED,
            scard.SCARD_F_COMM_ERROR,
            scard.SCARD_E_COMM_DATA_LOST,
        )
        if hresult in lost:
            # Sent, no answer. If pcscd now reports the slot empty, the card was pulled.
            try:
                gone = not self._wait_presence(False, self.removal_grace)
            except ReaderError:
                gone = False
            if gone:
                return CardRemoved(f"card left {self.name!r} during a command [{what}]")
            return ResponseLost(f"no response from the card in {self.name!r} [{what}]")
        if hresult in (scard.SCARD_E_INVALID_HANDLE, scard.SCARD_E_READER_UNAVAILABLE):
            return CardRemoved(f"session with {self.name!r} lost (pcscd restarted?) [{what}]")
        return ReaderError(f"transmit to {self.name!r} failed: {what}")

    def _wait_presence(self, want: bool, timeout: float | None) -> bool:
        """Wait until pcscd reports a card present (`want` True) or absent, at most `timeout`
        seconds (None: forever); return whether a card is present when the wait ends."""
        scard = _scard()
        own_context = self._context is None
        context = _establish(scard) if own_context else self._context
        try:
            name = self.name if self._card is not None else self._resolve(scard, context)
            deadline = None if timeout is None else time.monotonic() + timeout
            state = scard.SCARD_STATE_UNAWARE
            wait_ms = 0
            while True:
                hresult, states = scard.SCardGetStatusChange(context, wait_ms, [(name, state)])
                if hresult == scard.SCARD_E_UNKNOWN_READER:
                    raise NoReader(f"no PC/SC reader {name!r}")
                if _service_gone(scard, hresult) or hresult == scard.SCARD_E_INVALID_HANDLE:
                    raise PcscUnavailable(f"{PCSCD_HELP} [{_describe(scard, hresult)}]")
                if hresult == scard.SCARD_S_SUCCESS:
                    state = states[0][1] & ~scard.SCARD_STATE_CHANGED
                elif hresult != scard.SCARD_E_TIMEOUT:
                    raise ReaderError(f"status of {name!r}: {_describe(scard, hresult)}")
                present = bool(state & scard.SCARD_STATE_PRESENT)
                if present == want:
                    return present
                if deadline is None:
                    wait_ms = 1000
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return present
                    wait_ms = max(1, min(1000, int(remaining * 1000)))
        finally:
            if own_context:
                scard.SCardReleaseContext(context)

"""Bridge a software card into pcscd through vsmartcard's vpcd reader driver.

vpcd (Debian package ``vsmartcard-vpcd``) is a pcscd reader driver that listens on TCP port
35963 + slot on localhost; a virtual card connects to it as a TCP client, and while it stays
connected every PC/SC program sees a card in ``Virtual PCD 00 0<slot>``. Wire format, both ways:
2-byte big-endian length ‖ body. From vpcd, a 1-byte body is a control byte (``00`` power off,
``01`` power on, ``02`` reset, ``04`` get ATR — only ``04`` is answered, with the ATR); a longer
body is a command APDU, answered with the response APDU (data ‖ SW1 SW2).

Latency: small writes meet Nagle's algorithm and delayed ACKs (≈48 ms per APDU for the upstream
Python card). The bridge sets ``TCP_NODELAY``, re-arms ``TCP_QUICKACK`` before every receive and
writes length and body in one ``sendall``; a round trip through pcscd is then ≈0.1–0.2 ms.

The card object served must provide::

    card.power_on() -> bytes        # the ATR; resets volatile state
    card.power_off() -> None
    card.atr -> bytes               # property
    card.process(apdu: bytes) -> bytes   # never raises; data ‖ SW; persists state itself

Example (in a thread, stopped from a signal handler or another thread)::

    bridge = VpcdBridge(card, slot=0)
    threading.Thread(target=bridge.serve_forever, daemon=True).start()
    ...
    bridge.stop()          # pcscd sees the card removed; serve_forever returns
"""

from __future__ import annotations

import logging
import os
import select
import socket
import struct
import time
from typing import Literal, Protocol

from applets.errors import PowerLost

logger = logging.getLogger(__name__)

VPCD_PORT = 35963
"""TCP port of slot 0 of the ``Virtual PCD`` reader (Debian's reader.conf entry, 0x8C7B)."""

CTRL_POWER_OFF = 0x00
CTRL_POWER_ON = 0x01
CTRL_RESET = 0x02
CTRL_GET_ATR = 0x04

_HEADER = struct.Struct(">H")
_RECV_CHUNK = 16384

FaultAction = Literal["remove", "lose"]


class ServedCard(Protocol):
    """What `VpcdBridge` needs from a card (the card OS in ``applets/`` implements it)."""

    @property
    def atr(self) -> bytes: ...

    def power_on(self) -> bytes: ...

    def power_off(self) -> None: ...

    def process(self, apdu: bytes) -> bytes: ...


class Faults(Protocol):
    """Fault hook for reliability tests, consulted before every command APDU.

    ``before_apdu(n, apdu)`` gets the 1-based number of the APDU over the bridge's lifetime
    (counting across reconnects; control bytes are not counted) and the APDU itself, and returns:

    * ``None`` — run it normally;
    * ``"remove"`` — close the socket *without* running it: the card was pulled before it;
    * ``"lose"`` — run it (the card's state changes, persistence included), then close the socket
      instead of answering: the command executed but its response never reached the terminal.

    After a fault the card is powered off and stays out of the reader for `VpcdBridge`'s
    ``reinsert_after`` seconds (``None``: until `VpcdBridge.stop`).

    Example::

        class TearAt:
            def __init__(self, n): self.n = n
            def before_apdu(self, n, apdu): return "lose" if n == self.n else None
    """

    def before_apdu(self, n: int, apdu: bytes) -> FaultAction | None: ...


class VpcdBridge:
    """Serve one card object on one vpcd slot, as a TCP client of pcscd's vpcd driver.

    `serve_forever` connects (retrying with exponential backoff while pcscd is not there), answers
    vpcd until the connection drops, reconnects (pcscd restarted) and so on until `stop`. It runs
    the card in the calling thread; call `stop` from any thread or from a signal handler.

    Example::

        >>> class Blank:
        ...     atr = bytes.fromhex("3B00")
        ...     def power_on(self): return self.atr
        ...     def power_off(self): pass
        ...     def process(self, apdu): return bytes.fromhex("9000")
        >>> bridge = VpcdBridge(Blank(), slot=1)
        >>> bridge.port
        35964
        >>> bridge.close()
    """

    def __init__(
        self,
        card: ServedCard,
        slot: int = 0,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        faults: Faults | None = None,
        reinsert_after: float | None = None,
        backoff_initial: float = 0.05,
        backoff_max: float = 1.0,
    ) -> None:
        if slot < 0:
            raise ValueError(f"slot must be >= 0, not {slot}")
        if backoff_initial <= 0 or backoff_max < backoff_initial:
            raise ValueError("need 0 < backoff_initial <= backoff_max")
        if reinsert_after is not None and reinsert_after < 0:
            raise ValueError("reinsert_after must be >= 0 or None")
        self.card = card
        self.slot = slot
        self.host = host
        self.port = VPCD_PORT + slot if port is None else port
        self.faults = faults
        self.reinsert_after = reinsert_after
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.apdu_count = 0
        self.connections = 0
        self._stopping = False
        self._sock: socket.socket | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._buffer = bytearray()
        self._quickack = getattr(socket, "TCP_QUICKACK", None)

    # ----------------------------------------------------------------------------- control

    @property
    def connected(self) -> bool:
        """True while a TCP connection to vpcd is up (the card is in the reader)."""
        return self._sock is not None

    def stop(self) -> None:
        """Take the card out of the reader and make `serve_forever` return.

        Safe from another thread and from a signal handler (it takes no lock: it sets a flag,
        writes a byte to a self-pipe and shuts the socket down). Idempotent.
        """
        self._stopping = True
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass  # pipe full: the flag and the byte already there are enough
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the serving thread

    def serve_forever(self) -> None:
        """Serve the card until `stop` is called; reconnects whenever vpcd goes away."""
        delay = self.backoff_initial
        refused_logged = False
        try:
            while not self._stopping:
                sock = self._connect()
                if sock is None:
                    if self._stopping:
                        break
                    if not refused_logged:
                        logger.info(
                            "vpcd %s:%d not reachable (is pcscd with vsmartcard-vpcd running?); "
                            "retrying",
                            self.host,
                            self.port,
                        )
                        refused_logged = True
                    self._sleep(delay)
                    delay = min(delay * 2, self.backoff_max)
                    continue
                delay = self.backoff_initial
                refused_logged = False
                self.connections += 1
                logger.info("card inserted in vpcd slot %d (port %d)", self.slot, self.port)
                fault = False
                try:
                    fault = self._serve_connection(sock)
                except OSError as exc:
                    if not self._stopping:
                        logger.info("vpcd connection on slot %d failed: %s", self.slot, exc)
                finally:
                    self._close(sock)
                    self._power_off()
                if self._stopping:
                    break
                if fault:
                    if self.reinsert_after is None:
                        logger.info("card stays out of slot %d after fault until stop()", self.slot)
                        self._sleep(None)
                    else:
                        self._sleep(self.reinsert_after)
                else:
                    logger.info("vpcd closed slot %d (pcscd stopped?); reconnecting", self.slot)
                    self._sleep(delay)
        finally:
            logger.info("vpcd bridge on slot %d stopped", self.slot)

    def close(self) -> None:
        """Release the self-pipe once `serve_forever` has returned (the bridge is single-use)."""
        self._stopping = True
        wake_r, wake_w = self._wake_r, self._wake_w
        self._wake_r = self._wake_w = -1
        for fd in (wake_r, wake_w):
            if fd >= 0:
                os.close(fd)

    # ----------------------------------------------------------------------------- internals

    def _connect(self) -> socket.socket | None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=2.0)
        except OSError as exc:
            logger.debug("connect to vpcd %s:%d: %s", self.host, self.port, exc)
            return None
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer.clear()
        self._sock = sock
        if self._stopping:  # stop() ran before _sock was visible to it
            self._close(sock)
            return None
        return sock

    def _close(self, sock: socket.socket) -> None:
        self._sock = None
        try:
            sock.close()
        except OSError:
            pass

    def _sleep(self, seconds: float | None) -> None:
        """Wait `seconds` (None: forever), returning early when `stop` is called."""
        if self._stopping or self._wake_r < 0:
            return
        poller = select.poll()
        poller.register(self._wake_r, select.POLLIN)
        if poller.poll(None if seconds is None else int(seconds * 1000)):
            try:
                os.read(self._wake_r, 64)
            except OSError:
                pass

    def _power_off(self) -> None:
        try:
            self.card.power_off()
        except Exception:  # the card must not take the bridge down with it
            logger.exception("card.power_off() failed")

    def _recv_exact(self, sock: socket.socket, n: int) -> bytes | None:
        """Return exactly `n` bytes, or None when the peer closed the connection."""
        buffer = self._buffer
        while len(buffer) < n:
            if self._quickack is not None:
                sock.setsockopt(socket.IPPROTO_TCP, self._quickack, 1)
            chunk = sock.recv(_RECV_CHUNK)
            if not chunk:
                return None
            buffer += chunk
        data = bytes(buffer[:n])
        del buffer[:n]
        return data

    def _send(self, sock: socket.socket, body: bytes) -> None:
        if len(body) > 0xFFFF:
            raise ValueError(f"message of {len(body)} bytes does not fit the 2-byte length")
        sock.sendall(_HEADER.pack(len(body)) + body)

    def _serve_connection(self, sock: socket.socket) -> bool:
        """Answer vpcd until it closes or a fault fires; return True when a fault closed it."""
        while not self._stopping:
            header = self._recv_exact(sock, 2)
            if header is None:
                return False
            (length,) = _HEADER.unpack(header)
            body = self._recv_exact(sock, length)
            if body is None:
                return False
            if length == 1:
                self._control(sock, body[0])
            elif length > 1:
                if self._apdu(sock, body):
                    return True
        return False

    def _control(self, sock: socket.socket, code: int) -> None:
        if code == CTRL_GET_ATR:
            self._send(sock, self.card.atr)
        elif code == CTRL_POWER_ON or code == CTRL_RESET:
            logger.debug("slot %d: %s", self.slot, "power on" if code == CTRL_POWER_ON else "reset")
            self.card.power_on()
        elif code == CTRL_POWER_OFF:
            logger.debug("slot %d: power off", self.slot)
            self.card.power_off()
        else:
            logger.warning("slot %d: unknown vpcd control byte %02X ignored", self.slot, code)

    def _apdu(self, sock: socket.socket, apdu: bytes) -> bool:
        """Run one APDU; return True when a fault closed the connection."""
        self.apdu_count += 1
        action = self.faults.before_apdu(self.apdu_count, apdu) if self.faults else None
        if action not in (None, "remove", "lose"):
            raise ValueError(f"faults.before_apdu returned {action!r}: not 'remove'/'lose'/None")
        if action == "remove":
            logger.info("fault: card removed before APDU %d (%s)", self.apdu_count, apdu[:4].hex())
            return True
        debug = logger.isEnabledFor(logging.DEBUG)
        if debug:  # header only: command data may hold a PIN
            logger.debug("slot %d > %s", self.slot, apdu[:5].hex(" "))
        started = time.perf_counter_ns()
        try:
            response = self.card.process(apdu)
        except PowerLost:  # torn mid-save: like a real card, it goes silent and leaves the reader
            logger.info("card torn during APDU %d (%s): removed", self.apdu_count, apdu[:4].hex())
            return True
        except Exception:  # contract says never; answer like a card with an internal error
            logger.exception("card.process(%s) raised; answering 6F00", apdu[:4].hex())
            response = b"\x6f\x00"
        if action == "lose":
            logger.info("fault: response to APDU %d (%s) lost", self.apdu_count, apdu[:4].hex())
            return True
        if debug:
            logger.debug(
                "slot %d < SW %s (%d µs in card)",
                self.slot,
                response[-2:].hex(),
                (time.perf_counter_ns() - started) // 1000,
            )
        self._send(sock, response)
        return False

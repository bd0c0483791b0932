"""An in-process reader: the card OS runs in this process. Fault hooks simulate tearing, lost
answers, tampering and slow cards for reliability tests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from applets.card import VirtualCard
from applets.errors import PowerLost
from reader.errors import CardRemoved, NoCard, ReaderError, ResponseLost
from reader.trace import Trace
from reader.transport import exchange


@dataclass
class Faults:
    """What goes wrong, counted in APDUs sent to the card since `connect` (1-based)."""

    remove_before_apdu: int | None = None  # the card is pulled before APDU n reaches it
    remove_after_apdu: int | None = None  # APDU n runs, its answer comes back, then the card is pulled
    lose_response: int | None = None  # APDU n runs on the card, its answer is lost (ResponseLost)
    latency_s: float = 0.0  # a slow card: added to every exchange
    corrupt_response: Callable[[int, bytes, bytes], bytes] | None = None  # (n, command, response) → response


class EmulatedReader:
    """Implements reader.base.Reader over a VirtualCard in this process."""

    def __init__(
        self,
        card: VirtualCard | None = None,
        name: str = "Emulated 0",
        faults: Faults | None = None,
        trace: Trace | None = None,
    ) -> None:
        self.name = name
        self.card = card
        self.faults = faults
        self.trace = trace
        self.apdu_count = 0
        self._connected = False
        self._atr = b""

    # ---- card presence ----

    def insert(self, card: VirtualCard) -> None:
        self.card = card
        self._connected = False

    def remove(self) -> VirtualCard | None:
        """Pull the card: it loses power (RAM state gone) and the session ends."""
        card, self.card = self.card, None
        if card is not None:
            card.power_off()
        self._connected = False
        return card

    def card_present(self) -> bool:
        return self.card is not None

    # ---- Reader protocol ----

    def connect(self) -> bytes:
        if self.card is None:
            raise NoCard(f"{self.name}: no card in the reader")
        self._atr = self.card.power_on()
        self._connected = True
        self.apdu_count = 0
        return self._atr

    @property
    def atr(self) -> bytes:
        return self._atr

    def disconnect(self) -> None:
        if self.card is not None and self._connected:
            self.card.power_off()
        self._connected = False

    def transmit(self, apdu: bytes) -> bytes:
        if self.card is None:
            raise CardRemoved(f"{self.name}: the card was removed")
        if not self._connected:
            raise ReaderError(f"{self.name}: not connected (call connect first)")
        start = time.perf_counter_ns()
        response = exchange(self._send, bytes(apdu))
        if self.trace is not None:
            self.trace.record(apdu, response, (time.perf_counter_ns() - start) // 1000)
        return response

    def _send(self, apdu: bytes) -> bytes:
        card = self.card
        if card is None:
            raise CardRemoved(f"{self.name}: the card was removed")
        self.apdu_count += 1
        n = self.apdu_count
        f = self.faults
        if f is not None:
            if f.latency_s:
                time.sleep(f.latency_s)
            if f.remove_before_apdu == n:
                self.remove()
                raise CardRemoved(f"{self.name}: card removed before APDU {n}")
        try:
            response = card.process(apdu)
        except PowerLost:
            self.remove()
            raise CardRemoved(f"{self.name}: card torn during APDU {n}") from None
        if f is not None:
            if f.corrupt_response is not None:
                response = f.corrupt_response(n, apdu, response)
            if f.lose_response == n:
                raise ResponseLost(f"{self.name}: the answer to APDU {n} was lost")
            if f.remove_after_apdu == n:
                self.remove()
        return response

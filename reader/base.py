"""The one contract by which the terminal talks to a card, whatever carries the bytes."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Reader(Protocol):
    """A card reader slot.

    `transmit` sends one command APDU and returns the full response (data ‖ SW1 SW2). Transports
    answer ISO 7816-4 61xx (GET RESPONSE) and 6Cxx (re-send with the right Le) themselves, so callers
    never see either. Transport failures raise `reader.errors.ReaderError` subclasses.
    """

    name: str

    def connect(self) -> bytes:
        """Power the card and return its ATR. Raises NoCard / NoReader / PcscUnavailable."""
        ...

    @property
    def atr(self) -> bytes: ...

    def transmit(self, apdu: bytes) -> bytes: ...

    def card_present(self) -> bool: ...

    def disconnect(self) -> None: ...

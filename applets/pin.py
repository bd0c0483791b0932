"""PIN coding and the try-counter rule shared by VERIFY and CHANGE PIN."""

from __future__ import annotations

from typing import TYPE_CHECKING

from applets.errors import CardStatus
from applets.sw import SW

if TYPE_CHECKING:
    from applets.card import VirtualCard


def decode_bcd_pin(data: bytes) -> str:
    """Packed BCD digits, optionally padded with F nibbles at the end (PBOC: 6 digits in 3 bytes).
    Lengths outside 2..6 bytes → 6700; a non-digit nibble → 6A80."""
    if not 2 <= len(data) <= 6:
        raise CardStatus(SW.WRONG_LENGTH)
    digits = data.hex().upper().rstrip("F")
    if not (4 <= len(digits) <= 12 and digits.isdigit()):
        raise CardStatus(SW.WRONG_DATA)
    return digits


def encode_bcd_pin(digits: str) -> bytes:
    if not (4 <= len(digits) <= 12 and digits.isdigit()):
        raise ValueError("a PIN is 4 to 12 decimal digits")
    return bytes.fromhex(digits + "F" * (len(digits) % 2))


def check_pin(card: VirtualCard, digits: str) -> None:
    """ssc-card.md: the try counter is decremented and persisted *before* the comparison is answered,
    so tearing during VERIFY never gives a try back. A match restores the counter."""
    state = card.image.pin
    if state.blocked:
        raise CardStatus(SW.AUTH_METHOD_BLOCKED)
    state.tries_left -= 1
    card.commit()
    if not state.matches(digits):
        card.session.pin_verified = False
        raise CardStatus(0x63C0 | state.tries_left)
    state.tries_left = state.max_tries
    card.commit()
    card.session.pin_verified = True

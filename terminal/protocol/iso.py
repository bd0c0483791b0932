"""ISO/IEC 7816-4 commands as the terminal sends them: one frozen dataclass per command."""

from __future__ import annotations

from dataclasses import dataclass

from applets.apdu import CommandApdu, ResponseApdu
from applets.pin import encode_bcd_pin
from applets.sw import SW, describe
from terminal.errors import CardAnswerError, PinError


@dataclass(frozen=True, slots=True)
class SelectByName:
    """SELECT by DF name (ISO 7816-4 §11.2.2, P1=04); P2=0C asks for no FCI."""

    name: bytes
    fci: bool = False

    def to_bytes(self) -> bytes:
        return CommandApdu(0x00, 0xA4, 0x04, 0x00 if self.fci else 0x0C, self.name, 256 if self.fci else 0).to_bytes()


@dataclass(frozen=True, slots=True)
class ReadRecord:
    """READ RECORD (ISO 7816-4 §11.4.3): by number (P2 b3..b1 = 100) from the EF with short id `sfi`."""

    sfi: int
    number: int

    def to_bytes(self) -> bytes:
        return CommandApdu(0x00, 0xB2, self.number, (self.sfi << 3) | 0x04, b"", 256).to_bytes()


@dataclass(frozen=True, slots=True)
class ReadBinary:
    """READ BINARY by short EF identifier (ISO 7816-4 §11.3.3, P1 b8 = 1)."""

    sfi: int
    offset: int = 0
    length: int = 256

    def to_bytes(self) -> bytes:
        return CommandApdu(0x00, 0xB0, 0x80 | self.sfi, self.offset, b"", self.length).to_bytes()


@dataclass(frozen=True, slots=True)
class Verify:
    """VERIFY (ISO 7816-4 §11.5.6), PIN as packed BCD. `repr` never shows the PIN."""

    pin: str

    def __repr__(self) -> str:
        return "Verify(pin=***)"

    def to_bytes(self) -> bytes:
        return CommandApdu(0x00, 0x20, 0x00, 0x00, encode_bcd_pin(self.pin)).to_bytes()


@dataclass(frozen=True, slots=True)
class GetChallenge:
    length: int = 8

    def to_bytes(self) -> bytes:
        return CommandApdu(0x00, 0x84, 0x00, 0x00, b"", self.length).to_bytes()


@dataclass(frozen=True, slots=True)
class InternalAuthenticate:
    """INTERNAL AUTHENTICATE (ISO 7816-4 §11.5.2) with key `kid`."""

    kid: int
    challenge: bytes

    def to_bytes(self) -> bytes:
        return CommandApdu(0x00, 0x88, 0x00, self.kid, self.challenge, 256).to_bytes()


def expect_ok(raw: bytes, what: str) -> bytes:
    """The data of a 9000 answer, else CardAnswerError naming the command and the SW."""
    try:
        resp = ResponseApdu.from_bytes(raw)
    except ValueError:
        raise CardAnswerError(f"{what}: the card answered {len(raw)} byte(s), no status word") from None
    if resp.sw != SW.OK:
        raise CardAnswerError(f"{what}: {resp.sw:04X} {describe(resp.sw)}", resp.sw)
    return resp.data


def check_verify(raw: bytes) -> None:
    """Interpret a VERIFY answer: 9000 ok; 63Cx wrong PIN with x tries left; 6983 blocked."""
    resp = ResponseApdu.from_bytes(raw) if len(raw) >= 2 else ResponseApdu(b"", 0x6F00)
    if resp.sw == SW.OK:
        return
    if resp.sw & 0xFFF0 == 0x63C0:
        left = resp.sw & 0x0F
        if left == 0:
            raise PinError("wrong PIN; the PIN is now blocked — the holder must go to the card issuer", 0)
        raise PinError(f"wrong PIN, {left} tr{'y' if left == 1 else 'ies'} left", left)
    if resp.sw == SW.AUTH_METHOD_BLOCKED:
        raise PinError("the PIN is blocked — the holder must go to the card issuer to unblock it", 0)
    raise CardAnswerError(f"VERIFY: {resp.sw:04X} {describe(resp.sw)}", resp.sw)

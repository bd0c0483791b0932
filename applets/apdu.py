"""Command and response APDUs (ISO/IEC 7816-4 §5.1, short length cases 1–4)."""

from __future__ import annotations

from dataclasses import dataclass

from applets.errors import CardStatus
from applets.sw import SW


@dataclass(frozen=True, slots=True)
class CommandApdu:
    """A parsed command APDU. `ne` is the expected response length (0 = no Le field; 256 for Le=00)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    ne: int = 0

    @property
    def case(self) -> int:
        """ISO 7816-3 §12.1 case: 1 no data, 2 Le only, 3 Lc only, 4 Lc and Le."""
        return (3 if self.data else 1) + (1 if self.ne else 0)

    @property
    def proprietary(self) -> bool:
        """CLA b8 set: a proprietary (here: PBOC/JR/T 0025) class."""
        return bool(self.cla & 0x80)

    def to_bytes(self) -> bytes:
        if len(self.data) > 255 or self.ne > 256:
            raise ValueError("only short APDUs are supported (Lc ≤ 255, Ne ≤ 256)")
        out = bytes((self.cla, self.ins, self.p1, self.p2))
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.ne:
            out += bytes((self.ne & 0xFF,))
        return out

    @classmethod
    def from_bytes(cls, raw: bytes) -> CommandApdu:
        """Parse short cases 1–4. Anything else (too short, extended length, Lc/length mismatch)
        raises CardStatus(6700): the card answers 'wrong length' (ISO 7816-4 §5.1)."""
        n = len(raw)
        if n < 4:
            raise CardStatus(SW.WRONG_LENGTH)
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        if n == 4:  # case 1
            return cls(cla, ins, p1, p2)
        b5 = raw[4]
        if n == 5:  # case 2 short: Le, 00 means 256
            return cls(cla, ins, p1, p2, b"", b5 or 256)
        if b5 == 0:  # extended length (ISO 7816-4 §5.1): not supported by this card
            raise CardStatus(SW.WRONG_LENGTH)
        if n == 5 + b5:  # case 3
            return cls(cla, ins, p1, p2, bytes(raw[5:]))
        if n == 6 + b5:  # case 4
            return cls(cla, ins, p1, p2, bytes(raw[5:-1]), raw[-1] or 256)
        raise CardStatus(SW.WRONG_LENGTH)


@dataclass(frozen=True, slots=True)
class ResponseApdu:
    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return self.sw == SW.OK

    def to_bytes(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    @classmethod
    def from_bytes(cls, raw: bytes) -> ResponseApdu:
        if len(raw) < 2:
            raise ValueError(f"a response APDU has at least SW1 SW2, got {len(raw)} byte(s)")
        return cls(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))

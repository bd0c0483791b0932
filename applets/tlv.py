"""BER-TLV (ISO/IEC 7816-4 §5.2 / ISO 8825-1) encoding and decoding."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tlv:
    tag: int
    value: bytes

    @property
    def constructed(self) -> bool:
        """b6 of the first tag byte (ISO 8825-1 §8.1.2.5)."""
        first = self.tag.to_bytes(tag_size(self.tag), "big")[0]
        return bool(first & 0x20)

    def children(self) -> list[Tlv]:
        if not self.constructed:
            raise ValueError(f"tag {self.tag:X} is primitive")
        return decode(self.value)

    def to_bytes(self) -> bytes:
        return encode(self.tag, self.value)


def tag_size(tag: int) -> int:
    if tag < 0:
        raise ValueError("tag must be non-negative")
    return max(1, (tag.bit_length() + 7) // 8)


def encode_tag(tag: int) -> bytes:
    raw = tag.to_bytes(tag_size(tag), "big")
    # ISO 7816-4 §5.2: 00 and FF are padding, never the first byte of a tag (decode skips them)
    if raw[0] in (0x00, 0xFF):
        raise ValueError(f"tag {tag:X}: a tag cannot start with {raw[0]:02X} (padding byte)")
    if len(raw) > 4:
        raise ValueError(f"tag {tag:X} is longer than 4 bytes")
    # ISO 8825-1 §8.1.2.4: low 5 bits all 1 → subsequent bytes, each with b8 set except the last
    if len(raw) == 1:
        if raw[0] & 0x1F == 0x1F:
            raise ValueError(f"tag {tag:X} announces more bytes but has none")
    else:
        if raw[0] & 0x1F != 0x1F or any(b & 0x80 == 0 for b in raw[1:-1]) or raw[-1] & 0x80:
            raise ValueError(f"{tag:X} is not a valid multi-byte BER tag")
    return raw


def encode_length(n: int) -> bytes:
    """ISO 8825-1 §8.1.3: definite form, short (<128) or long (81 xx / 82 xxxx / 83 xxxxxx)."""
    if n < 0:
        raise ValueError("length must be non-negative")
    if n < 0x80:
        return bytes((n,))
    size = (n.bit_length() + 7) // 8
    if size > 3:
        raise ValueError("TLV value too long")
    return bytes((0x80 | size,)) + n.to_bytes(size, "big")


def encode(tag: int, value: bytes) -> bytes:
    return encode_tag(tag) + encode_length(len(value)) + value


def _read_one(data: bytes, pos: int) -> tuple[Tlv, int]:
    end = len(data)
    if pos >= end:
        raise ValueError("TLV truncated: no tag")
    start = pos
    first = data[pos]
    pos += 1
    if first & 0x1F == 0x1F:
        while True:
            if pos >= end:
                raise ValueError(f"TLV truncated inside the tag at offset {start}")
            b = data[pos]
            pos += 1
            if not b & 0x80:
                break
            if pos - start >= 4:  # a 4th tag byte that still announces more
                raise ValueError(f"TLV tag longer than 4 bytes at offset {start}")
    tag = int.from_bytes(data[start:pos], "big")
    if pos >= end:
        raise ValueError(f"TLV truncated: tag {tag:X} has no length")
    lb = data[pos]
    pos += 1
    if lb < 0x80:
        length = lb
    elif lb == 0x80:
        raise ValueError(f"indefinite length is not allowed (tag {tag:X})")
    else:
        size = lb & 0x7F
        if size > 3 or pos + size > end:
            raise ValueError(f"bad long-form length for tag {tag:X}")
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    if pos + length > end:
        raise ValueError(f"TLV truncated: tag {tag:X} announces {length} bytes, {end - pos} left")
    return Tlv(tag, bytes(data[pos : pos + length])), pos + length


def decode(data: bytes) -> list[Tlv]:
    """Decode a concatenation of BER-TLV objects (00/FF padding between objects is skipped)."""
    out: list[Tlv] = []
    pos = 0
    while pos < len(data):
        if data[pos] in (0x00, 0xFF):  # ISO 7816-4 §5.2: padding before, between or after objects
            pos += 1
            continue
        item, pos = _read_one(data, pos)
        out.append(item)
    return out


def decode_one(data: bytes) -> Tlv:
    """Decode exactly one TLV object that fills `data`."""
    item, pos = _read_one(data, 0)
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} trailing byte(s) after tag {item.tag:X}")
    return item

"""Shared helpers and fixtures for the card-side and reader-layer tests (issue 3 "Foundation").

Import what you need explicitly (there is no conftest for these)::

    from tests.cards_fixtures import demo_card, send, SELECT_SSSE

Cards are built from the demo holder profiles in data/cards/*.toml with the TEST keys of data/keys/ and
a deterministic entropy source, so every run personalises byte-identical images (same PIN salt, same
challenges).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Callable

from applets.card import MemoryStorage, VirtualCard
from applets.fs import DF, EF, Access, Structure
from applets.image import CardImage, PinState
from applets.personalize import DEFAULT_ATR, HolderProfile, IssuerTestKeys, personalize
from applets.pin import encode_bcd_pin
from applets.ssse import SSSE_AID
from terminal.issuer import load_profile, load_test_keys

REPO = Path(__file__).resolve().parent.parent
CARDS_DIR = REPO / "data" / "cards"
DEMO_NAMES: tuple[str, ...] = tuple(sorted(p.stem for p in CARDS_DIR.glob("*.toml")))

DEFAULT_PIN = "123456"
CUSTOM_PIN = "1234"

# SELECT SSSE by DF name, no FCI (ssc-card.md "Selecting").
SELECT_SSSE = "00A4040C0F" + SSSE_AID.hex().upper()
SELECT_SSSE_FCI = "00A404000F" + SSSE_AID.hex().upper() + "00"


def h(spaced: str) -> bytes:
    """Bytes from hex that may contain spaces: h("00 A4 04 00")."""
    return bytes.fromhex(spaced.replace(" ", ""))


def det_entropy(seed: str = "ykt-tests") -> Callable[[int], bytes]:
    """A deterministic stand-in for os.urandom: SHA-256 in counter mode over `seed`."""
    counter = 0

    def entropy(n: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < n:
            out += hashlib.sha256(f"{seed}/{counter}".encode()).digest()
            counter += 1
        return out[:n]

    return entropy


@lru_cache(maxsize=None)
def issuer_keys() -> IssuerTestKeys:
    return load_test_keys()


@lru_cache(maxsize=None)
def demo_profile(name: str) -> HolderProfile:
    return load_profile(CARDS_DIR / f"{name}.toml")


@lru_cache(maxsize=None)
def demo_image_bytes(name: str) -> bytes:
    """The committed image of a freshly personalised demo card (deterministic)."""
    return personalize(demo_profile(name), issuer_keys(), det_entropy(f"image/{name}")).to_bytes()


def demo_image(name: str) -> CardImage:
    return CardImage.from_bytes(demo_image_bytes(name))


def card_from_bytes(image: bytes, seed: str = "card") -> tuple[VirtualCard, MemoryStorage]:
    storage = MemoryStorage(image)
    card = VirtualCard(storage, det_entropy(seed))
    card.power_on()
    return card, storage


def demo_card(name: str = "zhang-wei") -> tuple[VirtualCard, MemoryStorage]:
    """A powered demo card over a MemoryStorage holding its image."""
    return card_from_bytes(demo_image_bytes(name), seed=f"card/{name}")


def send(card: VirtualCard, apdu: str | bytes) -> tuple[bytes, int]:
    """Process one APDU; returns (data, SW)."""
    raw = h(apdu) if isinstance(apdu, str) else apdu
    resp = card.process(raw)
    assert len(resp) >= 2, f"answer without SW to {raw.hex()}"
    return resp[:-2], int.from_bytes(resp[-2:], "big")


def sw_of(card: VirtualCard, apdu: str | bytes) -> int:
    return send(card, apdu)[1]


def verify_apdu(pin: str) -> bytes:
    bcd = encode_bcd_pin(pin)
    return bytes((0x00, 0x20, 0x00, 0x00, len(bcd))) + bcd


def change_pin_apdu(old: str, new: str) -> bytes:
    body = encode_bcd_pin(old) + b"\xff" + encode_bcd_pin(new)
    return bytes((0x80, 0x5E, 0x01, 0x00, len(body))) + body


def read_record_apdu(sfi: int, number: int, le: int = 0, by_id: int | None = None) -> bytes:
    """READ RECORD by number (P2 b3..b1 = 100) or, with by_id = 0/1, by identifier first/last."""
    mode = 0x04 if by_id is None else by_id
    return bytes((0x00, 0xB2, number, (sfi << 3) | mode, le))


def records_of(image: CardImage, df_fid: int, ef_fid: int) -> list[bytes]:
    df = image.mf.child(df_fid)
    assert isinstance(df, DF)
    ef = df.child(ef_fid)
    assert isinstance(ef, EF)
    return list(ef.records)


# ---- a small custom image to exercise the ISO file commands ----

CUSTOM_APP_NAME = bytes.fromhex("A000000001")
CUSTOM_NESTED_NAME = bytes.fromhex("A00000000102")


def custom_image() -> CardImage:
    """MF with files of every structure and access condition, plus a named DF with a nested DF.

    MF 3F00
      EF 0101 SFI 01 transparent, read always, write always   "0011…EEFF" (16 bytes)
      EF 0102 SFI 02 transparent, read always, write never    "CAFE"
      EF 0103 SFI 03 transparent, read pin,    write pin      "5EC12E7"
      EF 0104 SFI 04 linear, record_size 4, max 3, write always   records 01010101, 02020202
      EF 0105 SFI 05 cyclic, record_size 2, max 3, write always   records A1A1, A2A2 (A1A1 newest)
      EF 0106 SFI 06 linear variable, read never                  records 99
      EF 0107 SFI 07 TLV records, write always                    01 01 11 | 02 02 2222 | 01 01 33
      DF 1000 name A000000001
        EF 1001 SFI 01 transparent, read always, write never   "1000"
        DF 1100 name A00000000102
          EF 1101 SFI 01 transparent  "1100"
    """
    mf = DF(0x3F00)
    mf.add(EF(0x0101, Structure.TRANSPARENT, sfi=1, write=Access.ALWAYS, data=bytearray(range(0x00, 0x100, 0x11))))
    mf.add(EF(0x0102, Structure.TRANSPARENT, sfi=2, write=Access.NEVER, data=bytearray(h("CAFE"))))
    mf.add(EF(0x0103, Structure.TRANSPARENT, sfi=3, read=Access.PIN, write=Access.PIN, data=bytearray(h("5EC12E70"))))
    mf.add(
        EF(
            0x0104, Structure.LINEAR, sfi=4, write=Access.ALWAYS, records=[h("01010101"), h("02020202")],
            max_records=3, record_size=4,
        )
    )
    mf.add(
        EF(0x0105, Structure.CYCLIC, sfi=5, write=Access.ALWAYS, records=[h("A1A1"), h("A2A2")], max_records=3, record_size=2)
    )
    mf.add(EF(0x0106, Structure.LINEAR, sfi=6, read=Access.NEVER, records=[h("99")]))
    mf.add(EF(0x0107, Structure.TLV_RECORDS, sfi=7, write=Access.ALWAYS, records=[h("010111"), h("02022222"), h("010133")]))
    app = DF(0x1000, name=CUSTOM_APP_NAME)
    mf.add(app)
    app.add(EF(0x1001, Structure.TRANSPARENT, sfi=1, data=bytearray(h("1000"))))
    nested = DF(0x1100, name=CUSTOM_NESTED_NAME)
    app.add(nested)
    nested.add(EF(0x1101, Structure.TRANSPARENT, sfi=1, data=bytearray(h("1100"))))
    return CardImage(
        label="custom test image",
        atr=DEFAULT_ATR,
        mf=mf,
        pin=PinState.create(CUSTOM_PIN, b"\x5a" * 16, max_tries=3),
    )


def custom_card() -> tuple[VirtualCard, MemoryStorage]:
    return card_from_bytes(custom_image().to_bytes(), seed="custom")

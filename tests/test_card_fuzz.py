"""Fuzzing the card OS: well over 10,000 random command APDUs per run, biased toward the classes,
instructions and parameters the card knows (ISO file and PIN commands, SSSE, the e-purse), against demo
cards and the custom test image.

Every answer must be a status word (with data only on 9000), SW1 in the ISO 7816-4 / JR/T 0025
ranges, never 6F00 (the dispatcher's "a bug escaped" answer); afterwards the stored image still parses,
EF05/EF06 are unchanged and the PIN try counter is within 0..max.
"""

from __future__ import annotations

import random
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from applets.apdu import CommandApdu
from applets.card import MemoryStorage, VirtualCard
from applets.errors import CardStatus
from applets.image import CardImage
from applets.pin import encode_bcd_pin
from applets.purse.layout import PURSE_AID
from applets.ssse import SSSE_AID, SSSE_FID
from tests.cards_fixtures import (
    CUSTOM_APP_NAME,
    DEFAULT_PIN,
    card_from_bytes,
    custom_image,
    demo_image_bytes,
    records_of,
)

VALID_SW1 = {0x61, 0x62, 0x63, 0x64, 0x65, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F, 0x90, 0x93, 0x94}

FIDS = [0x3F00, SSSE_FID, 0x0005, 0x0006, 0x000F, 0x0101, 0x0104, 0x0105, 0x0107, 0x1000, 0x1001, 0x1100, 0x1234]
NAMES = [SSSE_AID, SSSE_AID[:7], PURSE_AID, CUSTOM_APP_NAME, bytes.fromhex("D15600000590"), bytes.fromhex("A00000000102")]
INTERESTING_CLA = [0x00, 0x00, 0x00, 0x80, 0x84, 0x01, 0x04, 0x0C, 0x10, 0x40, 0x81, 0x90, 0xA0, 0xFF]


def _pin_bytes(r: random.Random) -> bytes:
    choice = r.random()
    if choice < 0.3:
        return encode_bcd_pin(DEFAULT_PIN)
    if choice < 0.85:
        digits = "".join(r.choice("0123456789") for _ in range(r.randint(4, 12)))
        return encode_bcd_pin(digits)
    return r.randbytes(r.randint(0, 8))


def _sfi(r: random.Random) -> int:
    return r.choice([1, 2, 3, 4, 5, 6, 7, 15, 5, 6, r.randrange(32)])


def _select(r: random.Random) -> tuple[int, int, bytes, int]:
    p1 = r.choice([0x04, 0x04, 0x00, 0x00, 0x01, 0x02, 0x03, 0x08, 0x09])
    if p1 == 0x04:
        data = r.choice(NAMES)
    elif p1 == 0x03:
        data = b""
    elif p1 in (0x08, 0x09):
        data = b"".join(r.choice(FIDS).to_bytes(2, "big") for _ in range(r.randint(1, 3)))
    else:
        data = r.choice(FIDS).to_bytes(2, "big")
    p2 = r.choice([0x00, 0x04, 0x0C, 0x0C])
    return p1, p2, data, 0 if p2 == 0x0C else r.choice([256, 256, 4, 16])


def _read_binary(r: random.Random) -> tuple[int, int, bytes, int]:
    if r.random() < 0.7:
        return 0x80 | _sfi(r), r.choice([0, 0, 1, 2, 15, 16, r.randrange(256)]), b"", r.choice([256, 4, 16, 200])
    return r.choice([0, 0, 1]), r.randrange(20), b"", r.choice([256, 8])


def _update_binary(r: random.Random) -> tuple[int, int, bytes, int]:
    p1, p2, _, _ = _read_binary(r)
    return p1, p2, r.randbytes(r.choice([1, 2, 4, 16, 17])), 0


def _read_record(r: random.Random) -> tuple[int, int, bytes, int]:
    number = r.choice([1, 2, 3, 4, 7, 8, 9, 0x0A, 0x0D, 0x4E, 0, r.randrange(256)])
    mode = r.choice([4, 4, 4, 0, 1, 2])
    return number, (_sfi(r) << 3) | mode, b"", r.choice([256, 256, 2, 4, 8])


def _update_record(r: random.Random) -> tuple[int, int, bytes, int]:
    number = r.choice([1, 2, 3, r.randrange(256)])
    data = bytes([number]) + r.randbytes(r.randint(0, 4)) if r.random() < 0.5 else r.randbytes(r.choice([2, 4]))
    return number, (_sfi(r) << 3) | 4, data, 0


def _append_record(r: random.Random) -> tuple[int, int, bytes, int]:
    return 0, _sfi(r) << 3, r.randbytes(r.choice([2, 2, 4, 4, 3])), 0


def _verify(r: random.Random) -> tuple[int, int, bytes, int]:
    return 0, 0, (_pin_bytes(r) if r.random() < 0.85 else b""), 0


def _get_challenge(r: random.Random) -> tuple[int, int, bytes, int]:
    return 0, 0, b"", r.choice([4, 8, 16, 8, r.randint(1, 256)])


def _internal_auth(r: random.Random) -> tuple[int, int, bytes, int]:
    return 0, r.choice([1, 2, 1, 2, 3]), r.randbytes(r.choice([4, 8, 16, 32, 64, 65])), r.choice([256, 256, 16, 64])


def _external_auth(r: random.Random) -> tuple[int, int, bytes, int]:
    return 0, r.choice([1, 1, 2]), r.randbytes(r.choice([16, 16, 8, 32])), 0


def _change_pin(r: random.Random) -> tuple[int, int, bytes, int]:
    sep = b"\xff" if r.random() < 0.9 else b""
    return 1, 0, _pin_bytes(r) + sep + _pin_bytes(r), 0


def _purse(r: random.Random) -> tuple[int, int, bytes, int]:
    """The e-purse commands (80 50/52/54/5A/5C/DC, 84 1E): plausible P1/P2 and data sizes."""
    data = r.choice([b"", r.randbytes(4), r.randbytes(8), b"\x01" + r.randbytes(10), b"\x02" + r.randbytes(10),
                     r.randbytes(11), r.randbytes(15), r.randbytes(r.randint(0, 40))])
    return r.choice([0, 0, 1, 2, 3, 8]), r.choice([0, 1, 2, 2, 0x0C]), data, r.choice([0, 4, 8, 16, 256, 256])


def _unknown(r: random.Random) -> tuple[int, int, bytes, int]:
    return r.randrange(256), r.randrange(256), r.randbytes(r.randint(0, 8)), r.choice([0, 256])


# (CLA, INS) → parameters generator: every command the card OS or SSSE knows, and a few it does not
TEMPLATES = {
    (0x00, 0xA4): _select,
    (0x00, 0xB0): _read_binary,
    (0x00, 0xD6): _update_binary,
    (0x00, 0xB2): _read_record,
    (0x00, 0xDC): _update_record,
    (0x00, 0xE2): _append_record,
    (0x00, 0x20): _verify,
    (0x00, 0x84): _get_challenge,
    (0x00, 0x88): _internal_auth,
    (0x00, 0x82): _external_auth,
    (0x80, 0x5E): _change_pin,
    (0x84, 0x5E): _change_pin,
    (0x80, 0x5C): _purse,
    (0x80, 0x50): _purse,
    (0x80, 0x52): _purse,
    (0x80, 0x54): _purse,
    (0x80, 0x5A): _purse,
    (0x80, 0xDC): _purse,
    (0x84, 0x1E): _purse,
    (0x00, 0xC0): _unknown,
    (0x00, 0xCA): _unknown,
}
KNOWN = list(TEMPLATES)


def random_apdu(r: random.Random) -> bytes:
    """One APDU: 10% noise, else a known command with plausible parameters, mutated 30% of the time
    (CLA, P1, P2, data or Le), and its length encoding broken 8% of the time."""
    if r.random() < 0.1:
        return r.randbytes(r.choice([0, 1, 3, 4, 5, 6, r.randint(0, 300)]))
    cla, ins = r.choice(KNOWN)
    p1, p2, data, ne = TEMPLATES[(cla, ins)](r)
    if r.random() < 0.3:
        what = r.randrange(5)
        if what == 0:
            cla = r.choice(INTERESTING_CLA)
        elif what == 1:
            p1 = r.randrange(256)
        elif what == 2:
            p2 = r.randrange(256)
        elif what == 3:
            data = r.randbytes(r.randint(0, 255))
        else:
            ne = r.randint(0, 256)
    raw = CommandApdu(cla, ins, p1, p2, data, ne).to_bytes()
    if r.random() < 0.08:
        how = r.random()
        if how < 0.3 and len(raw) > 4:
            raw = raw[:-1]
        elif how < 0.6:
            raw = raw + r.randbytes(r.randint(1, 3))
        else:
            raw = raw[:4] + b"\x00" + r.randbytes(r.randint(1, 6))
    return raw


class Fuzzer:
    """Sends APDUs to a card and checks every answer; collects the APDUs that got 6F00."""

    def __init__(self, image: bytes, seed: str) -> None:
        self.original = CardImage.from_bytes(image)
        self.card, self.storage = card_from_bytes(image, seed=seed)
        self.sent = 0
        self.bugs: list[str] = []

    def send(self, raw: bytes) -> bytes:
        self.sent += 1
        resp = self.card.process(raw)  # only PowerLost may leave process; MemoryStorage never tears
        assert isinstance(resp, bytes) and len(resp) >= 2, f"{raw.hex().upper()} → {resp!r}"
        sw1, sw2 = resp[-2], resp[-1]
        if resp[-2:] == b"\x6f\x00":
            self.bugs.append(raw.hex().upper())
        assert sw1 in VALID_SW1, f"{raw.hex().upper()} → SW {sw1:02X}{sw2:02X}"
        if len(resp) > 2:
            assert resp[-2:] == b"\x90\x00", f"{raw.hex().upper()}: data with SW {sw1:02X}{sw2:02X}"
            try:
                cmd = CommandApdu.from_bytes(raw)
            except CardStatus:
                raise AssertionError(f"{raw.hex().upper()}: a malformed APDU got data") from None
            assert cmd.ne and len(resp) - 2 <= cmd.ne, f"{raw.hex().upper()}: more data than Le"
        return resp

    def check_state(self) -> None:
        assert not self.bugs, "6F00 (a bug escaped) for: " + ", ".join(self.bugs[:20])
        image = CardImage.from_bytes(self.storage.image)  # still parses
        assert image.to_bytes() == self.storage.image
        # every change of persistent state was committed: RAM and storage agree
        assert self.card.image.to_bytes() == self.storage.image
        assert 0 <= image.pin.tries_left <= image.pin.max_tries
        assert image.pin.max_tries == self.original.pin.max_tries
        if self.original.mf.child(SSSE_FID) is not None:
            for fid in (0x0005, 0x0006):  # EF05 / EF06 unchanged
                assert records_of(image, SSSE_FID, fid) == records_of(self.original, SSSE_FID, fid)
            ef0f_now = image.mf.child(SSSE_FID).child(0x000F)  # type: ignore[union-attr]
            ef0f_then = self.original.mf.child(SSSE_FID).child(0x000F)  # type: ignore[union-attr]
            assert ef0f_now.data == ef0f_then.data  # type: ignore[union-attr]
            assert image.keys == self.original.keys
        assert image.atr == self.original.atr


SELECT_SSSE = bytes.fromhex("00A4040C0F") + SSSE_AID
SELECT_PURSE = bytes.fromhex("00A4040C08") + PURSE_AID


def run(image: bytes, seed: int, count: int, select_every: int = 50) -> Fuzzer:
    r = random.Random(seed)
    fz = Fuzzer(image, seed=f"fuzz/{seed}")
    for i in range(count):
        if i % select_every == 0:
            fz.send(SELECT_SSSE if (i // select_every) % 3 else SELECT_PURSE)  # keep both applications reachable
        if r.random() < 0.01:
            fz.card.power_off() if r.random() < 0.5 else fz.card.power_on()
        fz.send(random_apdu(r))
    fz.check_state()
    return fz


def _with_many_tries(image: bytes) -> bytes:
    """The same card with 15 PIN tries, so that VERIFY/CHANGE PIN stay reachable for a long run."""
    img = CardImage.from_bytes(image)
    img.pin.max_tries = img.pin.tries_left = 15
    return img.to_bytes()


def test_fuzz_demo_cards_seeded() -> None:
    """36,000 APDUs: six fresh zhang-wei cards × 5,000 (three of them with 15 PIN tries so that a
    blocked PIN does not end the PIN paths early), plus the EF06-needs-PIN, long-name and blocked cards."""
    start = time.perf_counter()
    total = 0
    for seed in range(6):
        image = demo_image_bytes("zhang-wei")
        total += run(image if seed < 3 else _with_many_tries(image), seed, 5000).sent
    for name, seed in (("li-na", 100), ("ayguli", 101), ("liu-yang", 102)):
        total += run(_with_many_tries(demo_image_bytes(name)) if name == "li-na" else demo_image_bytes(name), seed, 2000).sent
    assert total >= 36_000
    assert time.perf_counter() - start < 20


def test_fuzz_custom_image_with_writable_files() -> None:
    """The custom image has writable transparent, linear, cyclic and TLV record files: random writes
    must keep it a valid image."""
    fz = run(custom_image().to_bytes(), seed=7, count=10_000, select_every=10**9)
    assert fz.sent >= 10_000
    assert fz.storage.saves >= 50  # the writes really happened


def test_fuzz_reaches_the_interesting_answers() -> None:
    """The generator is useful only if it gets past the dispatcher: count the status words it saw."""
    r = random.Random(1234)
    fz = Fuzzer(demo_image_bytes("zhang-wei"), seed="coverage")
    seen: set[int] = set()
    for i in range(3000):
        if i % 50 == 0:
            fz.send(SELECT_SSSE)
        resp = fz.send(random_apdu(r))
        seen.add(int.from_bytes(resp[-2:], "big"))
    fz.check_state()
    for sw in (0x9000, 0x6700, 0x6A82, 0x6A83, 0x6A86, 0x6D00, 0x6E00, 0x6982, 0x6B00):
        assert sw in seen, f"{sw:04X} never answered"
    assert any(sw & 0xFFF0 == 0x63C0 for sw in seen)
    assert any(sw >> 8 == 0x6C for sw in seen)


# ---- hypothesis: short random sessions on fresh cards ----

apdu_bytes = st.one_of(
    st.builds(
        lambda cla, ins, p1, p2, data, ne: CommandApdu(cla, ins, p1, p2, data, ne).to_bytes(),
        st.sampled_from([0x00, 0x80, 0x84]) | st.integers(0, 255),
        st.sampled_from([ins for _, ins in KNOWN]) | st.integers(0, 255),
        st.integers(0, 255),
        st.integers(0, 255),
        st.binary(max_size=70),
        st.integers(0, 256),
    ),
    st.binary(max_size=40),
)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(apdu_bytes, min_size=1, max_size=12), st.sampled_from(["zhang-wei", "li-na", "custom"]))
def test_fuzz_sessions_hypothesis(apdus: list[bytes], which: str) -> None:
    image = custom_image().to_bytes() if which == "custom" else demo_image_bytes(which)
    fz = Fuzzer(image, seed="hyp")
    if which != "custom":
        fz.send(SELECT_SSSE)
    for raw in apdus:
        fz.send(raw)
    fz.check_state()


def test_process_leaves_no_exception_but_power_lost() -> None:
    """A card whose storage is fine answers everything: even a bytearray or an empty command."""
    card = VirtualCard(MemoryStorage(demo_image_bytes("zhang-wei")), lambda n: bytes(n))
    assert card.process(bytearray(b"\x00\xa4\x00\x00")) == b"\x90\x00"
    assert card.process(b"") == b"\x67\x00"

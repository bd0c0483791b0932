"""Every worked example of purse.md as a known-answer test of the *card* (and of personalisation and the
PSAM): the card's keys are K itself (the examples use K as DK/DTK), its random is 11223344 and its
counters are 0, so its answers must be exactly the published MACs and TACs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from applets.card import MemoryStorage, VirtualCard
from applets.crypto import pboc
from applets.crypto.pboc import Algorithm
from applets.psam.application import master_key_name
from applets.purse.personalize import PurseMasterKeys, card_keys
from applets.purse.state import key_name
from tests.purse.helpers import psam_image, purse_image, send

_VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "purse_vectors.json").read_text())
K = bytes.fromhex(_VECTORS["key"])
V = {v["name"]: bytes.fromhex(v["expected"]) for v in _VECTORS["vectors"]}
TERMINAL = "001122334455"
RANDOM = bytes.fromhex("11223344")
# key index 1 = SM4, 2 = 3DES (applets/purse/state.py DEFAULT_KEY_TABLE)
CASES = [pytest.param(1, "sm4", id="sm4"), pytest.param(2, "3des", id="3des")]
USED: set[str] = set()


def kat_card(ep: int = 0) -> VirtualCard:
    """A purse whose DPK, DLK and DTK of both key sets are K, answering random 11223344."""
    image = purse_image(ep=ep)
    for index in (1, 2):
        for kind in ("dpk", "dlk", "dtk"):
            image.keys[key_name(kind, index)] = K
    card = VirtualCard(MemoryStorage(image.to_bytes()), lambda n: RANDOM[:n])
    _, sw = send(card, "00A4040C08A000000632010105")
    assert sw == 0x9000
    return card


def expect(name: str) -> bytes:
    USED.add(name)
    return V[name]


@pytest.mark.parametrize(("index", "alg"), CASES)
def test_load_worked_example(index: int, alg: str) -> None:
    """load: d = 11223344 0000 8000; MAC1 over 00000000 00001000 01 001122334455 (an ED load, type 01);
    MAC2 over 00001000 01 001122334455 20111221 214822."""
    card = kat_card()
    data, sw = send(card, f"805000010B{index:02X}00001000{TERMINAL}10")
    assert sw == 0x9000
    assert data[:4] == bytes(4)  # balance before
    assert data[4:6] == b"\x00\x00"  # online counter
    assert data[6] == 1 and data[7] == (0x04 if alg == "sm4" else 0x00)
    assert data[8:12] == RANDOM
    assert data[12:16] == expect(f"{alg}-load-mac1")
    # the session key the card used is the published one
    sk = pboc.session_key(Algorithm(data[7]), K, bytes.fromhex("1122334400008000"))
    assert sk == expect(f"{alg}-load-sk")
    tac, sw = send(card, "805200000B" + "20111221214822" + expect(f"{alg}-load-mac2").hex() + "04")
    assert sw == 0x9000, "the card must accept the published load MAC2"
    assert len(tac) == 4
    balance, sw = send(card, "805C000104")
    assert sw == 0x6982  # ED balance needs the PIN
    send(card, "0020000003123456")
    balance, sw = send(card, "805C000104")
    assert (balance, sw) == (bytes.fromhex("00001000"), 0x9000)


@pytest.mark.parametrize(("index", "alg"), CASES)
def test_purchase_worked_example(index: int, alg: str) -> None:
    """purchase: d = 11223344 0000 0001; MAC1 over 00001000 06 001122334455 20120229 135100; the card's
    answer is TAC ‖ MAC2 with the published TAC (DTK = K) and, for SM4, the published MAC2."""
    card = kat_card(ep=0x2000)
    data, sw = send(card, f"805001020B{index:02X}00001000{TERMINAL}0F")
    assert sw == 0x9000
    assert data == bytes.fromhex("00002000" "0000" "000000") + bytes((1, 0x04 if alg == "sm4" else 0x00)) + RANDOM
    sk = pboc.session_key(Algorithm(data[10]), K, bytes.fromhex("1122334400000001"))
    assert sk == expect(f"{alg}-purchase-sk")
    answer, sw = send(card, "805401000F" + "00000001" + "20120229135100" + expect(f"{alg}-purchase-mac1").hex() + "08")
    assert sw == 0x9000, "the card must accept the published purchase MAC1"
    assert answer[:4] == expect(f"{alg}-purchase-tac")
    if alg == "sm4":
        assert answer[4:] == expect("sm4-purchase-mac2")
    else:
        assert answer[4:] == pboc.mac(Algorithm.TDES, sk, bytes.fromhex("00001000"))
    balance, sw = send(card, "805C000204")
    assert (balance, sw) == (bytes.fromhex("00001000"), 0x9000)
    proof, sw = send(card, "805A000602" + "0000" + "08")
    assert sw == 0x9000 and proof == answer[4:] + answer[:4]  # GET TRANSACTION PROOF: MAC2 ‖ TAC


@pytest.mark.parametrize(("index", "alg"), CASES)
def test_personalisation_diversifies_with_the_worked_example(index: int, alg: str) -> None:
    """diversify(MK = K, f = 0102030405060708): the card keys personalisation writes."""
    algorithm = Algorithm.SM4 if alg == "sm4" else Algorithm.TDES
    masters = PurseMasterKeys({a: K for a in Algorithm}, {a: K for a in Algorithm}, {a: K for a in Algorithm}, K)
    keys = card_keys(masters, bytes.fromhex("0102030405060708"))
    for kind in ("dpk", "dlk", "dtk"):
        assert keys[key_name(kind, index)] == expect(f"{alg}-diversify")
    assert algorithm in masters.purchase


@pytest.mark.parametrize(("index", "alg"), CASES)
def test_psam_mac1_is_the_worked_example_under_the_diversified_key(index: int, alg: str) -> None:
    """The PSAM with master K derives DK = diversify(K, f) (the published value) and then signs the
    purchase MAC1 of the worked example's inputs under that DK; the card with DK accepts it."""
    algorithm = Algorithm.SM4 if alg == "sm4" else Algorithm.TDES
    masters = PurseMasterKeys({a: K for a in Algorithm}, {a: K for a in Algorithm}, {a: K for a in Algorithm}, K)
    psam = VirtualCard(MemoryStorage(psam_image(masters).to_bytes()), lambda n: bytes(n))
    assert psam.image.keys[master_key_name(algorithm, 1)] == K
    send(psam, "00A4040C06D15600000590")
    data, sw = send(
        psam,
        "80700000 1C".replace(" ", "")
        + RANDOM.hex() + "0000" + "00001000" + "06" + "20120229" + "135100" + "01" + f"{algorithm:02X}" + "0102030405060708" + "08",
    )
    assert sw == 0x9000
    assert data[:4] == bytes.fromhex("00000001")  # terminal txn seq
    dk = expect(f"{alg}-diversify")
    sk = pboc.session_key(algorithm, dk, bytes.fromhex("1122334400000001"))
    terminal_id = bytes.fromhex("310100000001")
    assert data[4:] == pboc.mac(algorithm, sk, pboc.purchase_mac1_data(0x1000, 6, terminal_id, bytes.fromhex("20120229"), bytes.fromhex("135100")))


def test_every_worked_example_is_used() -> None:
    """Runs last in this module: each purse.md vector was checked against the card above."""
    assert USED == set(V), f"not checked at card level: {sorted(set(V) - USED)}"

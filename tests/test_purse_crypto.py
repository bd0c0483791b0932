"""Known-answer and property tests for applets.crypto.pboc (purse.md "Key derivation and MACs").

The known answers are every worked example of purse.md, read from ``tests/vectors/purse_vectors.json``.
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime, time
from pathlib import Path

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.ciphers.algorithms import SM4
from hypothesis import given
from hypothesis import strategies as st

from applets.crypto import pboc
from applets.crypto.pboc import (
    MAC_LENGTH,
    Algorithm,
    bcd_date,
    bcd_time,
    diversify,
    load_mac1_data,
    load_mac2_data,
    load_session_input,
    load_tac_data,
    mac,
    pad,
    purchase_mac1_data,
    purchase_mac2_data,
    purchase_session_input,
    purchase_tac_data,
    session_key,
    tac,
    two_level_diversify,
    verify_mac,
)

_VECTORS = json.loads((Path(__file__).parent / "vectors" / "purse_vectors.json").read_text())
K = bytes.fromhex(_VECTORS["key"])
TERMINAL = bytes.fromhex("001122334455")
RANDOM = bytes.fromhex("11223344")
SK_LENGTH = {Algorithm.TDES: 8, Algorithm.SM4: 16}
BLOCK = {Algorithm.TDES: 8, Algorithm.SM4: 16}

algorithms = st.sampled_from(list(Algorithm))
keys16 = st.binary(min_size=16, max_size=16)


def _vector_params() -> list:
    return [pytest.param(v, id=v["name"]) for v in _VECTORS["vectors"]]


def test_every_worked_example_is_a_vector() -> None:
    names = {v["name"] for v in _VECTORS["vectors"]}
    for alg in ("3des", "sm4"):
        for step in ("load-sk", "load-mac1", "load-mac2", "purchase-sk", "purchase-mac1",
                     "diversify", "purchase-tac"):
            assert f"{alg}-{step}" in names
    assert "sm4-purchase-mac2" in names


@pytest.mark.parametrize("vector", _vector_params())
def test_known_answer(vector: dict) -> None:
    alg = Algorithm[vector["alg"]]
    expected = bytes.fromhex(vector["expected"])
    op = vector["op"]
    if op == "session_key":
        result = session_key(alg, K, bytes.fromhex(vector["session_input"]))
    elif op == "mac":
        sk = session_key(alg, K, bytes.fromhex(vector["session_input"]))
        result = mac(alg, sk, bytes.fromhex(vector["data"]))
    elif op == "tac":
        result = tac(alg, K, bytes.fromhex(vector["data"]))
    elif op == "diversify":
        result = diversify(alg, K, bytes.fromhex(vector["factor"]))
    else:
        raise ValueError(f"unknown op {op!r}")
    assert result.hex().upper() == expected.hex().upper()


# --- message builders reproduce the purse.md worked-example inputs -----------------------------

def _vector(name: str) -> dict:
    return next(v for v in _VECTORS["vectors"] if v["name"] == name)


def test_session_inputs_match_examples() -> None:
    assert load_session_input(RANDOM, 0).hex() == _vector("3des-load-sk")["session_input"]
    assert purchase_session_input(RANDOM, 0, 1).hex() == _vector("3des-purchase-sk")["session_input"]
    # only the last 2 bytes of the terminal transaction sequence enter the purchase input
    assert purchase_session_input(RANDOM, 0, 0x12340001) == purchase_session_input(RANDOM, 0, 1)


def test_builders_match_examples() -> None:
    d1, t1 = bytes.fromhex("20111221"), bytes.fromhex("214822")
    d2, t2 = bytes.fromhex("20120229"), bytes.fromhex("135100")
    assert load_mac1_data(0, 0x1000, 0x01, TERMINAL).hex() == _vector("3des-load-mac1")["data"]
    assert load_mac2_data(0x1000, 0x01, TERMINAL, d1, t1).hex() == _vector("3des-load-mac2")["data"]
    assert purchase_mac1_data(0x1000, 0x06, TERMINAL, d2, t2).hex() == _vector("3des-purchase-mac1")["data"]
    assert purchase_mac2_data(0x1000).hex() == _vector("sm4-purchase-mac2")["data"]
    assert purchase_tac_data(0x1000, 0x06, TERMINAL, 1, d2, t2).hex() == _vector("3des-purchase-tac")["data"]


def test_load_tac_layout() -> None:
    d, t = bytes.fromhex("20111221"), bytes.fromhex("214822")
    data = load_tac_data(0x2000, 5, 0x1000, 0x02, TERMINAL, d, t)
    assert data.hex() == "00002000" "0005" "00001000" "02" "001122334455" "20111221" "214822"


def test_bcd_helpers() -> None:
    moment = datetime(2012, 2, 29, 13, 51, 0)
    assert bcd_date(moment).hex() == "20120229"
    assert bcd_time(moment).hex() == "135100"
    assert bcd_date(date(2011, 12, 21)).hex() == "20111221"
    assert bcd_time(time(21, 48, 22)).hex() == "214822"


def test_two_level_diversify_order() -> None:
    issuer, serial = bytes.fromhex("0102030405060708"), bytes.fromhex("1122334455667788")
    for alg in Algorithm:
        expected = diversify(alg, diversify(alg, K, issuer), serial)
        assert two_level_diversify(alg, K, issuer, serial) == expected
        assert two_level_diversify(alg, K, issuer, serial) != two_level_diversify(alg, K, serial, issuer)


def test_algorithm_ids() -> None:
    assert Algorithm(0x00) is Algorithm.TDES
    assert Algorithm(0x04) is Algorithm.SM4


def test_verify_mac() -> None:
    assert verify_mac(bytes.fromhex("2988AE5A"), bytes.fromhex("2988ae5a"))
    assert not verify_mac(bytes.fromhex("2988AE5A"), bytes.fromhex("2988AE5B"))


# --- properties ---------------------------------------------------------------------------------

def _reference_cbc_mac(alg: Algorithm, key: bytes, data: bytes) -> bytes:
    """Independent CBC-MAC via the library's CBC mode, for cross-checking."""
    size = BLOCK[alg]
    padded = data + b"\x80" + b"\x00" * ((size - 1 - len(data)) % size)
    algorithm = TripleDES(key * 3) if alg is Algorithm.TDES else SM4(key)
    encryptor = Cipher(algorithm, modes.CBC(bytes(size))).encryptor()
    return (encryptor.update(padded) + encryptor.finalize())[-size:][:MAC_LENGTH]


def _reference_ecb(alg: Algorithm, key: bytes, data: bytes) -> bytes:
    """Independent one-shot ECB via the library (3DES keys of 8 or 16 bytes as K1 K2 K1)."""
    algorithm = SM4(key) if alg is Algorithm.SM4 else TripleDES(key * 3 if len(key) == 8 else key + key[:8])
    encryptor = Cipher(algorithm, modes.ECB()).encryptor()
    return encryptor.update(data) + encryptor.finalize()


@given(alg=algorithms, key_seed=keys16, data=st.binary(max_size=80))
def test_mac_length_and_reference(alg: Algorithm, key_seed: bytes, data: bytes) -> None:
    sk = key_seed[: SK_LENGTH[alg]]
    result = mac(alg, sk, data)
    assert len(result) == MAC_LENGTH
    assert result == _reference_cbc_mac(alg, sk, data)


@given(alg=algorithms, key=keys16, data=st.binary(max_size=80))
def test_tac_length(alg: Algorithm, key: bytes, data: bytes) -> None:
    assert len(tac(alg, key, data)) == MAC_LENGTH


@given(
    block=st.sampled_from([8, 16]),
    offset=st.integers(-2, 2),
    multiple=st.integers(0, 3),
    fill=st.integers(0, 255),
)
def test_padding_around_block_boundaries(block: int, offset: int, multiple: int, fill: int) -> None:
    length = max(0, block * multiple + offset)
    data = bytes([fill]) * length
    padded = pad(data, block)
    assert len(padded) % block == 0
    assert len(data) < len(padded) <= len(data) + block
    assert padded[: len(data)] == data
    assert padded[len(data)] == 0x80
    assert set(padded[len(data) + 1 :]) <= {0}


@given(alg=algorithms, data=st.binary(max_size=40))
def test_padding_is_unambiguous(alg: Algorithm, data: bytes) -> None:
    # data and data || 80 must not collide (method 2 always appends the 80 marker)
    sk = K[: SK_LENGTH[alg]]
    assert mac(alg, sk, data) == _reference_cbc_mac(alg, sk, data)
    assert pad(data, BLOCK[alg]) != pad(data + b"\x80", BLOCK[alg])


@given(alg=algorithms, bad=st.binary(max_size=40).filter(lambda b: len(b) != 16))
def test_bad_key_lengths_raise(alg: Algorithm, bad: bytes) -> None:
    factor = bytes(8)
    with pytest.raises(ValueError):
        diversify(alg, bad, factor)
    with pytest.raises(ValueError):
        session_key(alg, bad, factor)
    with pytest.raises(ValueError):
        tac(alg, bad, b"")


@given(alg=algorithms, bad=st.binary(max_size=40))
def test_bad_session_key_length_raises(alg: Algorithm, bad: bytes) -> None:
    if len(bad) == SK_LENGTH[alg]:
        return
    with pytest.raises(ValueError):
        mac(alg, bad, b"\x00")


@given(alg=algorithms, bad=st.binary(max_size=20).filter(lambda b: len(b) != 8))
def test_bad_factor_and_input_lengths_raise(alg: Algorithm, bad: bytes) -> None:
    with pytest.raises(ValueError):
        diversify(alg, K, bad)
    with pytest.raises(ValueError):
        session_key(alg, K, bad)
    with pytest.raises(ValueError):
        two_level_diversify(alg, K, bad, bytes(8))
    with pytest.raises(ValueError):
        two_level_diversify(alg, K, bytes(8), bad)


@given(bad=st.binary(max_size=10).filter(lambda b: len(b) != 4))
def test_bad_card_random_raises(bad: bytes) -> None:
    with pytest.raises(ValueError):
        load_session_input(bad, 0)
    with pytest.raises(ValueError):
        purchase_session_input(bad, 0, 0)


@given(amount=st.one_of(st.integers(max_value=-1), st.integers(min_value=1 << 32)))
def test_amount_out_of_range_raises(amount: int) -> None:
    d, t = bytes.fromhex("20120229"), bytes.fromhex("135100")
    for build in (
        lambda: purchase_mac2_data(amount),
        lambda: purchase_mac1_data(amount, 6, TERMINAL, d, t),
        lambda: load_mac1_data(amount, 0, 2, TERMINAL),
        lambda: load_mac1_data(0, amount, 2, TERMINAL),
        lambda: load_mac2_data(amount, 2, TERMINAL, d, t),
        lambda: purchase_tac_data(amount, 6, TERMINAL, 1, d, t),
        lambda: load_tac_data(amount, 0, 1, 2, TERMINAL, d, t),
        lambda: load_tac_data(0, 0, amount, 2, TERMINAL, d, t),
    ):
        with pytest.raises(ValueError):
            build()


@given(amount=st.integers(0, 0xFFFFFFFF))
def test_amount_encoding(amount: int) -> None:
    assert purchase_mac2_data(amount) == amount.to_bytes(4, "big")


@pytest.mark.parametrize(
    ("terminal_id", "txn_date", "txn_time"),
    [
        (bytes(5), bytes(4), bytes(3)),
        (bytes(7), bytes(4), bytes(3)),
        (bytes(6), bytes(3), bytes(3)),
        (bytes(6), bytes(4), bytes(4)),
    ],
)
def test_bad_field_lengths_raise(terminal_id: bytes, txn_date: bytes, txn_time: bytes) -> None:
    with pytest.raises(ValueError):
        purchase_mac1_data(1, 6, terminal_id, txn_date, txn_time)
    with pytest.raises(ValueError):
        load_mac2_data(1, 2, terminal_id, txn_date, txn_time)
    with pytest.raises(ValueError):
        purchase_tac_data(1, 6, terminal_id, 1, txn_date, txn_time)
    with pytest.raises(ValueError):
        load_tac_data(1, 0, 1, 2, terminal_id, txn_date, txn_time)


def test_counter_and_sequence_ranges() -> None:
    with pytest.raises(ValueError):
        load_session_input(RANDOM, 0x10000)
    with pytest.raises(ValueError):
        purchase_session_input(RANDOM, -1, 0)
    with pytest.raises(ValueError):
        purchase_session_input(RANDOM, 0, 1 << 32)


@pytest.mark.parametrize("alg,key_len", [(Algorithm.SM4, 16), (Algorithm.TDES, 16), (Algorithm.TDES, 8)])
def test_one_block_cipher_reused_gives_the_one_shot_answers(alg: Algorithm, key_len: int) -> None:
    rng = random.Random(f"{alg}-{key_len}")
    key = rng.randbytes(key_len)
    cipher = pboc.BlockCipher(alg, key)
    size = 16 if alg is Algorithm.SM4 else 8
    for n in range(60):  # one context serves every call, in any order, whatever the length
        data = rng.randbytes(n)
        if key_len == SK_LENGTH[alg]:  # the reference takes session-key lengths (DES: 8 bytes)
            assert cipher.cbc_mac(data) == _reference_cbc_mac(alg, key, data)
        blocks = rng.randbytes(size * (n % 4))
        assert cipher.ecb(blocks) == _reference_ecb(alg, key, blocks)
    with pytest.raises(ValueError, match="whole"):
        cipher.ecb(b"\x00" * (size + 1))
    assert key.hex() not in repr(cipher).lower() and repr(cipher) == f"BlockCipher({alg.name})"


@pytest.mark.parametrize("alg", [Algorithm.SM4, Algorithm.TDES])
def test_derivations_take_a_kept_cipher_or_the_key(alg: Algorithm) -> None:
    rng = random.Random(int(alg))
    master, factor, issuer, data8 = rng.randbytes(16), rng.randbytes(8), rng.randbytes(8), rng.randbytes(8)
    kept = pboc.BlockCipher(alg, master)
    assert pboc.diversify(alg, kept, factor) == pboc.diversify(alg, master, factor)
    assert pboc.two_level_diversify(alg, kept, issuer, factor) == pboc.two_level_diversify(alg, master, issuer, factor)
    assert pboc.session_key(alg, kept, data8) == pboc.session_key(alg, master, data8)
    sk = pboc.session_key(alg, master, data8)
    assert pboc.session_cipher(alg, sk).cbc_mac(b"abc") == pboc.mac(alg, sk, b"abc")
    assert pboc.tac_cipher(alg, master).cbc_mac(b"abcdefgh" * 3) == pboc.tac(alg, master, b"abcdefgh" * 3)

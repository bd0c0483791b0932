"""PBOC e-purse cryptography: diversification, session keys, MAC and TAC.

Pure functions, bytes in / bytes out, following JR/T 0025 (EP/ED) as summarised in
``shared/reference/purse.md`` ("Key derivation and MACs"). The SM4 branches are the
project variant documented there. Only the ``cryptography`` package is used.

Example (purse.md worked example, 3DES load, K used directly as DK)::

    >>> k = bytes.fromhex("11223344556677888877665544332211")
    >>> sk = session_key(Algorithm.TDES, k, load_session_input(bytes.fromhex("11223344"), 0))
    >>> sk.hex().upper()
    '9B1D924E05595603'
    >>> data = load_mac1_data(0, 0x1000, 0x01, bytes.fromhex("001122334455"))
    >>> mac(Algorithm.TDES, sk, data).hex().upper()
    '2988AE5A'
"""

from __future__ import annotations

import hmac
from datetime import date, datetime, time
from enum import IntEnum

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from cryptography.hazmat.primitives.ciphers.algorithms import SM4

__all__ = [
    "Algorithm",
    "BlockCipher",
    "MAC_LENGTH",
    "bcd_date",
    "bcd_time",
    "diversify",
    "ecb_encrypt",
    "load_mac1_data",
    "load_mac2_data",
    "load_session_input",
    "load_tac_data",
    "mac",
    "pad",
    "purchase_mac1_data",
    "purchase_mac2_data",
    "purchase_session_input",
    "purchase_tac_data",
    "session_cipher",
    "session_key",
    "tac",
    "tac_cipher",
    "two_level_diversify",
    "verify_mac",
]

MAC_LENGTH = 4
_FACTOR_LENGTH = 8
_CARD_KEY_LENGTH = 16
_U32_MAX = 0xFFFFFFFF
_U16_MAX = 0xFFFF


class Algorithm(IntEnum):
    """Alg id byte of the INITIALIZE FOR LOAD/PURCHASE answers (purse.md: 00 = 3DES, 04 = SM4)."""

    TDES = 0x00
    SM4 = 0x04


def _block_size(alg: Algorithm) -> int:
    return 8 if Algorithm(alg) is Algorithm.TDES else 16


def _check_length(name: str, value: bytes, *lengths: int) -> None:
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    if len(value) not in lengths:
        wanted = " or ".join(str(n) for n in lengths)
        raise ValueError(f"{name} must be {wanted} bytes, got {len(value)}")


def _invert(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _cipher_algorithm(alg: Algorithm, key: bytes) -> TripleDES | SM4:
    """The block cipher of `alg` under `key`: 3DES (8- or 16-byte key, 8 = single DES) or SM4 (16)."""
    if Algorithm(alg) is Algorithm.TDES:
        _check_length("DES key", key, 8, 16, 24)
        if len(key) == 8:
            cipher_key = key * 3  # single DES as K||K||K
        elif len(key) == 16:
            cipher_key = key + key[:8]  # two-key 3DES as K1||K2||K1
        else:
            cipher_key = key
        return TripleDES(cipher_key)
    _check_length("SM4 key", key, 16)
    return SM4(key)


class BlockCipher:
    """One key's block cipher, its key schedule made once: 3DES (8- or 16-byte key, 8 = single DES) or SM4.

    Making a cipher context costs about fifteen times encrypting a block, so a key used more than once (the
    session key of MAC1 and MAC2, a card's DPK and DTK, a PSAM's master key) keeps one. ECB contexts keep no
    state between whole blocks, so one serves every ECB block and every CBC-MAC under the key. Never shows
    the key (repr names only the algorithm).
    """

    __slots__ = ("alg", "size", "_ecb")

    def __init__(self, alg: Algorithm, key: bytes) -> None:
        self.alg = Algorithm(alg)
        self.size = _block_size(self.alg)
        self._ecb = Cipher(_cipher_algorithm(self.alg, key), modes.ECB()).encryptor()

    def __repr__(self) -> str:
        return f"BlockCipher({self.alg.name})"

    def ecb(self, data: bytes) -> bytes:
        """Encrypt whole blocks in ECB mode."""
        if len(data) % self.size:
            raise ValueError(f"ECB data must be whole {self.size}-byte blocks, got {len(data)} bytes")
        return self._ecb.update(bytes(data))

    def cbc_mac(self, data: bytes) -> bytes:
        """CBC with a zero IV over ISO 9797-1 method 2 padded data; the left 4 bytes of the last block
        (purse.md "MAC"): each block is encrypt(chain XOR block)."""
        size = self.size
        padded = pad(data, size)
        chain = 0
        for i in range(0, len(padded), size):
            block = (chain ^ int.from_bytes(padded[i : i + size], "big")).to_bytes(size, "big")
            chain = int.from_bytes(self._ecb.update(block), "big")
        return chain.to_bytes(size, "big")[:MAC_LENGTH]


def ecb_encrypt(alg: Algorithm, key: bytes, data: bytes) -> bytes:
    """Encrypt whole blocks in ECB mode: 3DES (8- or 16-byte key, 8 = single DES) or SM4 (16)."""
    return BlockCipher(alg, key).ecb(data)


def _ecb(alg: Algorithm, key: bytes | BlockCipher, data: bytes) -> bytes:
    return key.ecb(data) if isinstance(key, BlockCipher) else ecb_encrypt(alg, key, data)


def pad(data: bytes, block_size: int) -> bytes:
    """ISO/IEC 9797-1 padding method 2: append ``80`` then ``00`` up to a block multiple.

    >>> pad(bytes.fromhex("00001000"), 8).hex()
    '0000100080000000'
    """
    if block_size <= 0:
        raise ValueError(f"block size must be positive, got {block_size}")
    padded = bytes(data) + b"\x80"
    return padded + b"\x00" * (-len(padded) % block_size)


def diversify(alg: Algorithm, master_key: bytes | BlockCipher, factor: bytes) -> bytes:
    """Derive a 16-byte card key from a master key and an 8-byte factor (purse.md "Diversification").

    3DES: ``DK = 3DES(MK, f) || 3DES(MK, ~f)``; SM4 (project variant): ``DK = SM4(MK, f || ~f)``.
    The factor is normally the last 8 bytes of the application serial (file 0015).

    >>> k = bytes.fromhex("11223344556677888877665544332211")
    >>> diversify(Algorithm.TDES, k, bytes.fromhex("0102030405060708")).hex().upper()
    '825151A0C0B94848EA8D78B77033F4FA'
    """
    if not isinstance(master_key, BlockCipher):
        _check_length("master key", master_key, _CARD_KEY_LENGTH)
    _check_length("diversification factor", factor, _FACTOR_LENGTH)
    # 3DES: ECB encrypts f and ~f (one block each) independently, so one call gives DK = E(f) || E(~f).
    return _ecb(alg, master_key, bytes(factor) + _invert(factor))


def two_level_diversify(
    alg: Algorithm, master_key: bytes | BlockCipher, issuer_code8: bytes, serial_factor8: bytes
) -> bytes:
    """Two-level diversification for INIT SAM FOR PURCHASE with Lc ``24`` (T-Union).

    Order used by this project: first by the card's 8-byte issuer code, then by the serial factor::

        DK = diversify(diversify(MK, issuer_code8), serial_factor8)

    Note the APDU carries the serial factor *before* the issuer code (purse.md "PSAM").
    """
    _check_length("issuer code", issuer_code8, _FACTOR_LENGTH)
    _check_length("serial factor", serial_factor8, _FACTOR_LENGTH)
    return diversify(alg, diversify(alg, master_key, issuer_code8), serial_factor8)


def session_key(alg: Algorithm, card_key: bytes | BlockCipher, data8: bytes) -> bytes:
    """Derive the process (session) key from the card key and 8 bytes of input (purse.md).

    3DES: ``SK = 3DES(DK, d)`` (8 bytes); SM4 (project variant): ``SK = SM4(DK, d || ~d)`` (16 bytes).
    """
    if not isinstance(card_key, BlockCipher):
        _check_length("card key", card_key, _CARD_KEY_LENGTH)
    _check_length("session key input", data8, 8)
    if Algorithm(alg) is Algorithm.TDES:
        return _ecb(alg, card_key, data8)
    return _ecb(alg, card_key, bytes(data8) + _invert(data8))


def _u(value: int, length: int, name: str) -> bytes:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value < 1 << (8 * length):
        raise ValueError(f"{name} {value} out of range for {length} unsigned bytes")
    return value.to_bytes(length, "big")


def _amount(value: int, name: str = "amount") -> bytes:
    """Amounts are 4-byte big-endian unsigned fen (purse.md)."""
    return _u(value, 4, name)


def purchase_session_input(card_random4: bytes, offline_counter: int, terminal_seq: int) -> bytes:
    """Purchase session key input: card random 4 || offline counter 2 || last 2 bytes of terminal txn seq."""
    _check_length("card random", card_random4, 4)
    return bytes(card_random4) + _u(offline_counter, 2, "offline counter") + _u(
        terminal_seq, 4, "terminal transaction sequence"
    )[2:]


def load_session_input(card_random4: bytes, online_counter: int) -> bytes:
    """Load session key input: card random 4 || online counter 2 || ``8000``."""
    _check_length("card random", card_random4, 4)
    return bytes(card_random4) + _u(online_counter, 2, "online counter") + b"\x80\x00"


def session_cipher(alg: Algorithm, session_key: bytes) -> BlockCipher:
    """The MAC cipher of a session key: single DES under the 8-byte 3DES session key, SM4 under the 16-byte
    SM4 session key (purse.md "MAC"). One serves MAC1 and MAC2 of the same transaction."""
    if Algorithm(alg) is Algorithm.TDES:
        _check_length("3DES session key", session_key, 8)
    else:
        _check_length("SM4 session key", session_key, 16)
    return BlockCipher(alg, session_key)


def mac(alg: Algorithm, session_key: bytes, data: bytes) -> bytes:
    """4-byte MAC: ISO 9797-1 method 2 padding, CBC zero IV, left 4 bytes of the last block.

    Single DES under the 8-byte 3DES session key; SM4 under the 16-byte SM4 session key (purse.md "MAC").
    """
    return session_cipher(alg, session_key).cbc_mac(data)


def tac_cipher(alg: Algorithm, tac_key16: bytes) -> BlockCipher:
    """The cipher of the card's TAC key DTK (purse.md "TAC"): single DES under ``left8(DTK) XOR right8(DTK)``
    for 3DES, SM4 under DTK itself. `tac()` is its CBC-MAC."""
    _check_length("TAC key", tac_key16, _CARD_KEY_LENGTH)
    if Algorithm(alg) is Algorithm.TDES:
        return BlockCipher(alg, _xor(tac_key16[:8], tac_key16[8:]))
    return BlockCipher(alg, tac_key16)


def tac(alg: Algorithm, tac_key16: bytes, data: bytes) -> bytes:
    """4-byte TAC under the card's TAC key DTK (purse.md "TAC").

    3DES: single-DES CBC MAC under ``left8(DTK) XOR right8(DTK)``; SM4: SM4 CBC MAC under DTK itself.
    """
    return tac_cipher(alg, tac_key16).cbc_mac(data)


def verify_mac(expected: bytes, received: bytes) -> bool:
    """Compare two MACs/TACs in constant time."""
    return hmac.compare_digest(bytes(expected), bytes(received))


def _terminal(terminal_id: bytes) -> bytes:
    _check_length("terminal id", terminal_id, 6)
    return bytes(terminal_id)


def _date_time(txn_date: bytes, txn_time: bytes) -> bytes:
    _check_length("date (BCD YYYYMMDD)", txn_date, 4)
    _check_length("time (BCD hhmmss)", txn_time, 3)
    return bytes(txn_date) + bytes(txn_time)


def purchase_mac1_data(
    amount: int, txn_type: int, terminal_id: bytes, txn_date: bytes, txn_time: bytes
) -> bytes:
    """Purchase MAC1 (PSAM→card) input: amount 4 || type 1 || terminal id 6 || date 4 || time 3."""
    return (
        _amount(amount)
        + _u(txn_type, 1, "transaction type")
        + _terminal(terminal_id)
        + _date_time(txn_date, txn_time)
    )


def purchase_mac2_data(amount: int) -> bytes:
    """Purchase MAC2 (card→PSAM) input: amount 4."""
    return _amount(amount)


def load_mac1_data(balance_before: int, amount: int, txn_type: int, terminal_id: bytes) -> bytes:
    """Load MAC1 (card→terminal) input: balance before 4 || amount 4 || type 1 || terminal id 6."""
    return (
        _amount(balance_before, "balance before")
        + _amount(amount)
        + _u(txn_type, 1, "transaction type")
        + _terminal(terminal_id)
    )


def load_mac2_data(
    amount: int, txn_type: int, terminal_id: bytes, txn_date: bytes, txn_time: bytes
) -> bytes:
    """Load MAC2 (host→card) input: amount 4 || type 1 || terminal id 6 || date 4 || time 3."""
    return purchase_mac1_data(amount, txn_type, terminal_id, txn_date, txn_time)


def purchase_tac_data(
    amount: int,
    txn_type: int,
    terminal_id: bytes,
    terminal_seq: int,
    txn_date: bytes,
    txn_time: bytes,
) -> bytes:
    """Purchase TAC input: amount 4 || type 1 || terminal id 6 || terminal txn seq 4 || date 4 || time 3."""
    return (
        _amount(amount)
        + _u(txn_type, 1, "transaction type")
        + _terminal(terminal_id)
        + _u(terminal_seq, 4, "terminal transaction sequence")
        + _date_time(txn_date, txn_time)
    )


def load_tac_data(
    balance_after: int,
    online_counter: int,
    amount: int,
    txn_type: int,
    terminal_id: bytes,
    txn_date: bytes,
    txn_time: bytes,
) -> bytes:
    """Load TAC input: balance after 4 || online counter (before increment) 2 || amount 4 || type 1
    || terminal id 6 || date 4 || time 3."""
    return (
        _amount(balance_after, "balance after")
        + _u(online_counter, 2, "online counter")
        + _amount(amount)
        + _u(txn_type, 1, "transaction type")
        + _terminal(terminal_id)
        + _date_time(txn_date, txn_time)
    )


def _bcd(digits: str) -> bytes:
    return bytes.fromhex(digits)


def bcd_date(moment: date | datetime) -> bytes:
    """4-byte BCD ``YYYYMMDD`` of a date or datetime.

    >>> bcd_date(date(2012, 2, 29)).hex()
    '20120229'
    """
    return _bcd(f"{moment.year:04d}{moment.month:02d}{moment.day:02d}")


def bcd_time(moment: time | datetime) -> bytes:
    """3-byte BCD ``hhmmss`` of a time or datetime.

    >>> bcd_time(time(13, 51, 0)).hex()
    '135100'
    """
    return _bcd(f"{moment.hour:02d}{moment.minute:02d}{moment.second:02d}")

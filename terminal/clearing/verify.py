"""TAC verification with the issuer's TAC master keys (purse.md "TAC"): what the terminal cannot do.

The same computation as `LoadHost.expected_tac` (terminal/purse/issuer_host.py; a test checks that both agree
on real purse results), made fast for bulk ingest: the card's TAC key DTK is derived once per card and
cached, and the CBC-MAC is one cipher call over the padded data instead of one per block.

Purchase TAC (05, 06, 09) over amount 4 ‖ type 1 ‖ terminal id 6 ‖ terminal seq 4 ‖ date 4 ‖ time 3; load
TAC (01, 02) over balance after 4 ‖ online counter 2 ‖ amount 4 ‖ type 1 ‖ terminal id 6 ‖ date 4 ‖ time 3.
The terminal id is the *authenticated* uploader's, so a terminal cannot clear another terminal's TACs.

Key diversification: factor = the last 8 bytes of the app serial. Cards issued with T-Union two-level keys
(`two_level_keys = true`) use DK = diversify(diversify(MK, issuer code), factor); the issuer's card registry
would say which; with `two_level="auto"` (default) the verifier tries the one-level key, then the two-level one.
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, modes

from applets.crypto import pboc
from applets.crypto.pboc import Algorithm
from applets.purse.layout import encode_balance
from applets.purse.personalize import PurseMasterKeys

from .errors import ClearingError
from .records import LOAD_TYPES, PURCHASE_TYPES, Record

KEY_VERSIONS = (1,)
_CACHE_SIZE = 200_000
_ALGS = {int(a): a for a in Algorithm}
_TRIES = {"auto": (False, True), "no": (False,), "yes": (True,)}
_TYPE_BYTES = {t: bytes([t]) for t in PURCHASE_TYPES}


def _cipher(alg: Algorithm, key: bytes):  # type: ignore[no-untyped-def]
    if alg is Algorithm.SM4:
        from cryptography.hazmat.primitives.ciphers.algorithms import SM4

        return SM4(key), 16
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:  # older cryptography
        from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES  # type: ignore[no-redef]
    return TripleDES(key * 3), 8  # single DES under left8 ⊕ right8 of DTK


class TacVerifier:
    """Recompute purchase and load TACs with the TAC masters. Thread-safe enough for the service (the
    cache is only a dict of derived keys)."""

    def __init__(self, masters: PurseMasterKeys, *, two_level: str = "auto") -> None:
        if two_level not in ("auto", "yes", "no"):
            raise ValueError("two_level is auto, yes or no")
        self._tac_masters = dict(masters.tac)
        self.two_level = two_level
        self._keys: OrderedDict[tuple[int, str, str, bool], tuple[bytes, Any, int, Any]] = OrderedDict()

    def __repr__(self) -> str:
        return f"TacVerifier(two_level={self.two_level!r})"

    @classmethod
    def from_test_keys(cls, folder: Path | None = None, **kwargs: str) -> TacVerifier:
        """The issuer's TEST keys (data/keys/TEST-issuer-keys.json) — never for real cards or money."""
        from terminal.issuer import load_test_keys

        masters = PurseMasterKeys.from_extra(load_test_keys(folder).extra)
        if masters is None:
            raise ClearingError("the TEST key file has no purse master keys")
        return cls(masters, **kwargs)

    def _dtk(self, alg: Algorithm, app_serial: str, issuer_code: str, two_level: bool) -> tuple[bytes, Any, int, Any]:
        """(DTK, the TAC cipher algorithm object under it, block size, its ECB encrypt function), cached per card."""
        key = (int(alg), app_serial, issuer_code, two_level)
        entry = self._keys.get(key)
        if entry is None:
            master = self._tac_masters[alg]
            factor = bytes.fromhex(app_serial)[2:]
            if two_level:
                dtk = pboc.two_level_diversify(alg, master, bytes.fromhex(issuer_code), factor)
            else:
                dtk = pboc.diversify(alg, master, factor)
            mac_key = bytes(a ^ b for a, b in zip(dtk[:8], dtk[8:])) if alg is Algorithm.TDES else dtk
            algorithm, block = _cipher(alg, mac_key)
            # an ECB encryptor under the card's key, kept with it: CBC-MAC = ECB of each block XOR the previous
            # ciphertext (no Cipher object per record); ECB carries no state between calls
            entry = (dtk, algorithm, block, Cipher(algorithm, modes.ECB()).encryptor().update)
            self._keys[key] = entry
            if len(self._keys) > _CACHE_SIZE:
                self._keys.popitem(last=False)
        return entry

    @staticmethod
    def tac_data(record: Record, terminal_id: str) -> bytes:
        """The bytes the card's TAC covers for `record` (ValueError when a field is missing)."""
        if record.card is None or record.txn_type is None or record.card_time is None:
            raise ValueError("a card transaction needs card, txn_type and card_time")
        terminal = bytes.fromhex(terminal_id)
        date, time = bytes.fromhex(record.card_time[:8]), bytes.fromhex(record.card_time[8:])
        if record.txn_type in PURCHASE_TYPES:
            if record.terminal_seq is None:
                raise ValueError("a purchase needs its terminal sequence number")
            return pboc.purchase_tac_data(record.amount_fen, record.txn_type, terminal, record.terminal_seq, date, time)
        if record.txn_type in LOAD_TYPES:
            if record.card.balance_before is None or record.card_counter is None:
                raise ValueError("a load needs its balance before and its online counter")
            after = record.card.balance_before + record.amount_fen
            return encode_balance(after) + pboc.load_tac_data(
                0, record.card_counter, record.amount_fen, record.txn_type, terminal, date, time)[4:]
        raise ValueError(f"transaction type {record.txn_type:02X} carries no TAC")

    def check(self, record: Record, terminal_id: str) -> str | None:
        """None when the record's TAC is the card's; else the reason it is quarantined."""
        card = record.card
        if card is None:
            return "card transaction without its purse proof (app serial, issuer code, algorithm)"
        if record.tac is None:
            return "card transaction without a TAC"
        if card.app_serial[4:] != record.card_serial:
            return f"card serial {record.card_serial} is not the app serial's {card.app_serial[4:]}"
        if card.key_version not in KEY_VERSIONS:
            return f"unknown key version {card.key_version}"
        alg = _ALGS.get(card.alg)
        if alg is None:
            return f"unknown algorithm id {card.alg:02X}"
        data = self._purchase_data(record, terminal_id)
        if data is None:
            try:
                data = self.tac_data(record, terminal_id)
            except ValueError as exc:
                return str(exc)
        block = 8 if alg is Algorithm.TDES else 16
        padded = data + b"\x80" + bytes(-(len(data) + 1) % block)  # pboc.pad: ISO 9797-1 method 2
        received = bytes.fromhex(record.tac)
        for two_level in _TRIES[self.two_level]:
            ecb = self._dtk(alg, card.app_serial, card.issuer_code, two_level)[3]
            chain = 0
            for i in range(0, len(padded), block):
                chain = int.from_bytes(ecb((int.from_bytes(padded[i:i + block], "big") ^ chain).to_bytes(block, "big")),
                                       "big")
            if hmac.compare_digest(chain.to_bytes(block, "big")[:4], received):
                return None
        return "TAC does not verify (forged or altered: amount, card, terminal, sequence or time)"

    @staticmethod
    def _purchase_data(record: Record, terminal_id: str) -> bytes | None:
        """tac_data of an ordinary purchase, built directly; None for anything else (tac_data then decides,
        with its own error messages)."""
        ttype, amount, tseq, when = record.txn_type, record.amount_fen, record.terminal_seq, record.card_time
        if (ttype not in PURCHASE_TYPES or tseq is None or when is None or not 0 <= amount < 1 << 32
                or not 0 <= tseq < 1 << 32 or len(terminal_id) != 12 or len(when) != 14):
            return None
        try:
            terminal, stamp = bytes.fromhex(terminal_id), bytes.fromhex(when)
        except ValueError:
            return None
        if len(terminal) != 6 or len(stamp) != 7:
            return None
        return amount.to_bytes(4, "big") + _TYPE_BYTES[ttype] + terminal + tseq.to_bytes(4, "big") + stamp

"""The issuer's load host: authorises loads (top-ups, subsidy credits 补贴进卡, refunds) with the load
master keys — it checks the card's MAC1 and answers MAC2 — and lets clearing check TACs. A library
module, later reachable by the clearing service. TEST master keys only (docs/purse.md).

Example::

    >>> host = LoadHost.from_test_keys()                            # doctest: +SKIP
    >>> auth = host.authorize(request)                              # doctest: +SKIP
    >>> auth.mac2.hex()                                             # doctest: +SKIP
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from applets.crypto import pboc
from applets.crypto.pboc import Algorithm
from applets.purse.layout import PurseKind, TxnType, encode_balance, load_type
from applets.purse.personalize import PurseMasterKeys
from terminal.purse.errors import LoadRefused
from terminal.purse.results import Kind, PurseResult

PURPOSES = ("topup", "subsidy", "refund")
KEY_VERSIONS = (1,)


@dataclass(frozen=True, slots=True)
class LoadRequest:
    """What the terminal sends the host after INITIALIZE FOR LOAD."""

    app_serial: bytes
    issuer_code: bytes
    purse: PurseKind
    amount: int
    balance_before: int
    online_counter: int
    random: bytes
    key_version: int
    alg: int
    mac1: bytes
    terminal_id: bytes
    date: bytes
    time: bytes
    purpose: str = "topup"

    @property
    def txn_type(self) -> TxnType:
        return load_type(self.purse)


@dataclass(frozen=True, slots=True)
class LoadAuthorization:
    auth_id: int
    mac2: bytes
    request: LoadRequest


class LoadHost:
    """Holds the purse masters (load and TAC); `two_level_keys` for T-Union style cards."""

    def __init__(self, masters: PurseMasterKeys, *, two_level_keys: bool = False, max_amount: int = 1_000_000) -> None:
        self._masters = masters
        self.two_level_keys = two_level_keys
        self.max_amount = max_amount
        self.authorizations: list[LoadAuthorization] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LoadHost(two_level_keys={self.two_level_keys}, authorizations={len(self.authorizations)})"

    @classmethod
    def from_test_keys(cls, folder: Path | None = None, **kwargs: object) -> LoadHost:
        from terminal.issuer import load_test_keys

        masters = PurseMasterKeys.from_extra(load_test_keys(folder).extra)
        if masters is None:
            raise LoadRefused("the TEST key file has no purse master keys")
        return cls(masters, **kwargs)  # type: ignore[arg-type]

    # ---- keys ----

    def _card_key(self, table: dict[Algorithm, bytes] | object, alg: Algorithm, app_serial: bytes, issuer_code: bytes) -> bytes:
        master = table[alg]  # type: ignore[index]
        factor = app_serial[2:]
        if self.two_level_keys:
            return pboc.two_level_diversify(alg, master, issuer_code, factor)
        return pboc.diversify(alg, master, factor)

    @staticmethod
    def _alg(value: int, key_version: int) -> Algorithm:
        try:
            alg = Algorithm(value)
        except ValueError:
            raise LoadRefused(f"unknown algorithm id {value:02X}") from None
        if key_version not in KEY_VERSIONS:
            raise LoadRefused(f"unknown key version {key_version}")
        return alg

    # ---- loads ----

    def authorize(self, request: LoadRequest) -> LoadAuthorization:
        """Check MAC1 (purse.md: over balance-before ‖ amount ‖ type ‖ terminal id, load session key)
        and answer MAC2 (over amount ‖ type ‖ terminal id ‖ date ‖ time). Raises LoadRefused."""
        if request.purpose not in PURPOSES:
            raise LoadRefused(f"unknown load purpose {request.purpose!r} (one of {', '.join(PURPOSES)})")
        if not 0 < request.amount <= self.max_amount:
            raise LoadRefused(f"amount {request.amount} fen is outside 1..{self.max_amount}")
        if len(request.app_serial) != 10 or len(request.random) != 4 or len(request.mac1) != 4:
            raise LoadRefused("malformed load request")
        alg = self._alg(request.alg, request.key_version)
        dlk = self._card_key(self._masters.load, alg, request.app_serial, request.issuer_code)
        sk = pboc.session_key(alg, dlk, pboc.load_session_input(request.random, request.online_counter))
        data = encode_balance(request.balance_before) + pboc.load_mac1_data(0, request.amount, request.txn_type, request.terminal_id)[4:]
        if not pboc.verify_mac(pboc.mac(alg, sk, data), request.mac1):
            raise LoadRefused("MAC1 from the card is invalid: not a card of this issuer, or tampered")
        mac2 = pboc.mac(
            alg, sk, pboc.load_mac2_data(request.amount, request.txn_type, request.terminal_id, request.date, request.time)
        )
        with self._lock:
            auth = LoadAuthorization(len(self.authorizations) + 1, mac2, request)
            self.authorizations.append(auth)
        return auth

    # ---- clearing ----

    def expected_tac(self, result: PurseResult) -> bytes:
        """The TAC the card must have computed for `result` (a done purchase or load)."""
        needed = (result.app_serial, result.issuer_code, result.terminal_id, result.date, result.time, result.alg)
        if any(v is None for v in needed) or result.card_counter is None:
            raise ValueError("the result lacks the fields a TAC covers")
        alg = self._alg(int(result.alg), result.key_version or 1)  # type: ignore[arg-type]
        dtk = self._card_key(self._masters.tac, alg, result.app_serial, result.issuer_code)  # type: ignore[arg-type]
        if result.kind is Kind.LOAD:
            if result.balance_after is None:
                raise ValueError("a load result needs its balance after")
            data = encode_balance(result.balance_after) + pboc.load_tac_data(
                0, result.card_counter, result.amount, result.txn_type, result.terminal_id, result.date, result.time  # type: ignore[arg-type]
            )[4:]
        else:
            if result.terminal_seq is None:
                raise ValueError("a purchase result needs its terminal sequence number")
            data = pboc.purchase_tac_data(
                result.amount, result.txn_type, result.terminal_id, result.terminal_seq, result.date, result.time  # type: ignore[arg-type]
            )
        return pboc.tac(alg, dtk, data)

    def verify_tac(self, result: PurseResult) -> bool:
        """Clearing's check: does the TAC of `result` come from the card's TAC key?"""
        if result.tac is None:
            return False
        return pboc.verify_mac(self.expected_tac(result), result.tac)

    def application_block_mac(self, app_serial: bytes, challenge: bytes) -> bytes:
        """MAC of APPLICATION BLOCK (`84 1E 00 00 04`) for a card's challenge (hotlist blocking)."""
        damk = pboc.diversify(Algorithm.SM4, self._masters.maintenance, app_serial[2:])
        return pboc.mac(Algorithm.SM4, damk, bytes(challenge) + bytes((0x84, 0x1E, 0x00, 0x00, 0x04)))

"""The purse application's persistent state inside the card image (`CardImage.applications["purse"]`)
and its volatile transaction state (`Session.scratch`). Documented in docs/purse.md.

Persistent JSON object::

    {"blocked": false, "locked": false, "mac_failures": 0, "max_mac_failures": 3,
     "overdraft": 0, "max_balance": 10000000, "ed_needs_pin": true,
     "ep": {"balance": 0, "online": 0, "offline": 0}, "ed": {...},
     "keys": {"1": {"alg": 4, "version": 1}, "2": {"alg": 0, "version": 1}},
     "proofs": {"ep.offline": {"type": 6, "counter": 4, "mac2": "…", "tac": "…"}, …}}

Key material is in `CardImage.keys`: ``purse.dpk.<index>`` (purchase), ``purse.dlk.<index>`` (load),
``purse.dtk.<index>`` (TAC) and ``purse.damk`` (application maintenance, SM4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from applets.crypto.pboc import Algorithm
from applets.purse.layout import PurseKind, TxnType

APP_NAME = "purse"
SCRATCH_KEY = "purse.pending"

DEFAULT_MAX_BALANCE = 10_000_000  # fen (100 000 yuan)
DEFAULT_MAX_MAC_FAILURES = 3
MAX_COUNTER = 0xFFFF
MAX_CAPP_UPDATES = 4  # cached UPDATE CAPP DATA CACHE commands per compound purchase

# Key sets: index 1 = SM4 (the default), index 2 = 3DES (purse.md: cards support both).
DEFAULT_KEY_TABLE: dict[str, dict[str, int]] = {
    "1": {"alg": int(Algorithm.SM4), "version": 1},
    "2": {"alg": int(Algorithm.TDES), "version": 1},
}


def key_name(kind: str, index: int) -> str:
    """Image key name: kind is 'dpk' (purchase), 'dlk' (load) or 'dtk' (TAC)."""
    return f"purse.{kind}.{index}"


MAINTENANCE_KEY = "purse.damk"


def initial_state(
    *,
    ep_balance: int = 0,
    ed_balance: int = 0,
    overdraft: int = 0,
    max_balance: int = DEFAULT_MAX_BALANCE,
    ed_needs_pin: bool = True,
    key_table: dict[str, dict[str, int]] | None = None,
) -> dict[str, Any]:
    for what, value in (("EP balance", ep_balance), ("ED balance", ed_balance)):
        if not 0 <= value <= max_balance:
            raise ValueError(f"{what} {value} must be between 0 and the maximum balance {max_balance}")
    if not 0 <= overdraft <= 0xFFFFFF:
        raise ValueError("the overdraft limit is 3 bytes (0..16777215 fen)")
    if not 0 < max_balance < 1 << 31:
        raise ValueError("the maximum balance must fit 4 signed bytes")
    return {
        "blocked": False,
        "locked": False,
        "mac_failures": 0,
        "max_mac_failures": DEFAULT_MAX_MAC_FAILURES,
        "overdraft": overdraft,
        "max_balance": max_balance,
        "ed_needs_pin": ed_needs_pin,
        "ep": {"balance": ep_balance, "online": 0, "offline": 0},
        "ed": {"balance": ed_balance, "online": 0, "offline": 0},
        "keys": {k: dict(v) for k, v in (key_table or DEFAULT_KEY_TABLE).items()},
        "proofs": {},
    }


def proof_slot(txn_type: TxnType) -> str:
    """Where GET TRANSACTION PROOF finds a transaction: one slot per purse and counter."""
    return f"{txn_type.purse.label}.{'online' if txn_type.is_load else 'offline'}"


@dataclass(slots=True)
class PendingTxn:
    """What an INITIALIZE left for the DEBIT / CREDIT that must follow it (volatile, in RAM)."""

    kind: str  # "purchase", "capp" or "load"
    purse: PurseKind
    txn_type: TxnType
    key_index: int
    alg: Algorithm
    amount: int
    terminal_id: bytes
    balance: int
    counter: int
    random: bytes
    session_key: bytes = field(default=b"", repr=False)  # load only (purchase: needs the terminal seq)
    capp_cache: dict[tuple[int, int], bytes] = field(default_factory=dict)  # (sfi, record) → data

"""The e-purse application (JR/T 0025 EP/ED, purse.md): balances, loads, purchases, compound (CAPP)
purchases, transaction proofs and application block.

Rules (docs/purse.md):
- Sequence: INITIALIZE leaves its state in RAM (`Session.scratch`); only the expected next command
  (DEBIT / CREDIT, and UPDATE CAPP DATA CACHE inside a compound purchase) may use it. Any other command
  sent to the application clears it; power-on clears it. DEBIT/CREDIT without it answer 6985.
- Atomicity: DEBIT and CREDIT change balance, counter, the 0018 log record, the cached 001A/001E records
  (compound purchase) or 0019 medical record (ED purchase, ED load), the MAC failure count and the transaction proof in RAM and then commit the image exactly once.
- MAC failures (MAC1 of DEBIT, MAC2 of CREDIT) are counted persistently; the failure that reaches the
  limit (3) still answers 9302 and locks the purse keys: later INITIALIZE/DEBIT/CREDIT answer 6983.
  A success resets the count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from applets.apdu import CommandApdu
from applets.application import Application, CommandKey, Handler
from applets.crypto import pboc
from applets.crypto.pboc import Algorithm
from applets.errors import CardStatus
from applets.fs import DF, EF, Structure
from applets.purse.layout import (
    SFI_CAPP,
    SFI_LOG,
    SFI_TRIP,
    LogRecord,
    PurseKind,
    TxnType,
    encode_balance,
    load_type,
    purchase_type,
    valid_date_time,
)
from applets.purse.medical import SFI_MEDICAL, keeps_issuer_part
from applets.purse.state import (
    APP_NAME,
    MAINTENANCE_KEY,
    MAX_CAPP_UPDATES,
    MAX_COUNTER,
    SCRATCH_KEY,
    PendingTxn,
    key_name,
    proof_slot,
)
from applets.sw import SW

if TYPE_CHECKING:
    from applets.card import VirtualCard

SW_COUNTER_EXHAUSTED = 0x9402  # JR/T 0025: transaction counter at its maximum


# ---- helpers ----


def _state(card: VirtualCard) -> dict[str, Any]:
    state = card.image.applications.get(APP_NAME)
    if state is None:
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)  # DF present but never personalised
    return state


def _take_pending(card: VirtualCard) -> PendingTxn | None:
    return card.session.scratch.pop(SCRATCH_KEY, None)


def _clear_pending(card: VirtualCard) -> None:
    card.session.scratch.pop(SCRATCH_KEY, None)


def _check_usable(state: dict[str, Any], keys: bool = True) -> None:
    if state.get("blocked"):
        raise CardStatus(SW.APPLICATION_BLOCKED)
    if keys and state.get("locked"):
        raise CardStatus(SW.AUTH_METHOD_BLOCKED)


def _purse(p2: int) -> PurseKind:
    if p2 not in (PurseKind.ED, PurseKind.EP):
        raise CardStatus(SW.INCORRECT_P1P2)
    return PurseKind(p2)


def _need_pin_for_ed(card: VirtualCard, state: dict[str, Any], purse: PurseKind) -> None:
    if purse is PurseKind.ED and state.get("ed_needs_pin", True) and not card.session.pin_verified:
        raise CardStatus(SW.SECURITY_STATUS_NOT_SATISFIED)


def _key_set(card: VirtualCard, state: dict[str, Any], index: int, kind: str) -> tuple[Algorithm, int, bytes]:
    """(algorithm, key version, card key) of key set `index`; 9403 when the card has none."""
    entry = state.get("keys", {}).get(str(index))
    key = card.image.keys.get(key_name(kind, index))
    if entry is None or key is None:
        raise CardStatus(SW.KEY_INDEX_NOT_SUPPORTED)
    return Algorithm(entry["alg"]), int(entry["version"]), key


def _ef(card: VirtualCard, sfi: int) -> EF:
    df = card.session.current_df
    ef = df.ef_by_sfi(sfi)
    if ef is None:
        raise CardStatus(SW.FILE_NOT_FOUND)
    return ef


def _count_mac_failure(card: VirtualCard, state: dict[str, Any]) -> None:
    """Count a failed MAC persistently; the limit locks the keys. Always answers 9302."""
    state["mac_failures"] = int(state.get("mac_failures", 0)) + 1
    if state["mac_failures"] >= int(state.get("max_mac_failures", 3)):
        state["locked"] = True
    card.commit()
    raise CardStatus(SW.MAC_INVALID)


def _parse_init(cmd: CommandApdu) -> tuple[int, int, bytes]:
    """key index 1 ‖ amount 4 ‖ terminal id 6 (purse.md INITIALIZE data)."""
    if len(cmd.data) != 0x0B:
        raise CardStatus(SW.WRONG_LENGTH)
    data = cmd.data
    return data[0], int.from_bytes(data[1:5], "big"), bytes(data[5:11])


# ---- commands ----


def get_balance(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """GET BALANCE `80 5C 00 P2 04` (P2 01 ED, 02 EP) → balance 4."""
    state = _state(card)
    _check_usable(state, keys=False)
    if cmd.p1 != 0x00:
        raise CardStatus(SW.INCORRECT_P1P2)
    purse = _purse(cmd.p2)
    if cmd.data:
        raise CardStatus(SW.WRONG_LENGTH)
    _need_pin_for_ed(card, state, purse)
    return encode_balance(int(state[purse.label]["balance"]))


def initialize(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """INITIALIZE FOR LOAD (P1 00), FOR PURCHASE (P1 01), FOR CAPP PURCHASE (P1 03, P2 02)."""
    if cmd.p1 == 0x00:
        return _init_load(card, cmd)
    if cmd.p1 == 0x01:
        return _init_purchase(card, cmd, capp=False)
    if cmd.p1 == 0x03:
        if cmd.p2 != PurseKind.EP:
            raise CardStatus(SW.INCORRECT_P1P2)
        return _init_purchase(card, cmd, capp=True)
    raise CardStatus(SW.INCORRECT_P1P2)


def _init_load(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """`80 50 00 P2 0B` key index ‖ amount ‖ terminal id → balance 4 ‖ online counter 2 ‖ key version 1 ‖
    alg id 1 ‖ random 4 ‖ MAC1 4."""
    purse = _purse(cmd.p2)
    index, amount, terminal = _parse_init(cmd)
    state = _state(card)
    _check_usable(state)
    alg, version, dlk = _key_set(card, state, index, "dlk")
    account = state[purse.label]
    balance, counter = int(account["balance"]), int(account["online"])
    if counter >= MAX_COUNTER:
        raise CardStatus(SW_COUNTER_EXHAUSTED)
    if balance + amount > int(state["max_balance"]):
        raise CardStatus(SW.WRONG_DATA)  # project rule: a load may not pass the maximum balance
    random = card.random(4)
    txn_type = load_type(purse)
    sk = pboc.session_key(alg, dlk, pboc.load_session_input(random, counter))
    # purse.md: MAC1 (load, card→terminal) over balance-before ‖ amount ‖ type ‖ terminal id
    mac1 = pboc.mac(alg, sk, encode_balance(balance) + pboc.load_mac1_data(0, amount, txn_type, terminal)[4:])
    card.session.scratch[SCRATCH_KEY] = PendingTxn(
        "load", purse, txn_type, index, alg, amount, terminal, balance, counter, random, session_key=sk
    )
    return encode_balance(balance) + counter.to_bytes(2, "big") + bytes((version, alg)) + random + mac1


def _init_purchase(card: VirtualCard, cmd: CommandApdu, capp: bool) -> bytes:
    """`80 50 01|03 P2 0B` key index ‖ amount ‖ terminal id → balance 4 ‖ offline counter 2 ‖ overdraft
    limit 3 ‖ key version 1 ‖ alg id 1 ‖ random 4."""
    purse = _purse(cmd.p2)
    index, amount, terminal = _parse_init(cmd)
    state = _state(card)
    _check_usable(state)
    _need_pin_for_ed(card, state, purse)
    alg, version, _ = _key_set(card, state, index, "dpk")
    account = state[purse.label]
    balance, counter = int(account["balance"]), int(account["offline"])
    overdraft = int(state.get("overdraft", 0)) if purse is PurseKind.EP else 0
    if counter >= MAX_COUNTER:
        raise CardStatus(SW_COUNTER_EXHAUSTED)
    if amount > balance + overdraft:  # purse.md: purchase > balance + overdraft → 9401
        raise CardStatus(SW.INSUFFICIENT_BALANCE)
    random = card.random(4)
    txn_type = TxnType.CAPP_PURCHASE if capp else purchase_type(purse)
    card.session.scratch[SCRATCH_KEY] = PendingTxn(
        "capp" if capp else "purchase", purse, txn_type, index, alg, amount, terminal, balance, counter, random
    )
    return (
        encode_balance(balance)
        + counter.to_bytes(2, "big")
        + overdraft.to_bytes(3, "big")
        + bytes((version, alg))
        + random
    )


def _cacheable_files(pending: PendingTxn) -> tuple[int, ...]:
    """Files a cached update may write inside this transaction: 001A/001E in a compound purchase; the
    medical record 0019 in an ED purchase or an ED load (docs/counter.md)."""
    if pending.kind == "capp":
        return (SFI_CAPP, SFI_TRIP)
    if pending.purse is PurseKind.ED:
        return (SFI_MEDICAL,)
    return ()


def update_capp_data_cache(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """UPDATE CAPP DATA CACHE `80 DC rec P2 Lc data` (P2 = SFI<<3 | 0, or | 4): cached in RAM and written
    only by the DEBIT (or, for the medical record, the CREDIT FOR LOAD) that follows. 001A: P1 = record
    number, the record keeps its ID (first 2 bytes); 001E (cyclic): P1 = 00, the record becomes the newest;
    0019 (medical record, ED purchase or ED load only): P1 = 01, the issuer part (bytes 0..8) is kept."""
    pending = card.session.scratch.get(SCRATCH_KEY)
    if not isinstance(pending, PendingTxn) or not _cacheable_files(pending):
        _clear_pending(card)
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    try:
        if cmd.p2 & 0x03:
            raise CardStatus(SW.INCORRECT_P1P2)
        sfi = cmd.p2 >> 3
        if sfi not in _cacheable_files(pending):
            raise CardStatus(SW.FILE_NOT_FOUND)
        ef = _ef(card, sfi)
        if cmd.ne or len(cmd.data) != ef.record_size:
            raise CardStatus(SW.WRONG_LENGTH)
        if ef.structure is Structure.CYCLIC:
            if cmd.p1 != 0x00:
                raise CardStatus(SW.INCORRECT_P1P2)
        else:
            idx = ef.find_record(cmd.p1) if cmd.p1 else None
            if idx is None:
                raise CardStatus(SW.RECORD_NOT_FOUND)
            if ef.records[idx][:2] != cmd.data[:2]:
                raise CardStatus(SW.WRONG_DATA)  # a record keeps its ID: one operator's record only
            if sfi == SFI_MEDICAL and not keeps_issuer_part(ef.records[idx], bytes(cmd.data)):
                raise CardStatus(SW.WRONG_DATA)  # scheme, category and insured region are the issuer's
        key = (sfi, cmd.p1)
        if key not in pending.capp_cache and len(pending.capp_cache) >= MAX_CAPP_UPDATES:
            raise CardStatus(SW.NOT_ENOUGH_MEMORY)
    except CardStatus:
        _clear_pending(card)
        raise
    pending.capp_cache[key] = bytes(cmd.data)
    return b""


def _write_cached(card: VirtualCard, pending: PendingTxn) -> None:
    """Put the cached records into RAM (part of the one atomic step of DEBIT / CREDIT)."""
    for (sfi, number), content in pending.capp_cache.items():
        ef = _ef(card, sfi)
        if ef.structure is Structure.CYCLIC:
            ef.records.insert(0, content)
            del ef.records[ef.max_records :]
        else:
            ef.records[number - 1] = content


def debit_for_purchase(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """DEBIT FOR (CAPP) PURCHASE `80 54 01 00 0F` terminal txn seq 4 ‖ date 4 ‖ time 3 ‖ MAC1 4 →
    TAC 4 ‖ MAC2 4. One atomic commit of balance, counter, log, CAPP records and proof."""
    pending = _take_pending(card)
    state = _state(card)
    _check_usable(state)
    if cmd.p1 != 0x01 or cmd.p2 != 0x00:
        raise CardStatus(SW.INCORRECT_P1P2)
    if len(cmd.data) != 0x0F:
        raise CardStatus(SW.WRONG_LENGTH)
    if pending is None or pending.kind not in ("purchase", "capp"):
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)  # purse.md: DEBIT without INIT → 6985
    data = cmd.data
    seq, date, time, mac1 = int.from_bytes(data[0:4], "big"), data[4:8], data[8:11], data[11:15]
    _, _, dpk = _key_set(card, state, pending.key_index, "dpk")
    _, _, dtk = _key_set(card, state, pending.key_index, "dtk")
    alg = pending.alg
    dpk_cipher = card.derived(("dpk", pending.key_index, alg), dpk, lambda key: pboc.BlockCipher(alg, key))
    sk = pboc.session_cipher(
        alg, pboc.session_key(alg, dpk_cipher, pboc.purchase_session_input(pending.random, pending.counter, seq))
    )
    # purse.md: MAC1 over amount ‖ type ‖ terminal id ‖ date ‖ time
    expected = sk.cbc_mac(pboc.purchase_mac1_data(pending.amount, pending.txn_type, pending.terminal_id, date, time))
    if not pboc.verify_mac(expected, mac1):
        _count_mac_failure(card, state)
    if not valid_date_time(date, time):
        raise CardStatus(SW.WRONG_DATA)
    mac2 = sk.cbc_mac(pboc.purchase_mac2_data(pending.amount))  # purse.md: MAC2 over amount
    tac = card.derived(("dtk", pending.key_index, alg), dtk, lambda key: pboc.tac_cipher(alg, key)).cbc_mac(
        pboc.purchase_tac_data(pending.amount, pending.txn_type, pending.terminal_id, seq, date, time)
    )
    overdraft = int(state.get("overdraft", 0)) if pending.purse is PurseKind.EP else 0
    record = LogRecord(pending.counter, overdraft, pending.amount, pending.txn_type, pending.terminal_id, date, time)
    account = state[pending.purse.label]
    # -- the one atomic step: everything below changes RAM, then a single commit --
    _write_cached(card, pending)
    _apply(card, state, account, pending, "offline", pending.balance - pending.amount, record, mac2, tac)
    return tac + mac2


def credit_for_load(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """CREDIT FOR LOAD `80 52 00 00 0B` date 4 ‖ time 3 ‖ MAC2 4 → TAC 4. One atomic commit."""
    pending = _take_pending(card)
    state = _state(card)
    _check_usable(state)
    if cmd.p1 != 0x00 or cmd.p2 != 0x00:
        raise CardStatus(SW.INCORRECT_P1P2)
    if len(cmd.data) != 0x0B:
        raise CardStatus(SW.WRONG_LENGTH)
    if pending is None or pending.kind != "load":
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    date, time, mac2 = cmd.data[0:4], cmd.data[4:7], cmd.data[7:11]
    alg = pending.alg
    # purse.md: MAC2 (load, host→card) over amount ‖ type ‖ terminal id ‖ date ‖ time
    expected = pboc.mac(
        alg,
        pending.session_key,
        pboc.load_mac2_data(pending.amount, pending.txn_type, pending.terminal_id, date, time),
    )
    if not pboc.verify_mac(expected, mac2):
        _count_mac_failure(card, state)
    if not valid_date_time(date, time):
        raise CardStatus(SW.WRONG_DATA)
    _, _, dtk = _key_set(card, state, pending.key_index, "dtk")
    after = pending.balance + pending.amount
    # purse.md: load TAC over balance-after ‖ online counter (before increment) ‖ amount ‖ type ‖ terminal
    # ‖ date ‖ time
    tac = pboc.tac(
        alg,
        dtk,
        encode_balance(after)
        + pboc.load_tac_data(0, pending.counter, pending.amount, pending.txn_type, pending.terminal_id, date, time)[4:],
    )
    record = LogRecord(pending.counter, 0, pending.amount, pending.txn_type, pending.terminal_id, date, time)
    _write_cached(card, pending)  # the medical record of an ED load (refund), in the same commit
    _apply(card, state, state[pending.purse.label], pending, "online", after, record, bytes(mac2), tac)
    return tac


def _apply(
    card: VirtualCard,
    state: dict[str, Any],
    account: dict[str, Any],
    pending: PendingTxn,
    counter_name: str,
    balance_after: int,
    record: LogRecord,
    mac2: bytes,
    tac: bytes,
) -> None:
    """Balance, counter, log record, proof and MAC failure count in RAM, then one commit."""
    log_ef = _ef(card, SFI_LOG)
    account["balance"] = balance_after
    account[counter_name] = pending.counter + 1
    log_ef.records.insert(0, record.to_bytes())
    del log_ef.records[log_ef.max_records :]
    state.setdefault("proofs", {})[proof_slot(pending.txn_type)] = {
        "type": int(pending.txn_type),
        "counter": pending.counter,
        "mac2": mac2.hex().upper(),
        "tac": tac.hex().upper(),
    }
    state["mac_failures"] = 0
    card.commit()


def get_transaction_proof(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """GET TRANSACTION PROOF `80 5A 00 P2 02` counter 2 (P2 = txn type) → MAC2 4 ‖ TAC 4, or 9406."""
    state = _state(card)
    _check_usable(state, keys=False)
    if cmd.p1 != 0x00:
        raise CardStatus(SW.INCORRECT_P1P2)
    try:
        txn_type = TxnType(cmd.p2)
    except ValueError:
        raise CardStatus(SW.INCORRECT_P1P2) from None
    if len(cmd.data) != 2:
        raise CardStatus(SW.WRONG_LENGTH)
    proof = state.get("proofs", {}).get(proof_slot(txn_type))
    if not proof or proof["type"] != txn_type or proof["counter"] != int.from_bytes(cmd.data, "big"):
        raise CardStatus(SW.MAC_TAC_NOT_AVAILABLE)
    return bytes.fromhex(proof["mac2"]) + bytes.fromhex(proof["tac"])


def application_block(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """APPLICATION BLOCK `84 1E 00 00 04` MAC 4, after GET CHALLENGE. Project MAC: SM4 CBC-MAC (purse.md
    padding, left 4 bytes) under the card's maintenance key over challenge ‖ `84 1E 00 00 04`.
    Later SELECTs answer 9303."""
    state = _state(card)
    if cmd.cla != 0x84:
        raise CardStatus(SW.SECURITY_STATUS_NOT_SATISFIED)
    if cmd.p1 != 0x00 or cmd.p2 != 0x00:
        raise CardStatus(SW.INCORRECT_P1P2)
    if len(cmd.data) != 4:
        raise CardStatus(SW.WRONG_LENGTH)
    challenge, card.session.challenge = card.session.challenge, None
    key = card.image.keys.get(MAINTENANCE_KEY)
    if key is None:
        raise CardStatus(SW.REFERENCED_DATA_NOT_FOUND)
    if challenge is None:
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    expected = pboc.mac(Algorithm.SM4, key, challenge + bytes((0x84, 0x1E, 0x00, 0x00, 0x04)))
    if not pboc.verify_mac(expected, cmd.data):
        raise CardStatus(SW.MAC_INVALID)
    if not state.get("blocked"):
        state["blocked"] = True
        card.commit()
    return b""


_PURSE_COMMANDS: dict[CommandKey, Handler] = {
    (True, 0x5C): get_balance,
    (True, 0x50): initialize,
    (True, 0x52): credit_for_load,
    (True, 0x54): debit_for_purchase,
    (True, 0xDC): update_capp_data_cache,
    (True, 0x5A): get_transaction_proof,
    (True, 0x1E): application_block,
}


_CONTINUATIONS = frozenset((0x52, 0x54, 0xDC))  # CREDIT FOR LOAD, DEBIT FOR PURCHASE, UPDATE CAPP DATA CACHE


class PurseApplication(Application):
    """EP/ED purse under DF 1001, AID A000000632010105 (applets/purse/layout.py)."""

    name = APP_NAME
    commands = _PURSE_COMMANDS

    def before_command(self, card: VirtualCard, raw: bytes) -> None:
        """Only the expected next command (DEBIT, CREDIT, UPDATE CAPP DATA CACHE) may use a pending
        INITIALIZE; any other APDU, even a malformed or refused one, ends it."""
        if len(raw) < 2 or raw[0] & 0x80 == 0 or raw[1] not in _CONTINUATIONS:
            _clear_pending(card)

    def on_select(self, card: VirtualCard, df: DF) -> None:
        _clear_pending(card)
        if card.image.applications.get(self.name, {}).get("blocked"):
            raise CardStatus(SW.APPLICATION_BLOCKED)

    def on_power_on(self, card: VirtualCard) -> None:
        _clear_pending(card)


__all__ = ["PurseApplication", "SW_COUNTER_EXHAUSTED"]

"""The recovery rule of purse.md ("Atomicity, tearing and recovery"), for a DEBIT or CREDIT whose
answer was lost:

1. re-select the purse on the same card (same app serial, else `NotSameCard`);
2. INITIALIZE again (for a purchase: FOR PURCHASE / FOR CAPP PURCHASE with amount 0; for a load: FOR
   LOAD with amount 0) and compare the card's counter with the one the attempt used (`old`):
   * counter = old → the card did not execute it: **not_done**;
   * counter = old + 1 → GET TRANSACTION PROOF(type, old) gives MAC2 ‖ TAC of the transaction that used
     `old`; a purchase is **done** when the PSAM accepts that MAC2 for the attempt's terminal sequence
     number, a load when the MAC2 is the one the issuer host gave. 9406 or a MAC2 that does not match:
     another transaction used the counter — **not_done**;
   * anything else, a card that is not there, a PSAM that lost the session: **unknown** (the attempt is
     kept; the TAC, if seen, goes with it for clearing). Never a guess.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from applets.crypto.pboc import verify_mac
from applets.sw import SW
from reader.errors import ReaderError
from terminal.errors import PinError
from terminal.purse.channel import CardChannel, sw_text
from terminal.purse.commands import (
    GetTransactionProof,
    InitializeForLoad,
    InitializeForPurchase,
    LoadInit,
    Proof,
    PurchaseInit,
)
from terminal.purse.errors import BadAnswer, NotSameCard, PsamError, PurseError
from terminal.purse.psam import Psam
from terminal.purse.results import Attempt, Kind, Outcome, PurseResult

log = logging.getLogger(__name__)


def result_of(attempt: Attempt) -> PurseResult:
    """The unknown result that stands for `attempt` until it is resolved."""
    return PurseResult(
        outcome=Outcome.UNKNOWN,
        kind=attempt.kind,
        txn_type=attempt.txn_type,
        purse=attempt.purse,
        amount=attempt.amount,
        reason="pending recovery",
        app_serial=attempt.app_serial,
        issuer_code=attempt.issuer_code,
        terminal_id=attempt.terminal_id,
        terminal_seq=attempt.terminal_seq,
        card_counter=attempt.counter,
        balance_before=attempt.balance_before,
        alg=attempt.alg,
        key_version=attempt.key_version,
        date=attempt.date,
        time=attempt.time,
        attempt=attempt,
    )


def _unknown(base: PurseResult, reason: str, tac: bytes | None = None) -> PurseResult:
    attempt = base.attempt
    if attempt is not None and tac is not None:
        attempt = replace(attempt, card_tac=tac)
    return replace(base, outcome=Outcome.UNKNOWN, reason=reason, attempt=attempt, tac=tac or base.tac)


def _not_done(base: PurseResult, reason: str) -> PurseResult:
    return replace(base, outcome=Outcome.NOT_DONE, reason=reason, attempt=None, recovered=True, balance_after=None)


def _done(base: PurseResult, tac: bytes, mac2_verified: bool) -> PurseResult:
    sign = 1 if base.kind is Kind.LOAD else -1
    return replace(
        base,
        outcome=Outcome.DONE,
        reason=None,
        attempt=None,
        recovered=True,
        tac=tac,
        mac2_verified=mac2_verified,
        balance_after=(base.balance_before or 0) + sign * base.amount,
    )


def _probe_counter(channel: CardChannel, attempt: Attempt) -> int:
    """INITIALIZE with amount 0 and return the card's counter. Raises PurseError / ReaderError."""
    if attempt.kind is Kind.LOAD:
        resp = channel.send(InitializeForLoad(attempt.purse, attempt.key_index, 0, attempt.terminal_id))
        if resp.sw != SW.OK:
            raise PurseError(f"the recovery INITIALIZE FOR LOAD answered {sw_text(resp.sw)}", resp.sw)
        return LoadInit.from_bytes(resp.data).counter
    capp = attempt.kind is Kind.CAPP_PURCHASE
    resp = channel.send(InitializeForPurchase(attempt.purse, attempt.key_index, 0, attempt.terminal_id, capp))
    if resp.sw != SW.OK:
        raise PurseError(f"the recovery INITIALIZE FOR PURCHASE answered {sw_text(resp.sw)}", resp.sw)
    return PurchaseInit.from_bytes(resp.data).counter


def recover(
    channel: CardChannel,
    psam: Psam | None,
    attempt: Attempt,
    *,
    pin: str | None = None,
    reopen: bool = True,
) -> PurseResult:
    """Resolve `attempt` on the card in `channel` (see the module docstring). Raises NotSameCard when
    another card answers; every other failure gives an unknown result."""
    base = result_of(attempt)
    try:
        identity = channel.reopen() if reopen else channel.open()
    except ReaderError as e:
        return _unknown(base, f"card gone: {e}")
    except PurseError as e:
        return _unknown(base, f"cannot select the purse for recovery: {e}")
    if identity.app_serial != attempt.app_serial:
        raise NotSameCard(
            f"this card ({identity.app_serial.hex().upper()}) is not the one of the pending transaction "
            f"({attempt.app_serial.hex().upper()})"
        )
    try:
        if pin is not None:
            channel.verify_pin(pin)
        counter = _probe_counter(channel, attempt)
        if counter == attempt.counter:
            return _not_done(base, "recovered: the card did not execute the transaction (counter unchanged)")
        if counter != attempt.counter + 1:
            return _unknown(
                base,
                f"card counter is {counter}, the attempt used {attempt.counter}: the card was used since; "
                "the clearing house decides from the TAC",
                attempt.card_tac,
            )
        resp = channel.send(GetTransactionProof(attempt.txn_type, attempt.counter))
        if resp.sw == SW.MAC_TAC_NOT_AVAILABLE:
            return _not_done(base, "recovered: another transaction used the counter (no proof for this one)")
        if resp.sw != SW.OK:
            return _unknown(base, f"GET TRANSACTION PROOF answered {sw_text(resp.sw)}")
        proof = Proof.from_bytes(resp.data)
    except ReaderError as e:
        return _unknown(base, f"card gone during recovery: {e}", attempt.card_tac)
    except (PurseError, PinError, BadAnswer) as e:
        return _unknown(base, f"recovery refused by the card: {e}", attempt.card_tac)
    if attempt.kind is Kind.LOAD:
        if attempt.host_mac2 is not None and verify_mac(attempt.host_mac2, proof.mac2):
            return _done(base, proof.tac, mac2_verified=True)
        return _not_done(base, "recovered: the counter was used by another load (MAC2 differs)")
    if psam is None or attempt.terminal_seq is None:
        return _unknown(base, "no PSAM to verify the card's MAC2; TAC kept for clearing", proof.tac)
    try:
        sw = psam.verify_mac2(proof.mac2, attempt.terminal_seq)
    except (ReaderError, PsamError, BadAnswer) as e:
        return _unknown(base, f"PSAM unavailable to verify MAC2 ({e}); TAC kept for clearing", proof.tac)
    if sw == SW.OK:
        return _done(base, proof.tac, mac2_verified=True)
    if sw == SW.MAC_INVALID:
        return _not_done(base, "recovered: the card's proof does not match this transaction (MAC2 invalid)")
    return _unknown(base, f"PSAM cannot verify MAC2 ({sw_text(sw)}): session lost; TAC kept for clearing", proof.tac)

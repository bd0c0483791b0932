"""The purse transaction manager: purchases (EP 06, ED 05, compound 09), loads, balance and log over any
Reader, with the terminal's PSAM in a second reader and the issuer's load host (docs/purse.md).

Transactions never raise for what a card, a PSAM or tearing can do: they return a `PurseResult` whose
outcome is done, not_done (declined, with a reason) or unknown (with the `Attempt` to recover).

Example::

    >>> manager = PurseManager(card_reader, psam_reader)          # doctest: +SKIP
    >>> result = manager.purchase(150)                              # doctest: +SKIP
    >>> result.outcome, result.tac.hex()                            # doctest: +SKIP
    (<Outcome.DONE: 'done'>, '1a2b3c4d')
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any, Callable, Sequence

from applets.crypto.pboc import bcd_date, bcd_time
from applets.purse.layout import (
    MAX_AMOUNT,
    SFI_CAPP,
    TRANSIT_CAPP_RECORD,
    PurseKind,
    TxnType,
    load_type,
)
from applets.purse.medical import SFI_MEDICAL
from applets.sw import SW
from reader.base import Reader
from reader.errors import ReaderError
from terminal.errors import PinError
from terminal.purse.channel import CardChannel, sw_text
from terminal.purse.commands import (
    CreditForLoad,
    Debit,
    DebitForPurchase,
    GetBalance,
    GetTransactionProof,
    InitializeForLoad,
    InitializeForPurchase,
    InitSamForPurchase,
    LoadInit,
    Proof,
    PurchaseInit,
    SamInit,
    UpdateCappDataCache,
)
from terminal.purse.errors import BadAnswer, LoadRefused, NotSameCard, PsamError, PurseError
from terminal.purse.issuer_host import LoadHost, LoadRequest
from terminal.purse.psam import Psam
from terminal.purse.recovery import recover, result_of
from terminal.purse.results import Attempt, CardIdentity, Kind, LogEntry, Outcome, PurseResult

log = logging.getLogger(__name__)

CappUpdate = UpdateCappDataCache  # one cached record of a compound purchase: (sfi, record, data)

_DECLINES = {
    SW.INSUFFICIENT_BALANCE: "insufficient balance",
    SW.MAC_INVALID: "the card refused the MAC (counted towards its key lock)",
    SW.AUTH_METHOD_BLOCKED: "the purse keys are locked after repeated MAC failures",
    SW.APPLICATION_BLOCKED: "the purse application is blocked",
    SW.KEY_INDEX_NOT_SUPPORTED: "the card has no key of this index",
    SW.SECURITY_STATUS_NOT_SATISFIED: "PIN required",
    0x9402: "the card's transaction counter is exhausted",
}


# Answers to DEBIT / CREDIT by which a card says it refused before changing anything (purse.md); any other
# status word (6F00 from a card torn inside its save, 6581, …) is not trusted: the recovery rule decides.
_REFUSALS = frozenset(
    {
        SW.MAC_INVALID,
        SW.CONDITIONS_NOT_SATISFIED,
        SW.AUTH_METHOD_BLOCKED,
        SW.APPLICATION_BLOCKED,
        SW.WRONG_LENGTH,
        SW.INCORRECT_P1P2,
        SW.WRONG_DATA,
        SW.INSUFFICIENT_BALANCE,
        SW.KEY_INDEX_NOT_SUPPORTED,
        SW.SECURITY_STATUS_NOT_SATISFIED,
    }
)


def _decline_text(what: str, sw: int) -> str:
    return f"{what}: {_DECLINES.get(sw) or sw_text(sw)}"


class PurseManager:
    """Purse transactions on the card in `card`, with the PSAM in `psam` and loads authorised by
    `load_host`. `terminal_id` is read from the PSAM unless given (needed for loads without PSAM)."""

    def __init__(
        self,
        card: Reader,
        psam: Reader | Psam | None = None,
        *,
        load_host: LoadHost | None = None,
        terminal_id: bytes | None = None,
        key_index: int = 1,
        two_level_keys: bool = False,
        clock: Callable[[], datetime] = datetime.now,
    ) -> None:
        self.channel = CardChannel(card)
        self.psam = psam if isinstance(psam, Psam) or psam is None else Psam(psam)
        self.load_host = load_host
        self._terminal_id = terminal_id
        self.key_index = key_index
        self.two_level_keys = two_level_keys
        self.clock = clock

    # ---- set-up and queries ----

    @property
    def terminal_id(self) -> bytes:
        if self._terminal_id is None:
            if self.psam is None:
                raise PsamError("no PSAM and no terminal id: give --psam or a terminal id")
            self._terminal_id = self.psam.terminal_id or self.psam.reopen()
        return self._terminal_id

    def identity(self) -> CardIdentity:
        return self.channel.reopen()

    def balance(self, purse: str | PurseKind = "ep", pin: str | None = None) -> int:
        """GET BALANCE in fen (negative inside the overdraft). Raises PurseError / ReaderError."""
        kind = PurseKind.parse(purse)
        self.channel.reopen()
        if pin is not None:
            self.channel.verify_pin(pin)
        resp = self.channel.send(GetBalance(kind))
        if resp.sw != SW.OK:
            raise PurseError(_decline_text("GET BALANCE", resp.sw), resp.sw)
        try:
            return GetBalance.parse(resp.data)
        except ValueError as e:
            raise BadAnswer(str(e)) from None

    def log(self) -> list[LogEntry]:
        """The 0018 transaction log, newest first."""
        self.channel.reopen()
        return self.channel.read_log()

    def read_capp_record(self, number: int = TRANSIT_CAPP_RECORD) -> bytes:
        """A 001A record (128 B), e.g. the transit record 2 before a compound purchase."""
        self.channel.reopen()
        return self.channel.read_record(SFI_CAPP, number)

    def read_medical_record(self, *, reopen: bool = True) -> bytes:
        """The medical record 0019 (48 B, applets/purse/medical.py). PurseError (6A82) when the card has none."""
        if reopen:
            self.channel.reopen()
        return self.channel.read_record(SFI_MEDICAL, 1)

    # ---- purchase ----

    def purchase(
        self,
        amount: int,
        txn_type: int = TxnType.EP_PURCHASE,
        capp_record: bytes | CappUpdate | Sequence[CappUpdate] | None = None,
        *,
        pin: str | None = None,
        before_debit: Callable[[Attempt], None] | None = None,
        selected: CardIdentity | None = None,
    ) -> PurseResult:
        """An EP purchase (06), a compound purchase (09, with 001A/001E records: bytes = record 2 of
        001A) or an ED purchase (05, `pin` usually needed; may carry the medical record 0019 as a
        `CappUpdate(SFI_MEDICAL, 1, record)`, written in the same commit as the debit). Amount in fen
        (0 is allowed: an ED purchase of 0 only updates the medical record).

        `before_debit(attempt)` is called after INITIALIZE and INIT SAM, just before the DEBIT (the first APDU
        that can move money): a ledger records its intent there. If it raises, no DEBIT is sent and the
        exception propagates (the card is unchanged).

        `selected`: the identity the caller read with `channel.open()` on this same card connection, the purse
        still selected; the SELECT and READ 0015 are then not sent again (a card swapped since fails the
        connection with a ReaderError, which declines before the debit)."""
        kind_type = TxnType(txn_type)
        if kind_type.is_load:
            raise ValueError("use load() for loads")
        if not 0 <= amount <= MAX_AMOUNT:
            raise ValueError(f"amount {amount} fen must be 0..{MAX_AMOUNT}")
        capp = kind_type is TxnType.CAPP_PURCHASE
        updates = _capp_updates(capp_record)
        _check_updates(updates, kind_type)
        now = self.clock()
        # The result's fields as they become known; each decline below is built from them at once (no chain
        # of dataclasses.replace on the way to a done purchase).
        fields: dict[str, Any] = {
            "outcome": Outcome.NOT_DONE,
            "kind": Kind.CAPP_PURCHASE if capp else Kind.PURCHASE,
            "txn_type": kind_type,
            "purse": kind_type.purse,
            "amount": amount,
            "date": bcd_date(now),
            "time": bcd_time(now),
        }
        if self.psam is None:
            return PurseResult(**fields, reason="no PSAM in the terminal")
        # -- before the DEBIT: any failure leaves the card as it was --
        try:
            terminal_id = self.terminal_id
        except (ReaderError, PsamError, BadAnswer) as e:
            return PurseResult(**fields, reason=f"PSAM unavailable: {e}")
        fields["terminal_id"] = terminal_id
        try:
            ident = selected if selected is not None else self.channel.reopen()
            fields["app_serial"], fields["issuer_code"] = ident.app_serial, ident.issuer_code
            if pin is not None:
                self.channel.verify_pin(pin)
            resp = self.channel.send(InitializeForPurchase(fields["purse"], self.key_index, amount, terminal_id, capp))
            if resp.sw != SW.OK:
                return PurseResult(**fields, reason=_decline_text("INITIALIZE", resp.sw), sw=resp.sw)
            init = PurchaseInit.from_bytes(resp.data)
            fields.update(
                card_counter=init.counter, balance_before=init.balance, alg=init.alg, key_version=init.key_version
            )
            if amount > init.balance + init.overdraft_limit:
                return PurseResult(**fields, reason="the card accepted a purchase above its balance + overdraft: refused")
            sam = self._sam_init(self.psam, init, fields, ident)
            fields["terminal_seq"] = sam.terminal_seq
            for update in updates:
                resp = self.channel.send(update)
                if resp.sw != SW.OK:
                    return PurseResult(**fields, reason=_decline_text("UPDATE CAPP DATA CACHE", resp.sw), sw=resp.sw)
            debit = DebitForPurchase(sam.terminal_seq, fields["date"], fields["time"], sam.mac1)
        except ReaderError as e:
            return PurseResult(**fields, reason=f"card or PSAM gone before the debit; nothing happened ({e})")
        except PinError as e:
            return PurseResult(**fields, reason=str(e))
        except (PurseError, BadAnswer, ValueError) as e:
            return PurseResult(**fields, reason=str(e), sw=getattr(e, "sw", None))
        attempt = Attempt(
            kind=fields["kind"],
            purse=fields["purse"],
            txn_type=kind_type,
            app_serial=ident.app_serial,
            issuer_code=ident.issuer_code,
            amount=amount,
            balance_before=init.balance,
            counter=init.counter,
            terminal_id=terminal_id,
            date=fields["date"],
            time=fields["time"],
            alg=init.alg,
            key_version=init.key_version,
            key_index=self.key_index,
            terminal_seq=sam.terminal_seq,
        )
        if before_debit is not None:
            before_debit(attempt)
        # -- the DEBIT: from here on the card may have changed --
        try:
            resp = self.channel.send(debit)
        except ReaderError as e:
            log.info("DEBIT answer lost (%s): recovering", e)
            return self._recover_now(attempt, pin)
        except BadAnswer:
            return self._recover_now(attempt, pin)
        if resp.sw in _REFUSALS:
            return PurseResult(**fields, reason=_decline_text("DEBIT", resp.sw), sw=resp.sw)
        if resp.sw != SW.OK:
            log.info("DEBIT answered %04X: recovering", resp.sw)
            return self._recover_now(attempt, pin)
        try:
            answer = Debit.from_bytes(resp.data)
        except BadAnswer:
            return self._recover_now(attempt, pin)
        return self._check_mac2(self.psam, fields, attempt, answer)

    def _sam_init(self, psam: Psam, init: PurchaseInit, fields: dict[str, Any], ident: CardIdentity) -> SamInit:
        """INIT SAM FOR PURCHASE for the purchase whose result `fields` (amount, type, date, time) are known."""
        command = InitSamForPurchase(
            random=init.random,
            counter=init.counter,
            amount=fields["amount"],
            txn_type=fields["txn_type"],
            date=fields["date"],
            time=fields["time"],
            key_version=init.key_version,
            alg=init.alg,
            factor=ident.factor,
            issuer_code=ident.issuer_code if self.two_level_keys else None,
        )
        try:
            try:
                return psam.init_purchase(command)
            except ReaderError:  # the PSAM was reset or reinserted: open it again, once
                psam.open(reconnect=True)
                return psam.init_purchase(command)
        except PsamError as e:
            raise PurseError(f"PSAM: {e}", e.sw) from None

    def _check_mac2(self, psam: Psam, fields: dict[str, Any], attempt: Attempt, answer: Debit) -> PurseResult:
        """CREDIT SAM FOR PURCHASE with the card's MAC2; a refused MAC2 gets one second chance through
        GET TRANSACTION PROOF (a MAC2 corrupted on the way), else the purchase is declined. `fields`: the
        result's fields known before the DEBIT (outcome not done)."""

        def result(**changes: Any) -> PurseResult:
            return PurseResult(**{**fields, "balance_after": (fields["balance_before"] or 0) - fields["amount"], **changes})

        def unknown(reason: str) -> PurseResult:  # the TAC is kept for clearing, the attempt for recovery
            return result(tac=answer.tac, outcome=Outcome.UNKNOWN, attempt=replace(attempt, card_tac=answer.tac),
                          reason=reason)

        try:
            try:
                sw = psam.credit(answer.mac2)
            except ReaderError:  # the PSAM's answer was lost or it was reset: ask for this session again
                sw = psam.verify_mac2(answer.mac2, sam_seq(attempt))
            if sw == SW.OK:
                return result(tac=answer.tac, outcome=Outcome.DONE, mac2_verified=True)
            if sw != SW.MAC_INVALID:
                return unknown(f"PSAM cannot check MAC2: {sw_text(sw)}")
            resp = self.channel.send(GetTransactionProof(attempt.txn_type, attempt.counter))
            if resp.sw == SW.OK:
                proof = Proof.from_bytes(resp.data)
                if psam.verify_mac2(proof.mac2, sam_seq(attempt)) == SW.OK:
                    return result(tac=proof.tac, outcome=Outcome.DONE, mac2_verified=True)
        except (ReaderError, BadAnswer, PsamError) as e:
            return unknown(f"MAC2 not verified ({e}); TAC kept for clearing")
        return PurseResult(**fields, reason="the card's MAC2 is invalid (PSAM 9302): refused", sw=SW.MAC_INVALID)

    # ---- load ----

    def load(
        self,
        amount: int,
        purse: str | PurseKind = "ep",
        *,
        purpose: str = "topup",
        capp_record: CappUpdate | Sequence[CappUpdate] | None = None,
        before_credit: Callable[[Attempt], None] | None = None,
    ) -> PurseResult:
        """A load (top-up, subsidy credit 补贴进卡 or refund) of `amount` fen, authorised by the load host.
        An ED load may carry the medical record 0019 (`CappUpdate(SFI_MEDICAL, 1, record)`), written in the
        same commit as the credit (a medical refund restores the year-to-date counters).
        `before_credit(attempt)` is called just before the CREDIT, like `purchase`'s `before_debit`."""
        kind = PurseKind.parse(purse)
        if not 0 < amount <= MAX_AMOUNT:
            raise ValueError(f"amount {amount} fen must be 1..{MAX_AMOUNT}")
        updates = _capp_updates(capp_record)
        _check_updates(updates, load_type(kind))
        now = self.clock()
        base = PurseResult(
            outcome=Outcome.NOT_DONE,
            kind=Kind.LOAD,
            txn_type=load_type(kind),
            purse=kind,
            amount=amount,
            date=bcd_date(now),
            time=bcd_time(now),
        )
        if self.load_host is None:
            return replace(base, reason="no load host configured")
        try:
            terminal_id = self.terminal_id
            base = replace(base, terminal_id=terminal_id)
            ident = self.channel.reopen()
            base = replace(base, app_serial=ident.app_serial, issuer_code=ident.issuer_code)
            resp = self.channel.send(InitializeForLoad(kind, self.key_index, amount, terminal_id))
            if resp.sw != SW.OK:
                return replace(base, reason=_decline_text("INITIALIZE FOR LOAD", resp.sw), sw=resp.sw)
            init = LoadInit.from_bytes(resp.data)
            base = replace(
                base, card_counter=init.counter, balance_before=init.balance, alg=init.alg, key_version=init.key_version
            )
            auth = self.load_host.authorize(
                LoadRequest(
                    ident.app_serial, ident.issuer_code, kind, amount, init.balance, init.counter, init.random,
                    init.key_version, init.alg, init.mac1, terminal_id, base.date, base.time, purpose,  # type: ignore[arg-type]
                )
            )
        except ReaderError as e:
            return replace(base, reason=f"card gone before the credit; nothing happened ({e})")
        except LoadRefused as e:
            return replace(base, reason=f"load host refused: {e}")
        except (PurseError, BadAnswer, ValueError) as e:
            return replace(base, reason=str(e), sw=getattr(e, "sw", None))
        attempt = Attempt(
            kind=Kind.LOAD, purse=kind, txn_type=load_type(kind), app_serial=ident.app_serial,
            issuer_code=ident.issuer_code, amount=amount, balance_before=init.balance, counter=init.counter,
            terminal_id=terminal_id, date=base.date, time=base.time, alg=init.alg,  # type: ignore[arg-type]
            key_version=init.key_version, key_index=self.key_index, host_mac2=auth.mac2,
        )
        try:
            for update in updates:  # before the CREDIT, after the host authorised: a refusal changes nothing
                resp = self.channel.send(update)
                if resp.sw != SW.OK:
                    return replace(base, reason=_decline_text("UPDATE CAPP DATA CACHE", resp.sw), sw=resp.sw)
        except ReaderError as e:
            return replace(base, reason=f"card gone before the credit; nothing happened ({e})")
        except BadAnswer as e:
            return replace(base, reason=str(e))
        if before_credit is not None:
            before_credit(attempt)
        try:
            resp = self.channel.send(CreditForLoad(base.date, base.time, auth.mac2))  # type: ignore[arg-type]
        except (ReaderError, BadAnswer) as e:
            log.info("CREDIT answer lost (%s): recovering", e)
            return self._recover_now(attempt, None)
        if resp.sw in _REFUSALS:
            return replace(base, reason=_decline_text("CREDIT FOR LOAD", resp.sw), sw=resp.sw)
        if resp.sw != SW.OK:
            log.info("CREDIT FOR LOAD answered %04X: recovering", resp.sw)
            return self._recover_now(attempt, None)
        try:
            tac = CreditForLoad.parse(resp.data)
        except BadAnswer:
            return self._recover_now(attempt, None)
        return replace(base, outcome=Outcome.DONE, tac=tac, balance_after=init.balance + amount)

    # ---- recovery ----

    def _recover_now(self, attempt: Attempt, pin: str | None) -> PurseResult:
        """Right after a lost answer: the same rule as `recover`, once; a card that is gone → unknown."""
        try:
            return recover(self.channel, self.psam, attempt, pin=pin)
        except NotSameCard as e:
            return replace(result_of(attempt), reason=f"another card was presented: {e}")

    def recover(self, attempt: Attempt, pin: str | None = None) -> PurseResult:
        """Resolve a pending attempt on the card now in the reader (raises NotSameCard for another card)."""
        return recover(self.channel, self.psam, attempt, pin=pin)


def sam_seq(attempt: Attempt) -> int:
    if attempt.terminal_seq is None:
        raise ValueError("a purchase attempt has a terminal sequence number")
    return attempt.terminal_seq


def _check_updates(updates: list[CappUpdate], txn_type: TxnType) -> None:
    """Cached records go with a compound purchase (001A, 001E) or an ED purchase / ED load (0019 only)."""
    if not updates:
        return
    if txn_type is TxnType.CAPP_PURCHASE:
        return
    if txn_type in (TxnType.ED_PURCHASE, TxnType.ED_LOAD):
        if any(u.sfi != SFI_MEDICAL for u in updates):
            raise ValueError("an ED transaction may carry only the medical record 0019")
        return
    raise ValueError("CAPP records go with a compound purchase (type 09), the medical record with ED (05, 01)")


def _capp_updates(capp_record: bytes | CappUpdate | Sequence[CappUpdate] | None) -> list[CappUpdate]:
    if capp_record is None:
        return []
    if isinstance(capp_record, (bytes, bytearray)):
        return [CappUpdate(SFI_CAPP, TRANSIT_CAPP_RECORD, bytes(capp_record))]
    if isinstance(capp_record, CappUpdate):
        return [capp_record]
    return list(capp_record)

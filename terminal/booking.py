"""Booking card money movements: every purse purchase and load goes through the ledger (docs/ledger.md
"Booking card transactions").

The lifecycle, with the purse rule of purse.md ("Atomicity, tearing and recovery"):

1. If the ledger holds pending intents for a card, the card presented is asked first (`resolve_pending`):
   its own pending intents are resolved with the purse recovery rule; one that stays unknown blocks the card
   (`PendingIntentExists`) until it is resolved or an operator decides (`ykt ledger resolve`).
2. `PurseManager` selects the purse, runs INITIALIZE (and INIT SAM for a purchase / the load host for a load)
   — nothing that moves money — and calls back `before_debit(attempt)` / `before_credit(attempt)`.
3. There `begin_intent` commits, durably, an intent with the card serial, the counter the card will use
   (the natural key), the transaction type, the planned postings and the `Attempt` (in `details["attempt"]`).
   A ledger refusal raises there and the DEBIT / CREDIT is never sent.
4. DEBIT / CREDIT; then `commit_intent` with the TAC, counter, PSAM terminal sequence and card time (done),
   `fail_intent` with the reason (not done), or nothing (unknown: the intent stays pending with its attempt).

A crash anywhere leaves either no intent (the card was not asked to move money) or a pending intent whose
stored attempt is exactly what `PurseManager.recover` needs: counter unchanged → failed, counter + 1 with
the matching proof → committed, anything else → stays pending, listed for the operator. Never lost, never
booked twice (the ledger refuses a natural key twice).

Example::

    >>> books = PurseBooks(ledger, manager, operator="op1", business_day="2024-05-01")   # doctest: +SKIP
    >>> booked = books.purchase(250, accounts.purse_purchase(250, "drugs"))            # doctest: +SKIP
    >>> booked.status, booked.transaction.tac                                           # doctest: +SKIP
    ('committed', '1A2B3C4D')
"""

from __future__ import annotations

import datetime as _dt
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from applets.purse.layout import PurseKind
from reader.errors import ReaderError
from terminal.ledger import (
    Intent,
    Ledger,
    LedgerError,
    PendingIntentExists,
    Posting,
    RecoveryOutcome,
    Resolution,
    TerminalMismatch,
    Transaction,
)
from terminal.ledger import validate
from terminal.ledger.recovery import resolve_one
from terminal.purse import Attempt, CardIdentity, Outcome, PurseManager, PurseResult
from terminal.purse.errors import NotSameCard, PsamError, PurseError

log = logging.getLogger(__name__)

ATTEMPT = "attempt"  # the details key holding the purse attempt of a card intent
DECLINED = "declined"  # details flag of an intent recorded for a decline (begun after the card said no)
RESERVED = (ATTEMPT, DECLINED, "purpose")
# Attempt.to_dict() names that the ledger's over-eager secret filter refuses (they hold no secret: the index
# and version of the card's key set); stored under these names instead.
_RENAMED = {"key_index": "set_index", "key_version": "set_version"}

Status = str  # "committed" | "failed" | "pending"


def card_serial_of(app_serial: bytes) -> str:
    """The ledger's card serial: the last 8 bytes of the purse app serial (the card serial), in hex."""
    return app_serial[2:].hex().upper()


def attempt_details(attempt: Attempt) -> dict[str, Any]:
    """The attempt as stored in an intent's details (JSON types only, no name the secret filter refuses)."""
    return {_RENAMED.get(k, k): v for k, v in attempt.to_dict().items()}


def attempt_of(intent: Intent) -> Attempt | None:
    """The purse attempt an intent carries, or None (not a card intent booked by `PurseBooks`)."""
    stored = intent.details.get(ATTEMPT)
    if not isinstance(stored, dict):
        return None
    back = {k: v for k, v in stored.items()}
    for old, new in _RENAMED.items():
        if new in back:
            back[old] = back.pop(new)
    try:
        return Attempt.from_dict(back)
    except ValueError:
        return None


DECLINED_REASON = "declined by the card or terminal before any money moved (recorded after a restart)"


def is_declined(intent: Intent) -> bool:
    """An intent recorded for a decline: begun only after the purse said not done, so if a crash left it
    pending, no money moved for it and it fails without asking any card."""
    return intent.details.get(DECLINED) is True and intent.details.get(ATTEMPT) is None


def card_time_of(date: bytes | None, time: bytes | None) -> str | None:
    """BCD date ‖ time as sent to the card → YYYYMMDDhhmmss."""
    if date is None or time is None:
        return None
    text = date.hex() + time.hex()
    return text if len(text) == 14 and text.isdigit() else None


def _tac(value: bytes | None) -> str | None:
    return None if value is None else value.hex().upper()


@dataclass(frozen=True)
class Booked:
    """A purse transaction and what the ledger made of it.

    `status`: committed (the card moved the money, `transaction` is its booking), failed (the card did not:
    `result.reason` says why), pending (the card's answer was lost and it is not back yet: the intent keeps
    the attempt; present the card again — `PurseBooks.resolve_pending` or `ykt ledger recover --card`)."""

    result: PurseResult
    intent: Intent
    transaction: Transaction | None
    status: Status


@dataclass(frozen=True)
class StartupRecovery:
    """What `recover_at_start` did: the card's intents resolved, and the pending intents left for the operator."""

    resolved: tuple[RecoveryOutcome, ...]
    listed: tuple[Intent, ...]
    card_serial: str | None = None
    card_error: str | None = None


@dataclass
class _Hold:
    intent: Intent | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class PurseBooks:
    """Purse purchases and loads booked through `ledger` by `operator` (see the module docstring).

    `business_day` is a YYYY-MM-DD string or a callable giving one (asked when each intent begins).
    The ledger's terminal id must be the PSAM's (12 hex digits) unless `check_terminal` is false: the
    TAC and terminal sequence numbers it books are cleared under that terminal id.
    """

    def __init__(
        self,
        ledger: Ledger,
        manager: PurseManager,
        *,
        operator: str,
        business_day: str | Callable[[], str],
        check_terminal: bool = True,
    ) -> None:
        self.ledger = ledger
        self.manager = manager
        self.operator = validate.text(operator, "operator")
        self._day = business_day
        self._check_terminal = check_terminal
        self._terminal_checked = not check_terminal

    def __repr__(self) -> str:
        return f"PurseBooks({self.ledger!r}, operator={self.operator!r})"

    # ---------------------------------------------------------------- transactions
    def purchase(
        self,
        amount_fen: int,
        postings: Sequence[Posting],
        *,
        txn_type: int = 0x06,
        capp_record: Any = None,
        pin: str | None = None,
        kind: str = "purse_purchase",
        details: Mapping[str, object] | None = None,
        selected: CardIdentity | None = None,
        settled: bool = False,
    ) -> Booked:
        """A purchase (EP 06, ED 05 with `pin`, compound 09 with `capp_record`) booked with `postings`;
        `selected` as for `PurseManager.purchase` (the purse already selected on this connection); `settled`:
        the caller has resolved the presented card's pending intents already (a validator does, before it
        reads the card), so they are not looked for again.

        Raises before any money moves when the ledger refuses (PendingIntentExists, DuplicateTransaction,
        NegativeBalance, UnbalancedEntry, UnsafeDetails, TerminalMismatch); card declines are `failed`.
        """
        planned, extra = self._prepare(kind, postings, details)
        if not settled:
            self._settle(pin)
        hold = _Hold(extra=extra)
        result = self.manager.purchase(
            amount_fen, txn_type, capp_record, pin=pin,
            before_debit=lambda attempt: self._begin(hold, kind, attempt, planned), selected=selected,
        )
        return self._finish(hold, kind, result, planned)

    def load(
        self,
        amount_fen: int,
        postings: Sequence[Posting],
        *,
        purse: str = "ep",
        purpose: str = "topup",
        kind: str = "purse_load",
        details: Mapping[str, object] | None = None,
        capp_record: Any = None,
    ) -> Booked:
        """A load (top-up, subsidy, refund: `purpose`) booked with `postings`; a refund is usually
        `kind="purse_refund"` with `accounts.purse_refund(amount)`. Refusals as for `purchase`."""
        planned, extra = self._prepare(kind, postings, details)
        extra["purpose"] = purpose
        self._settle(None)
        hold = _Hold(extra=extra)
        kwargs: dict[str, Any] = {"purpose": purpose, "before_credit": lambda a: self._begin(hold, kind, a, planned)}
        if capp_record is not None:
            kwargs["capp_record"] = capp_record
        result = self.manager.load(amount_fen, PurseKind.parse(purse), **kwargs)
        return self._finish(hold, kind, result, planned)

    # ---------------------------------------------------------------- recovery
    def resolve_pending(self, *, pin: str | None = None) -> list[RecoveryOutcome]:
        """Resolve the pending intents of the card in the reader with the purse recovery rule (oldest first).

        Intents of other cards stay pending (listed by `ykt ledger recover`). Raises ReaderError /
        PurseError when no purse card can be read. `pin` is needed for a pending ED purchase."""
        if not self._pending_card_intents():
            return []
        serial = card_serial_of(self.manager.identity().app_serial)
        return [resolve_one(self.ledger, intent, self._resolver(pin))
                for intent in self.ledger.pending_intents() if intent.card_serial == serial]

    def resolver(self, pin: str | None = None) -> Callable[[Intent], Resolution]:
        """The purse recovery rule as a `Ledger.resolve_pending` resolver for the card in the reader."""
        return self._resolver(pin)

    def _resolver(self, pin: str | None) -> Callable[[Intent], Resolution]:
        def resolve(intent: Intent) -> Resolution:
            if is_declined(intent):
                return Resolution.not_done(DECLINED_REASON)
            attempt = attempt_of(intent)
            if attempt is None:
                return Resolution.unknown("no purse attempt recorded: for the operator to decide")
            if intent.card_serial != card_serial_of(attempt.app_serial) or intent.card_counter != attempt.counter:
                return Resolution.unknown("the stored attempt does not match the intent: for the operator to decide")
            try:
                result = self.manager.recover(attempt, pin=pin)
            except NotSameCard as exc:
                return Resolution.unknown(str(exc))
            if result.outcome is Outcome.DONE:
                return Resolution.done(
                    card_counter=attempt.counter, txn_type=int(attempt.txn_type), tac=_tac(result.tac),
                    terminal_seq=attempt.terminal_seq, card_time=card_time_of(attempt.date, attempt.time),
                    reason="recovered: done at the card",
                )
            if result.outcome is Outcome.NOT_DONE:
                return Resolution.not_done((result.reason or "recovered: not done at the card")[:256])
            return Resolution.unknown(result.reason or "the card cannot tell yet")

        return resolve

    # ---------------------------------------------------------------- internals
    def business_day(self) -> str:
        return self._day() if callable(self._day) else self._day

    def _prepare(self, kind: str, postings: Sequence[Posting], details: Mapping[str, object] | None
                 ) -> tuple[tuple[Posting, ...], dict[str, Any]]:
        """Everything the ledger would refuse, checked before the card is touched."""
        validate.kind(kind)
        planned = validate.postings(postings)
        extra = dict(details or {})
        if any(name in extra for name in RESERVED):
            raise ValueError(f"details may not use the names {', '.join(RESERVED)} (the booking layer's)")
        if extra:
            validate.details_json(extra)
        validate.business_day(self.business_day())
        self._check_terminal_id()
        return planned, extra

    def _check_terminal_id(self) -> None:
        if self._terminal_checked:
            return
        try:
            psam_id = self.manager.terminal_id.hex().upper()
        except (ReaderError, PsamError, PurseError):
            return  # no PSAM now: the manager declines the purchase and says why
        if self.ledger.terminal_id.upper() != psam_id:
            raise TerminalMismatch(
                f"the ledger {self.ledger.path} belongs to terminal {self.ledger.terminal_id}, but the PSAM is"
                f" terminal {psam_id}: its TACs would be cleared under the wrong terminal"
            )
        self._terminal_checked = True

    def _pending_card_intents(self) -> bool:
        return self.ledger.conn.execute("SELECT 1 FROM open_intents WHERE card_serial IS NOT NULL LIMIT 1").fetchone() is not None

    def _settle(self, pin: str | None) -> None:
        """Resolve the presented card's pending intents first; refuse the card while one stays pending."""
        if not self._pending_card_intents():
            return
        try:
            outcomes = self.resolve_pending(pin=pin)
        except (ReaderError, PurseError) as exc:
            log.info("cannot read the card to resolve its pending intents (%s); the transaction will say why", exc)
            return
        for outcome in outcomes:
            log.info("intent %s of card %s %s: %s", outcome.intent.intent_id, outcome.intent.card_serial,
                     outcome.result, outcome.message)
            if outcome.result == "pending":
                raise PendingIntentExists(outcome.intent.card_serial or "?", outcome.intent.intent_id)

    def _begin(self, hold: _Hold, kind: str, attempt: Attempt, planned: tuple[Posting, ...]) -> None:
        """`before_debit` / `before_credit`: the durable intent, carrying the attempt and the card's counter."""
        hold.intent = self.ledger.begin_intent(
            kind=kind, amount_fen=attempt.amount, card_serial=card_serial_of(attempt.app_serial),
            operator=self.operator, business_day=self.business_day(),
            details={**hold.extra, ATTEMPT: attempt_details(attempt)}, postings=list(planned),
            card_counter=attempt.counter, txn_type=int(attempt.txn_type),
        )
        log.debug("intent %s durable before the %s: card %s counter %d type %02X", hold.intent.intent_id,
                  "CREDIT" if attempt.txn_type.is_load else "DEBIT", hold.intent.card_serial, attempt.counter,
                  int(attempt.txn_type))

    def _finish(self, hold: _Hold, kind: str, result: PurseResult, planned: tuple[Posting, ...]) -> Booked:
        intent = hold.intent
        if intent is None:
            if result.outcome is not Outcome.NOT_DONE:  # cannot happen: money moves only after before_*
                raise RuntimeError(f"the purse returned {result.outcome.value} without announcing its attempt")
            return self._declined(hold, kind, result)
        try:
            if result.outcome is Outcome.DONE:
                txn = self.ledger.commit_intent(
                    intent.intent_id, card_counter=result.card_counter, txn_type=int(result.txn_type),
                    tac=_tac(result.tac), terminal_seq=result.terminal_seq,
                    card_time=card_time_of(result.date, result.time),
                )
                return Booked(result, replace(intent, state="committed", txn_id=txn.txn_id), txn, "committed")
            if result.outcome is Outcome.NOT_DONE:
                failed = self.ledger.fail_intent(intent.intent_id, (result.reason or "not done at the card")[:256])
                return Booked(result, failed, None, "failed")
        except (LedgerError, sqlite3.Error, OSError) as exc:
            # The card's answer is known but the ledger could not record it: the intent stays pending and the
            # recovery rule books it when the card is next presented (its counter and proof say what happened).
            log.error("intent %s stays pending: the ledger could not record %s (%s)", intent.intent_id,
                      result.outcome.value, exc)
        return Booked(result, intent, None, "pending")

    def _declined(self, hold: _Hold, kind: str, result: PurseResult) -> Booked:
        """A decline before any money moved: recorded as an intent failed at once (no planned postings)."""
        serial = None if result.app_serial is None else card_serial_of(result.app_serial)
        details = {**hold.extra, DECLINED: True}
        intent = self.ledger.begin_intent(kind=kind, amount_fen=result.amount, card_serial=serial,
                                          operator=self.operator, business_day=self.business_day(), details=details)
        failed = self.ledger.fail_intent(intent.intent_id, (result.reason or "declined")[:256])
        return Booked(result, failed, None, "failed")


def recover_at_start(
    ledger: Ledger,
    books: PurseBooks | PurseManager | Callable[[], PurseBooks | PurseManager] | None = None,
    *,
    pin: str | None = None,
) -> StartupRecovery:
    """At start (or when a card is presented): resolve the presented card's pending intents with the purse
    recovery rule, and list every intent still pending for the operator.

    `books` is a `PurseBooks` or a `PurseManager` over the card in the reader, or a factory opening one (a
    factory that raises ReaderError / PurseError, or None, means no card: everything is only listed). Leftover
    declined intents are failed whatever card is there."""
    resolved = [resolve_one(ledger, intent, lambda _: Resolution.not_done(DECLINED_REASON))
                for intent in ledger.pending_intents() if is_declined(intent)]
    serial = error = None
    if books is not None:
        try:
            opened = books() if callable(books) and not isinstance(books, (PurseBooks, PurseManager)) else books
            if isinstance(opened, PurseManager):
                opened = PurseBooks(ledger, opened, operator="recovery", business_day=today, check_terminal=False)
            serial = card_serial_of(opened.manager.identity().app_serial)
            resolved += opened.resolve_pending(pin=pin)
        except (ReaderError, PurseError, PsamError) as exc:
            error = str(exc)
            log.info("no card to resolve pending intents with: %s", exc)
    return StartupRecovery(tuple(resolved), tuple(ledger.pending_intents()), serial, error)


def today() -> str:
    """The default business day: the local calendar date."""
    return _dt.date.today().isoformat()


__all__ = [
    "Booked", "PurseBooks", "StartupRecovery", "attempt_details", "attempt_of", "card_serial_of", "card_time_of",
    "recover_at_start", "today",
]

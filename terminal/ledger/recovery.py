"""Resolving intents left pending by a crash, with the purse recovery rule supplied as a resolver.

The resolver (written next to the card flows) looks at the card and answers, per intent:
  done      the card's counter moved past the intent's (counter = old + 1) -> commit with the proof (TAC …)
  not_done  the counter did not move (counter = old)                        -> fail the intent
  unknown   no card, or the card cannot tell                                 -> stays pending, listed for the operator
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import DuplicateTransaction, LedgerError
from .model import Intent, RecoveryOutcome, Resolution

if TYPE_CHECKING:
    from .ledger import Ledger

log = logging.getLogger(__name__)

Resolver = Callable[[Intent], Resolution]


def resolve_pending(ledger: Ledger, resolver: Resolver) -> list[RecoveryOutcome]:
    """Resolve every pending intent, oldest first; returns one outcome per intent."""
    outcomes: list[RecoveryOutcome] = []
    for intent in ledger.pending_intents():
        outcomes.append(resolve_one(ledger, intent, resolver))
    return outcomes


def resolve_one(ledger: Ledger, intent: Intent, resolver: Resolver) -> RecoveryOutcome:
    try:
        resolution = resolver(intent)
    except Exception as exc:  # a reader or card failure must not stop the others from being listed
        log.warning("resolver failed for intent %s: %s", intent.intent_id, exc)
        return RecoveryOutcome(intent, "pending", f"resolver failed: {exc}")
    if not isinstance(resolution, Resolution):
        return RecoveryOutcome(intent, "pending", f"resolver returned {type(resolution).__name__}, not Resolution")
    if resolution.outcome == "unknown":
        return RecoveryOutcome(intent, "pending", resolution.reason or "unknown")
    if resolution.outcome == "not_done":
        ledger.fail_intent(intent.intent_id, resolution.reason or "not done at card")
        return RecoveryOutcome(intent, "failed", resolution.reason or "not done at card")
    try:
        txn = ledger.commit_intent(
            intent.intent_id,
            postings=resolution.postings,
            card_counter=resolution.card_counter,
            txn_type=resolution.txn_type,
            tac=resolution.tac,
            terminal_seq=resolution.terminal_seq,
            card_time=resolution.card_time,
        )
    except DuplicateTransaction as exc:
        # The same card transaction is already booked under another intent: booking it again would count it twice.
        reason = f"duplicate of transaction {exc.txn_id}"
        ledger.fail_intent(intent.intent_id, reason)
        return RecoveryOutcome(intent, "failed", reason, exc.txn_id)
    except (LedgerError, ValueError) as exc:
        log.warning("cannot commit recovered intent %s: %s", intent.intent_id, exc)
        return RecoveryOutcome(intent, "pending", f"cannot commit: {exc}")
    return RecoveryOutcome(intent, "committed", resolution.reason or "done at card", txn.txn_id)


def list_for_operator(ledger: Ledger) -> list[Intent]:
    """What `ykt ledger recover` shows without a card: the pending intents, oldest first."""
    return ledger.pending_intents()

"""Records of the ledger as frozen dataclasses. Money is integer fen everywhere (1 yuan = 100 fen)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

ACCOUNT_CODE = re.compile(r"[a-z][a-z0-9_]{0,31}(:[a-z0-9_]{1,32})?")

IntentState = Literal["pending", "committed", "failed", "cancelled"]
Outcome = Literal["done", "not_done", "unknown"]


def check_fen(value: object, name: str = "amount_fen") -> int:
    """Return `value` if it is an int (not bool, not float); raise TypeError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int number of fen, not {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Posting:
    """One line of a journal entry: positive = debit, negative = credit, in fen."""

    account: str
    amount_fen: int

    def __post_init__(self) -> None:
        check_fen(self.amount_fen)
        if not isinstance(self.account, str) or not ACCOUNT_CODE.fullmatch(self.account):
            raise ValueError(f"bad account code {self.account!r}")
        if self.amount_fen == 0:
            raise ValueError(f"posting to {self.account} of 0 fen")

    def to_json(self) -> list[Any]:
        return [self.account, self.amount_fen]


@dataclass(frozen=True)
class Account:
    """A row of the chart of accounts. `type` fixes the normal side (see `accounts.NORMAL_SIGN`)."""

    code: str
    name: str
    type: str
    may_go_negative: bool


@dataclass(frozen=True)
class AccountBalance:
    """An account with its balance: `balance_fen` is debits minus credits; `normal_fen` is that balance seen
    from the account's normal side (positive for a till with cash in it, and for revenue earned)."""

    code: str
    type: str
    may_go_negative: bool
    balance_fen: int
    normal_fen: int


@dataclass(frozen=True)
class Intent:
    """A money movement announced before any money-moving APDU, with its current state."""

    intent_id: str
    seq: int
    kind: str
    amount_fen: int
    card_serial: str | None
    card_counter: int | None
    txn_type: int | None
    operator: str
    business_day: str
    details: dict[str, Any]
    planned_postings: tuple[Posting, ...]
    created_at: str
    state: IntentState = "pending"
    reason: str | None = None
    txn_id: int | None = None


@dataclass(frozen=True)
class Transaction:
    """A committed journal entry. `txn_id` is the transaction row's seq in the chain."""

    txn_id: int
    intent_id: str
    kind: str
    amount_fen: int
    card_serial: str | None
    card_counter: int | None
    txn_type: int | None
    tac: str | None
    terminal_seq: int | None
    card_time: str | None
    operator: str
    business_day: str
    committed_at: str
    postings: tuple[Posting, ...]


@dataclass(frozen=True)
class OutboxEntry:
    """One committed transaction waiting for sync, in commit order (`seq` ascending)."""

    seq: int
    txn_id: int
    created_at: str


@dataclass(frozen=True)
class Resolution:
    """What a resolver found out about a pending intent (by asking the card).

    done: the card transaction happened; carries what `commit_intent` needs (postings default to the
    intent's planned postings). not_done: it did not happen; the intent is marked failed.
    unknown: cannot tell now (no card, counter moved elsewhere); the intent stays pending for the operator.
    """

    outcome: Outcome
    reason: str = ""
    card_counter: int | None = None
    txn_type: int | None = None
    tac: str | None = None
    terminal_seq: int | None = None
    card_time: str | None = None
    postings: tuple[Posting, ...] | None = None

    @classmethod
    def done(
        cls,
        *,
        card_counter: int | None = None,
        txn_type: int | None = None,
        tac: str | None = None,
        terminal_seq: int | None = None,
        card_time: str | None = None,
        postings: list[Posting] | tuple[Posting, ...] | None = None,
        reason: str = "done at card",
    ) -> Resolution:
        return cls(
            "done",
            reason,
            card_counter,
            txn_type,
            tac,
            terminal_seq,
            card_time,
            None if postings is None else tuple(postings),
        )

    @classmethod
    def not_done(cls, reason: str) -> Resolution:
        return cls("not_done", reason)

    @classmethod
    def unknown(cls, reason: str) -> Resolution:
        return cls("unknown", reason)


@dataclass(frozen=True)
class RecoveryOutcome:
    """What `resolve_pending` did with one intent: committed, failed, or still pending (listed for the operator)."""

    intent: Intent
    result: Literal["committed", "failed", "pending"]
    message: str
    txn_id: int | None = None


@dataclass(frozen=True)
class Problem:
    """One thing `verify` found wrong, naming the row: table, row id (seq, intent id, account …) and what."""

    table: str
    row_id: str | None
    what: str
    seq: int | None = None

    def __str__(self) -> str:
        where = self.table if self.row_id is None else f"{self.table} {self.row_id}"
        if self.seq is not None and str(self.seq) != self.row_id:
            where += f" (seq {self.seq})"
        return f"{where}: {self.what}"


@dataclass(frozen=True)
class VerifyReport:
    """Result of `verify`. `problems` is in chain order first, then structural checks; [0] is the first bad row."""

    problems: tuple[Problem, ...]
    rows_checked: int
    transactions: int
    head_seq: int
    chain_version: int
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None


@dataclass(frozen=True)
class AccountTotal:
    account: str
    debit_fen: int
    credit_fen: int
    net_fen: int
    postings: int


@dataclass(frozen=True)
class OperatorTotal:
    operator: str
    kind: str
    transactions: int
    amount_fen: int


@dataclass(frozen=True)
class DayReport:
    """A business day's totals by account and by operator, and how many intents are in each state."""

    business_day: str
    transactions: int
    by_account: tuple[AccountTotal, ...]
    by_operator: tuple[OperatorTotal, ...]
    intents_by_state: dict[str, int] = field(default_factory=dict)

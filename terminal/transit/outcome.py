"""What one tap ends as (transit.md "Safety rules"): approved (with TAC), declined (with the reason), pending
(torn: resolved at the next tap of that card) — or already paid (a repeated tap: the last result again)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from terminal.transit.engine import FareBreakdown, Mode, yuan


class TapStatus(str, Enum):
    APPROVED = "approved"
    DECLINED = "declined"
    ALREADY_PAID = "already_paid"
    PENDING = "pending"


@dataclass(frozen=True)
class TapOutcome:
    """One tap, for the display, the tap log and the kiosk screen. Money in fen.

    `amount` is what the card was debited (fare + penalty; 0 for a metro entry or a gate); `fare` the
    breakdown (None when nothing was priced); `balance` the EP balance after the tap (approved) or as read
    (declined), None when unknown; `concession` the id and `concession_label` the label the driver checks; `pass_label` / `entries_left`
    for gates (`entries_left` None = unlimited); `recovered` what the recovery of an earlier torn tap of this
    card found at this tap."""

    status: TapStatus
    mode: Mode
    station: str  # where: the station name, "route 71", or the gate's name
    when: datetime
    card_serial: str | None = None
    amount: int = 0
    fare: FareBreakdown | None = None
    balance: int | None = None
    concession: str | None = None  # the concession's id (elderly, student, …) — a stable key
    concession_label: str | None = None  # its label for the driver (老年 elderly)
    reason: str | None = None
    notes: tuple[str, ...] = ()
    low_balance: bool = False
    tac: str | None = None
    txn_id: int | None = None
    intent_id: str | None = None
    entry_station: str | None = None
    distance_m: int | None = None
    pass_label: str | None = None
    entries_left: int | None = None
    blocked: bool = False  # hotlisted: the purse application was blocked at this tap
    recovered: tuple[str, ...] = ()
    duration_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The gate opens / the passenger may go: approved or already paid."""
        return self.status in (TapStatus.APPROVED, TapStatus.ALREADY_PAID)

    def line(self) -> str:
        """One line for the headless validator's output."""
        head = {
            TapStatus.APPROVED: "OK", TapStatus.DECLINED: "DECLINED", TapStatus.ALREADY_PAID: "ALREADY PAID",
            TapStatus.PENDING: "PENDING",
        }[self.status]
        parts = [f"{self.when:%H:%M:%S}", f"{head:<12}", self.mode.value, self.station]
        if self.card_serial:
            parts.append(f"card {self.card_serial}")
        if self.mode is not Mode.GATE and (self.status is TapStatus.APPROVED or self.amount):
            parts.append(f"fare {yuan(self.amount)}")
        if self.entry_station:
            parts.append(f"from {self.entry_station}")
        if self.balance is not None and self.mode is not Mode.GATE:
            parts.append(f"balance {yuan(self.balance)}")
        if self.concession:
            parts.append(f"concession {self.concession_label or self.concession}")
        if self.pass_label:
            left = "unlimited" if self.entries_left is None else f"{self.entries_left} left"
            parts.append(f"{self.pass_label} ({left})")
        if self.low_balance:
            parts.append("LOW BALANCE")
        if self.reason:
            parts.append(f"- {self.reason}")
        if self.notes:
            parts.append(f"[{'; '.join(self.notes)}]")
        if self.recovered:
            parts.append(f"(recovery: {'; '.join(self.recovered)})")
        return "  ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value, "mode": self.mode.value, "station": self.station,
            "when": self.when.isoformat(timespec="seconds"), "card_serial": self.card_serial, "amount": self.amount,
            "fare": None if self.fare is None else {
                "base": self.fare.base, "transfer": self.fare.transfer, "concession": self.fare.concession,
                "volume": self.fare.volume, "cap": self.fare.cap, "charged": self.fare.charged,
                "penalty": self.fare.penalty,
            },
            "balance": self.balance, "concession": self.concession,
            "concession_label": self.concession_label, "reason": self.reason, "notes": list(self.notes),
            "low_balance": self.low_balance, "tac": self.tac, "txn_id": self.txn_id, "intent_id": self.intent_id,
            "entry_station": self.entry_station, "distance_m": self.distance_m, "pass": self.pass_label,
            "entries_left": self.entries_left, "blocked": self.blocked, "recovered": list(self.recovered),
            "duration_ms": round(self.duration_ms, 3),
        }

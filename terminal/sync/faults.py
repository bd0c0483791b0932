"""A network that misbehaves, for tests and the fleet simulation: requests dropped before the server sees them,
answers lost after it stored them, batches cut short, delivered twice, and old batches replayed late (out of
order). Wraps any `Transport`; seeded, so a failing run can be replayed."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .errors import TransientError
from .transport import Transport


@dataclass
class FaultRates:
    drop: float = 0.05  # the request never reaches the server
    lost_answer: float = 0.05  # the server stored the batch, the answer is lost
    cut: float = 0.05  # the server gets a prefix of the batch, the client an error
    duplicate: float = 0.05  # the batch is delivered twice
    replay: float = 0.05  # before this request, an older batch is delivered again (late, out of order)


class FlakyTransport:
    def __init__(self, inner: Transport, rng: random.Random, rates: FaultRates | None = None) -> None:
        self.inner = inner
        self.terminal_id = inner.terminal_id
        self.rng = rng
        self.rates = rates or FaultRates()
        self.history: list[list[dict[str, Any]]] = []
        self.faults = {"drop": 0, "lost_answer": 0, "cut": 0, "duplicate": 0, "replay": 0}

    def _maybe_replay(self) -> None:
        if self.history and self.rng.random() < self.rates.replay:
            self.faults["replay"] += 1
            self.inner.upload(self.rng.choice(self.history))

    def cursor(self) -> int:
        if self.rng.random() < self.rates.drop:
            self.faults["drop"] += 1
            raise TransientError("simulated: connection refused")
        return self.inner.cursor()

    def upload(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        self._maybe_replay()
        r = self.rng.random()
        rates = self.rates
        self.history.append(records)
        if r < rates.drop:
            self.faults["drop"] += 1
            raise TransientError("simulated: request dropped")
        r -= rates.drop
        if r < rates.cut and len(records) > 1:
            self.faults["cut"] += 1
            self.inner.upload(records[: self.rng.randrange(1, len(records))])
            raise TransientError("simulated: connection cut mid-batch")
        r -= rates.cut
        answer = self.inner.upload(records)
        if r < rates.lost_answer:
            self.faults["lost_answer"] += 1
            raise TransientError("simulated: answer lost")
        r -= rates.lost_answer
        if r < rates.duplicate:
            self.faults["duplicate"] += 1
            answer = self.inner.upload(records)
        return answer

    def replay_all(self) -> None:
        """Deliver every batch ever sent once more, in random order (the very late duplicates)."""
        batches = list(self.history)
        self.rng.shuffle(batches)
        for batch in batches:
            self.inner.upload(batch)

    def updates(self) -> dict[str, Any]:
        return self.inner.updates()

    def artifact(self, kind: str, version: int) -> bytes:
        return self.inner.artifact(kind, version)

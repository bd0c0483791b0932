"""kill -9 harness with the REAL emulated card: purse purchases, loads and refunds booked through
`terminal.booking.PurseBooks`, the process SIGKILLed at every APDU, every card / PSAM save and every SQL step.

A run folder holds two purse card images and a PSAM image (`reader.card_file.FileStorage`: atomic saves),
and the ledger (terminal id = the PSAM's). For each scenario (a seeded list of operations) the harness forks
a child that runs the operations through `EmulatedReader`s, a `PurseManager` per card (with the TEST load
host) and `PurseBooks`, and kills itself at step k, for k = 1, 2, … until a child finishes without reaching
k. Steps: every APDU to a card or the PSAM (before it is sent), every card / PSAM image save (before the
atomic replace), every SQL statement (the ledger's `on_sql`).

After each kill the parent restarts: it opens everything again — sometimes it first lets a second child
crash in the middle of that recovery too — runs `recover_at_start` with each card present, and checks:
nothing pending; each purse's booked counters are exactly the counters the card used (0 lost, 0 booked
twice); card balance = opening + loads − purchases the ledger committed; no natural key twice; verify clean.
Then the operator carries on (two more operations) and everything is checked again.

    python -m tests.ledger.card_harness --runs 20000 --workers 8
"""

from __future__ import annotations

import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from applets.card import VirtualCard
from applets.fs import DF
from applets.image import CardImage, PinState
from applets.personalize import make_atr
from applets.purse.layout import TxnType
from applets.purse.personalize import PurseMasterKeys, personalize_psam, personalize_purse
from reader.card_file import FileStorage, save_new_image
from reader.emulated import EmulatedReader
from reader.trace import command_name
from terminal.booking import Booked, PurseBooks, recover_at_start
from terminal.issuer import load_test_keys
from terminal.ledger import DuplicateTransaction, Ledger, PendingIntentExists, Posting, RecoveryOutcome
from terminal.ledger import accounts as chart
from terminal.purse import LoadHost, PurseManager

from .forkrun import HarnessFailure, HarnessResult, Killer, Step, fork_child, harness_main, kill_runs, run_parallel

DAY = "2024-05-01"
PIN = "123456"
TERMINAL = bytes.fromhex("310100000001")
TERMINAL_ID = TERMINAL.hex().upper()
SERIALS = (bytes.fromhex("3100000000000101"), bytes.fromhex("3100000000000102"))
OPENING = {"ep": 2_000, "ed": 3_000}
OPENING_FLOAT = 50_000
NOW = datetime(2024, 5, 1, 12, 0, 0)
KINDS = ("purchase", "purchase", "load", "refund", "ed_purchase")
AMOUNTS = (100, 250, 1_000, 2_500)
# purse -> (purchase type, load type); the card's offline counter serves purchases, the online one loads
TYPES = {"ep": (TxnType.EP_PURCHASE, TxnType.EP_LOAD), "ed": (TxnType.ED_PURCHASE, TxnType.ED_LOAD)}


def purse_masters() -> PurseMasterKeys:
    masters = PurseMasterKeys.from_extra(load_test_keys().extra)
    if masters is None:
        raise HarnessFailure("data/keys has no purse master keys")
    return masters


def card_image(serial: bytes, masters: PurseMasterKeys, pin: str = PIN) -> CardImage:
    """A PIN-protected purse card issued with the TEST masters (purse only: small image, fast saves)."""
    image = CardImage(label="kill -9 card", atr=make_atr(b"YKT-K9"), mf=DF(0x3F00), pin=PinState.create(pin, bytes(16)))
    personalize_purse(image, serial=serial, region="310000", start=date(2024, 1, 1), expiry=date(2034, 1, 1),
                      masters=masters, ep_balance=OPENING["ep"], ed_balance=OPENING["ed"])
    return image


def make_template(directory: Path, masters: PurseMasterKeys) -> Path:
    template = directory / "template"
    template.mkdir()
    for i, serial in enumerate(SERIALS):
        save_new_image(template / f"card-{i}.card.json", card_image(serial, masters))
    save_new_image(template / "psam.card.json", personalize_psam(masters.purchase, lambda n: bytes(n), terminal_id=TERMINAL))
    with Ledger.open(template / "ledger.sqlite", terminal_id=TERMINAL_ID) as book:
        intent = book.begin_intent(kind="float_in", amount_fen=OPENING_FLOAT, card_serial=None, operator="op1",
                                   business_day=DAY, postings=chart.float_in(OPENING_FLOAT))
        book.commit_intent(intent.intent_id)
    return template


# ------------------------------------------------------------------------------------------------ step hooks
class StepReader:
    """A Reader that reports every APDU (by command name) to `step` before sending it."""

    def __init__(self, inner: EmulatedReader, step: Step | None) -> None:
        self.inner = inner
        self.name = inner.name
        self._step = step

    def connect(self) -> bytes:
        return self.inner.connect()

    @property
    def atr(self) -> bytes:
        return self.inner.atr

    def transmit(self, apdu: bytes) -> bytes:
        if self._step is not None:
            self._step("apdu " + command_name(apdu))
        return self.inner.transmit(apdu)

    def card_present(self) -> bool:
        return self.inner.card_present()

    def disconnect(self) -> None:
        self.inner.disconnect()


class StepStorage(FileStorage):
    """A card image file whose every save is a step (before the atomic replace)."""

    def __init__(self, path: Path, step: Step | None, name: str) -> None:
        super().__init__(path)
        self._step = step
        self._name = name

    def save(self, image: bytes) -> None:
        if self._step is not None:
            self._step(self._name)
        super().save(image)


# ------------------------------------------------------------------------------------------------ the terminal
class Terminal:
    """Cards, PSAM, ledger and booking layer opened from a run folder (as a restarted terminal would)."""

    def __init__(self, folder: Path, host: LoadHost, killer: Killer | None = None) -> None:
        step = killer.step if killer is not None else None
        self.folder = folder
        psam = VirtualCard(StepStorage(folder / "psam.card.json", step, "psam.save"), os.urandom)
        self.psam_reader = StepReader(EmulatedReader(psam, name="psam"), step)
        self.psam_reader.connect()
        self.ledger = Ledger.open(folder / "ledger.sqlite", create=False, on_sql=killer.sql if killer else None)
        self.books: list[PurseBooks] = []
        for i in range(len(SERIALS)):
            card = VirtualCard(StepStorage(folder / f"card-{i}.card.json", step, "card.save"), os.urandom)
            reader = StepReader(EmulatedReader(card, name=f"card {i}"), step)
            reader.connect()
            manager = PurseManager(reader, self.psam_reader, load_host=host, clock=lambda: NOW)
            self.books.append(PurseBooks(self.ledger, manager, operator="op1", business_day=DAY))

    def close(self) -> None:
        self.ledger.close()

    def recover(self) -> list[RecoveryOutcome]:
        """What a restarted terminal does when each card is presented: the purse recovery rule."""
        outcomes: list[RecoveryOutcome] = []
        for books in self.books:
            outcomes += recover_at_start(self.ledger, books, pin=PIN).resolved
        return outcomes


@dataclass(frozen=True)
class Op:
    kind: str  # purchase | load | refund | ed_purchase
    amount_fen: int
    card: int


def run_op(term: Terminal, op: Op) -> Booked:
    books = term.books[op.card]
    a = op.amount_fen
    if op.kind == "purchase":
        return books.purchase(a, chart.purse_purchase(a, "goods"), details={"lane": 1})
    if op.kind == "ed_purchase":
        return books.purchase(a, [Posting("personal_account", a), Posting("revenue:drugs", -a)],
                              txn_type=TxnType.ED_PURCHASE, pin=PIN)
    if op.kind == "load":
        return books.load(a, chart.purse_load(a))
    if op.kind == "refund":
        return books.load(a, chart.purse_refund(a), purpose="refund", kind="purse_refund")
    raise ValueError(op.kind)


def scenario(rng: random.Random, length: int) -> list[Op]:
    return [Op(rng.choice(KINDS), rng.choice(AMOUNTS), rng.randrange(len(SERIALS))) for _ in range(length)]


# ------------------------------------------------------------------------------------------------ checks
def card_state(folder: Path, i: int) -> dict:
    return CardImage.from_bytes((folder / f"card-{i}.card.json").read_bytes()).applications["purse"]


def check(term: Terminal, *, verify: bool = True) -> None:
    """Card and ledger agree: nothing pending, counters booked exactly once, balances, no key twice, verify."""
    book = term.ledger
    pending = book.pending_intents()
    if pending:
        raise HarnessFailure(f"pending after recovery: {[(i.kind, i.card_serial, i.card_counter) for i in pending]}")
    twice = book.conn.execute(
        "SELECT card_serial, card_counter, txn_type, count(*) FROM transactions WHERE card_serial IS NOT NULL"
        " GROUP BY 1, 2, 3 HAVING count(*) > 1").fetchall()
    if twice:
        raise HarnessFailure(f"natural key booked twice: {twice}")
    rows = book.conn.execute(
        "SELECT card_serial, txn_type, card_counter, amount_fen FROM transactions WHERE card_serial IS NOT NULL").fetchall()
    for i, serial in enumerate(SERIALS):
        state = card_state(term.folder, i)
        mine = [r for r in rows if r[0] == serial.hex().upper()]
        for purse, (buy, load) in TYPES.items():
            for ttype, counter in ((buy, "offline"), (load, "online")):
                booked = sorted(r[2] for r in mine if r[1] == ttype)
                done = list(range(state[purse][counter]))
                if booked != done:
                    lost = sorted(set(done) - set(booked))
                    raise HarnessFailure(f"card {i} {purse} type {ttype:02X}: booked counters {booked}, the card used"
                                         f" {done} (lost {lost}, extra {sorted(set(booked) - set(done))})")
            delta = sum(r[3] for r in mine if r[1] == load) - sum(r[3] for r in mine if r[1] == buy)
            if state[purse]["balance"] != OPENING[purse] + delta:
                raise HarnessFailure(f"card {i} {purse}: balance {state[purse]['balance']}, ledger says"
                                     f" {OPENING[purse] + delta}")
    if rows:  # a replay of the newest card transaction's natural key is refused
        serial, ttype, counter = rows[-1][0], rows[-1][1], rows[-1][2]
        try:
            book.begin_intent(kind="purse_purchase", amount_fen=1, card_serial=serial, operator="replay",
                              business_day=DAY, postings=chart.purse_purchase(1), card_counter=counter, txn_type=ttype)
        except (DuplicateTransaction, PendingIntentExists):
            pass
        else:
            raise HarnessFailure(f"replay of {serial}/{counter}/{ttype:02X} was accepted")
    if verify:
        report = book.verify(quick=True)
        if not report.ok:
            raise HarnessFailure(f"verify: {report.first}")


# ------------------------------------------------------------------------------------------------ runner
@dataclass
class CardHarnessResult(HarnessResult):
    recovery_kills: int = 0
    apdus_killed: dict[str, int] = field(default_factory=dict)


def _ops_child(run_dir: Path, host: LoadHost, ops: list[Op], kill_at: int) -> None:
    term = Terminal(run_dir, host, Killer(kill_at, run_dir / "killed-at"))
    for op in ops:
        run_op(term, op)
    term.close()


def _recovery_child(run_dir: Path, host: LoadHost, kill_at: int) -> None:
    term = Terminal(run_dir, host, Killer(kill_at, None))
    term.recover()
    term.close()


def run_harness(runs: int, seed: int = 1, workdir: Path | None = None, ops_per_scenario: int = 3,
                workers: int = 1, recovery_kill_every: int = 3) -> CardHarnessResult:
    """At least `runs` killed/completed children; raises HarnessFailure on the first disagreement.

    Every `recovery_kill_every`-th killed run is first "restarted" by a child that is killed again in the
    middle of its recovery. `workers` > 1 forks that many harness processes (own seed and folder each)."""
    if workers > 1:
        return run_parallel(workers, "ykt-kill9-card-results-", workdir,
                            lambda i: run_harness(-(-runs // workers), seed * 1000 + i, workdir, ops_per_scenario, 1,
                                                  recovery_kill_every),
                            CardHarnessResult())
    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="ykt-kill9-card-", dir=workdir))
    result = CardHarnessResult()
    host = LoadHost(purse_masters())
    rng = random.Random(seed)
    try:
        template = make_template(base, purse_masters())
        for run_dir, ops, k, step in kill_runs(result, runs, base, template, lambda: scenario(rng, ops_per_scenario),
                                               lambda run_dir, ops, k: _ops_child(run_dir, host, ops, k)):
            where = f"seed {seed} scenario {result.scenarios} {ops} kill at step {k}"
            if step is not None:
                if step.split()[0] == "apdu":
                    result.apdus_killed[step[5:]] = result.apdus_killed.get(step[5:], 0) + 1
                if recovery_kill_every and result.kills % recovery_kill_every == 0:
                    j = rng.randint(1, 40)
                    if fork_child(run_dir, lambda: _recovery_child(run_dir, host, j)):
                        result.recovery_kills += 1
            _restart_and_check(run_dir, host, ops, result, where)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    result.seconds = time.perf_counter() - started
    return result


def _restart_and_check(run_dir: Path, host: LoadHost, ops: list[Op], result: CardHarnessResult, where: str) -> None:
    term = Terminal(run_dir, host)
    try:
        for outcome in term.recover():
            if outcome.result == "committed":
                result.recovered_committed += 1
            elif outcome.result == "failed":
                result.recovered_failed += 1
        check(term, verify=False)
        for op in ops[:2]:  # the operator carries on after the crash
            run_op(term, op)
        check(term)
    except HarnessFailure as exc:
        raise HarnessFailure(f"{where}: {exc}") from None
    finally:
        term.close()


def main(argv: list[str] | None = None) -> int:
    return harness_main(__doc__, run_harness, runs=1_000, ops=3, argv=argv)


if __name__ == "__main__":
    sys.exit(main())

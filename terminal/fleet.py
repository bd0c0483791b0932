"""Fleet simulation (`ykt fleet simulate`): many terminals with emulated cards trade for days, go offline
for random periods and crash mid-transaction; then everything syncs and a reconciliation compares the cards'
balances and counters, the issuer's view (issue balance + cleared, TAC-verified transactions) and the clearing
view (settlement totals) with every terminal's ledger. It must end with 0 discrepancies (docs/clearing.md).

Terminals are pharmacies (EP purchases, ED medical sales: pooled fund + personal account + cash), transit
validators (EP fares with a concession share owed by the subsidy programme) and kiosks (EP loads through the
issuer's load host while online, else purchases). Cards are purse-only images in memory
(`applets.card.MemoryStorage`); each card mostly taps at its home terminal, sometimes elsewhere, so card
counters interleave across terminals. A crash (probability `kill_rate` per transaction) happens at a random
point — after the intent, with the card torn before or after its save, before or after the ledger commit —
and the terminal is restarted from its files and recovers with the card (terminal.booking).
Issuer hotlists (lost cards, one version a day), fares and a policy are pushed through sync.
"""

from __future__ import annotations

import datetime as _dt
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from applets.card import MemoryStorage, VirtualCard
from applets.fs import DF
from applets.image import CardImage, PinState
from applets.personalize import make_atr
from applets.purse.layout import TxnType
from applets.purse.personalize import PurseMasterKeys, personalize_psam, personalize_purse
from reader.card_file import TearingStorage
from reader.emulated import EmulatedReader
from terminal import hotlist as hl
from terminal.booking import PurseBooks, recover_at_start
from terminal.clearing import ClearingHouse, TacVerifier, policy_document
from terminal.clearing import settlement as st
from terminal.ledger import Ledger, LedgerError, Posting
from terminal.ledger import accounts as chart
from terminal.purse import LoadHost, PurseManager
from terminal.sync import LedgerSource, LocalTransport, RetryPolicy, Syncer, SyncError, SyncState
from terminal.sync.faults import FaultRates, FlakyTransport
from terminal.sync.updates import installed_version

KINDS = ("pharmacy", "transit", "kiosk")
CRASH_POINTS = ("after_intent", "torn_before_save", "torn_after_save", "before_commit", "after_commit")
START = _dt.date(2024, 5, 1)
EP_ISSUE, ED_ISSUE = 30_000, 50_000


class Crash(BaseException):
    """The terminal process dies here (BaseException: no flow catches it)."""


@dataclass
class FleetConfig:
    terminals: int = 100
    days: int = 3
    offline_rate: float = 0.3
    kill_rate: float = 0.01
    cards_per_terminal: int = 3
    txns_per_hour: int = 2
    hours: int = 10
    seed: int = 1
    db_url: str | None = None
    folder: Path | None = None
    http: bool = False
    network_faults: float = 0.02  # each FlakyTransport fault rate while online


@dataclass
class Card:
    serial: bytes
    storage: TearingStorage
    card: VirtualCard
    home: int

    @property
    def serial_hex(self) -> str:
        return self.serial.hex().upper()

    def state(self) -> dict[str, Any]:
        inner = self.storage.inner
        return CardImage.from_bytes(inner.image).applications["purse"]  # type: ignore[attr-defined]


@dataclass
class Terminal:
    index: int
    terminal_id: str
    kind: str
    home: Path
    psam: VirtualCard
    online: bool = True
    ledger: Ledger | None = None
    restarts: int = 0

    @property
    def ledger_path(self) -> Path:
        return self.home / "ledger.sqlite"


@dataclass
class FleetResult:
    config: FleetConfig
    metrics: dict[str, Any] = field(default_factory=dict)
    checks: list[tuple[str, int, str]] = field(default_factory=list)  # (name, discrepancies, detail)

    @property
    def discrepancies(self) -> int:
        return sum(n for _, n, _ in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "checks": [{"check": c, "discrepancies": n, "detail": d} for c, n, d in self.checks],
                "discrepancies": self.discrepancies}

    def text(self) -> str:
        m = self.metrics
        lines = [
            f"fleet: {m['terminals']} terminals, {m['cards']} cards, {m['days']} days, offline rate "
            f"{self.config.offline_rate}, kill rate {self.config.kill_rate} ({m['seconds']:.1f} s)",
            f"transactions: {m['committed']} committed, {m['declined']} declined, {m['hotlist_refusals']} hotlist refusals;"
            f" crashes {m['crashes']} (restarts recovered {m['recovered']}); offline sync windows {m['offline_windows']}"
            f" of {m['sync_windows']}; network faults {m['network_faults']}",
            f"clearing: {m['cleared']} transactions valid, {m['quarantined']} quarantined, {m['settlement_runs']}"
            f" settlement runs; hotlist v{m['hotlist_version']} on {m['hotlist_current']}/{m['terminals']} terminals",
            "reconciliation:",
        ]
        for name, n, detail in self.checks:
            lines.append(f"  {name:<44} {'ok' if n == 0 else f'{n} DISCREPANCIES'}  {detail}")
        for fund, net in m["by_fund"].items():
            lines.append(f"  settled {fund:<18} {st.yuan(net):>14}")
        lines.append(f"discrepancies: {self.discrepancies}")
        return "\n".join(lines)


def _entropy(rng: random.Random) -> Callable[[int], bytes]:
    return lambda n: rng.randbytes(n)


def _masters() -> PurseMasterKeys:
    from terminal.issuer import load_test_keys

    masters = PurseMasterKeys.from_extra(load_test_keys().extra)
    if masters is None:
        raise ValueError("the TEST key file has no purse master keys")
    return masters


def _card_image(serial: bytes, masters: PurseMasterKeys) -> bytes:
    image = CardImage(label="fleet card", atr=make_atr(b"YKT-FLEET"), mf=DF(0x3F00), pin=PinState.create("123456", bytes(16)))
    personalize_purse(image, serial=serial, region="310000", start=_dt.date(2024, 1, 1), expiry=_dt.date(2034, 1, 1),
                      masters=masters, ep_balance=EP_ISSUE, ed_balance=ED_ISSUE, ed_needs_pin=False)
    return image.to_bytes()


class Fleet:
    def __init__(self, config: FleetConfig, folder: Path, progress: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.folder = folder
        self.rng = random.Random(config.seed)
        self.say = progress or (lambda line: None)
        self.masters = _masters()
        self.host = LoadHost(self.masters)
        self.house = ClearingHouse.open(config.db_url or folder / "clearing.sqlite", TacVerifier(self.masters))
        self.now = _dt.datetime.combine(START, _dt.time(8, 0))
        self.m: dict[str, Any] = dict.fromkeys(
            ("committed", "declined", "hotlist_refusals", "crashes", "recovered", "offline_windows", "sync_windows",
             "network_faults"), 0)
        self.transports: dict[str, Any] = {}
        self.lost: set[str] = set()
        self.hotlist_version = 0
        p_on = 0.25
        self.p_off = config.offline_rate * p_on / max(1e-9, 1 - config.offline_rate)
        self.p_on = p_on
        self._http_client: Any = None
        self.terminals = [self._terminal(i) for i in range(config.terminals)]
        self.cards = [self._card(i) for i in range(config.terminals * config.cards_per_terminal)]

    # ---------------------------------------------------------------- set-up
    def _terminal(self, i: int) -> Terminal:
        tid = f"31{i + 1:010X}"
        home = self.folder / f"t{tid}"
        home.mkdir(parents=True, exist_ok=True)
        psam_image = personalize_psam(self.masters.purchase, _entropy(self.rng), terminal_id=bytes.fromhex(tid), seq=1)
        psam = VirtualCard(MemoryStorage(psam_image.to_bytes()), _entropy(random.Random(f"psam {i}")))
        t = Terminal(i, tid, KINDS[i % len(KINDS)], home, psam)
        with Ledger.open(t.ledger_path, terminal_id=tid, clock=self._utc) as ledger:
            ledger.add_account("subsidy_receivable", "Concession fares owed by the subsidy programme", "asset")
        key = self.house.add_terminal(tid, merchant_id=f"M-{t.kind.upper()}-{i // 10 + 1:04d}", name=f"{t.kind} {i + 1}")
        self.transports[tid] = self._transport(tid, key)
        return t

    def _transport(self, tid: str, key: bytes) -> Any:
        if self.config.http:
            from starlette.testclient import TestClient

            from terminal.clearing.service import create_app
            from terminal.sync import HttpTransport

            if self._http_client is None:
                self._http_client = TestClient(create_app(self.house), base_url="http://clearing.test")
            inner: Any = HttpTransport("http://clearing.test", tid, key, client=self._http_client)
        else:
            inner = LocalTransport(self.house, tid)
        rate = self.config.network_faults
        return FlakyTransport(inner, random.Random(f"net {tid} {self.config.seed}"),
                              FaultRates(rate, rate, rate, rate, rate))

    def _card(self, i: int) -> Card:
        serial = bytes.fromhex(f"3100{i + 1:012X}")
        storage = TearingStorage(MemoryStorage(_card_image(serial, self.masters)))
        return Card(serial, storage, VirtualCard(storage, _entropy(random.Random(f"card {i}"))), i % self.config.terminals)

    def _utc(self) -> _dt.datetime:
        return self.now.replace(tzinfo=_dt.timezone(_dt.timedelta(hours=8))).astimezone(_dt.timezone.utc)

    @property
    def day(self) -> str:
        return self.now.date().isoformat()

    # ---------------------------------------------------------------- a terminal at work
    def _open(self, t: Terminal) -> Ledger:
        if t.ledger is None:
            t.ledger = Ledger.open(t.ledger_path, create=False, clock=self._utc)
        return t.ledger

    def _close(self, t: Terminal) -> None:
        if t.ledger is not None:
            t.ledger.close()
            t.ledger = None

    def _books(self, t: Terminal, card: Card) -> PurseBooks:
        card_reader = EmulatedReader(card.card, name="card")
        card_reader.connect()
        psam_reader = EmulatedReader(t.psam, name="psam")
        psam_reader.connect()
        manager = PurseManager(card_reader, psam_reader, load_host=self.host, clock=lambda: self.now)
        return PurseBooks(self._open(t), manager, operator=f"op{t.index % 7 + 1}", business_day=self.day)

    def _hotlisted(self, t: Terminal, card: Card) -> bool:
        path = t.home / "hotlist.ykthl"
        if not path.exists():
            return False
        with hl.Hotlist.open(path) as listed:
            return listed.contains(card.serial_hex)

    def _plan(self, t: Terminal) -> tuple[str, int, list[Posting], dict[str, Any]]:
        """(what, amount, postings, options) for the next transaction at `t`."""
        r = self.rng
        if t.kind == "pharmacy":
            if r.random() < 0.35:
                personal = r.randrange(100, 3_000)
                pooled, cash = r.randrange(0, 6_000), r.choice((0, 0, r.randrange(100, 2_000)))
                return "ed", personal, chart.medical_sale(pooled_fen=pooled, personal_fen=personal, cash_fen=cash), {}
            amount = r.randrange(100, 5_000)
            return "ep", amount, chart.purse_purchase(amount, "drugs"), {}
        if t.kind == "transit":
            full = r.choice((200, 300, 400, 500, 600))
            subsidy = r.choice((0, 0, 0, full // 2, full))
            charged = full - subsidy
            if charged == 0:
                charged, subsidy = full, 0
            lines = [Posting("purse_float", charged)] + ([Posting("subsidy_receivable", subsidy)] if subsidy else [])
            return "ep", charged, lines + [Posting("transit_revenue", -full)], {}
        if t.online and r.random() < 0.4:
            amount = r.choice((5_000, 10_000, 20_000))
            return "load", amount, chart.purse_load(amount), {}
        amount = r.randrange(100, 3_000)
        return "ep", amount, chart.purse_purchase(amount, "goods"), {}

    def transact(self, t: Terminal, card: Card) -> None:
        if self._hotlisted(t, card):
            self.m["hotlist_refusals"] += 1
            return
        what, amount, lines, _ = self._plan(t)
        crash = self.rng.choice(CRASH_POINTS) if self.rng.random() < self.config.kill_rate else None
        books = self._books(t, card)
        ledger = books.ledger
        if crash in ("after_intent", "before_commit", "after_commit"):
            self._arm(ledger, crash)
        elif crash is not None:
            card.storage.tear_at_save = card.storage.saves + 1
            card.storage.after_write = crash == "torn_after_save"
        try:
            if what == "load":
                booked = books.load(amount, lines)
            elif what == "ed":
                booked = books.purchase(amount, lines, txn_type=TxnType.ED_PURCHASE, kind="medical_sale")
            else:
                booked = books.purchase(amount, lines)
            self.m["committed" if booked.status == "committed" else "declined"] += booked.status != "pending"
            if booked.status == "pending":
                raise Crash("torn card: the terminal is restarted with the card still there")
        except Crash:
            self.m["crashes"] += 1
            self._restart(t, card)
        finally:
            card.storage.tear_at_save = None
            for name in ("begin_intent", "commit_intent"):
                ledger.__dict__.pop(name, None)

    def _arm(self, ledger: Ledger, crash: str) -> None:
        if crash == "after_intent":
            original = ledger.begin_intent

            def begin(**kwargs: Any) -> Any:
                original(**kwargs)
                raise Crash("after the intent")

            ledger.begin_intent = begin  # type: ignore[method-assign]
        else:
            original_commit = ledger.commit_intent

            def commit(*args: Any, **kwargs: Any) -> Any:
                if crash == "before_commit":
                    raise Crash("before the commit")
                original_commit(*args, **kwargs)
                raise Crash("after the commit")

            ledger.commit_intent = commit  # type: ignore[method-assign]

    def _restart(self, t: Terminal, card: Card) -> None:
        """The terminal process died: reopen everything from its files and recover with the card present."""
        self._close(t)
        t.restarts += 1
        card.card.power_off()
        t.psam.power_off()
        books = self._books(t, card)
        outcome = recover_at_start(books.ledger, books)
        self.m["recovered"] += len(outcome.resolved)
        committed = sum(1 for o in outcome.resolved if o.result == "committed")
        self.m["committed"] += committed
        self.m["declined"] += len(outcome.resolved) - committed

    # ---------------------------------------------------------------- sync and the issuer's pushes
    def sync(self, t: Terminal) -> None:
        self.m["sync_windows"] += 1
        if not t.online:
            self.m["offline_windows"] += 1
            return
        self._close(t)
        with SyncState(t.ledger_path) as state:
            syncer = Syncer(LedgerSource(state.conn), self.transports[t.terminal_id], state=state, home=t.home,
                            batch_size=self.rng.choice((50, 200, 500)), retry=RetryPolicy(attempts=4),
                            sleep=lambda s: None, rng=self.rng)
            try:
                syncer.sync()
            except SyncError:
                pass  # as if the link went down again: the next window resumes

    def publish_day(self) -> None:
        """The issuer: a few more cards reported lost (new hotlist version); fares and policy on day 1."""
        for card in self.rng.sample(self.cards, max(1, len(self.cards) // 100)):
            self.lost.add(card.serial_hex)
        self.hotlist_version += 1
        content = hl.build_file(self.hotlist_version, (hl.record_key(s) for s in self.lost), created=int(time.time()))
        self.house.publish("hotlist", self.hotlist_version, content)
        if self.hotlist_version == 1:
            from terminal.clearing.house import fares_bundle
            from terminal.datafiles import data_dir

            fares = data_dir() / "fares"
            if fares.is_dir():
                self.house.publish("fares", 1, fares_bundle(fares, 1))
            self.house.publish("policy", 1, policy_document({"low_balance_warning_fen": 500}, 1))

    # ---------------------------------------------------------------- the run
    def run(self) -> FleetResult:
        started = time.perf_counter()
        cfg = self.config
        for d in range(cfg.days):
            self.now = _dt.datetime.combine(START + _dt.timedelta(days=d), _dt.time(8, 0))
            self.publish_day()
            for h in range(cfg.hours):
                for t in self.terminals:
                    t.online = (self.rng.random() >= self.p_off) if t.online else (self.rng.random() < self.p_on)
                    for _ in range(cfg.txns_per_hour):
                        self.now += _dt.timedelta(seconds=self.rng.randrange(1, 20))
                        card = self.cards[self._pick(t)]
                        self.transact(t, card)
                    self.sync(t)
                self.now = _dt.datetime.combine(self.now.date(), _dt.time(8, 0)) + _dt.timedelta(hours=h + 1)
            run = self.house.settle(self.day)  # the day's first run; offline terminals' uploads settle later
            self.say(f"day {self.day}: {self.m['committed']} committed so far, {self.m['crashes']} crashes;"
                     f" settled {0 if run is None else run.transactions} transactions")
        # the end: every terminal back online, pending intents resolved with their cards, a last sync each
        by_serial = {c.serial_hex: c for c in self.cards}
        for t in self.terminals:
            ledger = self._open(t)
            for intent in ledger.pending_intents():
                card = by_serial.get(intent.card_serial or "")
                if card is not None:
                    self._restart(t, card)
            t.online = True
            self.sync(t)
            self.transports[t.terminal_id].rates = FaultRates(0, 0, 0, 0, 0)
            self.sync(t)  # a clean last window
        for d in range(cfg.days):  # late runs: what offline terminals uploaded after the day's run
            self.house.settle((START + _dt.timedelta(days=d)).isoformat())
        result = self.reconcile()
        result.metrics["seconds"] = time.perf_counter() - started
        return result

    def _pick(self, t: Terminal) -> int:
        if self.rng.random() < 0.7:
            return t.index + self.config.terminals * self.rng.randrange(self.config.cards_per_terminal)
        return self.rng.randrange(len(self.cards))

    # ---------------------------------------------------------------- reconciliation
    def reconcile(self) -> FleetResult:
        db = self.house.db
        result = FleetResult(self.config)
        flows = st.card_flows(db)
        balance_bad = counter_bad = 0
        for card in self.cards:
            state = card.state()
            for purse, issued in (("ep", EP_ISSUE), ("ed", ED_ISSUE)):
                f = flows.get((card.serial_hex, purse), {"purchases_fen": 0, "loads_fen": 0, "offline": 0, "online": 0})
                balance_bad += int(state[purse]["balance"]) != issued + f["loads_fen"] - f["purchases_fen"]
                counter_bad += (int(state[purse]["offline"]), int(state[purse]["online"])) != (f["offline"], f["online"])
        result.checks.append(("card balances = issuer view (issue + cleared)", balance_bad, f"{2 * len(self.cards)} purses"))
        result.checks.append(("card counters = cleared transactions", counter_bad, f"{2 * len(self.cards)} purses"))
        gaps = st.counter_gaps(db)
        result.checks.append(("counter gaps at clearing (lost transactions)", len(gaps), ""))
        ledger_totals: dict[str, int] = {}
        not_uploaded = pending = verify_bad = 0
        for t in self.terminals:
            ledger = self._open(t)
            pending += len(ledger.pending_intents())
            verify_bad += not ledger.verify(quick=True).ok
            for code, bal in ledger.balances().items():
                if bal.balance_fen:
                    ledger_totals[code] = ledger_totals.get(code, 0) + bal.balance_fen
            last = int(ledger.conn.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0])
            count = int(ledger.conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
            held = int(db.scalar("SELECT COUNT(*) FROM txns WHERE terminal_id = ?", (t.terminal_id,), 0))
            not_uploaded += (self.house.cursor(t.terminal_id) != last) + abs(held - count)
            self._close(t)
        result.checks.append(("terminal outboxes = clearing (0 lost, 0 duplicated)", not_uploaded, f"{len(self.terminals)} terminals"))
        result.checks.append(("pending intents left on terminals", pending, ""))
        result.checks.append(("ledger verify failures", verify_bad, ""))
        cleared = st.account_totals(db)
        accounts = set(cleared) | set(ledger_totals)
        diff = sum(1 for a in accounts if cleared.get(a, 0) != ledger_totals.get(a, 0))
        result.checks.append(("ledger totals per account = clearing totals", diff, f"{len(accounts)} accounts"))
        by_fund: dict[str, int] = {}
        runs = 0
        for d in range(self.config.days):
            for run in st.runs_of_day(db, (START + _dt.timedelta(days=d)).isoformat()):
                runs += 1
                for fund, net in st.fund_totals(run.lines).items():
                    by_fund[fund] = by_fund.get(fund, 0) + net
        all_funds: dict[str, int] = {}
        for account, net in cleared.items():
            all_funds[st.fund_of(account)] = all_funds.get(st.fund_of(account), 0) + net
        result.checks.append(("settlement runs = clearing totals by fund",
                              sum(1 for f in set(by_fund) | set(all_funds) if by_fund.get(f, 0) != all_funds.get(f, 0)), ""))
        stats = self.house.stats()
        result.checks.append(("quarantined or conflicting uploads", stats["quarantined"] + stats["conflicts"], ""))
        current = sum(1 for t in self.terminals if installed_version(t.home, "hotlist") == self.hotlist_version)
        self.m.update(
            terminals=len(self.terminals), cards=len(self.cards), days=self.config.days, cleared=stats["valid"],
            quarantined=stats["quarantined"], settlement_runs=runs, hotlist_version=self.hotlist_version,
            hotlist_current=current, by_fund=dict(sorted(by_fund.items())),
            network_faults=sum(sum(tr.faults.values()) for tr in self.transports.values()),
        )
        result.checks.append(("terminals without the latest hotlist", len(self.terminals) - current, ""))
        result.metrics = dict(self.m)
        return result

    def close(self) -> None:
        for t in self.terminals:
            self._close(t)
        if self._http_client is not None:
            self._http_client.close()
        self.house.close()


def simulate(config: FleetConfig, progress: Callable[[str], None] | None = None) -> FleetResult:
    """Run the simulation in `config.folder` (or a temporary folder, removed afterwards)."""
    folder = config.folder or Path(tempfile.mkdtemp(prefix="ykt-fleet-"))
    folder.mkdir(parents=True, exist_ok=True)
    fleet = Fleet(config, folder, progress)
    try:
        return fleet.run()
    finally:
        fleet.close()
        if config.folder is None:
            shutil.rmtree(folder, ignore_errors=True)


__all__ = ["Crash", "Fleet", "FleetConfig", "FleetResult", "LedgerError", "simulate"]

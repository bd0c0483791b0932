"""The counter (柜台) as one object: what the CLI and the TUI call. It holds the ledger, the counter tables, the
policies, the catalog, the filings, the hotlist and the logged-in operator; each flow is one method.

    counter = Counter.open(db_path, terminal_id="310100000001")   # centre=CentreLink… or $YKT_CENTRE_URL
    operator = counter.login("c001", password)
    manager = counter.manager(card_reader, psam_reader)
    customer = counter.identify(card_reader, manager, pin=pin)
    draft = counter.preview(customer, [counter.line("XJ01CAA040A001", 2)])
    sale = counter.pay(draft, pin=pin)                 # sale.status, sale.receipt_no
    text = counter.receipt(sale.receipt_no).to_text()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from reader.base import Reader
from terminal.booking import PurseBooks
from terminal.counter import dayclose, history, refund, sale, subsidy
from terminal.counter.card import Customer, read_customer
from terminal.counter.cart import cart_line, load_cart
from terminal.counter.errors import NotAuthorised
from terminal.counter.filings import LedgerFilings
from terminal.counter.operators import Operator, OperatorStore
from terminal.counter.receipt import Receipt
from terminal.counter.store import CounterStore
from terminal.hotlist import Hotlist
from terminal.identity import LOOKUP_POLICY, Identity, identify_card, load_known_regions
from terminal.ledger import Ledger, RecoveryOutcome
from terminal.medical import CartLine, Catalog, PolicyBook, RegionTable, VisitType, load_catalog, load_policies, load_regions
from terminal.medical.model import check_region
from terminal.paths import default_ledger_path
from terminal.purse import LoadHost, Psam, PurseManager

DEFAULT_REGION = "310000"  # where the demo counter stands (Shanghai): the place of treatment (就医地)
DEFAULT_INSTITUTION = "yikatong 演示药房 (demo pharmacy)"


class Counter:
    """One counter terminal. Open with `Counter.open`; close it (or use `with`)."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        region: str = DEFAULT_REGION,
        institution: str = DEFAULT_INSTITUTION,
        clock: Callable[[], datetime] = datetime.now,
        policies: PolicyBook | None = None,
        catalog: Catalog | None = None,
        regions: RegionTable | None = None,
        hotlist: Hotlist | None = None,
        load_host: LoadHost | None = None,
        scrypt_n: int | None = None,
        centre: Any = None,
    ) -> None:
        self.ledger = ledger
        self.store = CounterStore(ledger.path)
        self.treatment_region = check_region(region, "counter region")
        self.institution = institution
        self._clock = clock
        self.regions = regions or load_regions()
        self.policies = policies or load_policies(regions=self.regions)
        self.catalog = catalog or load_catalog()
        self.hotlist = hotlist if hotlist is not None else Hotlist.load()
        self.known_regions = load_known_regions()
        self.filings = LedgerFilings(self.store)
        self.operators = OperatorStore(self.store, **({"scrypt_n": scrypt_n} if scrypt_n else {}))
        self._load_host = load_host
        self.operator: Operator | None = None
        # The insurance centre (terminal.centre_client.CentreLink): online settlement when it answers, the
        # offline engine with the card's counters otherwise (docs/centre.md). None: always offline.
        self.centre = centre
        if centre is not None:
            centre.attach(self)

    @classmethod
    def open(cls, db: str | Path | None = None, *, terminal_id: str | None = None, **kwargs: object) -> Counter:
        """Open (or create, with `terminal_id` = the PSAM's) the ledger at `db` (default: the terminal's).
        Without `centre=`, `$YKT_CENTRE_URL` (if set) names the insurance centre to settle with online."""
        path = Path(db) if db is not None else default_ledger_path()
        ledger = Ledger.open(path, terminal_id=terminal_id if not path.exists() else None)
        try:
            if "centre" not in kwargs:
                from terminal.centre_client import CentreLink

                kwargs["centre"] = CentreLink.from_env(region=str(kwargs.get("region", DEFAULT_REGION)),
                                                       clock=kwargs.get("clock", datetime.now))  # type: ignore[arg-type]
            return cls(ledger, **kwargs)  # type: ignore[arg-type]
        except BaseException:
            ledger.close()
            raise

    def close(self) -> None:
        if self.centre is not None:
            self.centre.close()
        self.store.close()
        self.ledger.close()

    def __enter__(self) -> Counter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Counter({str(self.ledger.path)!r}, region={self.treatment_region}, operator={self.operator})"

    # ---- set-up ----
    @property
    def terminal_id(self) -> str:
        return self.ledger.terminal_id

    @property
    def load_host(self) -> LoadHost:
        if self._load_host is None:
            self._load_host = LoadHost.from_test_keys()
        return self._load_host

    def now(self) -> datetime:
        return self._clock()

    def business_day(self) -> str:
        """The day new transactions are booked under (the day after the last close, if that is later)."""
        return dayclose.current_business_day(self)

    def manager(self, card: Reader, psam: Reader | Psam | None) -> PurseManager:
        """A purse manager for the card in `card` with the terminal's PSAM (the clock is the counter's)."""
        return PurseManager(card, psam, load_host=self.load_host, clock=self._clock)

    def books(self, manager: PurseManager) -> PurseBooks:
        operator = self.require_operator("a card transaction")
        return PurseBooks(self.ledger, manager, operator=operator.operator_id, business_day=self.business_day)

    # ---- operators ----
    def login(self, operator_id: str, password: str) -> Operator:
        """Log an operator in (LoginFailed otherwise); the counter acts as this operator until `logout`."""
        self.operator = self.operators.login(operator_id, password)
        if self.centre is not None:
            self.centre.sign_in(self.operator.operator_id, self.operator.name)  # 9001 (best effort)
        return self.operator

    def logout(self) -> None:
        if self.centre is not None:
            self.centre.sign_out()  # 9002
        self.operator = None

    def require_operator(self, what: str) -> Operator:
        if self.operator is None:
            raise NotAuthorised(f"{what} needs a logged-in operator")
        return self.operator

    # ---- identity, cart, settlement ----
    def identify(self, reader: Reader, manager: PurseManager, *, pin: str) -> Customer:
        """Check the card holder (identity, PIN, hotlist, validity) and read the medical record and the
        personal account. IdentityRefused / CardNotReady when the card cannot be used."""
        self.require_operator("an identity check")
        customer = read_customer(reader, manager, pin=pin, hotlist=self.hotlist, regions=self.known_regions,
                                 policies=self.policies, today=self.now().date())
        if self.centre is not None:
            customer = self.centre.identified(self, customer, pin)  # 1101; the card reconciled with the centre
        return customer

    def lookup(self, reader: Reader) -> Identity:
        """Identity only, without the PIN (e.g. before a subsidy credit)."""
        return identify_card(reader, pin=None, policy=LOOKUP_POLICY, hotlist=self.hotlist, regions=self.known_regions,
                             today=self.now().date())

    def line(self, code: str, quantity: int = 1) -> CartLine:
        return cart_line(self.catalog, code, quantity)

    def load_cart(self, path: Path) -> tuple[CartLine, ...]:
        return load_cart(path, self.catalog)

    def preview(self, customer: Customer, cart: Sequence[CartLine], *, visit_type: VisitType | str = VisitType.PHARMACY,
                hospital_level: int | None = None, use_account: bool = True) -> sale.Draft:
        return sale.preview(self, customer, cart, visit_type=visit_type, hospital_level=hospital_level,
                            use_account=use_account)

    def pay(self, draft: sale.Draft, *, pin: str) -> sale.Sale:
        return sale.pay(self, draft, pin=pin)

    def receipt(self, number: str) -> Receipt:
        """The receipt of a sale or refund number."""
        return history.receipt(self, number)

    # ---- refunds, subsidies, day close ----
    def refund(self, receipt_no: str, lines: Sequence[int] | None = None, *, manager: PurseManager,
               pin: str) -> refund.RefundResult:
        return refund.refund(self, receipt_no, lines, manager=manager, pin=pin)

    def subsidy(self, batch_path: Path, reader: Reader, manager: PurseManager, *, pin: str | None = None
                ) -> tuple[subsidy.Batch, Identity, list[subsidy.Credit]]:
        """Import the batch (once) and credit the presented card's lines (each at most once)."""
        self.require_operator("a subsidy credit")
        batch = subsidy.import_batch(self, batch_path)
        if pin is None:
            identity = self.lookup(reader)
        else:
            identity = identify_card(reader, pin=pin, policy=LOOKUP_POLICY, hotlist=self.hotlist,
                                     regions=self.known_regions, today=self.now().date())
        return batch, identity, subsidy.credit_card(self, batch, identity, manager)

    def close_day(self, out_dir: Path, day: str | None = None) -> dayclose.DayClose:
        return dayclose.close_day(self, out_dir, day)

    def import_filings(self, path: Path) -> int:
        return self.filings.import_csv(path, self.regions)

    # ---- the insurance centre ----
    def upload(self) -> Any:
        """Send what was settled offline to the insurance centre (owed 2601 reversals first): an UploadReport."""
        if self.centre is None:
            raise NotAuthorised("this counter has no insurance centre (Counter.open(centre=…) or $YKT_CENTRE_URL)")
        return self.centre.upload(self)

    def load_allowance(self, customer: Customer, amount_fen: int, *, pin: str) -> Any:
        """圈存: move `amount_fen` of the personal account held at the centre onto the card's ED (the offline
        allowance). Needs the centre (the customer identified online)."""
        if self.centre is None:
            raise NotAuthorised("an allowance load needs the insurance centre")
        return self.centre.load_allowance(self, customer, amount_fen, pin=pin)

    # ---- recovery ----
    def recover(self, manager: PurseManager, *, pin: str | None = None) -> list[RecoveryOutcome]:
        """Resolve the pending sales, refunds and subsidy loads of the card in `manager`'s reader (and, with
        a centre, reverse the online sales a crash left pending)."""
        outcomes = self.books(manager).resolve_pending(pin=pin)
        if self.centre is not None:
            self.centre.recover(self)  # after the card: a sale it says did not happen is reversed at the centre
        return outcomes

"""The counter: card status, identity check (PIN or QR e-card), cart from the catalog, settlement preview,
pay, receipt, refund, subsidy and day close. Card I/O runs in thread workers; the screen only presents
and dispatches (backend.py → the libraries)."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from terminal.tui import backend
from terminal.tui.i18n import yuan
from terminal.tui.screens.base import YktScreen, error_text
from terminal.tui.session import EmulatedSlot
from terminal.tui.widgets.card_status import CardStatusBar
from terminal.tui.widgets.keybar import KeyBar
from terminal.tui.widgets.titlebar import TitleBar
from terminal.tui.widgets.trace_panel import TracePanel

CLASS_STYLE = {"甲": "green", "乙": "yellow", "丙": "red"}


class CounterScreen(YktScreen):
    BINDINGS = [
        Binding("f2", "identify", "key.identify"),
        Binding("f3", "pull_card", "key.pull"),
        Binding("f4", "scan_qr", "key.scan"),
        Binding("f5", "search", "key.search"),
        Binding("f6", "preview", "key.preview"),
        Binding("f7", "pay", "key.pay"),
        Binding("f8", "refund", "key.refund"),
        Binding("f10", "subsidy", "key.subsidy"),
        Binding("f11", "day_close", "key.day_close"),
        Binding("ctrl+s", "save_trace", "key.save_trace"),
        Binding("ctrl+o", "sign_out", "key.sign_out"),
        Binding("plus,equals_sign", "quantity(1)", "key.more", show=False),
        Binding("minus", "quantity(-1)", "key.less", show=False),
        Binding("delete", "remove_line", "key.remove", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.cart: list[list[Any]] = []  # [CatalogItem, quantity]
        self.identity: Any = None  # terminal.identity.Identity (card or QR)
        self.customer: Any = None  # terminal.counter.Customer: identity + medical record + account (card + PIN)
        self.preview: Any = None  # terminal.counter.Draft: the full split, before anything moves
        self.results: list[Any] = []
        self.busy = False

    # ---- layout ----

    def compose(self) -> ComposeResult:
        session = self.app.session  # type: ignore[attr-defined]
        yield TitleBar("counter.title")
        yield CardStatusBar(id="card-status")
        with Horizontal(id="counter-body"):
            with Vertical(id="counter-left", classes="column"):
                yield Static(self.t("counter.cards"), classes="panel-title")
                if isinstance(session.slot, EmulatedSlot):
                    yield OptionList(id="cards")
                else:
                    yield Static(getattr(session.slot, "name", ""), id="reader-name")
                yield Static(self.t("counter.identity"), classes="panel-title")
                yield Static(self._identity_text(), id="identity")
                yield Input(placeholder=self.t("counter.qr_hint"), id="qr")
            with Vertical(id="counter-middle", classes="column"):
                yield Input(placeholder=self.t("counter.search_hint"), id="search")
                yield OptionList(id="results")
                yield Static(self.t("counter.cart"), classes="panel-title")
                yield DataTable(id="cart", cursor_type="row", zebra_stripes=True)
            with Vertical(id="counter-right", classes="column"):
                yield Static(self.t("counter.preview"), classes="panel-title")
                yield Static(self._preview_text(), id="preview")
            yield TracePanel(id="trace")
        yield ProgressBar(id="progress", show_eta=False)
        yield Static("", id="message", classes="message")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#progress", ProgressBar).display = False
        session = self.app.session  # type: ignore[attr-defined]
        if session.notice:
            self.show_message(self.t(session.notice))
            session.notice = None
        self.refill()
        first = "#cards" if self.query("#cards") else "#search"
        self.query_one(first).focus()
        options = self.app.options  # type: ignore[attr-defined]
        if options.card and isinstance(self.app.session.slot, EmulatedSlot) and self.app.session.card is None:  # type: ignore[attr-defined]
            self.insert_card(options.card)
        elif not isinstance(self.app.session.slot, EmulatedSlot):  # type: ignore[attr-defined]
            self.watch_pcsc_card()

    def refill(self) -> None:
        self.query_one("#progress", ProgressBar).display = False
        self._fill_cards()
        self._fill_cart()
        self._fill_results()
        bar = self.query_one(CardStatusBar)
        bar.summary = self.app.session.card  # type: ignore[attr-defined]
        bar.state = "present" if bar.summary is not None else "empty"

    def _fill_cards(self) -> None:
        session = self.app.session  # type: ignore[attr-defined]
        if not isinstance(session.slot, EmulatedSlot):
            return
        cards = self.query_one("#cards", OptionList)
        cards.clear_options()
        cards.add_options([Option(f"{c.name}", id=c.name) for c in session.slot.cards()])

    def _fill_results(self) -> None:
        results = self.query_one("#results", OptionList)
        results.clear_options()
        for item in self.results:
            results.add_option(Option(
                f"[{CLASS_STYLE.get(item.item_class.value, '')}]{item.item_class.value}[/] {item.name} "
                f"{item.spec}  ¥{yuan(item.unit_price_fen)}  [dim]{item.code}[/]", id=item.code))

    def _fill_cart(self) -> None:
        table = self.query_one("#cart", DataTable)
        table.clear(columns=True)
        table.add_columns(self.t("cart.class"), self.t("cart.name"), self.t("cart.qty"), self.t("cart.price"),
                          self.t("cart.amount"))
        for item, qty in self.cart:
            table.add_row(item.item_class.value, item.name, str(qty), yuan(item.unit_price_fen),
                          yuan(item.unit_price_fen * qty), key=item.code)
        total = sum(item.unit_price_fen * qty for item, qty in self.cart)
        if self.cart:
            table.add_row("", self.t("cart.total"), "", "", yuan(total), key="__total__")

    def _identity_text(self) -> str:
        i = self.identity
        if i is None:
            return self.t("identity.none")
        how = self.t("identity.by_card") if i.source == "card" else self.t("identity.by_qr")
        checks = []
        if i.pin_verified:
            checks.append(self.t("identity.pin_ok"))
        if i.authenticated:
            checks.append(self.t("identity.genuine"))
        return f"✔ {i.masked_name} {i.masked_ssn}\n{how} · {' · '.join(checks)}\n{self.t('card.region')} {i.home_region}"

    def _preview_text(self) -> str:
        if self.preview is None:
            return self.t("preview.none")
        from terminal.tui.widgets.split import split_text

        return split_text(self.app, self.preview)

    # ---- the card ----

    @on(OptionList.OptionSelected, "#cards")
    def card_chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.insert_card(event.option.id)

    def insert_card(self, name: str) -> None:
        self.identity = None
        self.customer = None
        self.preview = None
        self.query_one("#identity", Static).update(self._identity_text())
        self.query_one("#preview", Static).update(self._preview_text())
        self.query_one(CardStatusBar).state = "reading"
        self.read_card(name)

    @work(thread=True, exclusive=True, group="card", exit_on_error=False)
    def read_card(self, name: str | None) -> None:
        app = self.app
        session = app.session  # type: ignore[attr-defined]
        try:
            if name is not None and isinstance(session.slot, EmulatedSlot):
                card = next((c for c in session.slot.cards() if c.name == name), None)
                if card is None:
                    raise ValueError(app.t("counter.no_such_card", name=name))  # type: ignore[attr-defined]
                session.slot.insert(card)
            summary = backend.card_summary(session)
        except Exception as e:
            app.call_from_thread(self._card_failed, error_text(app, e))
            return
        app.call_from_thread(self._card_read, summary)

    def _card_read(self, summary: Any) -> None:
        bar = self.query_one(CardStatusBar)
        bar.summary = summary
        bar.state = "present"
        self.show_message(self.t("counter.card_ready"))

    def _card_failed(self, text: str) -> None:
        self.query_one(CardStatusBar).state = "error"
        self.show_message(text, error=True)

    def action_pull_card(self) -> None:
        session = self.app.session  # type: ignore[attr-defined]
        if isinstance(session.slot, EmulatedSlot):
            session.slot.pull()  # no lock: pulling a card does not wait for the transaction
        self._card_gone()

    def _card_gone(self) -> None:
        session = self.app.session  # type: ignore[attr-defined]
        session.clear_card()
        self.identity = None
        self.customer = None
        self.preview = None
        self.query_one("#preview", Static).update(self._preview_text())
        bar = self.query_one(CardStatusBar)
        bar.summary = None
        bar.state = "empty"
        self.query_one("#identity", Static).update(self._identity_text())
        self.show_message(self.t("counter.card_pulled"))

    @work(thread=True, exclusive=True, group="pcsc-card", exit_on_error=False)
    def watch_pcsc_card(self) -> None:
        """A real reader: wait for a card, read it, wait for its removal, again (until the screen goes)."""
        from textual.worker import get_current_worker

        app = self.app
        session = app.session  # type: ignore[attr-defined]
        reader = session.reader
        worker = get_current_worker()
        while not worker.is_cancelled:
            try:
                if not reader.wait_for_card(timeout=1.0):
                    continue
                app.call_from_thread(self.read_card, None)
                while not worker.is_cancelled and not reader.wait_for_removal(timeout=1.0):
                    pass
                if not worker.is_cancelled:
                    app.call_from_thread(self._card_gone)
            except Exception as e:
                app.call_from_thread(self.show_message, error_text(app, e), error=True)
                return

    # ---- identity ----

    def action_identify(self, tries_left: int | None = None, note: str = "") -> None:
        from terminal.tui.screens.pin import PinScreen

        if self.app.session.card is None:  # type: ignore[attr-defined]
            self.show_message(self.t("counter.insert_first"), error=True)
            return

        def got_pin(pin: str | None) -> None:
            if pin is None:
                self.show_message(self.t("identity.cancelled"))
                return
            self.show_message(self.t("identity.checking"))
            self.identify(pin)

        self.app.push_screen(PinScreen(tries_left, note), got_pin)

    @work(thread=True, exclusive=True, group="card", exit_on_error=False)
    def identify(self, pin: str) -> None:
        from terminal.identity import IdentityRefused, Reason

        app = self.app
        try:
            identified = backend.identify(app.session, pin)  # type: ignore[attr-defined]
        except IdentityRefused as e:
            if e.reason is Reason.PIN_WRONG:
                app.call_from_thread(self.action_identify, e.tries_left, app.t("identity.pin_wrong"))  # type: ignore[attr-defined]
            else:
                app.call_from_thread(self.show_message, self._refused_text(e), error=True)
            return
        except Exception as e:
            app.call_from_thread(self.show_message, error_text(app, e), error=True)
            return
        app.call_from_thread(self._identified_customer, identified)

    def _identified_customer(self, identified: backend.Identified) -> None:
        self.customer = identified.customer
        self._identified(identified.customer.identity)
        if identified.recovered:
            self.show_message(self._recovery_text(identified.recovered), error=any(
                r.result == "pending" for r in identified.recovered))

    def _recovery_text(self, outcomes: tuple[Any, ...]) -> str:
        parts = [self.t(f"recovery.{r.result}", kind=r.intent.kind, amount=yuan(r.intent.amount_fen))
                 for r in outcomes]
        return self.t("recovery.title") + " " + "; ".join(parts)

    def _refused_text(self, e: Any) -> str:
        key = f"reason.{e.reason.value}"
        text = self.t(key)
        return self.t("identity.refused", reason=text if text != key else str(e))

    def _identified(self, identity: Any) -> None:
        if self.customer is not None and self.customer.identity is not identity:
            self.customer = None  # a QR e-card replaces the card holder
        self.identity = identity
        self.query_one("#identity", Static).update(self._identity_text())
        self.show_message(self.t("identity.ok"))
        self.query_one("#search", Input).focus()

    def action_scan_qr(self) -> None:
        self.query_one("#qr", Input).focus()

    @on(Input.Submitted, "#qr")
    def qr_scanned(self, event: Input.Submitted) -> None:
        payload = event.value
        event.input.value = ""
        if payload.strip():
            self.show_message(self.t("identity.checking"))
            self.verify_qr(payload)

    @work(thread=True, exclusive=True, group="qr", exit_on_error=False)
    def verify_qr(self, payload: str) -> None:
        from terminal.identity import IdentityRefused

        app = self.app
        try:
            identity = backend.identify_with_qr(app.session, payload)  # type: ignore[attr-defined]
        except IdentityRefused as e:
            app.call_from_thread(self.show_message, self._refused_text(e), error=True)
            return
        except Exception as e:
            app.call_from_thread(self.show_message, error_text(app, e), error=True)
            return
        app.call_from_thread(self._identified, identity)

    # ---- catalog and cart ----

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    @on(Input.Changed, "#search")
    def search_changed(self, event: Input.Changed) -> None:
        self.results = backend.search(event.value, self.app.page_size(8))  # type: ignore[attr-defined]
        self._fill_results()

    @on(Input.Submitted, "#search")
    def search_submitted(self, event: Input.Submitted) -> None:
        if self.results:
            self.add_item(self.results[0].code)
            event.input.value = ""  # ready for the next code (a barcode scanner types and sends Enter)

    @on(OptionList.OptionSelected, "#results")
    def result_chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.add_item(event.option.id)

    def add_item(self, code: str) -> None:
        item = backend.catalog()[code]
        for line in self.cart:
            if line[0].code == code:
                line[1] += 1
                break
        else:
            self.cart.append([item, 1])
        self._cart_changed()
        self.show_message(self.t("cart.added", name=item.name))

    def _cart_changed(self) -> None:
        self.preview = None
        self.query_one("#preview", Static).update(self._preview_text())
        self._fill_cart()

    def _current_line(self) -> list[Any] | None:
        table = self.query_one("#cart", DataTable)
        if not self.cart or table.cursor_row is None or table.cursor_row >= len(self.cart):
            return None
        return self.cart[table.cursor_row]

    def action_quantity(self, delta: int) -> None:
        line = self._current_line()
        if line is None:
            return
        line[1] = max(1, min(99, line[1] + delta))
        row = self.query_one("#cart", DataTable).cursor_row
        self._cart_changed()
        self.query_one("#cart", DataTable).move_cursor(row=row)

    def action_remove_line(self) -> None:
        line = self._current_line()
        if line is not None:
            self.cart.remove(line)
            self._cart_changed()

    # ---- settlement preview, pay, receipt ----

    def _ready_to_settle(self) -> bool:
        if self.identity is None:
            self.show_message(self.t("counter.identify_first"), error=True)
            return False
        if self.customer is None:
            self.show_message(self.t("counter.card_pin_needed"), error=True)
            return False
        if not self.cart:
            self.show_message(self.t("counter.cart_empty"), error=True)
            return False
        return True

    def action_preview(self) -> None:
        if self._ready_to_settle():
            self.show_message(self.t("preview.computing"))
            self.compute_preview()

    @work(thread=True, exclusive=True, group="card", exit_on_error=False)
    def compute_preview(self) -> None:
        app = self.app
        try:
            preview = backend.preview(app.session, self.customer, [(i.code, q) for i, q in self.cart])  # type: ignore[attr-defined]
        except Exception as e:
            app.call_from_thread(self.show_message, error_text(app, e), error=True)
            return
        app.call_from_thread(self._previewed, preview)

    def _previewed(self, preview: Any) -> None:
        self.preview = preview
        self.query_one("#preview", Static).update(self._preview_text())
        self.show_message(self.t("preview.ready"))

    def action_pay(self) -> None:
        if not self._ready_to_settle():
            return
        if self.preview is None:
            self.show_message(self.t("pay.preview_first"), error=True)
            return
        from terminal.tui.screens.pin import PinScreen

        def got_pin(pin: str | None) -> None:
            if pin is None:
                self.show_message(self.t("pay.cancelled"))
                return
            self._progress(True)
            self.show_message(self.t("pay.paying"))
            self.pay(pin)

        amount = yuan(self.preview.settlement.total_fen)
        self.app.push_screen(PinScreen(note=self.t("pay.consent", amount=amount), error=False), got_pin)

    @work(thread=True, exclusive=True, group="card", exit_on_error=False)
    def pay(self, pin: str) -> None:
        app = self.app
        session = app.session  # type: ignore[attr-defined]
        try:
            sale = backend.pay(session, self.preview, pin)
            receipt = backend.receipt(session, sale.receipt_no) if sale.committed else None
        except Exception as e:
            app.call_from_thread(self._paid_failed, e)
            return
        app.call_from_thread(self._paid, sale, receipt)

    def _paid(self, sale: Any, receipt: Any) -> None:
        from terminal.tui.screens.receipt import ReceiptScreen

        self._progress(False)
        if sale.committed:
            self.cart = []
            self._cart_changed()
            mode = self.t("pay.online") if getattr(sale, "mode", "offline") == "online" else self.t("pay.offline")
            self.show_message(self.t("pay.done", number=sale.receipt_no, mode=mode))
            self.app.push_screen(ReceiptScreen(receipt))
            return
        self.preview = None
        self.query_one("#preview", Static).update(self._preview_text())
        key = "pay.pending" if sale.status == "pending" else "pay.not_done"
        self.show_message(self.t(key, number=sale.receipt_no, reason=sale.reason or ""), error=True)

    def _paid_failed(self, error: Exception) -> None:
        from terminal.identity import IdentityRefused

        self._progress(False)
        if isinstance(error, IdentityRefused):
            self.show_message(self._refused_text(error), error=True)
        else:
            self.show_message(error_text(self.app, error), error=True)

    def _progress(self, on_: bool) -> None:
        bar = self.query_one("#progress", ProgressBar)
        bar.display = on_
        bar.update(total=None)

    # ---- refund, subsidy, day close, trace, sign out ----

    def action_refund(self) -> None:
        from terminal.tui.screens.refund import RefundScreen

        self.app.push_screen(RefundScreen())

    def action_subsidy(self) -> None:
        from terminal.tui.screens.subsidy import SubsidyScreen

        self.app.push_screen(SubsidyScreen())

    def action_day_close(self) -> None:
        from terminal.tui.screens.dayclose import DayCloseScreen

        self.app.push_screen(DayCloseScreen())

    def action_save_trace(self) -> None:
        session = self.app.session  # type: ignore[attr-defined]
        try:
            path, count = self.query_one(TracePanel).save(session.home / "traces", session.clock())
        except OSError as e:
            self.show_message(error_text(self.app, e), error=True)
            return
        self.show_message(self.t("trace.saved", path=str(path), n=count))

    def action_sign_out(self) -> None:
        from terminal.tui.screens.login import LoginScreen

        session = self.app.session  # type: ignore[attr-defined]
        if isinstance(session.slot, EmulatedSlot):
            session.slot.pull()
        session.clear_card()
        self.sign_out()
        self.app.switch_screen(LoginScreen())

    @work(thread=True, exit_on_error=False)
    def sign_out(self) -> None:
        backend.sign_out(self.app.session)  # type: ignore[attr-defined]

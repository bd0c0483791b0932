"""Start / sign-in: operator id and password, mode (counter or validator kiosk), reader (the emulated demo
cards, or a PC/SC reader with live insert / remove status), ledger path, business day."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from terminal.tui import backend
from terminal.tui.screens.base import YktScreen, error_text
from terminal.tui.widgets.keybar import KeyBar
from terminal.tui.widgets.pcsc_watch import ReaderEvent, watch_readers
from terminal.tui.widgets.titlebar import TitleBar

EMULATED = "emulated"


class LoginScreen(YktScreen):
    BINDINGS = [
        Binding("f10", "sign_in", "key.sign_in"),
        Binding("f5", "refresh_readers", "key.refresh_readers"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.pcsc_readers: dict[str, bool | None] = {}  # name → card present (None: unknown)
        self.pcsc_problem: str | None = None
        self.chosen_reader = EMULATED
        self.mode = "kiosk" if self.app.options.kiosk else "counter"  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        session = self.app.session  # type: ignore[attr-defined]
        options = self.app.options  # type: ignore[attr-defined]
        yield TitleBar("login.title")
        with VerticalScroll(id="login-form"):
            yield Label(self.t("login.operator"))
            yield Input(value=options.operator or "", placeholder=self.t("login.operator_hint"), id="operator")
            yield Label(self.t("login.password"))
            yield Input(password=True, placeholder=self.t("login.password_hint"), id="password")
            with Horizontal(classes="row"):
                with Vertical(classes="col"):
                    yield Label(self.t("login.mode"))
                    with RadioSet(id="mode"):
                        yield RadioButton(self.t("login.mode_counter"), value=self.mode == "counter", id="mode-counter")
                        yield RadioButton(self.t("login.mode_kiosk"), value=self.mode == "kiosk", id="mode-kiosk")
                with Vertical(classes="col"):
                    yield Label(self.t("login.reader"))
                    with RadioSet(id="reader"):
                        yield RadioButton(self.t("login.reader_emulated"), value=self.chosen_reader == EMULATED,
                                          name=EMULATED)
                        for name, present in self.pcsc_readers.items():
                            yield RadioButton(self._reader_label(name, present), value=self.chosen_reader == name,
                                              name=name)
                    yield Static(self._pcsc_status(), id="pcsc-status", classes="hint")
            yield Label(self.t("login.ledger"))
            yield Input(value=str(session.ledger_path), id="ledger")
            yield Label(self.t("login.day"))
            yield Input(value=session.business_day, placeholder="YYYY-MM-DD", id="day")
            yield Button(self.t("login.sign_in"), variant="primary", id="sign-in")
            yield Static("", id="message", classes="message")
        yield KeyBar()

    def _reader_label(self, name: str, present: bool | None) -> str:
        state = {True: "login.card_present", False: "login.card_absent", None: "login.card_unknown"}[present]
        return f"{name} — {self.t(state)}"

    def _pcsc_status(self) -> str:
        if self.pcsc_problem:
            return self.pcsc_problem
        if not self.pcsc_readers:
            return self.t("login.pcsc_none")
        return self.t("login.pcsc_count", n=len(self.pcsc_readers))

    def on_mount(self) -> None:
        operator = self.query_one("#operator", Input)
        (self.query_one("#password", Input) if operator.value else operator).focus()
        if self.app.options.pcsc:  # type: ignore[attr-defined]
            self.action_refresh_readers()

    # ---- PC/SC readers: a worker lists them and watches insert / remove (pyscard CardMonitor) ----

    def action_refresh_readers(self) -> None:
        self.watch_pcsc()

    @work(thread=True, exclusive=True, group="pcsc", exit_on_error=False)
    def watch_pcsc(self) -> None:
        watch_readers(lambda event: self.app.call_from_thread(self.post_message, event), self._cancelled)

    def _cancelled(self) -> bool:
        from textual.worker import get_current_worker

        return get_current_worker().is_cancelled

    async def on_reader_event(self, event: ReaderEvent) -> None:
        if event.problem is not None:
            self.pcsc_problem = self.t("login.pcsc_unavailable")
            self.pcsc_readers = {}
        else:
            self.pcsc_problem = None
            self.pcsc_readers = dict(event.readers)
        await self._refresh_reader_list()

    async def _refresh_reader_list(self) -> None:
        radios = self.query_one("#reader", RadioSet)
        names = [EMULATED, *self.pcsc_readers]
        buttons = list(radios.query(RadioButton))
        if [b.name for b in buttons] == names:
            for b in buttons[1:]:
                b.label = self._reader_label(b.name or "", self.pcsc_readers.get(b.name or ""))
        else:
            if self.chosen_reader not in names:
                self.chosen_reader = EMULATED
            await radios.remove_children()
            await radios.mount_all([
                RadioButton(self.t("login.reader_emulated") if n == EMULATED else self._reader_label(n, self.pcsc_readers[n]),
                            value=n == self.chosen_reader, name=n)
                for n in names
            ])
        self.query_one("#pcsc-status", Static).update(self._pcsc_status())

    @on(RadioSet.Changed, "#reader")
    def reader_changed(self, event: RadioSet.Changed) -> None:
        self.chosen_reader = event.pressed.name or EMULATED

    @on(RadioSet.Changed, "#mode")
    def mode_changed(self, event: RadioSet.Changed) -> None:
        self.mode = "kiosk" if event.pressed.id == "mode-kiosk" else "counter"

    # ---- sign in ----

    @on(Input.Submitted, "#operator")
    def next_field(self) -> None:
        self.query_one("#password", Input).focus()

    @on(Input.Submitted, "#password")
    @on(Input.Submitted, "#day")
    @on(Button.Pressed, "#sign-in")
    def submitted(self) -> None:
        self.action_sign_in()

    def action_sign_in(self) -> None:
        operator = self.query_one("#operator", Input).value.strip()
        password = self.query_one("#password", Input).value
        day = self.query_one("#day", Input).value.strip()
        ledger = self.query_one("#ledger", Input).value.strip()
        if not operator:
            self.show_message(self.t("login.need_operator"), error=True)
            return
        try:
            date.fromisoformat(day)
        except ValueError:
            self.show_message(self.t("login.bad_day"), error=True)
            return
        if not ledger:
            self.show_message(self.t("login.need_ledger"), error=True)
            return
        self.show_message(self.t("login.signing_in"))
        session = self.app.session  # type: ignore[attr-defined]
        if self.chosen_reader == EMULATED:
            session.use_emulated()
        else:
            session.use_pcsc(self.chosen_reader)
        self.sign_in(operator, password, day, Path(ledger).expanduser())

    @work(thread=True, exclusive=True, group="sign-in", exit_on_error=False)
    def sign_in(self, operator: str, password: str, day: str, ledger: Path) -> None:
        app = self.app
        session = app.session  # type: ignore[attr-defined]
        try:
            result = backend.sign_in(session, operator, password, day, ledger)
        except Exception as e:  # shown in the screen, never a traceback
            app.call_from_thread(self._sign_in_failed, error_text(app, e))
            return
        app.call_from_thread(self._signed_in, result)

    def _sign_in_failed(self, text: str) -> None:
        self.query_one("#password", Input).value = ""
        self.query_one("#password", Input).focus()
        self.show_message(text, error=True)

    def _signed_in(self, result: backend.SignIn) -> None:
        session = self.app.session  # type: ignore[attr-defined]
        self.query_one("#password", Input).value = ""
        for worker in self.workers:
            if worker.group == "pcsc":
                worker.cancel()
        session.notice = result.notice  # shown on the next screen's message line
        if self.mode == "kiosk":
            from terminal.tui.screens.kiosk import KioskScreen

            self.app.switch_screen(KioskScreen())
        else:
            from terminal.tui.screens.counter import CounterScreen

            self.app.switch_screen(CounterScreen())

"""The supervisor key of the kiosk: a supervisor's id and password end unattended mode."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from terminal.tui import backend
from terminal.tui.screens.base import YktModal, error_text


class SupervisorScreen(YktModal):
    BINDINGS = [Binding("escape", "cancel", "key.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.t("supervisor.title"), classes="dialog-title")
            yield Input(placeholder=self.t("login.operator_hint"), id="supervisor")
            yield Input(password=True, placeholder=self.t("login.password_hint"), id="password")
            yield Static("", id="message", classes="message")

    def on_mount(self) -> None:
        self.query_one("#supervisor", Input).focus()

    @on(Input.Submitted, "#supervisor")
    def next_field(self) -> None:
        self.query_one("#password", Input).focus()

    @on(Input.Submitted, "#password")
    def submitted(self) -> None:
        who = self.query_one("#supervisor", Input).value.strip()
        password = self.query_one("#password", Input).value
        self.query_one("#password", Input).value = ""
        self.check(who, password)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def check(self, who: str, password: str) -> None:
        app = self.app
        try:
            ok = backend.supervisor_ok(app.session, who, password)  # type: ignore[attr-defined]
        except Exception as e:
            app.call_from_thread(self.show_message, error_text(app, e), error=True)
            return
        if ok:
            app.call_from_thread(self.dismiss, True)
        else:
            app.call_from_thread(self.show_message, app.t("supervisor.refused"), error=True)  # type: ignore[attr-defined]

    def action_cancel(self) -> None:
        self.dismiss(False)

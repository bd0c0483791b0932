"""Day close: the business day's report from the ledger (verify, totals by account and operator, intents by
state, as `ykt ledger report`), a bar chart by account and a sparkline of transactions per hour; F10 closes
the day through terminal.counter (supervisor: signed summary, CSV and JSON files). The work runs in thread
workers with a progress bar."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, ProgressBar, Sparkline, Static

from terminal.tui import backend
from terminal.tui.i18n import yuan
from terminal.tui.screens.base import YktScreen, error_text
from terminal.tui.widgets.bars import Bars
from terminal.tui.widgets.keybar import KeyBar
from terminal.tui.widgets.titlebar import TitleBar


class DayCloseScreen(YktScreen):
    BINDINGS = [
        Binding("escape", "close", "key.back"),
        Binding("f5", "run", "key.refresh"),
        Binding("f10", "close_day", "key.close_day"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.result: backend.DayReport | None = None
        self.day_closed: Any = None  # terminal.counter.DayClose once the day is closed

    def compose(self) -> ComposeResult:
        yield TitleBar("dayclose.title")
        yield ProgressBar(id="progress", total=backend.DAY_CLOSE_STEPS, show_eta=False)
        with VerticalScroll(id="dayclose-body"):
            yield Static(self._summary(), id="summary")
            with Horizontal(classes="row"):
                with Vertical(classes="col"):
                    yield Static(self.t("dayclose.by_account"), classes="panel-title")
                    yield Bars(self._bars(), width=24 if not self.app.large else 16, id="bars")  # type: ignore[attr-defined]
                with Vertical(classes="col"):
                    yield Static(self.t("dayclose.per_hour"), classes="panel-title")
                    yield Sparkline(self.result.per_hour if self.result else [0] * 24, id="hours")
            yield Static(self.t("dayclose.by_operator"), classes="panel-title")
            yield DataTable(id="operators", cursor_type="row")
            yield Static(self._closed_text(), id="closed")
            yield Button(self.t("dayclose.close"), id="close-day", variant="warning")
        yield Static("", id="message", classes="message")
        yield KeyBar()

    def refill(self) -> None:
        self._fill_operators()

    def on_mount(self) -> None:
        self._fill_operators()
        if self.result is None:
            self.action_run()

    def _summary(self) -> str:
        r = self.result
        if r is None:
            return self.t("dayclose.working")
        rep = r.report
        states = ", ".join(f"{self.t('intent.' + k)} {v}" for k, v in sorted(rep.intents_by_state.items())) or "—"
        verified = self.t("dayclose.verified_ok") if r.verified else self.t("dayclose.verified_bad", first=r.problem)
        return "\n".join([
            self.t("dayclose.summary", day=rep.business_day, n=rep.transactions),
            self.t("dayclose.intents", states=states),
            verified,
        ])

    def _closed_text(self) -> str:
        c = self.day_closed
        if c is None:
            return ""
        files = "\n".join(f"  {p.name}" for p in c.files)
        return self.t("dayclose.closed", day=c.business_day, mac=c.mac[:16]) + "\n" + files

    def _bars(self) -> list[tuple[str, int, str]]:
        if self.result is None:
            return []
        return [(a.account, abs(a.net_fen), yuan(a.net_fen)) for a in self.result.report.by_account]

    def _fill_operators(self) -> None:
        table = self.query_one("#operators", DataTable)
        table.clear(columns=True)
        table.add_columns(self.t("dayclose.operator"), self.t("dayclose.kind"), self.t("dayclose.count"),
                          self.t("dayclose.amount"))
        if self.result is not None:
            for o in self.result.report.by_operator:
                table.add_row(o.operator, o.kind, str(o.transactions), yuan(o.amount_fen))

    def action_run(self) -> None:
        self.query_one("#progress", ProgressBar).update(progress=0)
        self.show_message(self.t("dayclose.working"))
        self.run_day_close()

    @work(thread=True, exclusive=True, group="dayclose", exit_on_error=False)
    def run_day_close(self) -> None:
        app = self.app
        bar = self.query_one("#progress", ProgressBar)

        def step() -> None:
            app.call_from_thread(bar.advance, 1)

        try:
            result = backend.day_report(app.session, step)  # type: ignore[attr-defined]
        except Exception as e:
            app.call_from_thread(self.show_message, error_text(app, e), error=True)
            return
        app.call_from_thread(self._done, result)

    async def _done(self, result: backend.DayReport) -> None:
        self.result = result
        await self.recompose()
        self._fill_operators()
        self.query_one("#progress", ProgressBar).update(progress=backend.DAY_CLOSE_STEPS)
        self.show_message(self.t("dayclose.done"))

    @on(Button.Pressed, "#close-day")
    def action_close_day(self) -> None:
        from terminal.tui.screens.confirm import ConfirmScreen

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.show_message(self.t("dayclose.closing"))
                self.close_day()

        session = self.app.session  # type: ignore[attr-defined]
        self.app.push_screen(ConfirmScreen(self.t("dayclose.confirm", day=session.business_day)), confirmed)

    @work(thread=True, exclusive=True, group="dayclose", exit_on_error=False)
    def close_day(self) -> None:
        app = self.app
        try:
            closed = backend.close_day(app.session)  # type: ignore[attr-defined]
        except Exception as e:
            app.call_from_thread(self.show_message, error_text(app, e), error=True)
            return
        app.call_from_thread(self._day_closed, closed)

    def _day_closed(self, closed: Any) -> None:
        self.day_closed = closed
        self.query_one("#closed", Static).update(self._closed_text())
        self.show_message(self.t("dayclose.exported", n=len(closed.files), path=str(closed.files[0].parent)))

    def action_close(self) -> None:
        self.dismiss()



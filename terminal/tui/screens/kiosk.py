"""The validator kiosk: full screen, unattended. Each tap goes to terminal.transit (one tap → TapOutcome);
the result is shown large — green approved or red declined with the reason — with fare, balance,
concession, a low-balance warning and "already paid". Quitting needs the supervisor (F12)."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Digits, Static

from terminal.tui import backend
from terminal.tui.i18n import yuan
from terminal.tui.screens.base import YktScreen, error_text
from terminal.tui.session import EmulatedSlot
from terminal.tui.widgets.keybar import KeyBar
from terminal.tui.widgets.trace_panel import TracePanel

RESULT_HOLD_S = 3.0  # an approved / declined result stays this long, then the kiosk waits again


class KioskScreen(YktScreen):
    BINDINGS = [
        Binding("f12", "supervisor", "key.supervisor"),
        *[Binding(str(n), f"tap({n})", "key.tap", show=False) for n in range(1, 10)],
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: backend.TapView | None = None
        self.state = "idle"  # idle | working | approved | declined | error
        self.error = ""

    def compose(self) -> ComposeResult:
        session = self.app.session  # type: ignore[attr-defined]
        with Horizontal(id="kiosk-body"):
            with Vertical(id="kiosk-main", classes=f"-{self.state}"):
                yield Static(self._headline(), id="kiosk-headline")
                yield Static(self._reason(), id="kiosk-reason")
                with Horizontal(id="kiosk-figures"):
                    with Vertical(classes="figure"):
                        yield Static(self.t("kiosk.fare"), classes="figure-label")
                        yield Digits(self._money("fare_fen"), id="fare")
                    with Vertical(classes="figure"):
                        yield Static(self.t("kiosk.balance"), classes="figure-label")
                        yield Digits(self._money("balance_fen"), id="balance")
                yield Static(self._notes(), id="kiosk-notes")
            yield TracePanel(id="trace")
        if isinstance(session.slot, EmulatedSlot):
            cards = "  ".join(f"{n}·{c.name}" for n, c in enumerate(session.slot.cards()[:9], 1))
            yield Static(self.t("kiosk.tray", cards=cards), id="kiosk-tray")
        yield KeyBar()

    def on_mount(self) -> None:
        self.app.kiosk_locked = True  # type: ignore[attr-defined]
        session = self.app.session  # type: ignore[attr-defined]
        session.notice = None  # unattended: nobody reads operator notices here
        if not isinstance(session.slot, EmulatedSlot):
            self.watch_taps()

    # ---- what the screen shows ----

    def _headline(self) -> str:
        if self.state == "idle":
            return self.t("kiosk.present_card")
        if self.state == "working":
            return self.t("kiosk.working")
        if self.state == "approved":
            return "✔ " + self.t("kiosk.approved")
        if self.state == "declined":
            return "✘ " + self.t("kiosk.declined")
        return "✘ " + self.t("kiosk.error")

    def _reason(self) -> str:
        if self.state == "error":
            return self.error
        v = self.view
        if v is None or self.state not in ("approved", "declined"):
            return ""
        key = backend.tap_reason_key(v.reason)
        if key is not None:
            return self.t(f"tap.{key}")
        return v.reason or ""

    def _money(self, field: str) -> str:
        v = self.view
        if v is None or self.state not in ("approved", "declined"):
            return "--.--"
        value = getattr(v, field)
        return yuan(value) if value is not None else "--.--"

    def _notes(self) -> str:
        v = self.view
        if v is None or self.state not in ("approved", "declined"):
            return ""
        notes = []
        if v.concession:
            notes.append(self.t("kiosk.concession", kind=self._concession(v.concession)))
        if v.already_paid:
            notes.append(self.t("kiosk.already_paid"))
        if v.low_balance:
            notes.append("⚠ " + self.t("kiosk.low_balance"))
        return "\n".join(notes)

    def _concession(self, kind: str) -> str:
        key = f"concession.{kind}"
        text = self.t(key)
        return text if text != key else kind

    async def show_state(self, state: str, view: backend.TapView | None = None, error: str = "") -> None:
        self.state, self.view, self.error = state, view, error
        await self.recompose()

    # ---- taps ----

    def action_tap(self, n: int) -> None:
        session = self.app.session  # type: ignore[attr-defined]
        if not isinstance(session.slot, EmulatedSlot) or self.state == "working":
            return
        cards = session.slot.cards()
        if 1 <= n <= len(cards):
            self.run_worker(self.show_state("working"))
            self.tap_emulated(cards[n - 1].name)

    @work(thread=True, exclusive=True, group="tap", exit_on_error=False)
    def tap_emulated(self, name: str) -> None:
        app = self.app
        session = app.session  # type: ignore[attr-defined]
        slot = session.slot
        try:
            card = next(c for c in slot.cards() if c.name == name)
            slot.insert(card)
            view = backend.tap(session)
        except Exception as e:
            app.call_from_thread(self._tap_failed, e)
            return
        finally:
            slot.pull()  # tap and go: the card leaves the field
        app.call_from_thread(self._tapped, view)

    @work(thread=True, exclusive=True, group="tap-watch", exit_on_error=False)
    def watch_taps(self) -> None:
        """A real reader: wait for a card, process the tap, wait until it leaves, again."""
        from textual.worker import get_current_worker

        app = self.app
        session = app.session  # type: ignore[attr-defined]
        reader = session.reader
        worker = get_current_worker()
        while not worker.is_cancelled:
            try:
                if not reader.wait_for_card(timeout=1.0):
                    continue
                app.call_from_thread(self.show_state, "working")
                view = backend.tap(session)
                app.call_from_thread(self._tapped, view)
            except Exception as e:
                app.call_from_thread(self._tap_failed, e)
            while not worker.is_cancelled:
                try:
                    if reader.wait_for_removal(timeout=1.0):
                        break
                except Exception:
                    break

    async def _tapped(self, view: backend.TapView) -> None:
        await self.show_state("approved" if view.approved else "declined", view)
        self.set_timer(RESULT_HOLD_S, self._back_to_idle)

    async def _tap_failed(self, error: Exception) -> None:
        await self.show_state("error", error=error_text(self.app, error))
        self.set_timer(RESULT_HOLD_S, self._back_to_idle)

    async def _back_to_idle(self) -> None:
        if self.state != "working":
            await self.show_state("idle")

    # ---- leaving: the supervisor only ----

    def action_supervisor(self) -> None:
        from terminal.tui.screens.supervisor import SupervisorScreen

        def unlocked(ok: bool | None) -> None:
            if ok:
                self.app.kiosk_locked = False  # type: ignore[attr-defined]
                self.app.exit()

        self.app.push_screen(SupervisorScreen(), unlocked)

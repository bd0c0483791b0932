"""The Textual app: settings, language, large-font mode and the screen stack. Screens live in
`terminal/tui/screens/`, widgets in `terminal/tui/widgets/`, styling in `app.tcss`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.theme import Theme
from textual.widgets import Input

from terminal.tui.i18n import Catalog
from terminal.tui.session import Session
from terminal.tui.settings import Settings, load_settings, save_settings

HIGH_CONTRAST = Theme(
    name="ykt-high-contrast",
    primary="#FFD700",
    secondary="#00BFFF",
    accent="#FFFFFF",
    foreground="#FFFFFF",
    background="#000000",
    surface="#000000",
    panel="#1A1A1A",
    success="#00FF00",
    warning="#FFD700",
    error="#FF3030",
    dark=True,
)


@dataclass(frozen=True)
class TuiOptions:
    """How the app starts. None = the saved setting or the default."""

    card: str | None = None  # demo card to insert at start (emulated reader)
    reader: str | None = None  # a PC/SC reader name: use it instead of the emulated one
    ledger: str | None = None
    business_day: str | None = None
    kiosk: bool = False
    language: str | None = None
    large: bool | None = None
    home: Path | None = None
    clock: Callable[[], datetime] | None = None  # tests pass a fixed clock
    operator: str | None = None  # pre-filled operator id on the sign-in screen
    pcsc: bool = True  # list PC/SC readers on the sign-in screen (tests turn it off)
    blink: bool = True  # text cursor blinking (snapshot tests turn it off)

    @classmethod
    def from_kwargs(cls, **options: Any) -> TuiOptions:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown TUI option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if options.get("home") is not None:
            options["home"] = Path(options["home"])
        return cls(**options)


class YktApp(App[None]):
    """yikatong counter / validator terminal."""

    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("ctrl+t", "toggle_trace", "key.trace"),
        Binding("f9", "open_settings", "key.settings"),
        Binding("ctrl+q", "request_quit", "key.quit", priority=True),
    ]

    def __init__(self, options: TuiOptions | None = None) -> None:
        super().__init__()
        self.options = options or TuiOptions()
        from terminal.paths import default_home

        home = self.options.home or default_home()
        settings = load_settings(home)
        overrides: dict[str, Any] = {}
        if self.options.language:
            overrides["language"] = self.options.language
        if self.options.large is not None:
            overrides["large"] = self.options.large
        if self.options.ledger:
            overrides["ledger_path"] = str(self.options.ledger)
        self.settings: Settings = settings.with_(**overrides) if overrides else settings
        self.session = Session(self.settings, clock=self.options.clock or datetime.now, home=home)
        if self.options.business_day:
            self.session.business_day = self.options.business_day
        self.i18n = Catalog(self.settings.language)
        self.kiosk_locked = False  # the validator kiosk: quitting needs the supervisor
        self.register_theme(HIGH_CONTRAST)

    # ---- strings and look ----

    def t(self, key: str, **values: Any) -> str:
        return self.i18n.t(key, **values)

    @property
    def large(self) -> bool:
        return self.settings.large

    def page_size(self, normal: int) -> int:
        """Fewer items per screen in large-font mode."""
        return max(3, normal // 2) if self.settings.large else normal

    def apply_look(self) -> None:
        self.set_class(self.settings.large, "-large")
        self.theme = "ykt-high-contrast" if self.settings.large else "textual-dark"
        self.title = self.t("app.title")

    async def apply_settings(self, settings: Settings, *, persist: bool = True) -> None:
        """Switch language / large-font mode now, save them for this terminal, re-render every screen."""
        self.settings = settings
        self.session.settings = settings
        if persist:
            save_settings(settings, self.session.home)
        self.i18n = Catalog(settings.language)
        self.apply_look()
        for screen in list(self.screen_stack):
            if hasattr(screen, "relabel"):
                await screen.relabel()

    # ---- lifecycle ----

    def on_mount(self) -> None:
        self.apply_look()
        from terminal.tui.screens.login import LoginScreen

        self.push_screen(LoginScreen())

    def on_unmount(self) -> None:
        from terminal.tui import backend

        backend.close(self.session)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if not self.options.blink and isinstance(event.widget, Input):
            event.widget.cursor_blink = False

    # ---- global actions ----

    def action_toggle_trace(self) -> None:
        from terminal.tui.widgets.trace_panel import TracePanel

        for panel in self.screen.query(TracePanel):
            panel.toggle()

    def action_open_settings(self) -> None:
        from terminal.tui.screens.settings import SettingsScreen

        if self.kiosk_locked or isinstance(self.screen, SettingsScreen):
            return
        self.push_screen(SettingsScreen())

    def action_request_quit(self) -> None:
        if self.kiosk_locked:
            self.notify(self.t("kiosk.supervisor_needed"), severity="warning")
            return
        self.exit()

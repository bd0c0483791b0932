"""Settings: language (zh / en), large-font and high-contrast mode (适老化), the terminal's region;
saved for this terminal in $YKT_HOME/tui-settings.json and applied at once."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static, Switch

from terminal.tui.screens.base import YktScreen
from terminal.tui.widgets.keybar import KeyBar
from terminal.tui.widgets.titlebar import TitleBar


class SettingsScreen(YktScreen):
    BINDINGS = [Binding("escape", "close", "key.back"), Binding("f10", "save", "key.save")]

    def compose(self) -> ComposeResult:
        s = self.app.settings  # type: ignore[attr-defined]
        yield TitleBar("settings.title")
        with Vertical(id="settings-form"):
            yield Label(self.t("settings.language"))
            with RadioSet(id="language"):
                yield RadioButton("中文", value=s.language == "zh", id="lang-zh")
                yield RadioButton("English", value=s.language == "en", id="lang-en")
            yield Label(self.t("settings.large"))
            yield Switch(value=s.large, id="large")
            yield Static(self.t("settings.large_hint"), classes="hint")
            yield Label(self.t("settings.region"))
            yield Input(value=s.terminal_region, max_length=6, restrict=r"[0-9]*", id="region")
            yield Button(self.t("settings.save"), variant="primary", id="save")
            yield Static("", id="message", classes="message")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#language", RadioSet).focus()

    @on(Button.Pressed, "#save")
    async def action_save(self) -> None:
        language = "en" if self.query_one("#lang-en", RadioButton).value else "zh"
        large = self.query_one("#large", Switch).value
        region = self.query_one("#region", Input).value
        try:
            settings = self.app.settings.with_(language=language, large=large, terminal_region=region)  # type: ignore[attr-defined]
        except ValueError:
            self.show_message(self.t("settings.bad_region"), error=True)
            return
        try:
            await self.app.apply_settings(settings)  # type: ignore[attr-defined]
        except OSError as e:
            self.show_message(self.t("error.prefix", text=str(e)), error=True)
            return
        self.show_message(self.t("settings.saved"))

    def action_close(self) -> None:
        self.dismiss()

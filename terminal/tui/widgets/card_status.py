"""The card status bar: inserted or not, holder (masked), region, 异地 / 备案 flags, card expiry."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from terminal.tui.session import CardSummary


class CardStatusBar(Static):
    summary: reactive[CardSummary | None] = reactive(None, always_update=True)
    state: reactive[str] = reactive("empty", always_update=True)  # empty | reading | present | error

    def render(self) -> Text:
        t = self.app.t  # type: ignore[attr-defined]
        s = self.summary
        text = Text()
        if self.state == "reading":
            text.append(t("card.reading"), style="bold")
            return text
        if self.state == "error":
            text.append(t("card.unreadable"), style="bold red")
            return text
        if s is None:
            text.append("▢ " + t("card.none"), style="dim")
            return text
        text.append("▣ " + t("card.inserted") + "  ", style="bold")
        holder = s.masked_name or t("card.holder_needs_pin")
        text.append(f"{holder}")
        if s.masked_ssn:
            text.append(f" {s.masked_ssn}")
        text.append(f"  {t('card.number')} {s.card_number}  {t('card.region')} {s.region}")
        if s.cross_province:
            text.append("  " + t("card.cross_province"), style="bold yellow")
        elif s.cross_region:
            text.append("  " + t("card.cross_region"), style="bold yellow")
        if s.cross_province:
            text.append("  " + (t("card.filed") if s.filed else t("card.not_filed")),
                        style="green" if s.filed else "yellow")
        expiry = f"  {t('card.expiry')} {s.expiry.isoformat()}"
        text.append(expiry, style="bold red" if s.expired else "")
        if s.expired:
            text.append(" " + t("card.expired"), style="bold red")
        return text

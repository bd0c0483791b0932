"""The top line: title, operator, business day, reader and the time (from the session's clock)."""

from __future__ import annotations

from textual.widgets import Static


class TitleBar(Static):
    def __init__(self, title_key: str, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.title_key = title_key

    def on_mount(self) -> None:
        self.refresh_text()

    def refresh_text(self) -> None:
        app = self.app
        session = app.session  # type: ignore[attr-defined]
        t = app.t  # type: ignore[attr-defined]
        parts = [f"{t('app.title')} · {t(self.title_key)}"]
        if session.operator:
            parts.append(t("title.operator", op=session.operator))
        parts.append(t("title.day", day=session.business_day))
        parts.append(session.clock().strftime("%H:%M"))
        self.update("  │  ".join(parts))

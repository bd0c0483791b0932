"""What every screen shares: the i18n helper, re-rendering on a language switch, and errors shown in
the screen (one line, never a traceback)."""

from __future__ import annotations

from typing import Any

from textual.screen import ModalScreen, Screen
from textual.widgets import Static

USER_ERRORS: tuple[type[BaseException], ...]


def _user_errors() -> tuple[type[BaseException], ...]:
    from applets.errors import AppletError
    from reader.errors import CardError, CardImageError, ReaderError
    from terminal.errors import TerminalError

    return (TerminalError, ReaderError, CardError, CardImageError, AppletError, ValueError, OSError, LookupError)


USER_ERRORS = _user_errors()


def error_text(app: Any, error: BaseException) -> str:
    """One line for the operator: the library's own message (they never hold a PIN or full SSN)."""
    from reader.errors import CardRemoved, NoCard, PcscUnavailable, ResponseLost

    if isinstance(error, CardRemoved):
        return app.t("error.card_removed")
    if isinstance(error, NoCard):
        return app.t("error.no_card")
    if isinstance(error, ResponseLost):
        return app.t("error.response_lost")
    if isinstance(error, PcscUnavailable):
        return app.t("error.pcscd")
    from terminal.tui.backend import NotWired

    if isinstance(error, NotWired):
        return app.t("error.not_wired", lib=error.library)
    text = str(error) or type(error).__name__
    if not isinstance(error, USER_ERRORS):
        text = f"{type(error).__name__}: {text}"
    return app.t("error.prefix", text=text)


class Translated:
    """Mixin: `t()` and `relabel()` (re-compose after a language / large-font switch)."""

    def t(self, key: str, **values: Any) -> str:
        return self.app.t(key, **values)  # type: ignore[attr-defined]

    async def relabel(self) -> None:
        await self.recompose()  # type: ignore[attr-defined]
        self.refill()

    def refill(self) -> None:
        """Put the screen's state back into freshly composed widgets (tables, lists)."""

    def show_message(self, text: str, *, error: bool = False, target: str = "#message") -> None:
        try:
            box = self.query_one(target, Static)  # type: ignore[attr-defined]
        except Exception:
            self.app.notify(text, severity="error" if error else "information")  # type: ignore[attr-defined]
            return
        box.update(text)
        box.set_class(error, "-error")
        box.set_class(not error and bool(text), "-ok")


def _worker_failed(screen: Any, event: Any) -> None:
    """A worker that failed outside its own error handling: the error goes to the screen, not a traceback."""
    from textual.worker import WorkerState

    if event.state == WorkerState.ERROR and event.worker.error is not None:
        screen.show_message(error_text(screen.app, event.worker.error), error=True)


class YktScreen(Translated, Screen[Any]):
    def on_worker_state_changed(self, event: Any) -> None:
        _worker_failed(self, event)


class YktModal(Translated, ModalScreen[Any]):
    def on_worker_state_changed(self, event: Any) -> None:
        _worker_failed(self, event)

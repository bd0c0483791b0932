"""The APDU trace panel (toggle with Ctrl+T): the session trace's last entries, decoded, with timing.
PINs and keys are already masked by reader.trace before an entry is kept."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from reader.trace import format_entry


class TracePanel(Vertical):
    """Polls the trace 4 times a second while shown (the trace is filled from worker threads)."""

    def compose(self) -> ComposeResult:
        t = self.app.t  # type: ignore[attr-defined]
        yield Static(t("trace.title"), classes="panel-title")
        yield Static("", id="trace-lines")

    def on_mount(self) -> None:
        self._seen: tuple[int, int] = (-1, -1)
        self.display = bool(getattr(self.app, "trace_shown", False))
        self.set_interval(0.25, self.refresh_lines)
        self.refresh_lines()

    def toggle(self) -> None:
        self.display = not self.display
        self.app.trace_shown = self.display  # type: ignore[attr-defined]
        self.refresh_lines()

    def refresh_lines(self) -> None:
        if not self.display:
            return
        trace = self.app.session.trace  # type: ignore[attr-defined]
        with trace._lock:
            entries = list(trace.entries)
        marker = (len(entries), id(entries[-1]) if entries else 0)
        if marker == self._seen:
            return
        self._seen = marker
        lines = self.query_one("#trace-lines", Static)
        if not entries:
            lines.update(self.app.t("trace.empty"))  # type: ignore[attr-defined]
            return
        lines.update("\n".join(format_entry(e) for e in entries[-60:]))

    def save(self, folder: Path, now: datetime) -> tuple[Path, int]:
        """Write the kept entries as JSON lines (the format of `ykt trace show`)."""
        trace = self.app.session.trace  # type: ignore[attr-defined]
        with trace._lock:
            entries = list(trace.entries)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"trace-{now.strftime('%Y%m%d-%H%M%S')}.jsonl"
        path.write_text("".join(e.to_json() + "\n" for e in entries), encoding="utf-8")
        return path, len(entries)

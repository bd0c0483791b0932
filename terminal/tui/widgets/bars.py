"""A small horizontal bar chart (day close: totals by account), drawn with block characters."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static

BLOCKS = " ▏▎▍▌▋▊▉█"


def bar(value: int, top: int, width: int) -> str:
    if top <= 0 or value <= 0:
        return ""
    eighths = round(value * width * 8 / top)
    full, part = divmod(eighths, 8)
    return "█" * full + (BLOCKS[part] if part else "")


class Bars(Static):
    """Rows of (label, value, value text); bars scaled to the largest value."""

    def __init__(self, rows: list[tuple[str, int, str]], width: int = 30, **kwargs: object) -> None:
        self.rows = rows
        self.bar_width = width
        super().__init__(self._text(), **kwargs)  # type: ignore[arg-type]

    def _text(self) -> Text:
        text = Text()
        top = max((abs(v) for _, v, _ in self.rows), default=0)
        label_w = max((cell_len(label) for label, _, _ in self.rows), default=0)
        for label, value, shown in self.rows:
            text.append(label + " " * (label_w - cell_len(label) + 1))
            text.append(f"{bar(abs(value), top, self.bar_width):<{self.bar_width}}", style="bold green")
            text.append(f" {shown:>12}\n")
        return text

"""Carts: lines from the counter's catalog (就医地目录), typed at the counter or read from a CSV file.

CSV (data/carts/*.csv): a header ``code,quantity``, one line per item, ``#`` comments and blank lines
allowed. Prices and classes come from the catalog, never from the cart file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from terminal.counter.errors import BadInput
from terminal.medical import CartLine, Catalog, UnknownItem

HEADER = ["code", "quantity"]
MAX_LINES = 99
MAX_QUANTITY = 999


def cart_line(catalog: Catalog, code: str, quantity: int = 1) -> CartLine:
    """One line at the catalog price; BadInput for an unknown code or a quantity outside 1..999."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise BadInput(f"quantity must be 1..{MAX_QUANTITY}, got {quantity!r}")
    try:
        return catalog.line(code.strip().upper(), quantity)
    except (UnknownItem, KeyError):
        raise BadInput(f"no item {code!r} in the catalog") from None


def parse_cart(text: str, source: str, catalog: Catalog) -> tuple[CartLine, ...]:
    """The cart lines of a CSV text; BadInput naming `source`, the line and the problem."""
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1)
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise BadInput(f"{source}: empty cart")
    rows = list(csv.reader(io.StringIO("\n".join(line for _, line in numbered))))
    if [c.strip() for c in rows[0]] != HEADER:
        raise BadInput(f"{source}:{numbered[0][0]}: the header must be code,quantity")
    lines: list[CartLine] = []
    for (number, _), row in zip(numbered[1:], rows[1:]):
        if len(row) != 2:
            raise BadInput(f"{source}:{number}: expected code,quantity")
        code, quantity = row[0].strip(), row[1].strip()
        if not quantity.isdigit():
            raise BadInput(f"{source}:{number}: quantity must be a whole number, got {quantity!r}")
        try:
            lines.append(cart_line(catalog, code, int(quantity)))
        except BadInput as e:
            raise BadInput(f"{source}:{number}: {e}") from None
    if not lines:
        raise BadInput(f"{source}: empty cart")
    if len(lines) > MAX_LINES:
        raise BadInput(f"{source}: at most {MAX_LINES} lines, got {len(lines)}")
    return tuple(lines)


def load_cart(path: Path, catalog: Catalog) -> tuple[CartLine, ...]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as e:
        raise BadInput(f"{path}: cannot read ({e.strerror or e})") from None
    return parse_cart(text, str(path), catalog)


def cart_total(lines: Sequence[CartLine]) -> int:
    return sum(line.amount_fen for line in lines)

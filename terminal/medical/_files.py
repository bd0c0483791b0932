"""Reading the medical data files: UTF-8 text, CSV rows with their line numbers, errors as PolicyError."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import PolicyError


def read_text(path: Path) -> str:
    """The file as text (UTF-8, a BOM tolerated); an unreadable or non-UTF-8 file is a PolicyError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(str(path), f"cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolicyError(str(path), "not UTF-8 text", line=line) from None


def csv_rows(text: str, source: str, header: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) for every data row; blank lines and lines starting with '#' are skipped.

    The first non-comment line must be exactly `header`; every row must have exactly that many fields.
    """
    # Comment lines become empty lines so the csv reader's line numbers stay the file's line numbers.
    cleaned = "".join("\n" if ln.lstrip().startswith("#") else ln for ln in text.splitlines(keepends=True))
    reader = csv.reader(io.StringIO(cleaned, newline=""), strict=True)
    seen_header = False
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            cells = [cell.strip() for cell in row]
            if not seen_header:
                if cells != list(header):
                    raise PolicyError(source, f"header must be {','.join(header)}, got {','.join(cells)}", line=line)
                seen_header = True
                continue
            if len(cells) != len(header):
                raise PolicyError(source, f"expected {len(header)} fields, got {len(cells)}", line=line)
            yield line, dict(zip(header, cells, strict=True))
    except csv.Error as exc:
        raise PolicyError(source, f"bad CSV: {exc}", line=reader.line_num) from None
    if not seen_header:
        raise PolicyError(source, f"empty file, expected header {','.join(header)}")


def parse_int(value: str, source: str, line: int, field: str, *, minimum: int = 0) -> int:
    """A decimal integer cell (digits only, no sign or decimal point) >= `minimum`."""
    if not value.isascii() or not value.isdigit():
        raise PolicyError(source, f"{field} must be a whole number, got {value!r}", line=line)
    number = int(value)
    if number < minimum:
        raise PolicyError(source, f"{field} must be >= {minimum}, got {number}", line=line)
    return number

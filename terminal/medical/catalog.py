"""The catalog of the place of treatment (就医地目录): items, their class, price and pinyin initials.

CSV format (``data/catalog/*.csv``)::

    code,name,pinyin,class,unit_price_fen,spec
    XJ01CAA040A001,阿莫西林胶囊,amxljn,甲,1250,0.25g×24粒/盒

`pinyin` holds the initials of the name's syllables (lower case; Latin letters and digits in the name are kept
as they are, lower-cased) so the counter can search by typing "amx". They are stored, not computed: polyphonic
characters (e.g. 解 jie/xie, 重 zhong/chong) need a human choice anyway, and no dependency is needed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..datafiles import data_dir
from ._files import csv_rows, parse_int, read_text
from .errors import PolicyError, UnknownItem
from .model import CartLine, ItemClass

HEADER = ("code", "name", "pinyin", "class", "unit_price_fen", "spec")
CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{5,29}$")
PINYIN_RE = re.compile(r"^[a-z0-9]+$")


@dataclass(frozen=True)
class CatalogItem:
    code: str
    name: str
    pinyin: str
    item_class: ItemClass
    unit_price_fen: int
    spec: str

    def line(self, quantity: int = 1) -> CartLine:
        """A cart line for `quantity` packs at the catalog price."""
        return CartLine(self.code, quantity, self.unit_price_fen, self.item_class, self.name)


class Catalog:
    """Items by code, with search by code, name or pinyin initials.

    >>> cat = load_catalog()
    >>> [i.name for i in cat.search("blg")][:1]
    ['板蓝根颗粒']
    """

    def __init__(self, items: list[CatalogItem], source: str = "<catalog>") -> None:
        self.source = source
        self._by_code = {item.code: item for item in items}

    def __getitem__(self, code: str) -> CatalogItem:
        try:
            return self._by_code[code]
        except KeyError:
            raise UnknownItem(f"no item {code!r} in the catalog {self.source}") from None

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[CatalogItem]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def line(self, code: str, quantity: int = 1) -> CartLine:
        return self[code].line(quantity)

    def search(self, query: str, limit: int = 20) -> list[CatalogItem]:
        """Items matching `query`, best first: exact code, code prefix, pinyin prefix, name or pinyin contains."""
        q = query.strip()
        if not q:
            return []
        upper, lower = q.upper(), q.lower()

        def rank(item: CatalogItem) -> int | None:
            if item.code == upper:
                return 0
            if item.code.startswith(upper):
                return 1
            if item.pinyin.startswith(lower):
                return 2
            if q in item.name:
                return 3
            if lower in item.pinyin:
                return 4
            return None

        ranked = [(r, item.code, item) for item in self._by_code.values() if (r := rank(item)) is not None]
        return [item for _, _, item in sorted(ranked, key=lambda t: (t[0], t[1]))][:limit]


def parse_catalog(text: str, source: str) -> Catalog:
    items: list[CatalogItem] = []
    seen: dict[str, int] = {}
    for line, row in csv_rows(text, source, HEADER):
        code = row["code"]
        if not CODE_RE.match(code):
            raise PolicyError(source, f"code must be an upper-case letter then 5-29 letters/digits, got {code!r}",
                              line=line)
        if code in seen:
            raise PolicyError(source, f"duplicate code {code} (first on line {seen[code]})", line=line)
        if not row["name"]:
            raise PolicyError(source, "name must not be empty", line=line)
        if not PINYIN_RE.match(row["pinyin"]):
            raise PolicyError(source, f"pinyin must be lower-case initials a-z/0-9, got {row['pinyin']!r}", line=line)
        if row["class"] not in {c.value for c in ItemClass}:
            raise PolicyError(source, f"class must be 甲, 乙 or 丙, got {row['class']!r}", line=line)
        price = parse_int(row["unit_price_fen"], source, line, "unit_price_fen", minimum=1)
        if not row["spec"]:
            raise PolicyError(source, "spec must not be empty", line=line)
        seen[code] = line
        items.append(CatalogItem(code, row["name"], row["pinyin"], ItemClass(row["class"]), price, row["spec"]))
    return Catalog(items, source)


def load_catalog(path: Path | None = None) -> Catalog:
    """The catalog from `path` (default ``data/catalog/pharmacy.csv``)."""
    path = path or data_dir() / "catalog" / "pharmacy.csv"
    return parse_catalog(read_text(path), str(path))

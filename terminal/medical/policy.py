"""Medical-insurance policies as data: ``data/policies/*.toml`` → frozen :class:`Policy` objects.

One file per home region (参保地), scheme and insured categories; every number in it is read here and nowhere
else, so a region's policy is data, not code. The format is documented field by field in docs/medical.md.
Loading validates everything: a bad file raises :class:`PolicyError` naming the file, the line, the key path
and the problem.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ..datafiles import data_dir
from ._files import TomlReader, read_text
from .errors import PolicyError, PolicyNotFound
from .model import HOSPITAL_LEVELS, REGION_RE, Scheme, VisitType
from .regions import RegionTable, load_regions

FORMAT = 1

CATEGORIES: dict[Scheme, tuple[str, ...]] = {
    Scheme.EMPLOYEE: ("active", "retired"),  # 在职 / 退休
    Scheme.RESIDENT: ("adult", "elderly", "student", "child"),  # 成年 / 老年 / 学生 / 少儿
}


@dataclass(frozen=True)
class ByLevel:
    """One value per hospital level (一级 / 二级 / 三级)."""

    level1: int
    level2: int
    level3: int

    def __getitem__(self, level: int) -> int:
        return {1: self.level1, 2: self.level2, 3: self.level3}[level]


@dataclass(frozen=True)
class OutpatientRules:
    """门诊共济 pool: pharmacy purchases and clinic visits share one yearly deductible and one yearly cap."""

    deductible_fen: int  # per calendar year
    cap_fen: int  # pooled fund per calendar year
    pharmacy_ratio_percent: int
    ratio_percent: ByLevel  # clinic visits, by hospital level


@dataclass(frozen=True)
class InpatientRules:
    """住院: deductible per admission by hospital level, ratio by level, pooled-fund cap per year."""

    deductible_fen: ByLevel
    ratio_percent: ByLevel
    cap_fen: int


class WithoutFiling(StrEnum):
    REDUCE = "reduce"  # settle with the ratio lowered by `reduce_points`
    REFUSE = "refuse"  # no direct settlement


@dataclass(frozen=True)
class CrossProvinceRule:
    """What the home policy does for cross-province care (跨省异地) when the insured has no filing (备案)."""

    without_filing: WithoutFiling
    reduce_points: int = 0
    reason: str = ""


@dataclass(frozen=True)
class Policy:
    """One home region's policy for one scheme and a set of insured categories (all numbers illustrative)."""

    source: str
    region: str
    scheme: Scheme
    categories: tuple[str, ...]
    name: str
    preselfpay_percent: int  # 乙类 先行自付 share
    account_available: bool  # the scheme has a personal account (个人账户)
    account_pays_selfpay: bool  # the personal account may pay 丙类/自费 items
    retiree_bonus_points: int  # percentage points added to every ratio for a retired insured
    outpatient: OutpatientRules
    inpatient: InpatientRules
    cross_province: CrossProvinceRule
    note: str = ""

    def base_ratio_percent(self, visit_type: VisitType, hospital_level: int | None) -> int:
        """The ratio from the file, before retiree bonus or cross-province reduction."""
        if visit_type is VisitType.PHARMACY:
            return self.outpatient.pharmacy_ratio_percent
        rules = self.outpatient if visit_type is VisitType.OUTPATIENT else self.inpatient
        return rules.ratio_percent[_level(hospital_level)]

    def deductible_fen(self, visit_type: VisitType, hospital_level: int | None) -> int:
        """Yearly deductible for pharmacy/outpatient, per-admission deductible for inpatient."""
        if visit_type is VisitType.INPATIENT:
            return self.inpatient.deductible_fen[_level(hospital_level)]
        return self.outpatient.deductible_fen

    def cap_fen(self, visit_type: VisitType) -> int:
        return self.inpatient.cap_fen if visit_type is VisitType.INPATIENT else self.outpatient.cap_fen


def _level(hospital_level: int | None) -> int:
    if hospital_level not in HOSPITAL_LEVELS:
        raise ValueError(f"hospital level must be 1, 2 or 3, got {hospital_level!r}")
    return hospital_level  # type: ignore[return-value]


_LEVEL_KEYS = tuple(str(level) for level in HOSPITAL_LEVELS)
_MAX_FEN = 10**11  # 10 亿元: anything above is a typo


def _by_level(r: TomlReader, path: tuple[str, ...], low: int, high: int | None) -> ByLevel:
    """A ``{1 = …, 2 = …, 3 = …}`` table, or one integer for all three levels."""
    value = r.value(path)
    if not isinstance(value, Mapping):
        v = r.check_int(path, value, low, high)
        return ByLevel(v, v, v)
    r.table(path, _LEVEL_KEYS)
    a, b, c = (r.integer(path + (k,), low, high) for k in _LEVEL_KEYS)
    return ByLevel(a, b, c)


def parse_policy(data: Mapping[str, object], source: str, text: str = "", regions: RegionTable | None = None) -> Policy:
    """Validate a parsed policy document (`text` is the TOML source, used only to find line numbers)."""
    r = TomlReader(source, text, data)
    r.table((), ("format", "region", "scheme", "categories", "name", "note", "class_b", "personal_account",
                 "retiree", "outpatient", "inpatient", "cross_province"))
    r.integer(("format",), FORMAT, FORMAT)
    region = r.string(("region",))
    if not REGION_RE.match(region):
        r.fail(("region",), f"must be a 6-digit region code, got {region!r}")
    if regions is not None and region not in regions:
        r.fail(("region",), f"unknown region code {region} (not in {regions.source})")
    scheme = Scheme(r.string(("scheme",), [s.value for s in Scheme]))
    categories = r.strings(("categories",), CATEGORIES[scheme])
    name = r.string(("name",))
    note = r.string(("note",)) if r.has(("note",)) else ""

    r.table(("class_b",), ("preselfpay_percent",))
    preselfpay = r.integer(("class_b", "preselfpay_percent"), 0, 100)

    r.table(("personal_account",), ("available", "pays_selfpay"))
    available = r.boolean(("personal_account", "available"))
    pays_selfpay = r.boolean(("personal_account", "pays_selfpay"))
    if pays_selfpay and not available:
        r.fail(("personal_account", "pays_selfpay"), "is true but the scheme has no personal account")

    r.table(("retiree",), ("bonus_points",))
    bonus = r.integer(("retiree", "bonus_points"), 0, 100)
    if bonus and "retired" not in categories:
        r.fail(("retiree", "bonus_points"), "a retiree bonus needs 'retired' in categories")

    r.table(("outpatient",), ("deductible_fen", "cap_fen", "ratio_percent"))
    r.table(("outpatient", "ratio_percent"), ("pharmacy",) + _LEVEL_KEYS)
    outpatient = OutpatientRules(
        deductible_fen=r.integer(("outpatient", "deductible_fen"), 0, _MAX_FEN),
        cap_fen=r.integer(("outpatient", "cap_fen"), 0, _MAX_FEN),
        pharmacy_ratio_percent=r.integer(("outpatient", "ratio_percent", "pharmacy"), 0, 100),
        ratio_percent=ByLevel(*(r.integer(("outpatient", "ratio_percent", k), 0, 100) for k in _LEVEL_KEYS)),
    )

    r.table(("inpatient",), ("deductible_fen", "cap_fen", "ratio_percent"))
    inpatient = InpatientRules(
        deductible_fen=_by_level(r, ("inpatient", "deductible_fen"), 0, _MAX_FEN),
        ratio_percent=_by_level(r, ("inpatient", "ratio_percent"), 0, 100),
        cap_fen=r.integer(("inpatient", "cap_fen"), 0, _MAX_FEN),
    )

    cp = ("cross_province",)
    r.table(cp, ("without_filing", "reduce_points", "reason"))
    action = WithoutFiling(r.string(cp + ("without_filing",), [w.value for w in WithoutFiling]))
    reason = r.string(cp + ("reason",)) if r.has(cp + ("reason",)) else ""
    if action is WithoutFiling.REDUCE:
        rule = CrossProvinceRule(action, r.integer(cp + ("reduce_points",), 1, 100), reason)
    else:
        if r.has(cp + ("reduce_points",)):
            r.fail(cp + ("reduce_points",), "only allowed with without_filing = \"reduce\"")
        if not reason:
            r.fail(cp + ("reason",), "missing (say why direct settlement is refused)")
        rule = CrossProvinceRule(action, 0, reason)

    return Policy(source, region, scheme, categories, name, preselfpay, available, pays_selfpay, bonus,
                  outpatient, inpatient, rule, note)


_TOML_POS_RE = re.compile(r"^(.*) \(at line (\d+), column (\d+)\)$")


def load_policy(path: Path, regions: RegionTable | None = None) -> Policy:
    """Read and validate one policy file."""
    text = read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        pos = _TOML_POS_RE.match(message)
        if pos:
            raise PolicyError(str(path), f"invalid TOML: {pos.group(1)} (column {pos.group(3)})",
                              line=int(pos.group(2))) from None
        raise PolicyError(str(path), f"invalid TOML: {message}") from None
    return parse_policy(data, str(path), text, regions)


def category_for(scheme: Scheme | str, retired: bool, category: str) -> str:
    """The policy category of a card holder: employees are active/retired, residents keep the card's category."""
    if Scheme(scheme) is Scheme.EMPLOYEE:
        return "retired" if retired else "active"
    return category


class PolicyBook:
    """All loaded policies, found by (home region, scheme, category).

    >>> book = load_policies()
    >>> book.for_card("310000", "employee", retired=True, category="elderly").categories
    ('retired',)
    """

    def __init__(self, policies: list[Policy]) -> None:
        self._by_key: dict[tuple[str, Scheme, str], Policy] = {}
        for policy in policies:
            for category in policy.categories:
                key = (policy.region, policy.scheme, category)
                other = self._by_key.get(key)
                if other is not None:
                    raise PolicyError(policy.source, f"{policy.region} {policy.scheme} {category} is already "
                                                     f"covered by {other.source}", key="categories")
                self._by_key[key] = policy
        self._policies = list(policies)

    def __iter__(self) -> Iterator[Policy]:
        return iter(self._policies)

    def __len__(self) -> int:
        return len(self._policies)

    def find(self, region: str, scheme: Scheme | str, category: str) -> Policy:
        try:
            return self._by_key[(region, Scheme(scheme), category)]
        except (KeyError, ValueError):
            raise PolicyNotFound(f"no policy for region {region}, scheme {scheme}, category {category}") from None

    def for_card(self, region: str, scheme: Scheme | str, *, retired: bool, category: str) -> Policy:
        """The home policy for a card's region and insurance record (EF05 region, insurance scheme/retired)."""
        return self.find(region, scheme, category_for(scheme, retired, category))


def load_policies(directory: Path | None = None, regions: RegionTable | None = None) -> PolicyBook:
    """Every ``*.toml`` in `directory` (default ``data/policies``), validated against the region table."""
    directory = directory or data_dir() / "policies"
    regions = regions or load_regions()
    paths = sorted(directory.glob("*.toml"))
    if not paths:
        raise PolicyError(str(directory), "no *.toml policy files")
    return PolicyBook([load_policy(p, regions) for p in paths])

"""Fare tables as data: data/fares/*.toml and stations.csv → one frozen `FareTables`, validated on load.

Every number of the fare rules is read here and nowhere else (docs/transit.md documents each field). A bad
file raises `FareDataError` naming the file, the line, the key and the problem, e.g.
``data/fares/network.toml:31: metro.band[2].up_to_km: must be > 6 (bands go up), got 5``.

Example::

    >>> tables = load_fares()
    >>> tables.metro.fare_for(8_000), tables.bus.fare_for(71)
    (400, 200)
    >>> tables.network.distance_m(tables.network.station("xinzhuang").code, tables.network.station("peoples-square").code)
    14000
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from terminal.datafiles import data_dir
from terminal.transit.datafile import TomlDoc, csv_rows, parse_int, parse_km
from terminal.transit.errors import FareDataError, UnknownStation

FORMAT = 1
MODES = ("bus", "metro")
PAIRS = tuple(f"{a}>{b}" for a in MODES for b in MODES)
CATEGORIES = ("adult", "student", "elderly", "child", "disabled", "active", "retired")
_SLUG = r"[a-z0-9][a-z0-9-]{0,31}"


def fares_dir() -> Path:
    return data_dir() / "fares"


# ---------------------------------------------------------------- the model


@dataclass(frozen=True, slots=True)
class Station:
    code: int  # the station byte on the card, 1..254
    id: str
    name: str
    lines: tuple[int, ...]  # in file order; the first is where a tap at this station is recorded

    @property
    def line(self) -> int:
        return self.lines[0]


@dataclass(frozen=True)
class MetroNetwork:
    """Stations and the shortest track distance (metres) between every two of them."""

    stations: Mapping[str, Station]  # by id
    by_code: Mapping[int, Station]
    distances: Mapping[tuple[int, int], int] = field(repr=False)

    def station(self, ident: str | int) -> Station:
        """A station by id (`peoples-square`) or code (`4`, as int or digits)."""
        if isinstance(ident, int) or ident.isdigit():
            found = self.by_code.get(int(ident))
        else:
            found = self.stations.get(ident)
        if found is None:
            raise UnknownStation(f"no metro station {ident!r} (stations: {', '.join(sorted(self.stations))})")
        return found

    def distance_m(self, a: int, b: int) -> int:
        return self.distances[(a, b)]


@dataclass(frozen=True, slots=True)
class Band:
    up_to_m: int
    fare: int


@dataclass(frozen=True)
class MetroRules:
    bands: tuple[Band, ...]
    beyond_every_m: int
    beyond_add: int
    max_trip_minutes: int
    open_trip_at_entry: str  # "refuse" | "penalty"
    same_station_minutes: int
    same_station_fare: str  # "free" | "minimum"
    entry_min_balance: int
    max_fare: int = 0  # the network's highest fare (held on the card at entry; the missed-exit penalty)

    def fare_for(self, distance_m: int) -> int:
        """The distance fare: the first band covering the distance (inclusive), then +add per started step."""
        for band in self.bands:
            if distance_m <= band.up_to_m:
                return band.fare
        last = self.bands[-1]
        steps = -(-(distance_m - last.up_to_m) // self.beyond_every_m)
        return last.fare + steps * self.beyond_add

    @property
    def minimum_fare(self) -> int:
        return self.bands[0].fare


@dataclass(frozen=True)
class BusRules:
    flat_fare: int
    routes: Mapping[int, int]

    def fare_for(self, route: int) -> int:
        return self.routes.get(route, self.flat_fare)


@dataclass(frozen=True)
class TransferRule:
    window_minutes: int
    discount: int
    pairs: frozenset[tuple[str, str]]
    max_per_chain: int

    def allows(self, previous: str, current: str) -> bool:
        return (previous, current) in self.pairs


@dataclass(frozen=True, slots=True)
class VolumeTier:
    from_fen: int
    percent_off: int


@dataclass(frozen=True)
class Caps:
    daily: int  # 0 = no daily cap
    monthly_volume: tuple[VolumeTier, ...]  # ascending by from_fen

    def volume_percent_off(self, month_spent: int) -> int:
        off = 0
        for tier in self.monthly_volume:
            if month_spent >= tier.from_fen:
                off = tier.percent_off
        return off


@dataclass(frozen=True)
class Concession:
    id: str
    label: str
    categories: frozenset[str]
    min_age: int | None
    max_age: int | None
    pay_percent: Mapping[str, int]  # by mode: the share of the fare the holder pays

    def applies(self, category: str | None, age: int | None) -> bool:
        if category is not None and category in self.categories:
            return True
        if age is None:
            return False
        return (self.min_age is not None and age >= self.min_age) or (self.max_age is not None and age <= self.max_age)


@dataclass(frozen=True)
class ValidatorRules:
    double_tap_seconds: int
    low_balance_warning: int


@dataclass(frozen=True)
class PassType:
    code: int  # on the card, 1..255
    id: str
    label: str
    once_per_day: bool
    validity_days: int
    entries: int  # 0 = unlimited


@dataclass(frozen=True)
class Gate:
    id: str
    name: str
    venue: int
    accepts: frozenset[int]  # pass type codes


@dataclass(frozen=True)
class FareTables:
    name: str
    city: bytes  # 2 bytes BCD
    institution: bytes  # 8 bytes
    operator: bytes  # 2 bytes
    bus: BusRules
    metro: MetroRules
    network: MetroNetwork
    transfer: TransferRule
    caps: Caps
    concessions: tuple[Concession, ...]
    validator: ValidatorRules
    pass_types: Mapping[int, PassType]
    gates: Mapping[str, Gate]
    folder: Path

    def concession_for(self, category: str | None, age: int | None, mode: str) -> Concession | None:
        """The best concession (lowest share paid for `mode`) the card qualifies for, if any."""
        best: Concession | None = None
        for c in self.concessions:
            if c.applies(category, age) and (best is None or c.pay_percent[mode] < best.pay_percent[mode]):
                best = c
        return best

    def pass_type(self, ident: str) -> PassType:
        for p in self.pass_types.values():
            if p.id == ident:
                return p
        raise UnknownStation(f"no pass type {ident!r} (types: {', '.join(p.id for p in self.pass_types.values())})")

    def gate(self, ident: str) -> Gate:
        if ident not in self.gates:
            raise UnknownStation(f"no gate {ident!r} (gates: {', '.join(sorted(self.gates))})")
        return self.gates[ident]


# ---------------------------------------------------------------- loading


def load_fares(folder: str | Path | None = None) -> FareTables:
    """Load and validate network.toml (+ its station table), concessions.toml and venues.toml."""
    base = Path(folder) if folder is not None else fares_dir()
    doc = TomlDoc(base / "network.toml")
    doc.table((), ("format", "name", "city", "institution", "operator", "bus", "metro", "transfer", "caps", "validator"))
    _format(doc)
    name = doc.string(("name",))
    city = bytes.fromhex(doc.string(("city",), pattern=r"\d{4}"))
    institution = bytes.fromhex(doc.string(("institution",), pattern=r"[0-9A-Fa-f]{16}"))
    operator = bytes.fromhex(doc.string(("operator",), pattern=r"[0-9A-Fa-f]{4}"))
    bus = _bus(doc)
    network = load_stations(base / doc.string(("metro", "stations")))
    metro = _metro(doc, network)
    transfer = _transfer(doc)
    caps = _caps(doc)
    doc.table(("validator",), ("double_tap_seconds", "low_balance_warning"))
    validator = ValidatorRules(
        doc.integer(("validator", "double_tap_seconds"), 0, 3600),
        doc.integer(("validator", "low_balance_warning"), 0, 10_000_000),
    )
    concessions = load_concessions(base / "concessions.toml")
    pass_types, gates = load_venues(base / "venues.toml")
    return FareTables(name, city, institution, operator, bus, metro, network, transfer, caps, concessions, validator,
                      pass_types, gates, base)


def _format(doc: TomlDoc) -> None:
    doc.integer(("format",), FORMAT, FORMAT)


def _fen(doc: TomlDoc, path: tuple[str | int, ...], low: int = 0) -> int:
    return doc.integer(path, low, 10_000_000)


def _bus(doc: TomlDoc) -> BusRules:
    doc.table(("bus",), ("flat_fare", "routes"))
    routes: dict[int, int] = {}
    if doc.has(("bus", "routes")):
        for key in doc.table(("bus", "routes"), doc.value(("bus", "routes")).keys()):  # type: ignore[union-attr]
            if not key.isdigit() or not 1 <= int(key) <= 9999:
                doc.fail(("bus", "routes", key), "a route is a number 1..9999")
            routes[int(key)] = _fen(doc, ("bus", "routes", key), 1)
    return BusRules(_fen(doc, ("bus", "flat_fare"), 1), routes)


def _metro(doc: TomlDoc, network: MetroNetwork) -> MetroRules:
    doc.table(("metro",), ("stations", "max_trip_minutes", "open_trip_at_entry", "same_station_minutes",
                          "same_station_fare", "entry_min_balance", "band", "beyond"))
    n = doc.tables(("metro", "band"))
    if n == 0:
        doc.fail(("metro", "band"), "at least one [[metro.band]] is needed")
    bands: list[Band] = []
    for i in range(n):
        path = ("metro", "band", i)
        doc.table(path, ("up_to_km", "fare"))
        up_to = doc.integer((*path, "up_to_km"), 1, 10_000) * 1000
        fare = _fen(doc, (*path, "fare"), 1)
        if bands and up_to <= bands[-1].up_to_m:
            doc.fail((*path, "up_to_km"), f"must be > {bands[-1].up_to_m // 1000} (bands go up), got {up_to // 1000}")
        if bands and fare < bands[-1].fare:
            doc.fail((*path, "fare"), f"must be ≥ {bands[-1].fare} (a longer trip never costs less), got {fare}")
        bands.append(Band(up_to, fare))
    doc.table(("metro", "beyond"), ("every_km", "add"))
    rules = MetroRules(
        bands=tuple(bands),
        beyond_every_m=doc.integer(("metro", "beyond", "every_km"), 1, 10_000) * 1000,
        beyond_add=_fen(doc, ("metro", "beyond", "add")),
        max_trip_minutes=doc.integer(("metro", "max_trip_minutes"), 1, 24 * 60),
        open_trip_at_entry=doc.string(("metro", "open_trip_at_entry"), ("refuse", "penalty")),
        same_station_minutes=doc.integer(("metro", "same_station_minutes"), 0, 24 * 60),
        same_station_fare=doc.string(("metro", "same_station_fare"), ("free", "minimum")),
        entry_min_balance=_fen(doc, ("metro", "entry_min_balance")),
    )
    longest = max(network.distances.values(), default=0)
    return MetroRules(**{**rules.__dict__, "max_fare": rules.fare_for(longest)})


def _transfer(doc: TomlDoc) -> TransferRule:
    doc.table(("transfer",), ("window_minutes", "discount", "pairs", "max_per_chain"))
    pairs = doc.strings(("transfer", "pairs"), PAIRS, allow_empty=True)
    return TransferRule(
        window_minutes=doc.integer(("transfer", "window_minutes"), 0, 24 * 60),
        discount=_fen(doc, ("transfer", "discount")),
        pairs=frozenset(tuple(p.split(">")) for p in pairs),  # type: ignore[misc]
        max_per_chain=doc.integer(("transfer", "max_per_chain"), 0, 255),
    )


def _caps(doc: TomlDoc) -> Caps:
    doc.table(("caps",), ("daily", "monthly_volume"))
    tiers: list[VolumeTier] = []
    for i in range(doc.tables(("caps", "monthly_volume"))):
        path = ("caps", "monthly_volume", i)
        doc.table(path, ("from", "percent_off"))
        tier = VolumeTier(_fen(doc, (*path, "from")), doc.integer((*path, "percent_off"), 0, 100))
        if tiers and tier.from_fen <= tiers[-1].from_fen:
            doc.fail((*path, "from"), f"must be > {tiers[-1].from_fen} (tiers go up), got {tier.from_fen}")
        tiers.append(tier)
    return Caps(_fen(doc, ("caps", "daily")), tuple(tiers))


def load_concessions(path: Path) -> tuple[Concession, ...]:
    doc = TomlDoc(path)
    doc.table((), ("format", "concession"))
    _format(doc)
    out: list[Concession] = []
    for i in range(doc.tables(("concession",))):
        p: tuple[str | int, ...] = ("concession", i)
        doc.table(p, ("id", "label", "categories", "min_age", "max_age", "bus_percent", "metro_percent"))
        ident = doc.string((*p, "id"), pattern=_SLUG)
        if any(c.id == ident for c in out):
            doc.fail((*p, "id"), f"concession {ident!r} is defined twice")
        categories = doc.strings((*p, "categories"), CATEGORIES, allow_empty=True) if doc.has((*p, "categories")) else ()
        min_age = doc.integer((*p, "min_age"), 0, 150) if doc.has((*p, "min_age")) else None
        max_age = doc.integer((*p, "max_age"), 0, 150) if doc.has((*p, "max_age")) else None
        if not categories and min_age is None and max_age is None:
            doc.fail(p, "a concession needs categories, min_age or max_age")
        out.append(Concession(
            ident, doc.string((*p, "label")), frozenset(categories), min_age, max_age,
            {m: doc.integer((*p, f"{m}_percent"), 0, 100) for m in MODES},
        ))
    return tuple(out)


def load_venues(path: Path) -> tuple[dict[int, PassType], dict[str, Gate]]:
    doc = TomlDoc(path)
    doc.table((), ("format", "pass", "gate"))
    _format(doc)
    types: dict[int, PassType] = {}
    for i in range(doc.tables(("pass",))):
        p: tuple[str | int, ...] = ("pass", i)
        doc.table(p, ("code", "id", "label", "once_per_day", "validity_days", "entries"))
        t = PassType(
            doc.integer((*p, "code"), 1, 255), doc.string((*p, "id"), pattern=_SLUG), doc.string((*p, "label")),
            doc.boolean((*p, "once_per_day")), doc.integer((*p, "validity_days"), 1, 36_600),
            doc.integer((*p, "entries"), 0, 0xFFFE),
        )
        if t.code in types or any(x.id == t.id for x in types.values()):
            doc.fail(p, f"pass type {t.id!r} / code {t.code} is defined twice")
        types[t.code] = t
    gates: dict[str, Gate] = {}
    by_id = {t.id: code for code, t in types.items()}
    for i in range(doc.tables(("gate",))):
        p = ("gate", i)
        doc.table(p, ("id", "name", "venue", "accepts"))
        ident = doc.string((*p, "id"), pattern=_SLUG)
        if ident in gates:
            doc.fail((*p, "id"), f"gate {ident!r} is defined twice")
        accepts = doc.strings((*p, "accepts"), tuple(by_id))
        gates[ident] = Gate(ident, doc.string((*p, "name")), doc.integer((*p, "venue"), 1, 0xFFFF),
                            frozenset(by_id[a] for a in accepts))
    return types, gates


def load_stations(path: Path) -> MetroNetwork:
    """The station table: line,code,id,name,km — one row per station and line, in line order."""
    source = str(path)
    stations: dict[str, Station] = {}
    lines: dict[int, list[tuple[int, int, int]]] = {}  # line → [(code, metres, file line)]
    first_line: dict[str, int] = {}
    for line_no, row in csv_rows(path, ("line", "code", "id", "name", "km")):
        line = parse_int(row["line"], source, line_no, "line", 1, 9999)
        code = parse_int(row["code"], source, line_no, "code", 1, 254)
        ident, name = row["id"], row["name"]
        if not re.fullmatch(_SLUG, ident):
            raise FareDataError(source, f"id {ident!r} must be lower-case letters, digits and '-'", line=line_no)
        if not name:
            raise FareDataError(source, "name is empty", line=line_no)
        metres = parse_km(row["km"], source, line_no, "km")
        known = stations.get(ident)
        if known is None:
            clash = next((s for s in stations.values() if s.code == code), None)
            if clash is not None:
                raise FareDataError(source, f"code {code} is already station {clash.id!r} (line {first_line[clash.id]})", line=line_no)
            stations[ident] = Station(code, ident, name, (line,))
            first_line[ident] = line_no
        else:
            if (known.code, known.name) != (code, name):
                raise FareDataError(source, f"station {ident!r} has code {known.code} and name {known.name!r} on line "
                                            f"{first_line[ident]}; an interchange keeps both", line=line_no)
            if line in known.lines:
                raise FareDataError(source, f"station {ident!r} is twice on line {line}", line=line_no)
            stations[ident] = Station(code, ident, name, (*known.lines, line))
        stops = lines.setdefault(line, [])
        if stops and metres <= stops[-1][1]:
            raise FareDataError(source, f"km must grow along line {line} (previous station at {stops[-1][1] / 1000:g} km)", line=line_no)
        stops.append((code, metres, line_no))
    if not stations:
        raise FareDataError(source, "no stations")
    for line, stops in lines.items():
        if len(stops) < 2:
            raise FareDataError(source, f"line {line} has a single station", line=stops[0][2])
    by_code = {s.code: s for s in stations.values()}
    distances = _all_pairs(lines, by_code, source)
    return MetroNetwork(stations, by_code, distances)


def _all_pairs(lines: dict[int, list[tuple[int, int, int]]], by_code: dict[int, Station], source: str) -> dict[tuple[int, int], int]:
    """Shortest track distance between every two stations (Dijkstra from each; the network is small)."""
    graph: dict[int, list[tuple[int, int]]] = {code: [] for code in by_code}
    for stops in lines.values():
        for (a, ma, _), (b, mb, _) in zip(stops, stops[1:]):
            graph[a].append((b, mb - ma))
            graph[b].append((a, mb - ma))
    out: dict[tuple[int, int], int] = {}
    for start in graph:
        best = {start: 0}
        queue = [(0, start)]
        while queue:
            d, node = heapq.heappop(queue)
            if d > best[node]:
                continue
            for nxt, w in graph[node]:
                if d + w < best.get(nxt, 1 << 62):
                    best[nxt] = d + w
                    heapq.heappush(queue, (d + w, nxt))
        if len(best) != len(graph):
            lost = sorted(by_code[c].id for c in graph if c not in best)
            raise FareDataError(source, f"station {by_code[start].id!r} cannot reach {', '.join(lost)}: the network is not connected")
        for end, d in best.items():
            out[(start, end)] = d
    return out

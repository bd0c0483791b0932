"""The fare table: every rule of data/fares (network.toml, stations.csv, concessions.toml) on rides of one or
more taps, through the pure engine. Each case: who rides (category, age, balance, counters on the card) and
the taps, each with the amount debited or `decline:<part of the reason>`."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from terminal.transit.engine import FareBreakdown
from tests.transit.engine_helpers import TABLES, Rider, at, born_aged

ADULT = {"category": "adult", "birth_date": born_aged(40)}
STUDENT = {"category": "student", "birth_date": born_aged(16)}
ELDERLY = {"category": "elderly", "birth_date": born_aged(70)}

# (id, rider settings, counters on the card, taps: (time, mode, station, expected))
CASES = [
    # ---- bus: flat fare, route fares, concessions
    ("bus-flat", ADULT, {}, [("08:00", "bus", "71", 200)]),
    ("bus-route-fare", ADULT, {}, [("08:00", "bus", "916", 300)]),
    ("bus-elderly-category-free", ELDERLY, {}, [("08:00", "bus", "71", 0)]),
    ("bus-age-70-adult-card-free", {"category": "adult", "birth_date": born_aged(70)}, {}, [("08:00", "bus", "71", 0)]),
    ("bus-age-65-exactly-free", {"category": "adult", "birth_date": date(1959, 3, 1)}, {}, [("08:00", "bus", "71", 0)]),
    ("bus-age-64-pays", {"category": "adult", "birth_date": date(1959, 3, 2)}, {}, [("08:00", "bus", "71", 200)]),
    ("bus-student-half", STUDENT, {}, [("08:00", "bus", "71", 100)]),
    ("bus-student-half-route", STUDENT, {}, [("08:00", "bus", "916", 150)]),
    ("bus-child-category", {"category": "child", "birth_date": born_aged(9)}, {}, [("08:00", "bus", "71", 100)]),
    ("bus-age-10-no-category", {"category": None, "birth_date": born_aged(10)}, {}, [("08:00", "bus", "71", 100)]),
    ("bus-no-birth-date-adult", {"category": None, "birth_date": None}, {}, [("08:00", "bus", "71", 200)]),
    ("bus-retired-category-age-60", {"category": "retired", "birth_date": born_aged(60)}, {}, [("08:00", "bus", "71", 200)]),
    # ---- transfers (evidence: the newest trip record)
    ("bus-bus-transfer", ADULT, {}, [("08:00", "bus", "71", 200), ("08:40", "bus", "49", 100)]),
    ("bus-bus-window-edge", ADULT, {}, [("08:00", "bus", "71", 200), ("09:30", "bus", "49", 100)]),
    ("bus-bus-after-window", ADULT, {}, [("08:00", "bus", "71", 200), ("09:31", "bus", "49", 200)]),
    ("transfer-chain-max-2", ADULT, {}, [("08:00", "bus", "71", 200), ("08:20", "bus", "49", 100),
                                         ("08:40", "bus", "20", 100), ("09:00", "bus", "71", 200)]),
    ("student-transfer-then-half", STUDENT, {}, [("08:00", "bus", "71", 100), ("08:30", "bus", "49", 50)]),
    ("elderly-transfer-free", ELDERLY, {}, [("08:00", "bus", "71", 0), ("08:30", "bus", "49", 0)]),
    ("bus-metro-transfer", ADULT, {}, [("08:00", "bus", "71", 200), ("08:30", "metro-entry", "xinzhuang", 0),
                                       ("09:00", "metro-exit", "peoples-square", 400)]),
    ("bus-metro-too-late", ADULT, {}, [("08:00", "bus", "71", 200), ("09:31", "metro-entry", "xinzhuang", 0),
                                       ("10:00", "metro-exit", "peoples-square", 500)]),
    ("metro-bus-transfer", ADULT, {}, [("08:00", "metro-entry", "xinzhuang", 0),
                                       ("08:30", "metro-exit", "xujiahui", 400), ("09:00", "bus", "71", 100)]),
    ("metro-metro-not-a-pair", ADULT, {}, [("08:00", "metro-entry", "xinzhuang", 0),
                                           ("08:30", "metro-exit", "xujiahui", 400),
                                           ("08:40", "metro-entry", "xujiahui", 0),
                                           ("09:00", "metro-exit", "peoples-square", 300)]),
    # ---- metro distance fares (shortest track distance between the stations)
    ("metro-4.7km", ADULT, {}, [("08:00", "metro-entry", "xinzhuang", 0), ("08:20", "metro-exit", "shanghai-south", 300)]),
    ("metro-9.3km", ADULT, {}, [("08:00", "metro-entry", "xinzhuang", 0), ("08:20", "metro-exit", "xujiahui", 400)]),
    ("metro-14km", ADULT, {}, [("08:00", "metro-entry", "xinzhuang", 0), ("08:30", "metro-exit", "peoples-square", 500)]),
    ("metro-25.1km", ADULT, {}, [("08:00", "metro-entry", "xinzhuang", 0), ("08:50", "metro-exit", "gongfu-xincun", 600)]),
    ("metro-36.5km-beyond", ADULT, {}, [("08:00", "metro-entry", "xinzhuang", 0), ("09:00", "metro-exit", "fujin-road", 700)]),
    ("metro-58.9km-two-steps", ADULT, {}, [("08:00", "metro-entry", "hongqiao-airport", 0),
                                           ("09:10", "metro-exit", "pudong-airport", 800)]),
    ("metro-interchange-shortest", ADULT, {}, [("08:00", "metro-entry", "xujiahui", 0),
                                               ("08:30", "metro-exit", "century-avenue", 400)]),
    ("metro-by-station-code", ADULT, {}, [("08:00", "metro-entry", "1", 0), ("08:30", "metro-exit", "4", 500)]),
    ("metro-student-half", STUDENT, {}, [("08:00", "metro-entry", "xinzhuang", 0), ("08:30", "metro-exit", "peoples-square", 250)]),
    ("metro-elderly-free", ELDERLY, {}, [("08:00", "metro-entry", "xinzhuang", 0), ("08:30", "metro-exit", "fujin-road", 0)]),
    # ---- same station, missing exit, open trips
    ("same-station-quick-free", ADULT, {}, [("08:00", "metro-entry", "xujiahui", 0), ("08:05", "metro-exit", "xujiahui", 0)]),
    ("same-station-later-minimum", ADULT, {}, [("08:00", "metro-entry", "xujiahui", 0), ("08:30", "metro-exit", "xujiahui", 300)]),
    ("missing-exit-next-entry", ADULT, {}, [("08:00", "metro-entry", "xinzhuang", 0), ("12:01", "metro-entry", "xujiahui", 800)]),
    ("missing-exit-next-bus", ADULT, {}, [("08:00", "metro-entry", "xinzhuang", 0), ("13:00", "bus", "71", 1000)]),
    ("missing-exit-elderly-penalty", ELDERLY, {}, [("08:00", "metro-entry", "xinzhuang", 0), ("13:00", "bus", "71", 800)]),
    ("missing-exit-next-day", ADULT, {}, [("20:00", "metro-entry", "xinzhuang", 0), ("+1 07:00", "metro-entry", "xujiahui", 800)]),
    ("overtime-exit-max-fare", ADULT, {}, [("08:00", "metro-entry", "xinzhuang", 0), ("12:30", "metro-exit", "xujiahui", 800)]),
    ("entry-while-open-refused", ADULT, {}, [("08:00", "metro-entry", "xinzhuang", 0),
                                             ("08:30", "metro-entry", "xujiahui", "decline:a trip is open")]),
    ("exit-without-entry", ADULT, {}, [("08:00", "metro-exit", "xujiahui", "decline:no entry tap")]),
    ("exit-twice", ADULT, {}, [("08:00", "metro-entry", "xinzhuang", 0), ("08:20", "metro-exit", "xujiahui", 400),
                               ("08:25", "metro-exit", "xujiahui", "decline:no entry tap")]),
    ("bus-during-open-trip-keeps-it", ADULT, {}, [("08:00", "metro-entry", "xinzhuang", 0), ("08:30", "bus", "71", 200),
                                                  ("09:00", "metro-exit", "xujiahui", 400)]),
    ("entry-balance-too-low", {**ADULT, "balance": 299}, {}, [("08:00", "metro-entry", "xinzhuang", "decline:needed to enter")]),
    ("entry-balance-exactly-minimum", {**ADULT, "balance": 300}, {}, [("08:00", "metro-entry", "xinzhuang", 0)]),
    # ---- daily cap and monthly volume (counters on the card)
    ("daily-cap", ADULT, {}, [(f"{6 + 2 * i:02d}:00", "bus", "71", 200) for i in range(7)]
     + [("20:00", "bus", "71", 100), ("22:00", "bus", "71", 0)]),
    ("daily-cap-already-reached", ADULT, {"counter_date": "20240301", "day_spent": 1500}, [("08:00", "bus", "71", 0)]),
    ("daily-cap-resets-next-day", ADULT, {"counter_date": "20240229", "day_spent": 1500, "month_spent": 1500},
     [("08:00", "bus", "71", 200)]),
    ("clock-behind-keeps-cap", ADULT, {"counter_date": "20240302", "day_spent": 1500}, [("08:00", "bus", "71", 0)]),
    ("volume-20-percent", ADULT, {"counter_date": "20240301", "month_spent": 10_000}, [("08:00", "bus", "71", 160)]),
    ("volume-50-percent", ADULT, {"counter_date": "20240301", "month_spent": 15_000}, [("08:00", "bus", "71", 100)]),
    ("volume-resets-new-month", ADULT, {"counter_date": "20240229", "month_spent": 20_000}, [("08:00", "bus", "71", 200)]),
    ("volume-tier-reached-mid-day", ADULT, {"counter_date": "20240301", "month_spent": 9_900},
     [("08:00", "bus", "71", 200), ("10:00", "bus", "71", 160)]),
    ("student-volume-order", STUDENT, {"counter_date": "20240301", "month_spent": 10_000}, [("08:00", "bus", "71", 80)]),
    ("penalty-not-capped", ADULT, {"counter_date": "20240301", "day_spent": 1500},
     [("06:00", "metro-entry", "xinzhuang", 0), ("11:00", "bus", "71", 800)]),
]


@pytest.mark.parametrize("settings,counters,taps", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_fare_table(settings: dict, counters: dict, taps: list) -> None:
    rider = Rider(**settings)
    rider.state = replace(rider.state, **counters)
    for hhmm, mode, station, expected in taps:
        d = rider.tap(mode, station, at(hhmm))
        if isinstance(expected, str):
            assert not d.approved, f"{hhmm} {mode} {station}: approved {d.amount}, expected {expected}"
            assert expected.removeprefix("decline:") in (d.reason or "")
        else:
            assert d.approved, f"{hhmm} {mode} {station}: declined ({d.reason})"
            assert d.amount == expected, f"{hhmm} {mode} {station}: {d.amount} != {expected} ({d.fare}, {d.notes})"


def test_there_are_at_least_40_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("km,fare", [(0, 300), (6, 300), (6.001, 400), (12, 400), (22, 500), (22.5, 600), (32, 600),
                                     (32.001, 700), (52, 700), (52.001, 800), (92.5, 1000)])
def test_distance_bands_inclusive_then_per_started_20_km(km: float, fare: int) -> None:
    assert TABLES.metro.fare_for(round(km * 1000)) == fare


def test_network_maximum_is_the_held_fare() -> None:
    assert TABLES.metro.max_fare == 800
    rider = Rider(**ADULT)
    rider.tap("metro-entry", "xinzhuang", at("08:00"))
    assert rider.state.record.held_fare == 800 and rider.state.open


def test_breakdown_and_subsidy_of_a_student_transfer() -> None:
    rider = Rider(**STUDENT)
    rider.tap("bus", "71", at("08:00"))
    d = rider.tap("bus", "49", at("08:30"))
    assert d.fare == FareBreakdown(base=200, transfer=100, concession=50, volume=0, cap=0, charged=50, penalty=0)
    assert d.fare.revenue == 100 and d.concession is not None and d.concession.id == "student"


def test_counters_on_the_card_follow_the_charges() -> None:
    rider = Rider(**ADULT)
    rider.tap("bus", "71", at("08:00"))
    rider.tap("metro-entry", "xinzhuang", at("08:30"))
    rider.tap("metro-exit", "peoples-square", at("09:00"))
    s = rider.state
    assert (s.counter_date, s.day_spent, s.month_spent, s.day_legs) == ("20240301", 600, 600, 2)
    assert s.record.transfers == 1 and s.record.total_fare == 600


def test_open_trip_penalty_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    tables = replace(TABLES, metro=replace(TABLES.metro, open_trip_at_entry="penalty"))
    rider = Rider(**ADULT)
    rider.tap("metro-entry", "xinzhuang", at("08:00"), tables)
    d = rider.tap("metro-entry", "xujiahui", at("08:30"), tables)
    assert d.approved and d.amount == 800 and [t.trip_type for t in d.trips] == [0x07, 0x03]


def test_another_networks_open_trip_is_ignored() -> None:
    rider = Rider(**ADULT)
    rider.tap("metro-entry", "xinzhuang", at("08:00"))
    rec = rider.state.record
    rider.state = replace(rider.state, record=replace(rec, entry=replace(rec.entry, city=bytes.fromhex("1100"))))
    assert rider.tap("metro-exit", "xujiahui", at("08:30")).reason.startswith("the open trip is another network's")
    d = rider.tap("metro-entry", "xujiahui", at("08:31"))
    assert d.approved and d.amount == 0


def test_prices_are_whole_fen() -> None:
    rider = Rider(**STUDENT)
    rider.state = replace(rider.state, counter_date="20240301", month_spent=10_000)
    d = rider.tap("bus", "916", at("08:00"))  # 300 → half 150 → 20 % off 30 → 120
    assert d.amount == 120
    assert all(type(getattr(d.fare, f)) is int for f in ("base", "transfer", "concession", "volume", "cap", "charged", "penalty"))

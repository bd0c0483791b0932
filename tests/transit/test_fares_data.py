"""The fare data files: the shipped ones load; a broken one is refused with its file, line and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from terminal.transit.errors import FareDataError
from terminal.transit.fares import fares_dir, load_fares


def test_the_shipped_fare_data_loads() -> None:
    t = load_fares()
    assert t.bus.flat_fare == 200 and len(t.network.stations) == 18 and t.metro.max_fare == 800
    assert {c.id for c in t.concessions} == {"elderly", "student", "child"}
    assert set(t.gates) == {"century-park", "zhongshan-park", "city-library", "shanghai-museum"}


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


# (file, text to replace, replacement, expected part of the message, line holding the replacement or None)
BROKEN = [
    ("network.toml", "flat_fare = 200", "flat_fare = 2.00", "bus.flat_fare: must be a whole number", "flat_fare"),
    ("network.toml", "flat_fare = 200", "flat_fare = -5", "bus.flat_fare: must be 1..", "flat_fare"),
    ("network.toml", "916 = 300", "x916 = 300", "a route is a number", "x916"),
    ("network.toml", "up_to_km = 12", "up_to_km = 5", "metro.band[2].up_to_km: must be > 6", "up_to_km = 5"),
    ("network.toml", "fare = 500", "fare = 350", "metro.band[3].fare: must be ≥ 400", "fare = 350"),
    ("network.toml", 'same_station_fare = "free"', 'same_station_fare = "gratis"', "must be one of free, minimum", "gratis"),
    ("network.toml", 'pairs = ["bus>bus", "bus>metro", "metro>bus"]', 'pairs = ["bus>boat"]', "transfer.pairs: must be one of", "bus>boat"),
    ("network.toml", "percent_off = 50", "percent_off = 150", "caps.monthly_volume[2].percent_off: must be 0..100", "percent_off = 150"),
    ("network.toml", "from = 15000", "from = 9000", "caps.monthly_volume[2].from: must be > 10000", "from = 9000"),
    ("network.toml", "double_tap_seconds = 3", "double_tap_secs = 3", "validator.double_tap_secs: unknown key", "double_tap_secs"),
    ("network.toml", 'city = "3100"', 'city = "31"', "city: '31' does not have the expected form", 'city = "31"'),
    ("network.toml", "format = 1", "format = 2", "format: must be 1..1", "format = 2"),
    ("network.toml", "[caps]\n", "[caps\n", "not valid TOML", None),
    ("stations.csv", "1,3,xujiahui,徐家汇,9.3", "1,3,xujiahui,徐家汇,3.0", "km must grow along line 1", "徐家汇,3.0"),
    ("stations.csv", "1,3,xujiahui,徐家汇,9.3", "1,3,xujiahui,徐家汇,nine", "km must be a distance", "徐家汇,nine"),
    ("stations.csv", "2,9,zhongshan-park,中山公园,10.8", "2,9,zhongshan-park,中山公园,10.8,x", "expected 5 fields", "10.8,x"),
    ("stations.csv", "4,9,zhongshan-park,中山公园,5.8", "4,19,zhongshan-park,中山公园,5.8", "an interchange keeps both", "4,19,"),
    ("stations.csv", "2,11,lujiazui,陆家嘴,18.3", "2,3,lujiazui,陆家嘴,18.3", "code 3 is already station 'xujiahui'", "2,3,lujiazui"),
    ("stations.csv", "1,1,xinzhuang,莘庄,0", "1,300,xinzhuang,莘庄,0", "code must be 1..254", "1,300,"),
    ("stations.csv", "1,1,xinzhuang,莘庄,0", "1,1,Xin Zhuang,莘庄,0", "must be lower-case", "Xin Zhuang"),
    ("concessions.toml", "bus_percent = 50", "bus_percent = 101", "concession[2].bus_percent: must be 0..100", "bus_percent = 101"),
    ("concessions.toml", 'categories = ["student"]', 'categories = ["pupil"]', "concession[2].categories: must be one of", "pupil"),
    ("concessions.toml", 'id = "student"', 'id = "elderly"', "defined twice", None),
    ("venues.toml", 'accepts = ["library"]', 'accepts = ["libary"]', "gate[3].accepts: must be one of", "libary"),
    ("venues.toml", "venue = 101", "venue = 0", "gate[1].venue: must be 1..65535", "venue = 0"),
    ("venues.toml", "once_per_day = true", 'once_per_day = "yes"', "pass[1].once_per_day: must be true or false", '"yes"'),
]


@pytest.mark.parametrize("name,old,new,message,marker", BROKEN, ids=[f"{b[0]}:{b[3][:30]}" for b in BROKEN])
def test_a_broken_file_is_refused_with_file_line_and_key(tmp_path: Path, name: str, old: str, new: str, message: str,
                                                        marker: str | None) -> None:
    folder = tmp_path / "fares"
    shutil.copytree(fares_dir(), folder)
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FareDataError) as caught:
        load_fares(folder)
    err = caught.value
    assert message in str(err)
    assert err.file == str(path)
    assert str(err).startswith(f"{path}:")
    if marker is not None:
        assert err.line == _line(text, marker), str(err)
    else:
        assert err.line is not None or "defined twice" in str(err)


def test_a_missing_file_names_it(tmp_path: Path) -> None:
    folder = tmp_path / "fares"
    shutil.copytree(fares_dir(), folder)
    (folder / "venues.toml").unlink()
    with pytest.raises(FareDataError, match=r"venues\.toml: cannot read"):
        load_fares(folder)


def test_a_disconnected_network_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "fares"
    shutil.copytree(fares_dir(), folder)
    with (folder / "stations.csv").open("a", encoding="utf-8") as f:
        f.write("8,30,island-a,甲,0\n8,31,island-b,乙,2\n")
    with pytest.raises(FareDataError, match="not connected"):
        load_fares(folder)

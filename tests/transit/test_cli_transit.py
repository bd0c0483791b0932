"""`ykt validator` and `ykt transit …` through a `YktGroup` like `ykt`'s: outputs, JSON, one-line errors,
help with an example and a line in docs/transit.md for every command."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from terminal.cli.main import YktGroup
from terminal.cli.transit import transit, validator

ROOT = Path(__file__).resolve().parents[2]


@click.group(cls=YktGroup)
def ykt() -> None:
    """The transit commands, registered as in ykt."""


ykt.add_command(validator)
ykt.add_command(transit)


def run(*args: str) -> click.testing.Result:
    return CliRunner().invoke(ykt, list(args))


@pytest.mark.parametrize("path", ["validator", "transit simulate", "transit fares", "transit issue-pass"])
def test_help_has_an_example_and_the_docs_name_the_command(path: str) -> None:
    result = run(*path.split(), "--help")
    assert result.exit_code == 0 and "Example" in result.output
    assert f"`ykt {path}" in (ROOT / "docs" / "transit.md").read_text(encoding="utf-8")


def test_validator_with_in_process_cards_prints_one_line_per_tap() -> None:
    result = run("validator", "--mode", "bus", "--station", "71", "--card", "zhang-wei", "--card", "wang-jianguo",
                 "--card", "chen-xiaoyu", "--card", "zhang-wei")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line[:2].isdigit()]
    assert len(lines) == 4
    assert "OK" in lines[0] and "fare 2.00" in lines[0] and "balance 48.00" in lines[0]
    assert "concession 老年 elderly" in lines[1] and "fare 0.00" in lines[1]
    assert "concession 学生 student" in lines[2] and "fare 1.00" in lines[2]
    assert "ALREADY PAID" in lines[3]
    assert "stopped after 4 tap(s)" in result.output


def test_validator_json_and_metro_trip() -> None:
    entry = run("validator", "--mode", "metro-entry", "--station", "xinzhuang", "--card", "li-na", "--json")
    exit_ = run("validator", "--mode", "metro-exit", "--station", "4", "--card", "li-na", "--json")
    first = json.loads(next(line for line in entry.output.splitlines() if line.startswith("{")))
    second = json.loads(next(line for line in exit_.output.splitlines() if line.startswith("{")))
    assert (first["status"], first["amount"]) == ("approved", 0)
    assert (second["status"], second["amount"], second["entry_station"], second["distance_m"]) == ("approved", 500, "莘庄", 14000)


def test_issue_pass_then_gate() -> None:
    issued = run("transit", "issue-pass", "--card", "zhang-wei", "--pass", "museum-booking")
    assert issued.exit_code == 0 and "博物馆预约 museum booking on card 3100000000000001" in issued.output
    gate = run("validator", "--mode", "gate", "--station", "shanghai-museum", "--card", "zhang-wei", "--card", "li-na")
    assert gate.exit_code == 0
    assert "OK" in gate.output and "(0 left)" in gate.output and "no pass for 上海博物馆" in gate.output


def test_fares_lists_the_network() -> None:
    result = run("transit", "fares")
    assert result.exit_code == 0
    assert "maximum 8.00" in result.output and "xinzhuang (1, line 1)" in result.output


def test_simulate_prints_a_summary() -> None:
    result = run("transit", "simulate", "--cards", "8", "--taps", "60", "--seed", "2")
    assert result.exit_code == 0, result.output
    assert "taps        60" in result.output and "ledger      verified" in result.output
    assert "revenue" in result.output and "recoveries" in result.output


@pytest.mark.parametrize("args,message", [
    (["validator", "--mode", "bus", "--station", "71"], "choose the cards"),
    (["validator", "--mode", "metro-entry", "--station", "atlantis", "--card", "zhang-wei"], "no metro station 'atlantis'"),
    (["validator", "--mode", "bus", "--station", "route-x", "--card", "zhang-wei"], "route number"),
    (["validator", "--mode", "gate", "--station", "zoo", "--card", "zhang-wei"], "no gate 'zoo'"),
    (["transit", "issue-pass", "--card", "zhang-wei", "--pass", "gym"], "no pass type 'gym'"),
])
def test_bad_input_is_one_line(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_broken_fare_data_names_file_and_line(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "fares"
    shutil.copytree(ROOT / "data" / "fares", folder)
    text = (folder / "network.toml").read_text(encoding="utf-8").replace("flat_fare = 200", "flat_fare = 2.5")
    (folder / "network.toml").write_text(text, encoding="utf-8")
    result = run("transit", "fares", "--fares", str(folder))
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "flat_fare = 2.5" in t)
    assert result.exit_code == 1 and f"network.toml:{line}: bus.flat_fare: must be a whole number" in result.output


def test_a_ledger_of_another_terminal_is_refused(tmp_path: Path) -> None:
    from terminal.ledger import Ledger

    Ledger.open(tmp_path / "other.sqlite", terminal_id="990000000001").close()
    result = run("validator", "--mode", "bus", "--station", "71", "--card", "zhang-wei", "--db", str(tmp_path / "other.sqlite"))
    assert result.exit_code == 1 and "belongs to terminal 990000000001" in result.output

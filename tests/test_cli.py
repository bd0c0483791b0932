"""The `ykt` command line: help and README for every command, exact outputs, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from reader.card_file import read_image
from terminal.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def all_commands(group: click.Group = cli, prefix: str = "ykt") -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = []
    for name, cmd in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        out.append((path, cmd))
        if isinstance(cmd, click.Group):
            out += all_commands(cmd, path)
    return out


def run(*args: str, input: str | None = None) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.mark.parametrize("path,command", all_commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_has_help_with_an_example_and_a_readme_line(path: str, command: click.Command) -> None:
    result = run(*path.split()[1:], "--help")
    assert result.exit_code == 0
    assert command.help and len(command.help.strip()) > 10
    if not isinstance(command, click.Group):
        assert "Example" in command.help, f"{path} --help has no example"
        docs = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md"))
        assert f"`{path}" in docs or f"`{path}" in README, f"{path} is not documented in docs/"
        group, _, sub = path.rpartition(" ")
        assert f"`{path}" in README or (f"`{group} " in README and sub in README), f"{path} has no README line"


def test_no_arguments_prints_the_command_list() -> None:
    result = run()
    assert result.exit_code == 0
    assert "card" in result.output and "apdu" in result.output


def test_card_list_names_the_demo_holders() -> None:
    result = run("card", "list")
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()[:-1]]
    assert {"zhang-wei", "li-na", "wang-jianguo", "chen-xiaoyu", "zhao-min", "ayguli", "liu-yang"} <= set(names)


def test_card_read_prints_masked_holder() -> None:
    result = run("card", "read", "--card", "zhang-wei")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "card number   A00000001",
        "region        310000",
        "issued        2021-06-01   expires 2031-05-31",
        "name          张*",
        "SSN           310105********001X",
        "sex           male",
        "born          1980",
    ]
    assert "19800315" not in result.output and "张伟" not in result.output


def test_card_read_with_pin_from_stdin_and_pin_protected_ef06() -> None:
    without = run("card", "read", "--card", "li-na")
    assert "EF06 needs the PIN" in without.output
    with_pin = run("card", "read", "--card", "li-na", "--pin", input="123456\n")
    assert with_pin.exit_code == 0
    assert "SSN           110105********0049" in with_pin.output


def test_wrong_pin_is_one_line_with_tries_left(ykt_home: Path) -> None:
    result = run("card", "read", "--card", "zhang-wei", "--pin", input="000000\n")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == "Error: wrong PIN, 2 tries left"
    assert read_image(ykt_home / "cards" / "zhang-wei.card.json").pin.tries_left == 2


def test_blocked_pin_sends_holder_to_the_issuer() -> None:
    result = run("card", "read", "--card", "liu-yang", "--pin", input="123456\n")
    assert result.exit_code == 1
    assert "go to the card issuer" in result.output
    assert "Traceback" not in result.output


def test_apdu_prints_response_and_sw_meaning() -> None:
    result = run("apdu", "--card", "zhang-wei", "00A404000F7378312E73682EC9E7BBE1B1A3D5CF", "00B2072C00", "00B2092C00", "00FF0000")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[1] == "< 9000  ok"
    assert lines[3] == "< 0709413030303030303031 9000  ok"
    assert lines[5] == "< 6A83  record not found"
    assert lines[7] == "< 6D00  instruction not supported"


@pytest.mark.parametrize(
    "args,message",
    [
        (["apdu", "--card", "zhang-wei", "zz"], "is not hex"),
        (["card", "read"], "choose a card"),
        (["card", "read", "--card", "/nonexistent/x.card.json"], "/nonexistent/x.card.json: no such card image"),
        (["card", "show", "/nonexistent/x.json"], "no such card image"),
        (["card", "new", "x.json"], "give --profile FILE"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_corrupt_image_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.card.json"
    bad.write_text('{"format": "yikatong.card", "version": 1, "atr": "3B00"', encoding="utf-8")
    result = CliRunner().invoke(cli, ["card", "read", "--card", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: not a JSON card image" in result.output


def test_card_new_from_options_and_show(tmp_path: Path) -> None:
    out = tmp_path / "new.card.json"
    result = run("card", "new", str(out), "--name", "张三", "--ssn", "11010519491231002", "--pin", "654321")
    assert result.exit_code == 0, result.output
    shown = run("card", "show", str(out))
    assert "PIN        3 of 3 tries left" in shown.output
    assert "654321" not in out.read_text(encoding="utf-8")
    read = run("card", "read", "--card", str(out), "--pin", input="654321\n")
    assert "SSN           110105********002" in read.output[: 10_000]
    again = CliRunner().invoke(cli, ["card", "new", str(out), "--name", "张三", "--ssn", "11010519491231002"])
    assert again.exit_code == 1 and "already exists" in again.output


def test_card_new_from_profile_rejects_a_bad_check_digit(tmp_path: Path) -> None:
    profile = (ROOT / "data" / "cards" / "zhang-wei.toml").read_text(encoding="utf-8").replace("31010519800315001X", "310105198003150011")
    path = tmp_path / "bad.toml"
    path.write_text(profile, encoding="utf-8")
    result = CliRunner().invoke(cli, ["card", "new", str(tmp_path / "x.json"), "--profile", str(path)])
    assert result.exit_code == 1
    assert f"{path} [holder]: 'ssn' fails the GB 11643 check digit" in result.output


def test_trace_file_masks_the_pin_and_shows(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    run("card", "read", "--card", "li-na", "--pin", "--trace", str(trace), input="123456\n")
    text = trace.read_text(encoding="utf-8")
    assert "123456" not in text
    entries = [json.loads(line) for line in text.splitlines()]
    verify = [e for e in entries if e["name"] == "VERIFY"]
    assert verify[0]["hex"] == "0020000003******"
    shown = run("trace", "show", str(trace))
    assert "VERIFY" in shown.output and "123456" not in shown.output

"""`ykt qr …` and `ykt hotlist …` through click's CliRunner: help, docs, exact outputs, exit codes."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from terminal.cli.identity import hotlist, qr

ROOT = Path(__file__).resolve().parents[2]


@click.group()
def ykt() -> None:
    """Stand-in for the `ykt` entry point holding the groups of this part."""


ykt.add_command(qr)
ykt.add_command(hotlist)


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(ykt, list(args), input=input, catch_exceptions=False)


def commands() -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = []
    for group in (qr, hotlist):
        assert isinstance(group, click.Group)
        out.append((f"ykt {group.name}", group))
        out += [(f"ykt {group.name} {name}", cmd) for name, cmd in sorted(group.commands.items())]
    return out


@pytest.mark.parametrize("path,command", commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_help_has_an_example_and_a_docs_line(path: str, command: click.Command) -> None:
    result = run(*path.split()[1:], "--help")
    assert result.exit_code == 0 and command.help and "Example" in command.help
    docs = (ROOT / "docs" / "identity.md").read_text(encoding="utf-8")
    assert f"`{path}" in docs, f"{path} is not in docs/identity.md"


def test_qr_issue_draws_the_code_and_verify_accepts_it_once(tmp_path: Path) -> None:
    png = tmp_path / "z.png"
    issued = run("qr", "issue", "--card", "zhang-wei", "--png", str(png))
    assert issued.exit_code == 0, issued.output
    lines = issued.output.splitlines()
    assert lines[0].startswith("█████") and max(len(line) for line in lines[:-4]) <= 80
    assert lines[-4] == "holder        张* 310105********001X card A00000001 region 310000 (card, authenticated)"
    assert lines[-3].startswith("valid until ") and lines[-3].endswith("UTC (120 s)")
    assert lines[-2] == f"PNG           {png}"
    payload = lines[-1].removeprefix("payload       ")
    assert payload.startswith("YKT1.") and png.read_bytes()[:4] == b"\x89PNG"
    assert "19800315" not in issued.output.replace(payload, "")

    accepted = run("qr", "verify", payload)
    assert accepted.exit_code == 0, accepted.output
    assert accepted.output.splitlines() == [
        "accepted      QR electronic card, signature ok, first use",
        "name          张*",
        "SSN           310105********001X",
        "card number   A00000001",
        "region        310000",
    ]
    again = run("qr", "verify", payload)
    assert again.exit_code == 1
    assert again.output == "Error: refused (qr-reused): this QR code was already used: ask the holder to refresh it\n"


def test_qr_verify_from_stdin_and_refusals() -> None:
    payload = run("qr", "issue", "--card", "wang-jianguo", "--payload-only").output.strip()
    assert run("qr", "verify", "-", input=payload + "\r\n").exit_code == 0
    for text, reason in ((payload[:-5], "qr-truncated"), ("hello", "qr-garbage"), ("YKT9.AAAA.BBBB", "qr-wrong-version")):
        result = run("qr", "verify", text)
        assert result.exit_code == 1 and result.output.startswith(f"Error: refused ({reason}): "), result.output


def test_qr_issue_needs_the_pin_for_a_pin_protected_holder_record() -> None:
    result = run("qr", "issue", "--card", "li-na")
    assert result.exit_code == 1
    assert result.output == "Error: refused (pin-required): this card shows the holder record only after the PIN (use --pin)\n"
    assert run("qr", "issue", "--card", "li-na", "--pin", "--payload-only", input="123456\n").exit_code == 0
    wrong = run("qr", "issue", "--card", "zhang-wei", "--pin", input="000000\n")
    assert wrong.output == "Error: refused (pin-wrong): wrong PIN, 2 tries left\n"


def test_hotlist_import_show_check_and_qr_refusal(tmp_path: Path, ykt_home: Path) -> None:
    source = tmp_path / "hl.csv"
    source.write_text("version,42\ncard,reason\nA00000007,lost\n3100000000000003\n", encoding="utf-8")
    imported = run("hotlist", "import", str(source))
    assert imported.exit_code == 0
    assert imported.output == f"installed hotlist version 42: 2 entries (1 card serials, 1 card numbers) in {ykt_home / 'hotlist.ykthl'}\n"

    shown = run("hotlist", "show", "--entries", "5").output.splitlines()
    assert shown[0] == f"hotlist       {ykt_home / 'hotlist.ykthl'}"
    assert shown[1] == "version       42"
    assert shown[3] == "entries       2 (1 card serials, 1 card numbers)"
    assert shown[-2:] == ["  A00000007", "  3100000000000003"]

    listed = run("hotlist", "check", "a00000007")
    assert (listed.exit_code, listed.output) == (1, "A00000007: LISTED (hotlist version 42) — refuse the card\n")
    clear = run("hotlist", "check", "A00000001")
    assert (clear.exit_code, clear.output) == (0, "A00000001: not listed (hotlist version 42)\n")
    bad = run("hotlist", "check", "nonsense")
    assert bad.exit_code == 1 and "neither a card serial" in bad.output

    refused = run("qr", "issue", "--card", "wang-jianguo")
    assert refused.exit_code == 1 and refused.output.startswith("Error: refused (hotlisted): card A00000003 is on the hotlist (version 42, by card serial)")

    stale = run("hotlist", "import", str(source))
    assert stale.exit_code == 1 and "version 42 is not newer than the installed version 42" in stale.output


def test_hotlist_import_bad_lines_and_other_db(tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text("version,1\nA00000007\nnot-a-card\n", encoding="utf-8")
    db = tmp_path / "other.ykthl"
    result = run("hotlist", "import", str(source), "--db", str(db))
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: 1 bad line, nothing imported:",
        f"{source}:3: 'not-a-card' is neither a card serial (16 hex digits) nor a card number (9 letters or digits)",
    ]
    assert not db.exists()
    empty = run("hotlist", "show", "--db", str(db))
    assert empty.output == f"no hotlist installed at {db} (every card passes the hotlist check)\n"
    assert run("hotlist", "check", "A00000007", "--db", str(db)).output == f"A00000007: not listed (no hotlist installed at {db})\n"

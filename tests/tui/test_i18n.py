"""One catalog for every user-visible string: both languages hold the same keys, every key the code names
exists, settings round-trip, and nothing on screen ever holds a PIN or a full SSN (see test_flows)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from terminal.tui.i18n import LANGUAGES, Catalog, load_strings, yuan
from terminal.tui.settings import Settings, load_settings, save_settings

TUI = Path(__file__).resolve().parents[2] / "terminal" / "tui"
KEY = re.compile(r"^[a-z_]+\.[a-z_\-]+$")
PREFIXES = {k.split(".")[0] for k in load_strings("en")}


def literal_keys() -> set[str]:
    """String literals in the TUI's code that look like catalog keys (`t("pay.done")`, Binding descriptions)."""
    found: set[str] = set()
    for path in TUI.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and KEY.match(node.value):
                if node.value.split(".")[0] in PREFIXES and not node.value.endswith((".py", ".csv", ".tcss")):
                    found.add(node.value)
    return found


def test_both_languages_have_the_same_keys() -> None:
    assert set(load_strings("zh")) == set(load_strings("en"))


def test_every_key_the_code_uses_exists() -> None:
    keys = set(load_strings("en"))
    missing = sorted(k for k in literal_keys() if k not in keys)
    assert missing == []
    assert len(literal_keys()) > 150


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_agree_between_languages(language: str) -> None:
    fields = re.compile(r"{(\w+)}")
    en = load_strings("en")
    for key, text in load_strings(language).items():
        assert set(fields.findall(text)) == set(fields.findall(en[key])), key


def test_lookup_and_fallbacks() -> None:
    assert Catalog("zh").t("pin.tries_left", n=2) == "还可尝试 2 次"
    assert Catalog("en").t("no.such_key") == "no.such_key"
    with pytest.raises(ValueError):
        Catalog("fr")


def test_yuan_is_exact() -> None:
    assert [yuan(0), yuan(5), yuan(12345), yuan(-250), yuan(None)] == ["0.00", "0.05", "123.45", "-2.50", "—"]


def test_settings_persist_per_terminal(ykt_home: Path) -> None:
    assert load_settings(ykt_home) == Settings()
    save_settings(Settings(language="en", large=True, terminal_region="110000"), ykt_home)
    assert load_settings(ykt_home) == Settings(language="en", large=True, terminal_region="110000")
    (ykt_home / "tui-settings.json").write_text("{not json", encoding="utf-8")
    assert load_settings(ykt_home) == Settings()
    (ykt_home / "tui-settings.json").write_text('{"language": "fr", "large": true}', encoding="utf-8")
    assert load_settings(ykt_home) == Settings()

"""Layering (style.md "What that means here" 1, 6, 7, 10): imports point downward only —
applets/ (pure card side) ← reader/ (transport) ← terminal/ (flows, ledger, UI) — and applets/ does no
I/O: no files, sockets, clocks or randomness of its own. Checked on the source with `ast`."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LAYERS = ("applets", "reader", "terminal")
# the modules a pure card side must not import (I/O, clocks, randomness, processes, databases)
IO_MODULES = {
    "os",
    "io",
    "socket",
    "socketserver",
    "select",
    "selectors",
    "time",
    "random",
    "secrets",
    "sqlite3",
    "subprocess",
    "shutil",
    "tempfile",
    "pathlib",
    "threading",
    "multiprocessing",
    "asyncio",
    "urllib",
    "http",
    "requests",
    "smartcard",
    "importlib",
}
TIME_FUNCTIONS = {"time", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns", "sleep"}
CLOCK_METHODS = {"now", "today", "utcnow"}


def modules(layer: str) -> list[Path]:
    return sorted(p for p in (REPO / layer).rglob("*.py") if "__pycache__" not in p.parts)


def dotted(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@dataclass(frozen=True)
class Import:
    module: str  # absolute dotted name
    line: int


def imports_of(tree: ast.AST, module: str, is_package: bool) -> list[Import]:
    """Every import in the module, lazy and TYPE_CHECKING ones included, relative ones resolved."""
    out: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [Import(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append(Import(target, node.lineno))
            # `from x import y` may import the submodule x.y
            out += [Import(f"{target}.{a.name}", node.lineno) for a in node.names if a.name != "*"]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                out.append(Import(node.args[0].value, node.lineno))
            else:
                out.append(Import("<dynamic __import__>", node.lineno))
    return out


def parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def layer_violations(path: Path, source: str | None = None) -> list[str]:
    """Imports of a higher layer: applets → reader/terminal, reader → terminal."""
    module = dotted(path)
    layer = module.split(".")[0]
    forbidden = set(LAYERS[LAYERS.index(layer) + 1 :])
    tree = ast.parse(source) if source is not None else parse(path)
    return [
        f"{path.relative_to(REPO)}:{imp.line} imports {imp.module}"
        for imp in imports_of(tree, module, path.name == "__init__.py")
        if imp.module.split(".")[0] in forbidden
    ]


def purity_violations(path: Path, source: str | None = None) -> list[str]:
    """I/O in the card side: I/O modules, open(), os./socket./random./secrets. use, clock reads."""
    tree = ast.parse(source) if source is not None else parse(path)
    where = path.relative_to(REPO) if path.is_absolute() else path
    bad: list[str] = []
    for imp in imports_of(tree, dotted(path), path.name == "__init__.py"):
        if imp.module.split(".")[0] in IO_MODULES or imp.module.startswith("<dynamic"):
            bad.append(f"{where}:{imp.line} imports {imp.module}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("open", "input", "print", "exec", "eval"):
            bad.append(f"{where}:{node.lineno} calls {node.func.id}()")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            base, attr = node.value.id, node.attr
            if base in {"os", "socket", "random", "secrets", "subprocess", "sqlite3", "sys"} and not (base == "sys" and attr in {"version_info", "byteorder", "maxsize"}):
                bad.append(f"{where}:{node.lineno} uses {base}.{attr}")
            if base == "time" and attr in TIME_FUNCTIONS:
                bad.append(f"{where}:{node.lineno} reads the clock ({base}.{attr})")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CLOCK_METHODS:
            bad.append(f"{where}:{node.lineno} reads the clock (.{node.func.attr}())")
    return bad


def hygiene_violations(path: Path) -> list[str]:
    """style.md 5–7, 10: no assert/sys.exit/print in library code, no pickle, no star imports."""
    tree = parse(path)
    where = path.relative_to(REPO)
    is_cli = "cli" in path.relative_to(REPO).parts
    bad: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            bad.append(f"{where}:{node.lineno} uses assert for validation")
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            bad.append(f"{where}:{node.lineno} star import")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            if any(n.split(".")[0] in ("pickle", "cPickle", "shelve", "marshal") for n in names):
                bad.append(f"{where}:{node.lineno} imports pickle/shelve/marshal")
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and (f.value.id, f.attr) == ("sys", "exit"):
                bad.append(f"{where}:{node.lineno} calls sys.exit")
            if isinstance(f, ast.Name) and f.id == "print" and not is_cli:
                bad.append(f"{where}:{node.lineno} calls print()")
    return bad


# ---- the checks ----


def test_the_layers_exist_and_are_scanned() -> None:
    assert len(modules("applets")) >= 15
    assert len(modules("reader")) >= 6
    assert len(modules("terminal")) >= 8
    assert REPO / "applets" / "card.py" in modules("applets")


@pytest.mark.parametrize("path", modules("applets"), ids=lambda p: str(p.relative_to(REPO)))
def test_applets_import_nothing_from_reader_or_terminal(path: Path) -> None:
    assert layer_violations(path) == []


@pytest.mark.parametrize("path", modules("reader"), ids=lambda p: str(p.relative_to(REPO)))
def test_reader_imports_nothing_from_terminal(path: Path) -> None:
    assert layer_violations(path) == []


@pytest.mark.parametrize("path", modules("applets"), ids=lambda p: str(p.relative_to(REPO)))
def test_applets_do_no_io(path: Path) -> None:
    assert purity_violations(path) == []


@pytest.mark.parametrize(
    "path",
    modules("applets") + modules("reader") + modules("terminal"),
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_library_hygiene(path: Path) -> None:
    assert hygiene_violations(path) == []


def test_card_randomness_comes_in_through_the_card() -> None:
    """The only entropy on the card side is the function handed to VirtualCard (card.random)."""
    uses = []
    for path in modules("applets"):
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.Attribute) and node.attr == "entropy":
                uses.append(dotted(path))
    assert set(uses) == {"applets.card"}


# ---- the checker itself finds what it must ----


def _fake(layer: str, name: str = "x.py") -> Path:
    return REPO / layer / name


@pytest.mark.parametrize(
    "source",
    [
        "import terminal.cardread",
        "from terminal import issuer",
        "from reader.errors import CardRemoved",
        "def f():\n    from reader import trace\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import terminal\n",
        "from ..terminal import x",
        "__import__('terminal.demo')",
    ],
)
def test_checker_catches_upward_imports(source: str) -> None:
    assert layer_violations(_fake("applets"), source)


def test_checker_allows_downward_imports() -> None:
    assert layer_violations(_fake("applets"), "from applets.tlv import encode\nfrom . import sw") == []
    assert layer_violations(_fake("reader"), "from applets.card import VirtualCard\nfrom reader import errors") == []
    assert layer_violations(_fake("reader"), "from terminal.errors import X")
    assert layer_violations(_fake("terminal"), "from reader import trace\nfrom applets import card") == []


@pytest.mark.parametrize(
    "source",
    [
        "import os",
        "import os.path",
        "from os import urandom",
        "import socket",
        "import time",
        "from time import monotonic",
        "import random",
        "import secrets",
        "import sqlite3",
        "import subprocess",
        "data = open('x').read()",
        "import importlib",
        "x = os.urandom(8)",
        "t = time.time()",
        "from datetime import datetime\nd = datetime.now()",
        "from datetime import date\nd = date.today()",
        "print('hi')",
    ],
)
def test_checker_catches_io_in_the_card(source: str) -> None:
    assert purity_violations(_fake("applets"), source)


def test_checker_allows_pure_code() -> None:
    source = (
        "import hashlib, hmac, json\n"
        "from datetime import date, time\n"
        "from cryptography.hazmat.primitives import hashes\n"
        "def f(t: time) -> int:\n    return t.hour\n"
    )
    assert purity_violations(_fake("applets"), source) == []

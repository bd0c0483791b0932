"""`ykt centre …`: a real `ykt centre serve` process on 127.0.0.1, its fault switches and one transaction
through the command line; seeding; one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from terminal.centre import wire
from terminal.cli.centre import centre

from .server import free_port

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(centre, list(args))
    return result.exit_code, result.output


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "from terminal.cli.centre import centre; centre(prog_name='ykt centre')"
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", "--db", str(tmp_path / "c.sqlite"), "--port",
                             str(port), "--log-level", "warning", "--latency-ms", "1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(url + "/health", timeout=1).json()["ok"]:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "no server")
        time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_faults_and_call(served: str) -> None:
    code, out = run("faults", "--url", served)
    assert code == 0 and json.loads(out)["latency_ms"] == 1
    code, out = run("faults", "--url", served, "--fail", "1101:1", "--fail-msg", "busy")
    assert code == 0 and json.loads(out)["fail"] == {"1101": 1}
    body = '{"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "31010519800315001X"}}'
    code, out = run("call", "1101", "--url", served, "--input", body)
    assert code == 1 and json.loads(out)["err_msg"] == "busy"
    code, out = run("call", "1101", "--url", served, "--input", body)
    answer = wire.loads(out)
    assert code == 0 and answer["output"]["baseinfo"]["psn_no"] == "31000019800315000001"
    assert str(answer["output"]["insuinfo"][0]["balc"]) == "2000.00"  # exact yuan, never through float
    code, out = run("faults", "--url", served, "--clear")
    assert code == 0 and json.loads(out)["fail"] == {}


def test_seed_adds_only_what_is_missing(tmp_path: Path) -> None:
    db = str(tmp_path / "c.sqlite")
    assert run("seed", "--db", db) == (0, "6 institutions, 8 operators, 7 persons, 7 accounts, 3 filings added\n")
    assert run("seed", "--db", db) == (0, "0 institutions, 0 operators, 0 persons, 0 accounts, 0 filings added\n")


def test_errors_are_one_line() -> None:
    code, out = run("faults", "--url", "http://127.0.0.1:9")
    assert code == 1 and out.startswith("Error: cannot reach the centre at http://127.0.0.1:9/ykt/faults")
    code, out = run("faults", "--url", "http://127.0.0.1:9", "--drop", "2102:x")
    assert code == 2 and "give INFNO or INFNO:COUNT" in out
    code, out = run("call", "1101", "--input", "{nope", "--url", "http://127.0.0.1:9")
    assert code == 2 and "not JSON" in out
    assert "Traceback" not in out

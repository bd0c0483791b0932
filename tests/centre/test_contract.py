"""The centre's contract, driven over HTTP (a real uvicorn server on 127.0.0.1), on SQLite and on PostgreSQL:

- the recorded request/response pairs of tests/centre/contract/*.json — every transaction it answers —
  replay to the same answers (placeholders for the ids it makes up; contract.py);
- bad input (tests/centre/contract/bad_inputs.json): each case answers infcode −1 with its exact err_msg, and
  nothing of the centre's state changes (only the refusals are remembered under their msgids).

`YKT_CENTRE_RECORD=1 python -m pytest tests/centre/test_contract.py -k sqlite` records the files again.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import httpx
import pytest

from terminal.centre import Centre, wire

from . import contract, scenarios
from .conftest import Clock
from .server import CentreServer

RECORD = bool(os.environ.get("YKT_CENTRE_RECORD"))
BAD = contract.HERE / "bad_inputs.json"
STATE_TABLES = ("accounts", "moves", "settlements", "visits", "fees", "signins", "reversals")


def poster(url: str) -> Any:
    http = httpx.Client(timeout=10)

    def post(envelope: dict[str, Any] | bytes) -> dict[str, Any]:
        body = envelope if isinstance(envelope, bytes) else wire.dumps(envelope)
        response = http.post(url + wire.PATH, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 200
        return wire.loads(response.content)

    return post


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_recorded_pairs_replay(centre: Centre, server: CentreServer, name: str) -> None:
    path = contract.HERE / f"{name}.json"
    post = poster(server.url)
    if RECORD and centre.db.dialect == "sqlite":
        pairs = contract.record(scenarios.SCENARIOS[name](), post)
        path.write_text(contract.dump({"scenario": name, "pairs": pairs}), encoding="utf-8")
        return
    recorded = contract.load(path)["pairs"]
    assert contract.replay(recorded, post) == []


def test_every_transaction_has_recorded_pairs() -> None:
    seen = {pair["request"]["infno"] for path in contract.HERE.glob("*.json") if path != BAD
            for pair in contract.load(path)["pairs"]}
    from terminal.centre.transactions import TRANSACTIONS

    assert seen == set(TRANSACTIONS)


# ---------------------------------------------------------------- bad input
def _base_requests() -> dict[str, dict[str, Any]]:
    b = contract.Builder(start=5001)
    zw = contract.ZW
    sale = contract.drug_input(zw, contract.lines((contract.A, 2), (contract.B, 1)))
    return {
        "1101": b.env("1101", {"data": contract.cert(zw)}),
        "2102": b.env("2102", sale, insuplc="310000"),
        "2103": b.env("2103", {"data": {"setl_id": "S2025030100000000000000", "psn_no": zw["psn_no"]}},
                      insuplc="310000"),
        "2201": b.env("2201", {"data": {"psn_no": zw["psn_no"], **contract.cert(zw), "insutype": "310",
                                        "begntime": "2025-03-01 10:00:00", "ipt_otp_no": "X1", "dept_code": "A01"}},
                      insuplc="310000"),
        "2601": b.env("2601", {"data": {"omsgid": wire.make_msgid(contract.PHARMACY, contract.NOW, 9999),
                                        "oinfno": "2102"}}),
        "3201": b.env("3201", {"data": {"insutype": "310", "clr_type": "41", "stmt_begndate": "2025-03-01",
                                        "stmt_enddate": "2025-03-01", "medfee_sumamt": "0.00",
                                        "fund_pay_sumamt": "0.00", "acct_pay": "0.00", "fixmedins_setl_cnt": 0}}),
        "9001": b.env("9001", {"signIn": {"opter_no": "c001", "mac": "02:00:00:00:00:01", "ip": "127.0.0.1"}}),
        "Y201": scenarios.offline()[3]["request"],
        "Y301": b.env("Y301", {"data": {"psn_no": zw["psn_no"], **contract.cert(zw), "amt": "100000.00",
                                        "ykt_ed_before": "1200.00"}}, insuplc="310000"),
    }


def _apply(request: dict[str, Any], case: dict[str, Any], seq: int) -> dict[str, Any] | bytes:
    if "raw" in case:
        return case["raw"].encode("utf-8")
    doc = deepcopy(request)
    if case.get("fresh_msgid", True) and "msgid" not in case.get("set", {}):
        doc["msgid"] = wire.make_msgid(doc["fixmedins_code"], contract.NOW, 6000 + seq)
    for path, value in case.get("set", {}).items():
        *parents, last = _path(path)
        node = doc
        for part in parents:
            node = node[part]
        node[last] = wire.loads(wire.dumps(value)) if isinstance(value, (dict, list)) else _value(value)
    for path in case.get("delete", []):
        *parents, last = _path(path)
        node = doc
        for part in parents:
            node = node[part]
        del node[last]
    return doc


def _path(path: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in path.split(".")]


def _value(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("decimal:"):
        from decimal import Decimal

        return Decimal(value[len("decimal:"):])
    return value


def _state(centre: Centre) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(centre.db.query(f"SELECT * FROM {t}"), key=repr) for t in STATE_TABLES}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def bad_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Centre, Any]]:
    if request.param == "sqlite":
        url = str(tmp_path_factory.mktemp("bad") / "centre.sqlite")
    else:
        from tests.clearing.conftest import pg_url

        url = pg_url(request.getfixturevalue("postgres"))
    centre = Centre.open(url, clock=Clock())
    with CentreServer(centre) as server:
        post = poster(server.url)
        answer = post(_base_requests()["9001"])
        sign_no = answer["output"]["signinoutb"]["sign_no"]
        yield centre, post, sign_no
    centre.close()


CASES = contract.load(BAD)["cases"] if BAD.exists() else []


def test_there_are_at_least_40_bad_input_cases() -> None:
    assert len(CASES) >= 40
    assert len({c["name"] for c in CASES}) == len(CASES)


def test_bad_inputs_answer_minus_one_precisely_and_write_nothing(bad_server: Any) -> None:
    centre, post, sign_no = bad_server
    bases = _base_requests()
    before = _state(centre)
    problems = []
    recorded = []
    for seq, case in enumerate(CASES):
        for pre in case.get("before", []):  # a valid request the case needs first (e.g. a msgid used)
            post(contract.substitute(_apply(bases[pre["base"]], pre, 9000 + seq), {"sign_no_1": sign_no}))
        request = _apply(bases[case["base"]], case, seq)
        if not isinstance(request, bytes):
            request = contract.substitute(request, {"sign_no_1": sign_no})
        answer = post(request)
        recorded.append({**case, "err_msg": answer.get("err_msg")})
        if answer.get("infcode") != -1:
            problems.append(f"{case['name']}: infcode {answer.get('infcode')}")
        elif not RECORD and answer.get("err_msg") != case["err_msg"]:
            problems.append(f"{case['name']}: {answer.get('err_msg')!r} != {case['err_msg']!r}")
    if RECORD and centre.db.dialect == "sqlite":
        BAD.write_text(contract.dump({"cases": recorded}), encoding="utf-8")
    assert problems == []
    assert _state(centre) == before, "a refused request changed the centre's state"


def test_a_refusal_is_remembered_under_its_msgid(bad_server: Any) -> None:
    centre, post, sign_no = bad_server
    request = contract.substitute(_base_requests()["2102"], {"sign_no_1": sign_no})
    request["msgid"] = wire.make_msgid(contract.PHARMACY, contract.NOW, 8888)
    request["input"]["druginfo"]["medfee_sumamt"] = wire.yuan_of(1)
    first = post(request)
    request["input"]["druginfo"]["medfee_sumamt"] = wire.yuan_of(1)
    assert post(request) == first and first["infcode"] == -1


def path_of(p: Path) -> str:
    return str(p)

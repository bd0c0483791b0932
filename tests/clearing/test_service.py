"""The HTTP service: every request signed with the terminal's key; unauthenticated, altered, stale, replayed,
unknown or disabled terminals refused; uploads, cursor, updates, artifacts and settlement over JSON."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from terminal import hotlist as hl
from terminal.clearing import ClearingHouse, auth, policy_document
from terminal.clearing.service import create_app

from .helpers import RecordMaker

TID = "310100000001"


@pytest.fixture
def setup(house: ClearingHouse) -> Iterator[tuple[ClearingHouse, TestClient, bytes]]:
    key = house.add_terminal(TID, merchant_id="M1")
    with TestClient(create_app(house), base_url="http://clearing.test") as client:
        yield house, client, key


def signed(client: TestClient, key: bytes, method: str, path: str, body: bytes = b"", *, terminal: str = TID,
           ts: int | None = None, nonce: str | None = None):  # type: ignore[no-untyped-def]
    headers = auth.sign(key, method, path, "", terminal, int(time.time()) if ts is None else ts, body, nonce)
    return client.request(method, path, content=body or None, headers=headers)


def batch(records: list[dict], terminal: str = TID) -> bytes:
    return json.dumps({"terminal_id": terminal, "records": records}).encode()


def test_health_needs_no_auth(setup) -> None:  # type: ignore[no-untyped-def]
    _, client, _ = setup
    doc = client.get("/v1/health").json()
    assert doc["ok"] is True and abs(doc["time"] - time.time()) < 5


def test_upload_cursor_and_idempotent_retry(setup) -> None:  # type: ignore[no-untyped-def]
    house, client, key = setup
    records = RecordMaker(TID, random.Random(1), ["3100000000000001"]).make(5)
    first = signed(client, key, "POST", "/v1/batches", batch(records[:3]))
    assert first.status_code == 200 and first.json()["cursor"] == records[2]["seq"] and first.json()["new"] == 3
    again = signed(client, key, "POST", "/v1/batches", batch(records))  # a retry, signed afresh
    assert again.json()["new"] == 2 and again.json()["duplicates"] == 3
    assert signed(client, key, "GET", "/v1/cursor").json() == {"terminal_id": TID, "cursor": records[-1]["seq"]}


@pytest.mark.parametrize("case", ["missing", "bad_key", "altered_body", "stale", "future", "unknown", "replayed"])
def test_unauthenticated_or_replayed_requests_are_refused(setup, case: str) -> None:  # type: ignore[no-untyped-def]
    house, client, key = setup
    records = RecordMaker(TID, random.Random(2), ["3100000000000001"]).make(2)
    body = batch(records)
    if case == "missing":
        response = client.post("/v1/batches", content=body)
    elif case == "bad_key":
        response = signed(client, auth.new_key(), "POST", "/v1/batches", body)
    elif case == "altered_body":
        headers = auth.sign(key, "POST", "/v1/batches", "", TID, int(time.time()), body)
        response = client.post("/v1/batches", content=body.replace(b'"op1"', b'"op2"'), headers=headers)
    elif case in ("stale", "future"):
        response = signed(client, key, "POST", "/v1/batches", body, ts=int(time.time()) + (-3600 if case == "stale" else 3600))
        assert isinstance(response.json()["server_time"], int)
    elif case == "unknown":
        response = signed(client, key, "POST", "/v1/batches", batch(records, "310100000009"), terminal="310100000009")
    else:
        headers = auth.sign(key, "POST", "/v1/batches", "", TID, int(time.time()), body)
        assert client.post("/v1/batches", content=body, headers=headers).status_code == 200
        response = client.post("/v1/batches", content=body, headers=headers)  # the same request captured and replayed
    expected = {"missing": "missing", "bad_key": "bad_signature", "altered_body": "bad_signature", "stale": "clock_skew",
                "future": "clock_skew", "unknown": "unknown_terminal", "replayed": "replayed"}[case]
    assert response.status_code == 401 and response.json()["error"] == expected
    assert house.stats()["valid"] == (2 if case == "replayed" else 0)


def test_disabled_terminal_and_foreign_terminal_id_in_the_body(setup) -> None:  # type: ignore[no-untyped-def]
    house, client, key = setup
    other = house.add_terminal("310100000002", merchant_id="M2")
    records = RecordMaker(TID, random.Random(3), ["3100000000000001"]).make(2)
    foreign = signed(client, other, "POST", "/v1/batches", batch(records, TID), terminal="310100000002")
    assert foreign.status_code == 403 and foreign.json()["error"] == "wrong_terminal"
    house.set_enabled(TID, False)
    refused = signed(client, key, "GET", "/v1/cursor")
    assert refused.status_code == 403 and refused.json()["error"] == "disabled"


def test_bad_batches_are_400(setup) -> None:  # type: ignore[no-untyped-def]
    _, client, key = setup
    assert signed(client, key, "POST", "/v1/batches", b"not json").status_code == 400
    no_seq = signed(client, key, "POST", "/v1/batches", batch([{"kind": "x"}]))
    assert no_seq.status_code == 400 and "seq" in no_seq.json()["message"]


def test_updates_artifacts_and_settlement(setup) -> None:  # type: ignore[no-untyped-def]
    house, client, key = setup
    house.publish("hotlist", 3, hl.build_file(3, [hl.record_key("3100000000000001")], created=0))
    house.publish("policy", 1, policy_document({"low_balance_warning_fen": 500}, 1))
    with pytest.raises(Exception, match="not newer"):
        house.publish("hotlist", 2, hl.build_file(2, [], created=0))
    latest = signed(client, key, "GET", "/v1/updates").json()
    assert latest["hotlist"]["version"] == 3 and latest["policy"]["version"] == 1
    art = signed(client, key, "GET", "/v1/artifacts/hotlist/3")
    assert art.status_code == 200 and hl.Hotlist.from_bytes(art.content).contains("3100000000000001")
    assert signed(client, key, "GET", "/v1/artifacts/fares/1").status_code == 404
    records = RecordMaker(TID, random.Random(4), ["3100000000000001"]).make(6)
    signed(client, key, "POST", "/v1/batches", batch(records))
    report = signed(client, key, "GET", "/v1/settlements/2024-05-01").json()
    assert report["merchant_id"] == "M1" and report["transactions"]["valid"] == 6
    assert sum(report["by_fund"].values()) == 0

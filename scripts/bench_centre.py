"""Insurance-centre benchmark for scripts/bench: `run(quick) -> dict` (medians, p99, never pass/fail).

A real `ykt centre serve` process (uvicorn, one worker, 127.0.0.1) and client threads (httpx, keep-alive)
sending the pharmacy sequence 1101 → 2101 → 2102 (each request its own msgid, every answer stored for
idempotency, every 2102 a settlement with its account move) — the round trips a counter makes per sale.

- `sqlite`: the centre on SQLite (WAL, synchronous=FULL: an answered settlement survives power loss);
- `postgres`: on PostgreSQL — a throwaway server like the tests' (fsync off) unless $YKT_BENCH_PG_URL names one;
- `in_process`: `Centre.handle` without HTTP (what the transactions cost by themselves, SQLite).

Reported: round trips per second (target ≥ 500/s on 2 cores), sales (1101+2101+2102) per second, median and p99
latency per infno, and the client threads used.

Usage::

    python scripts/bench_centre.py [--quick]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
INSTITUTION = "P99000000001"  # the benchmark pharmacy of data/centre/institutions.csv
PERSON = {"psn_no": "31000019800315000001", "mdtrt_cert_type": "03", "mdtrt_cert_no": "A00000001",
          "card_sn": "310000D1560000053100000000000001"}


def _pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def _summary(samples_s: list[float]) -> dict[str, float]:
    return {"n": len(samples_s), "median_ms": round(statistics.median(samples_s) * 1000, 3),
            "p99_ms": round(_pct(samples_s, 0.99) * 1000, 3)}


def _inputs() -> tuple[dict[str, Any], dict[str, Any]]:
    from decimal import Decimal

    person = {"data": {k: v for k, v in PERSON.items() if k != "psn_no"}}
    drugs = {"druginfo": {**PERSON, "med_type": "41", "medfee_sumamt": Decimal("62.30"), "insutype": "310",
                          "acct_used_flag": "0"},
             "drugdetail": [{"feedetl_sn": "1", "med_list_codg": "XJ01CAA040A001", "cnt": 2, "pric": Decimal("12.50"),
                             "det_item_fee_sumamt": Decimal("25.00")},
                            {"feedetl_sn": "2", "med_list_codg": "XJ01DDT080A001", "cnt": 1, "pric": Decimal("26.80"),
                             "det_item_fee_sumamt": Decimal("26.80")},
                            {"feedetl_sn": "3", "med_list_codg": "XJ01DBT010A001", "cnt": 1, "pric": Decimal("8.90"),
                             "det_item_fee_sumamt": Decimal("8.90")},
                            {"feedetl_sn": "4", "med_list_codg": "XJ01CAA040A001", "cnt": 1, "pric": Decimal("1.60"),
                             "det_item_fee_sumamt": Decimal("1.60")}][:3]}
    drugs["druginfo"]["medfee_sumamt"] = Decimal("60.70")
    return person, drugs


def _serve(db_url: str) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    from tests.clearing.pgserver import free_port

    port = free_port()
    code = "from terminal.cli.centre import centre; centre(prog_name='ykt centre')"
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", "--db", db_url, "--port", str(port),
                             "--log-level", "warning", "--no-admin"], env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("the centre did not start: " + (proc.stderr.read().decode() if proc.stderr else ""))
        time.sleep(0.1)


class _Lean:
    """A keep-alive HTTP/1.1 client on the standard library (the load generator: httpx costs the shared CPU
    more than the centre does per request); envelopes from CentreClient, answers checked for infcode 0."""

    def __init__(self, url: str, client: Any) -> None:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        self.client = client

    def call(self, infno: str, body: dict[str, Any], insuplc: str) -> None:
        from terminal.centre.wire import PATH, dumps, loads

        self.conn.request("POST", PATH, dumps(self.client.envelope(infno, body, insuplc_admdvs=insuplc)),
                          {"Content-Type": "application/json"})
        answer = loads(self.conn.getresponse().read())
        if answer["infcode"] != 0:
            raise RuntimeError(f"{infno}: {answer['err_msg']}")


def http_round_trips(db_url: str, sales: int, threads: int) -> dict[str, Any]:
    from terminal.centre_client import CentreClient, Institution, MsgIds
    import datetime as dt

    proc, url = _serve(db_url)
    person, drugs = _inputs()
    institution = Institution(INSTITUTION, "bench", "310000")
    msgids = MsgIds(INSTITUTION, dt.datetime.now)
    latencies: dict[str, list[float]] = {"1101": [], "2101": [], "2102": []}
    lock = threading.Lock()
    errors: list[str] = []
    try:
        warm = CentreClient(url, institution, msgids=msgids, timeout=10)
        sign_no = warm.sign_in("bench")
        for _ in range(20):
            warm.call("1101", person)

        def worker(n: int) -> None:
            lean = _Lean(url, warm)
            mine: dict[str, list[float]] = {k: [] for k in latencies}
            try:
                for _ in range(n):
                    for infno, body, insuplc in (("1101", person, ""), ("2101", drugs, "310000"),
                                                 ("2102", drugs, "310000")):
                        t0 = time.perf_counter()
                        lean.call(infno, body, insuplc)
                        mine[infno].append(time.perf_counter() - t0)
            except Exception as exc:  # noqa: BLE001 - reported, not raised: a benchmark
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                lean.conn.close()
                with lock:
                    for k, v in mine.items():
                        latencies[k] += v

        per = max(1, sales // threads)
        pool = [threading.Thread(target=worker, args=(per,)) for _ in range(threads)]
        start = time.perf_counter()
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - start
    finally:
        warm.close()
        proc.terminate()
        proc.wait(timeout=20)
    del sign_no
    done = len(latencies["2102"])
    trips = sum(len(v) for v in latencies.values())
    every = [x for v in latencies.values() for x in v]
    return {
        "sales": done, "round_trips": trips, "threads": threads, "seconds": round(elapsed, 3),
        "round_trips_per_s": round(trips / elapsed, 1), "sales_per_s": round(done / elapsed, 1),
        "all": _summary(every), **{f"infno_{k}": _summary(v) for k, v in latencies.items() if v},
        "errors": errors[:3],
    }


def in_process(sales: int, folder: Path) -> dict[str, Any]:
    import datetime as dt

    from terminal.centre import Centre, wire

    centre = Centre.open(folder / "inproc.sqlite")
    person, drugs = _inputs()
    seq = [0]

    def env(infno: str, body: dict[str, Any], insuplc: str = "", sign: str = "") -> bytes:
        seq[0] += 1
        now = dt.datetime.now()
        moment = now.replace(microsecond=0) + dt.timedelta(seconds=seq[0] // 10000)
        return wire.dumps(wire.request(infno, wire.make_msgid(INSTITUTION, moment, seq[0] % 10000), body,
                                       fixmedins_code=INSTITUTION, fixmedins_name="bench", mdtrtarea_admvs="310000",
                                       insuplc_admdvs=insuplc, sign_no=sign, opter="bench", opter_name="bench",
                                       inf_time=wire.format_time(now)))

    answer = wire.loads(centre.handle(env("9001", {"signIn": {"opter_no": "bench", "mac": "02:00:00:00:00:01",
                                                              "ip": "127.0.0.1"}})).body)
    sign = answer["output"]["signinoutb"]["sign_no"]
    times: list[float] = []
    start = time.perf_counter()
    for _ in range(sales):
        for infno, body, insuplc in (("1101", person, ""), ("2101", drugs, "310000"), ("2102", drugs, "310000")):
            raw = env(infno, body, insuplc, sign)
            t0 = time.perf_counter()
            result = centre.handle(raw)
            times.append(time.perf_counter() - t0)
            if result.infcode != 0:
                raise RuntimeError(result.body.decode())
    elapsed = time.perf_counter() - start
    centre.close()
    return {"round_trips": len(times), "round_trips_per_s": round(len(times) / elapsed, 1), **_summary(times)}


def _postgres() -> tuple[str | None, Any]:
    """$YKT_BENCH_PG_URL, or a throwaway server (the clearing bench's) with the centre in its own schema."""
    from scripts.bench_clearing import postgres_url

    url, server = postgres_url()
    if server is None:
        return url, None
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA centre_bench")
    return f"{server.url}?options=-csearch_path%3Dcentre_bench", server


def run(quick: bool = False) -> dict[str, Any]:
    sales = 150 if quick else 1500
    threads = 4
    out: dict[str, Any] = {"target": ">= 500 round trips/s (1101+2101+2102) on 2 cores"}
    with tempfile.TemporaryDirectory(prefix="ykt-bench-centre-") as tmp:
        folder = Path(tmp)
        out["in_process"] = in_process(100 if quick else 500, folder)
        out["sqlite"] = http_round_trips(str(folder / "centre.sqlite"), sales, threads)
        url, server = _postgres()
        if url is None:
            out["postgres"] = {"skipped": "no PostgreSQL binaries and no $YKT_BENCH_PG_URL"}
        else:
            try:
                out["postgres"] = http_round_trips(url, sales, threads)
                if server is not None:
                    out["postgres"]["server"] = "throwaway, fsync off (like the tests')"
            finally:
                if server is not None:
                    server.stop()
    return out


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=1))

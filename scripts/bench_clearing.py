"""Clearing benchmarks for scripts/bench: `run(quick) -> dict` (medians, never pass/fail).

- ingest_sqlite / ingest_postgres: `ClearingHouse.ingest` of N card transactions (1,000,000; quick 20,000)
  from 100 terminals in batches of 1,000, every TAC recomputed with the issuer's keys (target ≤ 60 s for
  1,000,000). Record generation is not timed. PostgreSQL runs when its binaries are installed (a throwaway
  server like the tests') or when $YKT_BENCH_PG_URL names one.
- http_upload: signed batch uploads to a real `ykt clearing serve` (uvicorn, 127.0.0.1) through
  `HttpTransport`: records/s and the median latency of a 500-record batch.
- scaling: ingest throughput by number of terminals (same total, SQLite).

Usage::

    python scripts/bench_clearing.py [--quick]
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.ciphers import Cipher, modes  # noqa: E402
from cryptography.hazmat.primitives.ciphers.algorithms import SM4  # noqa: E402

from applets.crypto import pboc  # noqa: E402
from applets.crypto.pboc import Algorithm  # noqa: E402
from applets.purse.personalize import PurseMasterKeys  # noqa: E402
from terminal.clearing import ClearingHouse, TacVerifier  # noqa: E402

BATCH = 1_000


class Generator:
    """Purchases with real SM4 TACs (TEST keys), `cards` cards, per-terminal outbox chains."""

    def __init__(self, terminals: int, cards: int, seed: int = 1) -> None:
        from terminal.issuer import load_test_keys

        masters = PurseMasterKeys.from_extra(load_test_keys().extra)
        assert masters is not None
        self.master = masters.tac[Algorithm.SM4]
        self.rng = random.Random(seed)
        self.terminals = [f"32{i + 1:010X}" for i in range(terminals)]
        self.cards = [f"3300{i + 1:012X}" for i in range(cards)]
        self.dtk: dict[str, bytes] = {}
        self.counter = dict.fromkeys(self.cards, 0)
        self.seq = dict.fromkeys(self.terminals, 0)
        self.tseq = dict.fromkeys(self.terminals, 0)

    def _tac(self, serial: str, data: bytes) -> str:
        key = self.dtk.get(serial)
        if key is None:
            key = self.dtk[serial] = pboc.diversify(Algorithm.SM4, self.master, bytes.fromhex(serial))
        return Cipher(SM4(key), modes.CBC(bytes(16))).encryptor().update(pboc.pad(data, 16))[-16:-12].hex().upper()

    def batch(self, terminal: str, n: int) -> list[dict[str, Any]]:
        out = []
        tid = bytes.fromhex(terminal)
        for _ in range(n):
            serial = self.rng.choice(self.cards)
            amount = self.rng.randrange(1, 5_000)
            prev = self.seq[terminal]
            self.seq[terminal] = seq = prev + 4
            self.tseq[terminal] += 1
            counter = self.counter[serial]
            self.counter[serial] = counter + 1
            data = pboc.purchase_tac_data(amount, 6, tid, self.tseq[terminal], bytes.fromhex("20240501"), bytes.fromhex("120000"))
            out.append({
                "seq": seq, "prev_seq": prev, "txn_id": seq - 1, "intent_id": None, "kind": "purse_purchase",
                "amount_fen": amount, "card_serial": serial, "card_counter": counter, "txn_type": 6,
                "tac": self._tac(serial, data), "terminal_seq": self.tseq[terminal], "card_time": "20240501120000",
                "operator": "op1", "business_day": "2024-05-01", "committed_at": "2024-05-01T04:00:00.000Z",
                "postings": [["purse_float", amount], ["revenue:drugs", -amount]], "row_hash": None, "details": {},
                "card": {"app_serial": "3100" + serial, "issuer_code": "D156310000000001", "alg": 4, "key_version": 1,
                         "balance_before": None, "purse": "ep", "purpose": None},
            })
        return out

    def batches(self, total: int, size: int = BATCH) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        sent = 0
        while sent < total:
            terminal = self.terminals[(sent // size) % len(self.terminals)]
            n = min(size, total - sent)
            yield terminal, self.batch(terminal, n)
            sent += n


def ingest(url: str, total: int, terminals: int = 100) -> dict[str, Any]:
    house = ClearingHouse.open(url, TacVerifier.from_test_keys())
    gen = Generator(terminals, cards=max(1_000, total // 100))
    spent, latencies = 0.0, []
    try:
        for terminal, records in gen.batches(total):
            start = time.perf_counter()
            result = house.ingest(terminal, records)
            took = time.perf_counter() - start
            spent += took
            latencies.append(took)
            if result.quarantined:
                raise RuntimeError(f"bench records quarantined: {result.quarantined[:1]}")
        valid = house.stats()["valid"]
    finally:
        house.close()
    return {"transactions": total, "terminals": terminals, "seconds": round(spent, 2),
            "per_s": round(total / spent), "batch_median_ms": round(statistics.median(latencies) * 1000, 2),
            "stored": valid}


def postgres_url() -> tuple[str | None, Any]:
    if os.environ.get("YKT_BENCH_PG_URL"):
        return os.environ["YKT_BENCH_PG_URL"], None
    try:
        from tests.clearing.pgserver import PostgresServer, find_pg_bin
    except ImportError:
        return None, None
    bindir = find_pg_bin()
    if bindir is None:
        return None, None
    server = PostgresServer(bindir)
    server.start()
    return server.url, server


def http_upload(total: int, folder: Path) -> dict[str, Any]:
    import httpx

    from terminal.sync import HttpTransport

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.clearing.pgserver import free_port

    db = folder / "http.sqlite"
    house = ClearingHouse.open(db)
    terminal = "320000000001"
    key = house.add_terminal(terminal, merchant_id="M-BENCH")
    house.close()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "terminal.cli", "clearing", "serve", "--db", str(db), "--port",
                               str(port), "--log-level", "warning"], env={**os.environ, "PYTHONWARNINGS": "ignore"})
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.get(url + "/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        transport = HttpTransport(url, terminal, key)
        gen = Generator(1, cards=1_000)
        gen.terminals = [terminal]
        gen.seq, gen.tseq = {terminal: 0}, {terminal: 0}
        batches = [gen.batch(terminal, 500) for _ in range(total // 500)]
        latencies = []
        start = time.perf_counter()
        for records in batches:
            t0 = time.perf_counter()
            transport.upload(records)
            latencies.append(time.perf_counter() - t0)
        spent = time.perf_counter() - start
        transport.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {"transactions": len(batches) * 500, "batch": 500, "per_s": round(len(batches) * 500 / spent),
            "batch_median_ms": round(statistics.median(latencies) * 1000, 1)}


def run(quick: bool = False) -> dict[str, Any]:
    total = 20_000 if quick else 1_000_000
    out: dict[str, Any] = {"target_s_per_1m": 60}
    with tempfile.TemporaryDirectory(prefix="ykt-bench-clearing-") as tmp:
        folder = Path(tmp)
        out["ingest_sqlite"] = ingest(str(folder / "ingest.sqlite"), total)
        url, server = postgres_url()
        if url is None:
            out["ingest_postgres"] = {"skipped": "no PostgreSQL binaries and no $YKT_BENCH_PG_URL"}
        else:
            try:
                if server is not None:
                    import psycopg

                    with psycopg.connect(url, autocommit=True) as conn:
                        conn.execute("CREATE SCHEMA bench")
                    url = f"{url}?options=-csearch_path%3Dbench"
                out["ingest_postgres"] = ingest(url, total)
            finally:
                if server is not None:
                    server.stop()
        out["http_upload"] = http_upload(5_000 if quick else 50_000, folder)
        scale_total = 10_000 if quick else 100_000
        out["scaling"] = [
            {k: v for k, v in ingest(str(folder / f"scale{n}.sqlite"), scale_total, terminals=n).items() if k != "stored"}
            for n in (1, 10, 100, 1_000)
        ]
    return out


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=1))

"""Counter benchmark for scripts/bench: `run(quick) -> dict` of medians and p99 (never pass/fail).

One counter sale, in-process, as the holder sees it: identify (SELECT SSSE, EF05, card authentication,
EF06, VERIFY PIN) + the purse (medical record 0019, ED balance) → preview (the settlement engine) → pay
(re-read 0019, PurseBooks: intent committed before the DEBIT, ED purchase with the medical record, PSAM,
committed after it) → the receipt as text. Card and PSAM in memory (EmulatedReader over MemoryStorage),
the ledger on disk ($YKT_BENCH_DIR, else the temp folder; synchronous=FULL). Target: median ≤ 50 ms.

Parts are timed too: identify, preview, pay, receipt.

Usage::

    python scripts/bench_counter.py [--quick]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_MEDIAN_MS = 50.0
HOLDER = "zhang-wei"
CART = ["XJ01CAA040A001,2", "ZA01BBL0030001,1", "XR05CBA030A001,1", "XA11GAW020A001,1"]  # data/carts/cold.csv


def summary(samples_ns: list[int]) -> dict[str, Any]:
    s = sorted(samples_ns)
    p99 = s[min(len(s) - 1, round(0.99 * (len(s) - 1)))]
    return {"n": len(s), "median_ms": round(statistics.median(s) / 1e6, 3), "p99_ms": round(p99 / 1e6, 3),
            "min_ms": round(s[0] / 1e6, 3)}


def run(quick: bool = False) -> dict[str, Any]:
    folder = Path(os.environ.get("YKT_BENCH_DIR") or tempfile.mkdtemp(prefix="ykt-bench-counter-"))
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YKT_HOME", str(folder / "home"))

    from applets.card import MemoryStorage, VirtualCard
    from applets.image import CardImage
    from applets.purse.personalize import PurseMasterKeys, personalize_psam
    from reader.emulated import EmulatedReader
    from terminal.counter import Counter
    from terminal.counter.cart import parse_cart
    from terminal.hotlist import Hotlist
    from terminal.issuer import demo_profile_paths, issue_image, load_profile, load_test_keys
    from terminal.purse import LoadHost

    keys = load_test_keys()
    profile = next(p for p in demo_profile_paths() if p.stem == HOLDER)
    image = issue_image(load_profile(profile), keys)
    image.applications["purse"]["ed"]["balance"] = 9_000_000  # enough personal account for every round
    masters = PurseMasterKeys.from_extra(keys.extra)
    assert masters is not None
    card = VirtualCard(MemoryStorage(CardImage.to_bytes(image)), os.urandom)
    psam = VirtualCard(MemoryStorage(personalize_psam(masters.purchase, os.urandom,
                                                      terminal_id=bytes.fromhex("310100000001")).to_bytes()), os.urandom)
    card_reader, psam_reader = EmulatedReader(card, name="card"), EmulatedReader(psam, name="psam")
    card_reader.connect()
    psam_reader.connect()
    db = folder / f"counter-{os.getpid()}-{time.time_ns()}.sqlite"
    now = datetime(2025, 3, 1, 10, 0, 0)
    counter = Counter.open(db, terminal_id="310100000001", clock=lambda: now, hotlist=Hotlist.empty(),
                           load_host=LoadHost.from_test_keys())
    counter.operators.add("bench", "Bench", "cashier", "bench-password")
    counter.login("bench", "bench-password")
    manager = counter.manager(card_reader, psam_reader)
    cart = parse_cart("code,quantity\n" + "\n".join(CART), "bench", counter.catalog)
    rounds = 40 if quick else 300
    total, parts = [], {"identify": [], "preview": [], "pay": [], "receipt": []}
    try:
        for i in range(rounds + 3):
            t0 = time.perf_counter_ns()
            customer = counter.identify(card_reader, manager, pin="123456")
            t1 = time.perf_counter_ns()
            draft = counter.preview(customer, cart)
            t2 = time.perf_counter_ns()
            sale = counter.pay(draft, pin="123456")
            t3 = time.perf_counter_ns()
            text = counter.receipt(sale.receipt_no).to_text()
            t4 = time.perf_counter_ns()
            if not sale.committed or "TAC" not in text:
                raise RuntimeError(f"bench sale {i} not committed: {sale.reason}")
            if i < 3:  # warm-up
                continue
            total.append(t4 - t0)
            for name, a, b in (("identify", t0, t1), ("preview", t1, t2), ("pay", t2, t3), ("receipt", t3, t4)):
                parts[name].append(b - a)
    finally:
        counter.close()
    result = summary(total)
    return {
        "sale_inprocess": {**result, "target_median_ms": TARGET_MEDIAN_MS,
                           "within_target": result["median_ms"] <= TARGET_MEDIAN_MS},
        "parts": {name: summary(samples) for name, samples in parts.items()},
        "ledger": str(db),
        "what": "identify + PIN + settle (preview + pay, ED debit with the medical record, booked) + receipt text",
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))

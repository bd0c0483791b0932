"""Purse benchmarks for scripts/bench: `run(quick) -> dict` of medians and p99 (never pass/fail).

- core_inprocess: the four purchase commands INIT FOR PURCHASE, INIT SAM FOR PURCHASE, DEBIT FOR
  PURCHASE, CREDIT SAM FOR PURCHASE, card and PSAM in EmulatedReaders (MemoryStorage), per purchase;
- manager_inprocess: `PurseManager.purchase` (adds SELECT + READ 0015), same set-up;
- manager_inprocess_file: the same with both images on disk (FileStorage: fsync per DEBIT and per INIT SAM);
- core_pcscd / manager_pcscd: the same through pyscard → pcscd → vpcd (card in slot 0, PSAM in slot 1),
  target ≤ 2 ms median. Skipped with the reason when pcscd / vpcd / pyscard are not there;
- booked_inprocess: a purchase booked durably in-process — `PurseBooks.purchase` (intent committed before
  the DEBIT, committed with the TAC after it: two synchronous=FULL commits) with card and PSAM in memory and
  the ledger on disk ($YKT_BENCH_DIR, else the temp folder); median / p99 and taps per second;
  booked_inprocess_file: the same with card and PSAM images on disk too (fsync'd atomic replaces).

Usage::

    python scripts/bench_purse.py [--quick] [--booked-only]
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
from typing import Any, Callable

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from applets.card import CardStorage, MemoryStorage, VirtualCard  # noqa: E402
from applets.crypto.pboc import bcd_date, bcd_time  # noqa: E402
from applets.purse.layout import PurseKind, TxnType  # noqa: E402
from applets.purse.personalize import PurseMasterKeys, personalize_psam  # noqa: E402
from reader.base import Reader  # noqa: E402
from terminal.purse import Outcome, PurseManager  # noqa: E402
from terminal.purse.channel import CardChannel  # noqa: E402
from terminal.purse.commands import (  # noqa: E402
    Debit,
    DebitForPurchase,
    InitializeForPurchase,
    InitSamForPurchase,
    PurchaseInit,
)
from terminal.purse.psam import Psam  # noqa: E402

TARGET_PCSCD_MEDIAN_US = 2000


def summary(samples_ns: list[int]) -> dict[str, Any]:
    s = sorted(samples_ns)
    p99 = s[min(len(s) - 1, round(0.99 * (len(s) - 1)))]
    return {"n": len(s), "median_us": round(statistics.median(s) / 1000, 1), "p99_us": round(p99 / 1000, 1),
            "min_us": round(s[0] / 1000, 1)}


def images() -> tuple[bytes, bytes]:
    """A purse card (10 000 yuan, max balance raised) and a PSAM, with throwaway masters."""
    from datetime import date

    from applets.fs import DF
    from applets.image import CardImage, PinState
    from applets.personalize import make_atr
    from applets.purse.personalize import personalize_purse

    masters = PurseMasterKeys.generate(os.urandom)
    card = CardImage("bench card", make_atr(b"YKT-BENCH"), DF(0x3F00), PinState.create("123456", os.urandom(16)))
    personalize_purse(card, serial=bytes.fromhex("3100000000000777"), region="310000", start=date(2024, 1, 1),
                      expiry=date(2034, 1, 1), masters=masters, ep_balance=1_000_000, max_balance=2_000_000)
    return card.to_bytes(), personalize_psam(masters.purchase, os.urandom).to_bytes()


def core_purchase(channel: CardChannel, psam: Psam, terminal_id: bytes, factor: bytes) -> None:
    """INIT, PSAM INIT, DEBIT, PSAM CREDIT — the four commands of a purchase after SELECT."""
    now = datetime.now()
    d, t = bcd_date(now), bcd_time(now)
    resp = channel.send(InitializeForPurchase(PurseKind.EP, 1, 1, terminal_id))
    init = PurchaseInit.from_bytes(resp.data)
    sam = psam.init_purchase(InitSamForPurchase(init.random, init.counter, 1, TxnType.EP_PURCHASE, d, t,
                                                init.key_version, init.alg, factor))
    debit = Debit.from_bytes(channel.send(DebitForPurchase(sam.terminal_seq, d, t, sam.mac1)).data)
    if psam.credit(debit.mac2) != 0x9000:
        raise RuntimeError("MAC2 refused in the benchmark")


def measure(card_reader: Reader, psam_reader: Reader, n: int) -> dict[str, Any]:
    manager = PurseManager(card_reader, psam_reader)
    warm = manager.purchase(1)
    if warm.outcome is not Outcome.DONE:
        raise RuntimeError(f"warm-up purchase failed: {warm.reason}")
    channel, psam = manager.channel, manager.psam
    if psam is None:
        raise RuntimeError("no PSAM")
    factor = channel.open().factor
    clock = time.perf_counter_ns
    core: list[int] = []
    for _ in range(n):
        t0 = clock()
        core_purchase(channel, psam, manager.terminal_id, factor)
        core.append(clock() - t0)
    full: list[int] = []
    for _ in range(n):
        t0 = clock()
        result = manager.purchase(1)
        full.append(clock() - t0)
        if result.outcome is not Outcome.DONE:
            raise RuntimeError(f"purchase failed: {result.reason}")
    return {"core": summary(core), "manager": summary(full)}


def inprocess(n: int, storage: Callable[[bytes, str], CardStorage]) -> dict[str, Any]:
    from reader.emulated import EmulatedReader

    card_image, psam_image = images()
    card = EmulatedReader(VirtualCard(storage(card_image, "card"), os.urandom))
    psam = EmulatedReader(VirtualCard(storage(psam_image, "psam"), os.urandom))
    card.connect()
    psam.connect()
    return measure(card, psam, n)


def through_pcscd(n: int) -> dict[str, Any]:
    from reader.errors import PcscUnavailable
    from reader.pcsc import PcscReader
    from reader.pcscd_service import ensure_pcscd, serve_card, vpcd_lock, vpcd_reader_name

    card_image, psam_image = images()
    card = VirtualCard(MemoryStorage(card_image), os.urandom)
    psam = VirtualCard(MemoryStorage(psam_image), os.urandom)
    try:
        with vpcd_lock():
            service = ensure_pcscd()
            try:
                with serve_card(card, 0), serve_card(psam, 1):
                    readers = PcscReader(vpcd_reader_name(0)), PcscReader(vpcd_reader_name(1))
                    for r in readers:
                        r.connect()
                    try:
                        return measure(readers[0], readers[1], n) | {"pcscd_started": service.started}
                    finally:
                        for r in readers:
                            r.disconnect()
            finally:
                service.stop()
    except PcscUnavailable as e:
        return {"skipped": str(e)}


def booked(n: int, folder: Path, images_on_disk: bool) -> dict[str, Any]:
    """`PurseBooks.purchase` of 1 fen, n times: latency per purchase and taps per second (durable ledger)."""
    from reader.card_file import FileStorage, write_atomically
    from reader.emulated import EmulatedReader
    from terminal.booking import PurseBooks
    from terminal.ledger import Ledger
    from terminal.ledger import accounts as chart

    def storage(image: bytes, name: str) -> CardStorage:
        if not images_on_disk:
            return MemoryStorage(image)
        path = folder / f"{name}.card.json"
        write_atomically(path, image)
        return FileStorage(path)

    card_image, psam_image = images()
    card = EmulatedReader(VirtualCard(storage(card_image, "card"), os.urandom))
    psam = EmulatedReader(VirtualCard(storage(psam_image, "psam"), os.urandom))
    card.connect()
    psam.connect()
    manager = PurseManager(card, psam)
    ledger_path = folder / f"booked-{'file' if images_on_disk else 'mem'}.sqlite"
    with Ledger.open(ledger_path, terminal_id=manager.terminal_id.hex().upper()) as book:
        books = PurseBooks(book, manager, operator="bench", business_day="2024-05-01")
        lines = chart.purse_purchase(1)
        for _ in range(20):  # warm-up
            books.purchase(1, lines)
        samples: list[int] = []
        clock = time.perf_counter_ns
        started = clock()
        for _ in range(n):
            t0 = clock()
            booking = books.purchase(1, lines)
            samples.append(clock() - t0)
            if booking.status != "committed":
                raise RuntimeError(f"booked purchase {booking.status}: {booking.result.reason}")
        elapsed = (clock() - started) / 1e9
        if not book.verify(quick=True).ok:
            raise RuntimeError("the bench ledger does not verify")
    out = summary(samples)
    return out | {"taps_per_s": round(n / elapsed, 1), "taps_per_s_from_median": round(1e6 / out["median_us"], 1)}


def run_booked(quick: bool) -> dict[str, Any]:
    n = 300 if quick else 3_000
    folder = Path(tempfile.mkdtemp(prefix="ykt-bench-booked-", dir=os.environ.get("YKT_BENCH_DIR")))
    try:
        return {
            "what": "PurseBooks.purchase: SELECT, READ 0015, INIT, PSAM INIT, intent (durable), DEBIT, PSAM CREDIT,"
                    " commit (durable); ledger synchronous=FULL on disk",
            "folder": str(folder.parent),
            "booked_inprocess": booked(n, folder, images_on_disk=False),
            "booked_inprocess_file": booked(max(100, n // 3), folder, images_on_disk=True),
            "target_taps_per_s": 1_000,
        }
    finally:
        for path in sorted(folder.glob("*"), reverse=True):
            path.unlink()
        folder.rmdir()


def run(quick: bool) -> dict[str, Any]:
    n = 300 if quick else 3_000
    out: dict[str, Any] = {"what": "purchase: INIT, PSAM INIT, DEBIT, PSAM CREDIT (core); PurseManager.purchase "
                                   "adds SELECT + READ 0015 (manager); per purchase"}
    mem = inprocess(n, lambda image, name: MemoryStorage(image))
    out["core_inprocess"], out["manager_inprocess"] = mem["core"], mem["manager"]
    with tempfile.TemporaryDirectory(prefix="ykt-bench-purse-") as tmp:
        from reader.card_file import FileStorage, write_atomically

        def on_disk(image: bytes, name: str) -> CardStorage:
            path = Path(tmp) / f"{name}.card.json"
            write_atomically(path, image)
            return FileStorage(path)

        out["manager_inprocess_file"] = inprocess(max(50, n // 10), on_disk)["manager"]
    out.update({k: v for k, v in run_booked(quick).items() if k.startswith("booked") or k.startswith("target_taps")})
    pcscd = through_pcscd(n)
    if "skipped" in pcscd:
        out["pcscd"] = pcscd
    else:
        out["core_pcscd"], out["manager_pcscd"] = pcscd["core"], pcscd["manager"]
        out["target_pcscd_median_us"] = TARGET_PCSCD_MEDIAN_US
    return out


if __name__ == "__main__":
    quick_run = "--quick" in sys.argv
    print(json.dumps(run_booked(quick_run) if "--booked-only" in sys.argv else run(quick_run), indent=2))

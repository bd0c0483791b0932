"""Transit benchmarks for scripts/bench: `run(quick) -> dict` of medians and p99 (never pass/fail).

- tap_pcscd: one bus tap end to end through pyscard → pcscd → vpcd — card in slot 0, PSAM in slot 1:
  power-up, SELECT, reads (balance, 001A, 001E), INITIALIZE FOR CAPP PURCHASE, INIT SAM, UPDATE CAPP DATA
  CACHE ×2, DEBIT, CREDIT SAM, and the durable ledger intent + commit (synchronous=FULL). Target p99 ≤ 10 ms.
- taps_inprocess: the same taps with card and PSAM in-process (MemoryStorage) and the durable ledger on disk:
  taps per second (target ≥ 1,000/s) and per-tap latency, with the disk's own fdatasync median measured just
  before (`disk_fdatasync_us`: the figure moves with it, on a shared VM by ±20 %).
- hotlist: a 1,000,000-entry hotlist installed as a file, opened (mmap + SHA-256 check) the way the validator
  does (`HotlistFile`), then lookups of listed and unlisted serials (target ≤ 1 ms).

The card is the same in every tap (its facts — category, birth date — are cached by the validator after the
first tap, as for a returning rider); the validator's clock moves one day per tap, so that no tap is a
repeat, a transfer or capped.

Usage::

    python scripts/bench_transit.py [--quick]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import tomllib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from applets.card import MemoryStorage, VirtualCard  # noqa: E402
from applets.purse.personalize import PurseMasterKeys, personalize_psam  # noqa: E402
from reader.base import Reader  # noqa: E402
from terminal.datafiles import data_dir  # noqa: E402
from terminal.issuer import issue_image, load_test_keys, profile_from_dict  # noqa: E402
from terminal.ledger import Ledger  # noqa: E402
from terminal.transit.fares import load_fares  # noqa: E402
from terminal.transit.outcome import TapStatus  # noqa: E402
from terminal.transit.validator import HotlistFile, Validator  # noqa: E402

TARGET_TAP_P99_US = 10_000
TARGET_TAPS_PER_S = 1_000
TARGET_LOOKUP_US = 1_000
TERMINAL_ID = bytes.fromhex("310100000001")


def summary(samples_ns: list[int]) -> dict[str, Any]:
    s = sorted(samples_ns)
    p99 = s[min(len(s) - 1, round(0.99 * (len(s) - 1)))]
    return {"n": len(s), "median_us": round(statistics.median(s) / 1000, 1), "p99_us": round(p99 / 1000, 1),
            "min_us": round(s[0] / 1000, 1), "max_us": round(s[-1] / 1000, 1)}


def images() -> tuple[bytes, bytes]:
    """zhang-wei's demo card with 50,000 yuan, and a PSAM, with the TEST keys."""
    keys = load_test_keys()
    masters = PurseMasterKeys.from_extra(keys.extra)
    if masters is None:
        raise RuntimeError("the TEST key file has no purse master keys")
    obj = tomllib.loads((data_dir() / "cards" / "zhang-wei.toml").read_text(encoding="utf-8"))
    obj["purse"] = {"ep_balance": 5_000_000}
    card = issue_image(profile_from_dict(obj, "bench"), keys).to_bytes()
    return card, personalize_psam(masters.purchase, os.urandom, terminal_id=TERMINAL_ID).to_bytes()


def taps(card: Reader, psam: Reader, folder: Path, n: int) -> dict[str, Any]:
    """n bus taps of the card in `card`; per-tap latency and the rate, durable ledger in `folder`."""
    now = [datetime(2024, 3, 1, 8, 0)]
    with Ledger.open(folder / "ledger.sqlite", terminal_id=TERMINAL_ID.hex().upper()) as ledger:
        validator = Validator(load_fares(), "bus", "71", card=card, psam=psam, ledger=ledger, clock=lambda: now[0])
        for _ in range(5):  # warm-up: PSAM terminal id, card facts, SQLite pages
            now[0] += timedelta(days=1)
            validator.process_tap()
        clock = time.perf_counter_ns
        samples: list[int] = []
        start = clock()
        for _ in range(n):
            now[0] += timedelta(days=1)
            t0 = clock()
            out = validator.process_tap()
            samples.append(clock() - t0)
            if out.status is not TapStatus.APPROVED:
                raise RuntimeError(f"tap not approved: {out.reason}")
        total = clock() - start
        booked = ledger.conn.execute("SELECT count(*) FROM transactions").fetchone()[0]
    return {**summary(samples), "taps_per_s": round(n / (total / 1e9)), "transactions_booked": booked}


def fdatasync_us(folder: Path, n: int = 200) -> float:
    """The disk's own cost, for reading the durable figures: median µs of a 4 KiB overwrite + fdatasync in
    `folder` (the ledger's two commits per tap each end in one fdatasync)."""
    path = folder / "fdatasync.probe"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(fd, bytes(64 * 4096))
        os.fsync(fd)
        samples = []
        for i in range(n):
            os.pwrite(fd, os.urandom(4096), (i % 64) * 4096)
            t0 = time.perf_counter_ns()
            os.fdatasync(fd)
            samples.append(time.perf_counter_ns() - t0)
    finally:
        os.close(fd)
        path.unlink()
    return round(statistics.median(samples) / 1000, 1)


def inprocess(n: int, folder: Path, what: str = "bus tap in-process (card OS + PSAM in memory) with the durable ledger "
              "(2 fsync'd commits)") -> dict[str, Any]:
    from reader.emulated import EmulatedReader

    card_image, psam_image = images()
    card = EmulatedReader(VirtualCard(MemoryStorage(card_image), os.urandom), "card")
    psam = EmulatedReader(VirtualCard(MemoryStorage(psam_image), os.urandom), "PSAM")
    psam.connect()
    disk = fdatasync_us(folder)
    result = taps(card, psam, folder, n)
    return {"what": what, "target_taps_per_s": TARGET_TAPS_PER_S, **result, "disk_fdatasync_us": disk}


def through_pcscd(n: int, folder: Path) -> dict[str, Any]:
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
                    card_reader, psam_reader = PcscReader(vpcd_reader_name(0)), PcscReader(vpcd_reader_name(1))
                    psam_reader.connect()
                    try:
                        result = taps(card_reader, psam_reader, folder, n)
                        shm = Path("/dev/shm")
                        if shm.is_dir():
                            with tempfile.TemporaryDirectory(prefix="ykt-bench-transit-", dir=shm) as tmp:
                                result["ledger_on_tmpfs"] = taps(card_reader, psam_reader, Path(tmp), n)
                    finally:
                        card_reader.disconnect()
                        psam_reader.disconnect()
                    return {"what": "bus tap through pyscard → pcscd → vpcd (card slot 0, PSAM slot 1), durable ledger; "
                                    "ledger_on_tmpfs: the same without fsync (the PC/SC and CPU share)",
                            "target_p99_us": TARGET_TAP_P99_US, **result, "pcscd_started": service.started}
            finally:
                service.stop()
    except PcscUnavailable as e:
        return {"skipped": str(e)}


def hotlist(entries: int, lookups: int, folder: Path) -> dict[str, Any]:
    from terminal.hotlist import install

    path = folder / "hotlist.ykthl"
    keys = [b"S" + (0x3100000000000000 + 7 * i).to_bytes(8, "big") + b"\x00" for i in range(entries)]
    t0 = time.perf_counter()
    install(path, 1, keys, created=0)
    built = time.perf_counter() - t0
    source = HotlistFile(path)
    t0 = time.perf_counter_ns()
    listed = source.current()
    opened = time.perf_counter_ns() - t0
    clock = time.perf_counter_ns
    hits: list[int] = []
    misses: list[int] = []
    for i in range(lookups):
        serial = f"{0x3100000000000000 + 7 * ((i * 7919) % entries):016X}"
        t0 = clock()
        found = source.current().contains(serial)
        hits.append(clock() - t0)
        if not found:
            raise RuntimeError(f"{serial} should be listed")
        other = f"{0x3100000000000000 + 7 * ((i * 7919) % entries) + 3:016X}"
        t0 = clock()
        found = source.current().contains(other)
        misses.append(clock() - t0)
        if found:
            raise RuntimeError(f"{other} should not be listed")
    return {"what": f"hotlist of {len(listed):,} entries: a stat + binary search per lookup, as at each tap",
            "target_us": TARGET_LOOKUP_US, "file_mb": round(path.stat().st_size / 1e6, 1),
            "install_s": round(built, 2), "open_ms": round(opened / 1e6, 2), "listed": summary(hits),
            "not_listed": summary(misses)}


def _cpu_only(n: int) -> dict[str, Any]:
    """The same with the ledger on tmpfs (fsync costs nothing there): the software's own share of a tap."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        return {"skipped": "no /dev/shm"}
    with tempfile.TemporaryDirectory(prefix="ykt-bench-transit-", dir=shm) as tmp:
        return inprocess(n, Path(tmp), "the same with the ledger on tmpfs (not durable): CPU cost of a tap")


def run(quick: bool = False) -> dict[str, Any]:
    n = 300 if quick else 2_000
    with tempfile.TemporaryDirectory(prefix="ykt-bench-transit-") as tmp:
        folder = Path(tmp)
        (folder / "inprocess").mkdir()
        (folder / "pcscd").mkdir()
        return {
            "tap_pcscd": through_pcscd(n, folder / "pcscd"),
            "taps_inprocess": inprocess(n, folder / "inprocess"),
            "taps_inprocess_cpu": _cpu_only(n),
            "hotlist": hotlist(1_000_000, 2_000 if quick else 20_000, folder),
        }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2, ensure_ascii=False))

"""Benchmark: APDU round trip from pyscard through pcscd + vpcd to a card object and back.

`bench_vpcd_roundtrip(card, n)` serves `card` on vpcd slot 0 (starting pcscd if none runs, and
stopping it again afterwards), connects a `PcscReader` first, then times `n` transmits — cycling
through the given command APDUs — with ``time.perf_counter_ns``. The figure is what the terminal
sees per `Reader.transmit`: pyscard → pcscd → vpcd → TCP → `VpcdBridge` → ``card.process``
and back.

Usage::

    python scripts/bench_pcsc.py                 # stub card, 2000 round trips
    python scripts/bench_pcsc.py -n 5000 --card-image data/cards/demo.ykt

Example::

    >>> from scripts.bench_pcsc import EchoCard, bench_vpcd_roundtrip
    >>> bench_vpcd_roundtrip(EchoCard(), n=500)          # doctest: +SKIP
    {'median_us': 81.2, 'p99_us': 131.5, 'n': 500, ...}
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter_ns

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reader.pcsc import PcscReader  # noqa: E402
from reader.pcscd_service import (  # noqa: E402
    ensure_pcscd,
    serve_card,
    vpcd_lock,
    vpcd_reader_name,
)
from reader.vpcd import ServedCard  # noqa: E402

#: A SELECT by name and a READ RECORD: a typical short command pair of a card session.
DEFAULT_APDUS: tuple[bytes, ...] = (
    bytes.fromhex("00A404000E315041592E5359532E4444463031"),
    bytes.fromhex("00B2010C00"),
)
WARMUP = 50


@dataclass
class EchoCard:
    """Minimal card: answers 9000 to everything, echoing the command data of INS CA."""

    atr_bytes: bytes = bytes.fromhex("3B8A8001594B542D42454E43480D")

    @property
    def atr(self) -> bytes:
        return self.atr_bytes

    def power_on(self) -> bytes:
        return self.atr_bytes

    def power_off(self) -> None:
        return None

    def process(self, apdu: bytes) -> bytes:
        if len(apdu) > 5 and apdu[1] == 0xCA:
            return apdu[5 : 5 + apdu[4]] + b"\x90\x00"
        return b"\x90\x00"


def _percentile(sorted_values: Sequence[int], fraction: float) -> int:
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def bench_vpcd_roundtrip(
    card: ServedCard,
    n: int = 2000,
    apdus: Sequence[bytes] = DEFAULT_APDUS,
) -> dict[str, float | int]:
    """Time `n` transmits of `apdus` (cycled) to `card` served on vpcd slot 0.

    Returns ``{"median_us", "p99_us", "n", "min_us", "mean_us", "pcscd_started"}`` (µs
    floats). Raises `reader.errors.PcscUnavailable` when pcscd/vpcd/pyscard are not installed.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    if not apdus:
        raise ValueError("need at least one APDU")
    with vpcd_lock():
        return _bench(card, n, apdus)


def _bench(card: ServedCard, n: int, apdus: Sequence[bytes]) -> dict[str, float | int]:
    service = ensure_pcscd()
    try:
        with serve_card(card, 0):
            reader = PcscReader(vpcd_reader_name(0))
            reader.connect()
            try:
                for i in range(WARMUP):
                    reader.transmit(apdus[i % len(apdus)])
                samples = [0] * n
                transmit = reader.transmit
                for i in range(n):
                    apdu = apdus[i % len(apdus)]
                    started = perf_counter_ns()
                    transmit(apdu)
                    samples[i] = perf_counter_ns() - started
            finally:
                reader.disconnect()
    finally:
        service.stop()
    samples.sort()
    return {
        "median_us": round(statistics.median(samples) / 1000, 1),
        "p99_us": round(_percentile(samples, 0.99) / 1000, 1),
        "n": n,
        "min_us": round(samples[0] / 1000, 1),
        "mean_us": round(statistics.fmean(samples) / 1000, 1),
        "pcscd_started": service.started,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="round trips to time (default 2000)")
    parser.add_argument("--card-image", type=Path, help="serve this card image instead of a stub")
    parser.add_argument("-v", "--verbose", action="store_true", help="log bridge/pcscd events")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    card: ServedCard
    if args.card_image is not None:
        from reader.card_file import open_card_image  # written elsewhere; only needed here

        card = open_card_image(args.card_image)
    else:
        card = EchoCard()
    print(json.dumps(bench_vpcd_roundtrip(card, n=args.n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""APDU traces: one JSON line per direction (time, direction, hex, command name, SW meaning, µs),
with PIN and key material masked before anything is written or kept."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Iterator

from applets.sw import describe

# (proprietary CLA?, INS) → name; (…, INS, P1) where P1 tells commands apart.
_NAMES: dict[tuple[Any, ...], str] = {
    (False, 0xA4): "SELECT",
    (False, 0xB0): "READ BINARY",
    (False, 0xD6): "UPDATE BINARY",
    (False, 0xB2): "READ RECORD",
    (False, 0xDC): "UPDATE RECORD",
    (False, 0xE2): "APPEND RECORD",
    (False, 0x20): "VERIFY",
    (False, 0x84): "GET CHALLENGE",
    (False, 0x88): "INTERNAL AUTHENTICATE",
    (False, 0x82): "EXTERNAL AUTHENTICATE",
    (False, 0xC0): "GET RESPONSE",
    (True, 0x5E): "CHANGE PIN",
    (True, 0x5F): "RELOAD PIN",
    (True, 0x24): "PIN UNBLOCK",
    (True, 0x5C): "GET BALANCE",
    (True, 0x50, 0x00): "INITIALIZE FOR LOAD",
    (True, 0x50, 0x01): "INITIALIZE FOR PURCHASE",
    (True, 0x50, 0x03): "INITIALIZE FOR CAPP PURCHASE",
    (True, 0x52): "CREDIT FOR LOAD",
    (True, 0x54): "DEBIT FOR PURCHASE",
    (True, 0x5A): "GET TRANSACTION PROOF",
    (True, 0xDC): "UPDATE CAPP DATA CACHE",
    (True, 0x1E): "APPLICATION BLOCK",
    (True, 0x18): "APPLICATION UNBLOCK",
    (True, 0x70): "INIT SAM FOR PURCHASE",
    (True, 0x72): "CREDIT SAM FOR PURCHASE",
    (True, 0xD4): "WRITE KEY",
}

# Commands whose data field carries a PIN or key material: the data never reaches a trace.
_SECRET_DATA: set[tuple[bool, int]] = {(False, 0x20), (True, 0x5E), (True, 0x5F), (True, 0x24), (True, 0xD4)}


def carries_secret(apdu: bytes) -> bool:
    """A PIN or key command: its data (and any answer data) never reaches a trace."""
    return len(apdu) > 1 and (bool(apdu[0] & 0x80), apdu[1]) in _SECRET_DATA


def command_name(apdu: bytes) -> str:
    if len(apdu) < 4:
        return "malformed"
    prop = bool(apdu[0] & 0x80)
    return _NAMES.get((prop, apdu[1], apdu[2])) or _NAMES.get((prop, apdu[1])) or f"INS {apdu[1]:02X}"


def masked_hex(apdu: bytes) -> str:
    """The command as hex, with the data field of PIN/key commands replaced by '*' pairs."""
    text = apdu.hex().upper()
    if len(apdu) > 5 and carries_secret(apdu):
        lc = apdu[4]
        if lc and len(apdu) in (5 + lc, 6 + lc):  # short case 3 / 4: keep Lc and Le
            text = text[:10] + "**" * lc + text[10 + 2 * lc :]
        else:  # extended or malformed lengths: no byte after the header is shown
            text = text[:8] + "**" * (len(apdu) - 4)
    return text


@dataclass(frozen=True, slots=True)
class TraceEntry:
    time: str
    direction: str  # "C" terminal → card, "R" card → terminal
    hex: str
    name: str
    sw: str = ""
    meaning: str = ""
    us: int | None = None

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v not in ("", None)}, ensure_ascii=False)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class Trace:
    """Records exchanges to a JSON-lines stream and/or keeps the last `keep` entries in memory
    (for the TUI's trace panel). Thread-safe."""

    def __init__(self, stream: IO[str] | None = None, keep: int = 0) -> None:
        self.stream = stream
        self.keep = keep
        self.entries: list[TraceEntry] = []
        self._lock = threading.Lock()

    @classmethod
    def to_file(cls, path: str | Path) -> Trace:
        return cls(open(path, "a", encoding="utf-8"))

    def record(self, command: bytes, response: bytes, duration_us: int) -> None:
        name = command_name(command)
        t = _now()
        sw = int.from_bytes(response[-2:], "big") if len(response) >= 2 else -1
        resp_hex = response.hex().upper()
        if carries_secret(command):
            resp_hex = "**" * (len(response) - 2) + resp_hex[-4:]
        pair = (
            TraceEntry(t, "C", masked_hex(command), name),
            TraceEntry(
                t, "R", resp_hex, name, f"{sw:04X}" if sw >= 0 else "", describe(sw) if sw >= 0 else "no SW",
                duration_us,
            ),
        )
        with self._lock:
            if self.stream is not None:
                self.stream.write(pair[0].to_json() + "\n" + pair[1].to_json() + "\n")
                self.stream.flush()
            if self.keep:
                self.entries.extend(pair)
                del self.entries[: -self.keep]

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


def read_trace(path: str | Path) -> Iterator[TraceEntry]:
    """Entries of a trace file; a bad line raises ValueError naming the file and line."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")  # per line, so that a bad byte is reported with its line
                if not line.strip():
                    continue
                entry = TraceEntry(**json.loads(line))
                _check_entry(entry)
            except (ValueError, TypeError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                raise ValueError(f"{path}:{lineno}: not a trace entry ({e})") from None
            yield entry


def _check_entry(e: TraceEntry) -> None:
    if e.direction not in ("C", "R"):
        raise ValueError(f"direction must be C or R, not {e.direction!r}")
    for name in ("time", "hex", "name", "sw", "meaning"):
        if not isinstance(getattr(e, name), str):
            raise ValueError(f"{name} must be a string")
    if e.us is not None and (not isinstance(e.us, int) or isinstance(e.us, bool)):
        raise ValueError("us must be an integer")


def format_entry(e: TraceEntry) -> str:
    arrow = "→" if e.direction == "C" else "←"
    if e.direction == "C":
        return f"{e.time[11:26]} {arrow} {e.name:<28} {e.hex}"
    timing = f"{e.us} µs" if e.us is not None else ""
    return f"{'':15} {arrow} {e.sw:<4} {e.meaning:<28} {e.hex[:-4]} {timing}".rstrip()

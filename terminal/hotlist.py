"""The local hotlist (挂失 / blacklist, transit.md "Hotlist"): card serials and card numbers a terminal
refuses offline. Versioned, pushed by the clearing service, applied atomically.

File format, version 1 (docs/identity.md): a 72-byte header, then `count` sorted fixed-width records.

    offset size  field
     0      8    magic  b"YKTHOTL\\n"
     8      2    format version, u16 big-endian = 1
    10      2    record size, u16 = 10
    12      4    reserved, 0
    16      8    hotlist version, u64 (monotonic, from the clearing service)
    24      8    entry count, u64
    32      8    created, u64 Unix seconds
    40     32    SHA-256 of the records section
    72  10*count records, sorted bytewise, no duplicates:
                 b"S" + 8-byte card serial + b"\\x00"   or   b"N" + 9-byte ASCII card number

Opening maps the file (mmap) and checks the header and the SHA-256 (≈5 ms for 1,000,000 entries); a
lookup is a binary search over the mapped records (a few µs). Measured against a Python set and SQLite in
terminal/hotlist_bench.py.
"""

from __future__ import annotations

import bisect
import fcntl
import hashlib
import mmap
import os
import re
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reader.card_file import write_atomically
from terminal.errors import HotlistError, HotlistImportError
from terminal.paths import default_home

MAGIC = b"YKTHOTL\n"
FORMAT_VERSION = 1
RECORD_SIZE = 10
HEADER = struct.Struct(">8sHHIQQQ32s")  # 72 bytes
HEADER_SIZE = HEADER.size
MAX_ERRORS_SHOWN = 10

_SERIAL = re.compile(r"[0-9A-Fa-f]{16}")
_NUMBER = re.compile(r"[A-Za-z0-9]{9}")


def default_hotlist_path() -> Path:
    return default_home() / "hotlist.ykthl"


def record_key(card: str) -> bytes:
    """The record for a card serial (16 hex digits) or a card number (9 letters/digits); ValueError else."""
    text = card.strip()
    if _SERIAL.fullmatch(text):
        return b"S" + bytes.fromhex(text) + b"\x00"
    if _NUMBER.fullmatch(text):
        return b"N" + text.upper().encode("ascii")
    raise ValueError(f"{card!r} is neither a card serial (16 hex digits) nor a card number (9 letters or digits)")


def describe_key(record: bytes) -> str:
    if record[:1] == b"S":
        return record[1:9].hex().upper()
    return record[1:].decode("ascii")


@dataclass(frozen=True, slots=True)
class HotlistInfo:
    version: int
    count: int
    created: int  # Unix seconds
    sha256: str


class _Records:
    """The records section as a sequence of 10-byte keys, for bisect."""

    __slots__ = ("_buf", "_n")

    def __init__(self, buf: bytes | mmap.mmap, n: int) -> None:
        self._buf = buf
        self._n = n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> bytes:
        o = HEADER_SIZE + i * RECORD_SIZE
        return self._buf[o : o + RECORD_SIZE]


class Hotlist:
    """A read-only view of one hotlist version. `contains(card)` takes a card serial (hex) or number."""

    def __init__(self, buf: bytes | mmap.mmap, info: HotlistInfo, path: Path | None = None) -> None:
        self._buf = buf
        self.info = info
        self.path = path
        self._records = _Records(buf, info.count)

    # ---- opening ----

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Hotlist:
        p = Path(path)
        try:
            with p.open("rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < HEADER_SIZE:
                    raise HotlistError(f"{p}: not a hotlist file ({size} bytes, the header alone is {HEADER_SIZE})")
                buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except FileNotFoundError:
            raise HotlistError(f"{p}: no hotlist installed there") from None
        except OSError as e:
            raise HotlistError(f"{p}: cannot read ({e.strerror})") from None
        try:
            return cls(buf, _check(buf, str(p)), p)
        except HotlistError:
            buf.close()
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Hotlist:
        """The installed hotlist at `path` (default $YKT_HOME/hotlist.ykthl), or an empty version-0 one."""
        p = Path(path) if path is not None else default_hotlist_path()
        if not p.exists():
            return cls.empty()
        return cls.open(p)

    @classmethod
    def empty(cls) -> Hotlist:
        return cls.from_bytes(build_file(0, (), created=0))

    @classmethod
    def from_bytes(cls, data: bytes) -> Hotlist:
        return cls(data, _check(data, "hotlist"), None)

    @classmethod
    def of(cls, cards: Iterable[str], version: int = 1) -> Hotlist:
        """An in-memory hotlist (tests, tools)."""
        return cls.from_bytes(build_file(version, (record_key(c) for c in cards), created=0))

    def close(self) -> None:
        if isinstance(self._buf, mmap.mmap):
            self._buf.close()

    def __enter__(self) -> Hotlist:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- lookups ----

    @property
    def version(self) -> int:
        return self.info.version

    def __len__(self) -> int:
        return self.info.count

    def contains_key(self, key: bytes) -> bool:
        i = bisect.bisect_left(self._records, key)
        return i < self.info.count and self._records[i] == key

    def contains(self, card: str) -> bool:
        """Whether a card serial (16 hex digits) or card number (9 characters) is listed."""
        return self.contains_key(record_key(card))

    def __contains__(self, card: object) -> bool:
        return isinstance(card, str) and self.contains(card)

    def counts(self) -> tuple[int, int]:
        """(card serials, card numbers) listed."""
        serials_start = bisect.bisect_left(self._records, b"S")  # b"N…" records sort before b"S…"
        return self.info.count - serials_start, serials_start

    def entries(self, limit: int | None = None) -> Iterator[str]:
        n = self.info.count if limit is None else min(limit, self.info.count)
        for i in range(n):
            yield describe_key(self._records[i])


def _check(buf: bytes | mmap.mmap, where: str) -> HotlistInfo:
    magic, fmt, rec, _reserved, version, count, created, digest = HEADER.unpack_from(buf, 0)
    if magic != MAGIC:
        raise HotlistError(f"{where}: not a hotlist file (bad magic)")
    if fmt != FORMAT_VERSION:
        raise HotlistError(f"{where}: hotlist format {fmt} is not supported (this program reads format {FORMAT_VERSION})")
    if rec != RECORD_SIZE:
        raise HotlistError(f"{where}: record size {rec}, expected {RECORD_SIZE}")
    if len(buf) != HEADER_SIZE + count * RECORD_SIZE:
        raise HotlistError(f"{where}: {len(buf)} bytes, but the header announces {count} entries (truncated or corrupt)")
    if hashlib.sha256(memoryview(buf)[HEADER_SIZE:]).digest() != digest:
        raise HotlistError(f"{where}: the records do not match the header's SHA-256 (corrupt)")
    return HotlistInfo(version, count, created, digest.hex())


def build_file(version: int, keys: Iterable[bytes], created: int) -> bytes:
    """Header + sorted, de-duplicated records."""
    if not 0 <= version < 2**63:
        raise ValueError(f"hotlist version {version} is out of range")
    records = sorted(set(keys))
    for k in records[:1] + records[-1:]:
        if len(k) != RECORD_SIZE:
            raise ValueError("hotlist records are 10 bytes")
    body = b"".join(records)
    if len(body) != len(records) * RECORD_SIZE:
        raise ValueError("hotlist records are 10 bytes")
    header = HEADER.pack(MAGIC, FORMAT_VERSION, RECORD_SIZE, 0, version, len(records), created, hashlib.sha256(body).digest())
    return header + body


# ---- importing and installing ----


@dataclass(frozen=True, slots=True)
class HotlistSource:
    """A parsed hotlist source file: its `version,N` line (if any) and the record keys."""

    version: int | None
    keys: list[bytes]


def parse_source(path: str | os.PathLike[str]) -> HotlistSource:
    """Read a CSV/text hotlist source. Lines: `# comment`, blank, an optional header `card[,…]`,
    `version,N` (once, before the entries), and entries `CARD[,reason…]` where CARD is a card serial
    (16 hex digits) or a card number (9 letters/digits); the reason is for people and not stored.
    Every bad line is reported as `FILE:LINE: problem` (HotlistImportError); nothing is imported then."""
    p = Path(path)
    keys: list[bytes] = []
    errors: list[str] = []
    version: int | None = None
    seen_entry = False
    try:
        f = p.open("rb")
    except FileNotFoundError:
        raise HotlistError(f"{p}: no such file") from None
    except OSError as e:
        raise HotlistError(f"{p}: cannot read ({e.strerror})") from None
    serial, number = _SERIAL.fullmatch, _NUMBER.fullmatch
    with f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                errors.append(f"{p}:{n}: not UTF-8 text")
                continue
            if n == 1:
                line = line.removeprefix("\ufeff")
            if not line or line[0] == "#":
                continue
            first, _, rest = line.partition(",")
            first = first.strip()
            if serial(first):
                keys.append(b"S" + bytes.fromhex(first) + b"\x00")
                seen_entry = True
            elif number(first):
                keys.append(b"N" + first.upper().encode("ascii"))
                seen_entry = True
            elif first.lower() == "version":
                value = rest.strip()
                if version is not None:
                    errors.append(f"{p}:{n}: a second version line")
                elif seen_entry:
                    errors.append(f"{p}:{n}: the version line must come before the entries")
                elif not value.isdigit() or not 0 < int(value) < 2**63:
                    errors.append(f"{p}:{n}: version {value!r} is not a positive whole number")
                else:
                    version = int(value)
            elif first.lower() == "card" and not seen_entry:
                continue  # a CSV header row
            else:
                shown = first if len(first) <= 40 else first[:40] + "…"
                errors.append(f"{p}:{n}: {shown!r} is neither a card serial (16 hex digits) nor a card number (9 letters or digits)")
    if errors:
        more = f"\n… and {len(errors) - MAX_ERRORS_SHOWN} more bad lines" if len(errors) > MAX_ERRORS_SHOWN else ""
        raise HotlistImportError(
            f"{len(errors)} bad line{'s' if len(errors) > 1 else ''}, nothing imported:\n" + "\n".join(errors[:MAX_ERRORS_SHOWN]) + more,
            tuple(errors),
        )
    return HotlistSource(version, keys)


@contextmanager
def _install_lock(path: Path) -> Iterator[None]:
    """One installer at a time per hotlist file (readers never wait: they see the old or the new file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def installed_version(path: Path) -> int:
    """The version of the hotlist at `path`, 0 when none is installed (the file is checked)."""
    if not path.exists():
        return 0
    with Hotlist.open(path) as current:
        return current.version


def install(path: str | os.PathLike[str], version: int, keys: Iterable[bytes], *, created: int) -> HotlistInfo:
    """Apply a new hotlist version: only a version newer than the installed one is accepted, and the file
    is replaced atomically (temp file, fsync, rename), so a reader sees the old list or the new one."""
    p = Path(path)
    with _install_lock(p):
        current = installed_version(p)
        if version <= current:
            raise HotlistError(f"{p}: version {version} is not newer than the installed version {current} (versions only go up)")
        data = build_file(version, keys, created)
        write_atomically(p, data)
    return _check(data, str(p))


def import_file(
    source: str | os.PathLike[str], path: str | os.PathLike[str], *, version: int | None = None, created: int
) -> HotlistInfo:
    """Parse `source` and install it at `path`; `version` is needed when the file has no `version,N` line
    and must agree with it when it has one."""
    parsed = parse_source(source)
    if version is not None and parsed.version is not None and version != parsed.version:
        raise HotlistError(f"{source}: the file says version {parsed.version}, but version {version} was asked for")
    chosen = version if version is not None else parsed.version
    if chosen is None:
        raise HotlistError(f"{source}: no version: add a `version,N` line before the entries or give --version N")
    return install(path, chosen, parsed.keys, created=created)

"""The local hotlist: 1,000,000 entries, the file format, imports with FILE:LINE errors, monotonic
versions, atomic installs."""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path

import pytest

from terminal.errors import HotlistError, HotlistImportError
from terminal.hotlist import (
    HEADER,
    HEADER_SIZE,
    MAGIC,
    Hotlist,
    build_file,
    default_hotlist_path,
    import_file,
    install,
    installed_version,
    parse_source,
    record_key,
)
from terminal.hotlist_bench import run as bench

MILLION = 1_000_000


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_million_entries_import_load_and_look_up_fast(tmp_path: Path) -> None:
    rnd = random.Random(7)
    serials = [rnd.randbytes(8).hex().upper() for _ in range(MILLION // 2)]
    source = tmp_path / "hotlist-9.csv"
    with source.open("w", encoding="ascii") as f:
        f.write("# pushed by the clearing service\nversion,9\ncard,reason\n")
        f.writelines(f"{s},lost\n" for s in serials)
        f.writelines(f"B{i:08d}\n" for i in range(MILLION - len(serials)))
    target = tmp_path / "hotlist.ykthl"
    info = import_file(source, target, created=1)
    assert (info.version, info.count) == (9, MILLION)
    assert target.stat().st_size == HEADER_SIZE + 10 * MILLION

    start = time.perf_counter()
    hotlist = Hotlist.open(target)
    load_s = time.perf_counter() - start
    assert load_s < 0.5, f"loading took {load_s:.3f} s"
    assert len(hotlist) == MILLION and hotlist.counts() == (MILLION // 2, MILLION // 2)

    probes = [(s, True) for s in rnd.sample(serials, 500)] + [(f"B{i:08d}", True) for i in rnd.sample(range(MILLION // 2), 250)]
    probes += [(rnd.randbytes(8).hex(), False) for _ in range(250)] + [("C00000001", False), ("B99999999", False)]
    times = []
    for card, expected in probes:
        t = time.perf_counter_ns()
        found = hotlist.contains(card)
        times.append(time.perf_counter_ns() - t)
        assert found is expected, card
    assert statistics.median(times) < 1_000_000, "median lookup must stay under 1 ms"
    hotlist.close()


def test_bench_reports_load_and_lookup_figures() -> None:
    result = bench(quick=True)
    assert result["entries"] == MILLION
    assert result["open_ms"] < 500 and result["lookup_listed"]["median_us"] < 1000 and result["lookup_unlisted"]["median_us"] < 1000


def test_keys_and_lookups() -> None:
    hotlist = Hotlist.of(["3100000000000001", "a00000007"], version=3)
    assert hotlist.version == 3 and len(hotlist) == 2
    assert hotlist.contains("3100000000000001") and hotlist.contains(" 3100000000000001".lower())
    assert "A00000007" in hotlist and "a00000007" in hotlist and "A00000001" not in hotlist
    assert 42 not in hotlist  # type: ignore[operator]
    assert list(hotlist.entries()) == ["A00000007", "3100000000000001"]
    for bad in ("", "310000000000000", "A0000000", "A0000000!", "31000000000000011"):
        with pytest.raises(ValueError, match="neither a card serial"):
            record_key(bad)
    assert len(Hotlist.empty()) == 0 and Hotlist.empty().version == 0


def test_file_format_header(tmp_path: Path) -> None:
    path = tmp_path / "h.ykthl"
    install(path, 5, [record_key("A00000007"), record_key("3100000000000001"), record_key("A00000007")], created=1_700_000_000)
    raw = path.read_bytes()
    magic, fmt, size, reserved, version, count, created, _digest = HEADER.unpack_from(raw)
    assert (magic, fmt, size, reserved, version, count, created) == (MAGIC, 1, 10, 0, 5, 2, 1_700_000_000)
    assert raw[:8] == b"YKTHOTL\n" and HEADER_SIZE == 72
    assert raw[HEADER_SIZE:] == b"NA00000007" + b"S" + bytes.fromhex("3100000000000001") + b"\x00"


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda raw: raw[:-1], "truncated or corrupt"),
        (lambda raw: raw[:-1] + bytes([raw[-1] ^ 1]), "SHA-256"),
        (lambda raw: b"NOTAHOTL" + raw[8:], "bad magic"),
        (lambda raw: raw[:8] + b"\x00\x02" + raw[10:], "format 2 is not supported"),
        (lambda raw: raw[:20], "not a hotlist file"),
    ],
)
def test_damaged_files_are_refused(tmp_path: Path, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "h.ykthl"
    path.write_bytes(damage(build_file(1, [record_key("A00000007")], created=0)))
    with pytest.raises(HotlistError, match=message):
        Hotlist.open(path)


def test_bad_lines_are_reported_as_file_line_and_nothing_is_installed(tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_bytes(
        b"version,4\n"
        b"A00000007,lost\n"
        b"A0000007\n"  # 3: 8 characters
        b"\n"
        b"31000000000000ZZ\n"  # 5: not hex
        b"version,5\n"  # 6: second version
        b"\xff\xfe\n"  # 7: not UTF-8
        b"3100000000000001\n"
    )
    target = tmp_path / "h.ykthl"
    with pytest.raises(HotlistImportError) as info:
        import_file(source, target, created=0)
    assert info.value.errors == (
        f"{source}:3: 'A0000007' is neither a card serial (16 hex digits) nor a card number (9 letters or digits)",
        f"{source}:5: '31000000000000ZZ' is neither a card serial (16 hex digits) nor a card number (9 letters or digits)",
        f"{source}:6: a second version line",
        f"{source}:7: not UTF-8 text",
    )
    assert str(info.value).startswith("4 bad lines, nothing imported:\n")
    assert not target.exists()
    late = write(tmp_path / "late.csv", "A00000007\nversion,3\n")
    with pytest.raises(HotlistImportError, match=r"late.csv:2: the version line must come before the entries"):
        parse_source(late)
    with pytest.raises(HotlistImportError, match=r"v.csv:1: version 'x' is not a positive whole number"):
        parse_source(write(tmp_path / "v.csv", "version,x\n"))


def test_many_bad_lines_are_summarised(tmp_path: Path) -> None:
    source = write(tmp_path / "junk.txt", "".join(f"junk{i}\n" for i in range(25)))
    with pytest.raises(HotlistImportError) as info:
        parse_source(source)
    assert len(info.value.errors) == 25 and str(info.value).endswith("… and 15 more bad lines")


def test_versions_only_go_up(tmp_path: Path) -> None:
    target = tmp_path / "h.ykthl"
    assert installed_version(target) == 0
    import_file(write(tmp_path / "v2.csv", "version,2\nA00000001\n"), target, created=0)
    for stale in (1, 2):
        with pytest.raises(HotlistError, match=f"version {stale} is not newer than the installed version 2"):
            import_file(write(tmp_path / "old.csv", f"version,{stale}\nA00000009\n"), target, created=0)
    assert Hotlist.open(target).contains("A00000001")
    import_file(write(tmp_path / "plain.csv", "A00000003\n"), target, version=3, created=0)
    assert installed_version(target) == 3
    with pytest.raises(HotlistError, match="no version"):
        import_file(write(tmp_path / "none.csv", "A00000004\n"), target, created=0)
    with pytest.raises(HotlistError, match="the file says version 4, but version 5 was asked for"):
        import_file(write(tmp_path / "v4.csv", "version,4\nA00000004\n"), target, version=5, created=0)


def test_install_is_atomic_for_open_readers(tmp_path: Path) -> None:
    target = tmp_path / "lists" / "h.ykthl"
    install(target, 1, [record_key("A00000001")], created=0)
    old = Hotlist.open(target)
    install(target, 2, [record_key("A00000002")], created=0)
    assert old.version == 1 and old.contains("A00000001") and not old.contains("A00000002")  # still the old file
    new = Hotlist.open(target)
    assert new.version == 2 and new.contains("A00000002") and not new.contains("A00000001")
    assert sorted(p.name for p in target.parent.iterdir()) == ["h.ykthl", "h.ykthl.lock"]  # no temp file left
    old.close()
    new.close()


def test_default_location_and_missing_file(ykt_home: Path) -> None:
    assert default_hotlist_path() == ykt_home / "hotlist.ykthl"
    assert Hotlist.load().version == 0
    with pytest.raises(HotlistError, match="no hotlist installed"):
        Hotlist.open(ykt_home / "hotlist.ykthl")
    with pytest.raises(HotlistError, match="no such file"):
        parse_source(ykt_home / "missing.csv")

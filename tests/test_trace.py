"""reader.trace: JSON-lines APDU traces with PIN data masked, reading them back, formatting."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest

from reader.emulated import EmulatedReader
from reader.trace import Trace, TraceEntry, command_name, format_entry, masked_hex, read_trace
from tests.cards_fixtures import SELECT_SSSE, change_pin_apdu, demo_card, h, read_record_apdu, verify_apdu

# PINs whose digits do not occur in the other hex of these sessions
PIN_A, PIN_B = "135797", "864208"


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_exchange_is_two_json_lines_with_every_field() -> None:
    stream = io.StringIO()
    trace = Trace(stream)
    trace.record(h("00B2072C00"), h("0709413030303030303031 9000".replace(" ", "")), 123)
    c, r = lines(stream)
    assert set(c) == {"time", "direction", "hex", "name"}
    assert set(r) == {"time", "direction", "hex", "name", "sw", "meaning", "us"}
    assert (c["direction"], c["hex"], c["name"]) == ("C", "00B2072C00", "READ RECORD")
    assert (r["direction"], r["sw"], r["meaning"], r["us"]) == ("R", "9000", "ok", 123)
    assert r["hex"] == "07094130303030303030319000"
    assert c["time"] == r["time"] and c["time"].endswith("+00:00")  # UTC, ISO 8601


def test_status_meanings_in_the_trace() -> None:
    stream = io.StringIO()
    trace = Trace(stream)
    trace.record(h("0020000003123456"), h("63C2"), 5)
    trace.record(h("00B2012C02"), h("6C10"), 5)
    trace.record(h("00CA0000"), h("6D00"), 5)
    trace.record(h("00A40000"), b"\x90", 5)  # an answer without SW
    answers = [e for e in lines(stream) if e["direction"] == "R"]
    assert [a.get("meaning") for a in answers] == [
        "wrong PIN, 2 tries left",
        "wrong Le, exact length is 16",
        "instruction not supported",
        "no SW",
    ]
    assert "sw" not in answers[3]


@pytest.mark.parametrize(
    ("apdu", "name"),
    [
        ("00A4040C02AAAA", "SELECT"),
        ("00B0810000", "READ BINARY"),
        ("00B2012C00", "READ RECORD"),
        ("0020000003123456", "VERIFY"),
        ("0084000008", "GET CHALLENGE"),
        ("0088000201AA00", "INTERNAL AUTHENTICATE"),
        ("0082000101AA", "EXTERNAL AUTHENTICATE"),
        ("805E010001AA", "CHANGE PIN"),
        ("805000020B00", "INITIALIZE FOR LOAD"),
        ("805001020B00", "INITIALIZE FOR PURCHASE"),
        ("805C000204", "GET BALANCE"),
        ("00CA9F7F00", "INS CA"),
        ("00A4", "malformed"),
    ],
)
def test_command_names(apdu: str, name: str) -> None:
    assert command_name(h(apdu)) == name


@pytest.mark.parametrize(
    ("apdu", "masked"),
    [
        ("0020000003123456", "0020000003******"),
        ("002000000312345600", "0020000003******00"),  # Le kept
        ("805E010007123456FF654321", "805E010007**************"),
        ("845E010007123456FF654321", "845E010007**************"),
        ("00200000000003123456", "00200000************"),  # extended length: all of it
        ("0020000005123456", "00200000********"),  # Lc mismatch: all of it
        ("00B2012C00", "00B2012C00"),  # not a secret command
        ("0088000204123456 78".replace(" ", ""), "008800020412345678"),
    ],
)
def test_masked_hex(apdu: str, masked: str) -> None:
    assert masked_hex(h(apdu)) == masked


def test_pin_digits_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    trace = Trace.to_file(path)
    card, _ = demo_card()
    reader = EmulatedReader(card, trace=trace)
    reader.connect()
    reader.transmit(h(SELECT_SSSE))
    assert reader.transmit(verify_apdu("123456")) == h("9000")
    assert reader.transmit(change_pin_apdu("123456", PIN_A)) == h("9000")
    assert reader.transmit(verify_apdu(PIN_B)) == h("63C2")
    assert reader.transmit(change_pin_apdu(PIN_A, PIN_B)) == h("9000")
    assert reader.transmit(verify_apdu(PIN_B)) == h("9000")
    trace.close()
    entries = list(read_trace(path))
    assert len(entries) == 12
    for e in entries:
        for pin in ("123456", PIN_A, PIN_B):
            assert pin not in e.hex, e
    # and not anywhere else in the file either (timestamps aside)
    text = "\n".join(json.dumps({k: v for k, v in json.loads(line).items() if k != "time"}) for line in path.read_text().splitlines())
    for pin in (PIN_A, PIN_B):
        assert pin not in text
    names = [e.name for e in entries if e.direction == "C"]
    assert names == ["SELECT", "VERIFY", "CHANGE PIN", "VERIFY", "CHANGE PIN", "VERIFY"]
    assert [e.sw for e in entries if e.direction == "R"] == ["9000", "9000", "9000", "63C2", "9000", "9000"]


def test_the_trace_records_what_the_caller_sent_and_got_after_6cxx() -> None:
    stream = io.StringIO()
    card, _ = demo_card()
    reader = EmulatedReader(card, trace=Trace(stream))
    reader.connect()
    reader.transmit(h(SELECT_SSSE))
    reader.transmit(read_record_apdu(0x05, 0x07, le=2))
    c, r = lines(stream)[2:]
    assert c["hex"] == "00B2072C02"
    assert r["sw"] == "9000" and r["hex"].startswith("0709")


def test_keep_holds_the_last_entries_in_memory() -> None:
    trace = Trace(keep=4)
    for i in range(5):
        trace.record(bytes((0x00, 0xB2, i + 1, 0x2C, 0x00)), h("6A83"), i)
    assert len(trace.entries) == 4
    assert [e.hex for e in trace.entries if e.direction == "C"] == ["00B2042C00", "00B2052C00"]
    assert Trace().entries == []


def test_concurrent_records_keep_their_pairs_together() -> None:
    stream = io.StringIO()
    trace = Trace(stream, keep=10_000)

    def worker(n: int) -> None:
        for i in range(100):
            trace.record(bytes((0x00, 0xB2, n, 0x2C, 0x00)), bytes((i, 0x90, 0x00)), i)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = lines(stream)
    assert len(entries) == 1600
    for c, r in zip(entries[::2], entries[1::2]):
        assert c["direction"] == "C" and r["direction"] == "R"
        assert c["time"] == r["time"]
    assert len(trace.entries) == 1600


def test_read_trace_round_trip_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    stream = io.StringIO()
    trace = Trace(stream, keep=10)
    trace.record(h("0084000008"), h("01020304050607089000"), 42)
    path.write_text(stream.getvalue() + "\n   \n", encoding="utf-8")
    assert list(read_trace(path)) == trace.entries


def test_format_entry() -> None:
    c = TraceEntry("2026-01-02T03:04:05.123456+00:00", "C", "0084000008", "GET CHALLENGE")
    r = TraceEntry("2026-01-02T03:04:05.123456+00:00", "R", "01020304050607089000", "GET CHALLENGE", "9000", "ok", 17)
    assert format_entry(c) == "03:04:05.123456 → GET CHALLENGE                0084000008"
    out = format_entry(r)
    assert out.lstrip().startswith("← 9000 ok")
    assert "0102030405060708" in out and "9000 " not in out.split("ok")[1]
    assert out.endswith("17 µs")
    no_timing = TraceEntry("t", "R", "6A82", "SELECT", "6A82", "file or application not found")
    assert format_entry(no_timing).endswith("file or application not found")


@pytest.mark.parametrize(
    "bad",
    [
        b"not json",
        b'"a string"',
        b"[1, 2]",
        b'{"time": "t", "direction": "C"}',  # missing fields
        b'{"time": "t", "direction": "C", "hex": "00", "name": "x", "extra": 1}',
        b'{"time": 5, "direction": "C", "hex": "00", "name": "x"}',  # wrong type
        b'{"time": "t", "direction": "X", "hex": "00", "name": "x"}',
        b'{"time": "t", "direction": "R", "hex": "9000", "name": "x", "us": "slow"}',
        b'\xff\xfe{"time": "t"}',  # not UTF-8
    ],
)
def test_a_bad_line_raises_value_error_naming_file_and_line(tmp_path: Path, bad: bytes) -> None:
    path = tmp_path / "bad.jsonl"
    good = TraceEntry("t", "C", "00A40000", "SELECT").to_json().encode("utf-8")
    path.write_bytes(good + b"\n\n" + bad + b"\n" + good + b"\n")
    it = read_trace(path)
    assert next(it).name == "SELECT"  # the lines before the bad one are read
    with pytest.raises(ValueError) as exc:
        next(it)
    assert f"{path}:3:" in str(exc.value)


def test_trace_to_file_appends(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    for _ in range(2):
        t = Trace.to_file(path)
        t.record(h("00A40000"), h("9000"), 1)
        t.close()
    assert len(list(read_trace(path))) == 4

"""The QR electronic card: round trip and every refusal with its reason; nonce stores; rendering."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from reader.emulated import EmulatedReader
from terminal.hotlist import Hotlist
from terminal.identity import (
    FALLBACK_REGIONS,
    LOOKUP_POLICY,
    Identity,
    IdentityRefused,
    MemoryNonceStore,
    Reason,
    SqliteNonceStore,
    identify_card,
    issue_qr,
    verify_qr,
)
from terminal.identity.keys import ecard_public_key, ecard_signing_key
from terminal.identity.qr import DOMAIN, canonical
from terminal.identity.render import png_bytes, terminal_text, write_png
from tests.identity.helpers import TODAY, profile

T0 = 1_780_000_000  # 2026-05-28
NOW = datetime.fromtimestamp(T0, timezone.utc)
QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def card_identity(path: Path, connect: Callable[[Path], EmulatedReader]) -> Identity:
    return identify_card(connect(path), pin=None, policy=LOOKUP_POLICY, hotlist=Hotlist.empty(), regions=FALLBACK_REGIONS, today=TODAY)


def refused(reason: Reason, payload: str, now: float = T0, store: object | None = None, **kw: object) -> IdentityRefused:
    with pytest.raises(IdentityRefused) as info:
        verify_qr(payload, now, store or MemoryNonceStore(), **kw)  # type: ignore[arg-type]
    assert info.value.reason is reason, f"{info.value.reason}: {info.value}"
    return info.value


def parts(payload: str) -> tuple[str, dict[str, object], str]:
    head, body, sig = payload.split(".")
    raw = base64.b32decode(body + "=" * (-len(body) % 8))
    return head, json.loads(raw), sig


def b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


def signed(fields: dict[str, object], key: Ed25519PrivateKey | None = None, head: str = "YKT1") -> str:
    body = canonical(fields)
    return f"{head}.{b32(body)}.{b32((key or ecard_signing_key()).sign(DOMAIN + body))}"


@pytest.fixture
def payload(cards: dict[str, Path], connect: Callable[[Path], EmulatedReader]) -> str:
    return issue_qr(card_identity(cards["zhang-wei"], connect), NOW)


def test_round_trip_from_a_card(cards: dict[str, Path], connect: Callable[[Path], EmulatedReader], payload: str) -> None:
    from_card = card_identity(cards["zhang-wei"], connect)
    got = verify_qr(payload, T0 + 60, MemoryNonceStore())
    assert got.source == "qr" and got.authenticated and not got.pin_verified
    assert (got.masked_ssn, got.ssn_hash, got.name, got.masked_name, got.card_number, got.home_region) == (
        from_card.masked_ssn, from_card.ssn_hash, from_card.name, from_card.masked_name, from_card.card_number, from_card.home_region)
    assert got.card_serial is None and got.card_expiry is None
    assert got.same_holder(from_card) and got.holder_matches("31010519800315001X")
    assert set(payload) <= QR_ALPHANUMERIC and payload.startswith("YKT1.")
    _, fields, _ = parts(payload)
    assert fields["exp"] == fields["iat"] + 120 == T0 + 120  # type: ignore[operator]
    assert "31010519800315001X" not in json.dumps(fields, ensure_ascii=False)


def test_round_trip_from_a_profile_carries_the_insurance() -> None:
    p = profile("wang-jianguo")
    got = verify_qr(issue_qr(p, NOW, ttl_s=60), NOW, MemoryNonceStore())
    assert (got.insurance_scheme, got.insurance_category) == ("employee", "elderly")
    assert got.masked_ssn == "310104********0054" and got.name == "王建国"


def test_scanner_case_and_line_end_do_not_matter(payload: str) -> None:
    assert verify_qr(payload.lower() + "\r\n", T0, MemoryNonceStore()).card_number == "A00000001"


def test_expired(payload: str) -> None:
    assert verify_qr(payload, T0 + 120 + 15, MemoryNonceStore()).card_number == "A00000001"
    e = refused(Reason.QR_EXPIRED, payload, now=T0 + 120 + 16)
    assert str(e) == "the QR code expired 16 s ago: ask the holder to refresh it"
    refused(Reason.QR_EXPIRED, payload, now=T0 + 3600, skew_s=0)


def test_not_yet_valid_is_clock_skew(payload: str) -> None:
    assert verify_qr(payload, T0 - 15, MemoryNonceStore()).card_number == "A00000001"
    e = refused(Reason.QR_NOT_YET_VALID, payload, now=T0 - 16)
    assert "16 s in the future" in str(e) and "clocks" in str(e)


def test_reused_nonce_in_memory(payload: str) -> None:
    store = MemoryNonceStore()
    verify_qr(payload, T0, store)
    refused(Reason.QR_REUSED, payload, now=T0 + 1, store=store)


def test_reused_nonce_in_sqlite_across_processes_and_pruned(tmp_path: Path, payload: str) -> None:
    db = tmp_path / "nonces.sqlite"
    with SqliteNonceStore(db) as first:
        verify_qr(payload, T0, first)
    with SqliteNonceStore(db) as second:  # another process, or after a restart
        refused(Reason.QR_REUSED, payload, now=T0 + 5, store=second)
        assert len(second) == 1
        assert second.use("other-nonce", T0 + 500, T0 + 136)  # the first code's row (kept to T0+135) is gone
        assert len(second) == 1


def test_memory_store_prunes_expired_entries() -> None:
    store = MemoryNonceStore()
    for i in range(1024):
        assert store.use(f"n{i}", 100, 0)
    assert not store.use("n5", 100, 50)
    assert store.use("late", 300, 200)  # prunes the 1024 expired ones
    assert len(store) == 1
    assert store.use("n5", 400, 200)  # expired nonces may come back; their codes are refused as expired


def test_forged_signature(cards: dict[str, Path], connect: Callable[[Path], EmulatedReader]) -> None:
    forged = issue_qr(card_identity(cards["zhang-wei"], connect), NOW, key=Ed25519PrivateKey.generate())
    e = refused(Reason.QR_FORGED, forged)
    assert "forged or altered" in str(e)


@pytest.mark.parametrize("field,value", [("card", "A00000009"), ("name", "李四"), ("exp", T0 + 100_000), ("reg", "110000")])
def test_altered_field(payload: str, field: str, value: object) -> None:
    head, fields, sig = parts(payload)
    fields[field] = value
    refused(Reason.QR_FORGED, f"{head}.{b32(canonical(fields))}.{sig}")


def test_truncated(payload: str) -> None:
    for cut in (payload[:-1], payload[:-40], payload[: payload.rindex(".")], payload[:120], "YKT1", "YKT1."):
        refused(Reason.QR_TRUNCATED, cut)


@pytest.mark.parametrize("text", ["", "   ", "hello", "https://example.com/ecard?id=1", "YKT", "YKTX.ABC.DEF", "\x00\xff", "1234567890"])
def test_garbage(text: str) -> None:
    refused(Reason.QR_GARBAGE, text)


def test_garbage_inside_a_well_formed_frame(payload: str) -> None:
    head, body, sig = payload.split(".")
    refused(Reason.QR_GARBAGE, f"{head}.{body[:10]}!{body[11:]}.{sig}")  # a character no code has
    refused(Reason.QR_GARBAGE, f"{head}.{body}.{sig}AAAA")  # signature too long
    refused(Reason.QR_GARBAGE, f"{head}.{body}A.{sig}")  # body not a whole number of base32 bytes


def test_wrong_version(payload: str) -> None:
    refused(Reason.QR_WRONG_VERSION, "YKT2" + payload[4:])
    _, fields, _ = parts(payload)
    fields["v"] = 2
    refused(Reason.QR_WRONG_VERSION, signed(fields))


def test_signed_but_invalid_fields(payload: str) -> None:
    _, fields, _ = parts(payload)
    too_long = dict(fields, exp=T0 + 600)
    e = refused(Reason.QR_INVALID, signed(too_long))
    assert "validity of 600 s" in str(e)
    refused(Reason.QR_INVALID, signed(dict(fields, ssn="31010519800315001X")))  # an unmasked SSN
    refused(Reason.QR_INVALID, signed(dict(fields, extra="x")))
    refused(Reason.QR_INVALID, signed({k: v for k, v in fields.items() if k != "nonce"}))


def test_hotlisted_card_number_and_no_nonce_spent(payload: str) -> None:
    store = MemoryNonceStore()
    e = refused(Reason.HOTLISTED, payload, store=store, hotlist=Hotlist.of(["A00000001"], version=7))
    assert "version 7" in str(e)
    assert verify_qr(payload, T0, store, hotlist=Hotlist.of(["A00000002"])).card_number == "A00000001"


def test_refusals_show_no_ssn(payload: str) -> None:
    for reason, text in ((Reason.QR_EXPIRED, payload), (Reason.QR_TRUNCATED, payload[:-3])):
        e = refused(reason, text, now=T0 + 10_000)
        assert "19800315" not in str(e) and "张伟" not in str(e)


def test_issue_limits(cards: dict[str, Path], connect: Callable[[Path], EmulatedReader], payload: str) -> None:
    identity = card_identity(cards["zhang-wei"], connect)
    with pytest.raises(ValueError, match="1 to 120 s"):
        issue_qr(identity, NOW, ttl_s=121)
    with pytest.raises(ValueError, match="not from another QR code"):
        issue_qr(verify_qr(payload, T0, MemoryNonceStore()), NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        issue_qr(identity, datetime(2026, 1, 1))


def test_test_keys_are_a_pair_and_marked_test() -> None:
    key_dir = Path(__file__).resolve().parents[2] / "data" / "keys"
    for name in ("TEST-ecard-signing.key.pem", "TEST-ecard-signing.pub.pem"):
        assert (key_dir / name).read_text(encoding="utf-8").startswith("TEST KEY ONLY.")
    assert ecard_public_key().public_bytes_raw() == ecard_signing_key().public_key().public_bytes_raw()


def test_render_fits_a_terminal_and_writes_png(tmp_path: Path) -> None:
    longest = issue_qr(profile("ayguli"), NOW)  # the longest demo name
    lines = terminal_text(longest).splitlines()
    assert max(len(line) for line in lines) <= 80 and len(lines) <= 45
    assert set("".join(lines)) <= {"█", "▀", "▄", " "}
    out = tmp_path / "qr.png"
    write_png(longest, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png_bytes(longest)[:8] == b"\x89PNG\r\n\x1a\n"

"""applets.tlv: BER-TLV (ISO 7816-4 §5.2 / ISO 8825-1) round trips and refusal of broken input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from applets.tlv import Tlv, decode, decode_one, encode, encode_length, encode_tag
from tests.cards_fixtures import h

# ---- strategies ----

# One-byte tags: not 00/FF (padding) and low five bits not all 1 (that announces more bytes).
single_tags = st.integers(0x01, 0xFE).filter(lambda t: t & 0x1F != 0x1F)


@st.composite
def multi_tags(draw: st.DrawFn) -> int:
    """2 to 4 byte tags: first byte xxx11111 (not FF), then 0–2 bytes with b8 set, then one without."""
    first = draw(st.sampled_from([0x1F, 0x3F, 0x5F, 0x7F, 0x9F, 0xBF, 0xDF]))
    middle = draw(st.lists(st.integers(0x80, 0xFF), max_size=2))
    last = draw(st.integers(0x00, 0x7F))
    return int.from_bytes(bytes([first, *middle, last]), "big")


tags = st.one_of(single_tags, multi_tags())


def is_constructed(tag: int) -> bool:
    return bool(tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")[0] & 0x20)


primitive_tlvs = st.builds(Tlv, tags.filter(lambda t: not is_constructed(t)), st.binary(max_size=300))


def constructed_of(children: st.SearchStrategy[list[Tlv]]) -> st.SearchStrategy[Tlv]:
    return st.builds(
        lambda tag, kids: Tlv(tag, b"".join(k.to_bytes() for k in kids)),
        tags.filter(is_constructed),
        children,
    )


tlv_trees = st.recursive(primitive_tlvs, lambda inner: constructed_of(st.lists(inner, max_size=4)), max_leaves=12)


# ---- known encodings ----


def test_known_encodings() -> None:
    assert encode(0x5A, h("0102")) == h("5A 02 0102")
    assert encode(0x5F37, b"") == h("5F37 00")
    assert encode(0x9F4E, b"\x01") == h("9F4E 01 01")
    assert encode(0x7F21, bytes(0x80)) == h("7F21 8180") + bytes(0x80)
    assert encode_length(0x7F) == h("7F")
    assert encode_length(0x80) == h("8180")
    assert encode_length(0xFF) == h("81FF")
    assert encode_length(0x100) == h("820100")
    assert encode_length(0xFFFF) == h("82FFFF")
    assert encode_length(0x10000) == h("83010000")


@pytest.mark.parametrize("n", [0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x1234, 0xFFFF, 0x10000])
def test_lengths_round_trip_through_every_form(n: int) -> None:
    raw = encode(0x04, bytes(n))
    item = decode_one(raw)
    assert item == Tlv(0x04, bytes(n))
    assert len(raw) == 1 + len(encode_length(n)) + n


def test_ssc_records_decode() -> None:
    """EF05 tag 07 card number and EF06 tag 0A sex as they come off the card (ssc-card.md)."""
    assert decode_one(h("07 09") + b"A00000001") == Tlv(0x07, b"A00000001")
    assert decode_one(h("0A 01 31")) == Tlv(0x0A, b"1")


def test_constructed_children() -> None:
    cert = encode(0x7F21, encode(0x5A, h("0102")) + encode(0x86, h("04AA")) + encode(0x5F37, h("3006")))
    top = decode_one(cert)
    assert top.constructed
    assert [(c.tag, c.value) for c in top.children()] == [(0x5A, h("0102")), (0x86, h("04AA")), (0x5F37, h("3006"))]
    assert not top.children()[0].constructed
    with pytest.raises(ValueError, match="primitive"):
        top.children()[0].children()


def test_padding_between_objects_is_skipped() -> None:
    raw = h("00 FF") + encode(0x01, b"a") + h("00 00") + encode(0x02, b"b") + h("FF")
    assert decode(raw) == [Tlv(0x01, b"a"), Tlv(0x02, b"b")]
    assert decode(b"") == []
    assert decode(h("00FF00")) == []


# ---- hypothesis round trips ----


@settings(max_examples=300, deadline=None)
@given(single_tags, st.binary(max_size=300))
def test_round_trip_single_byte_tags(tag: int, value: bytes) -> None:
    raw = encode(tag, value)
    assert raw[0] == tag
    assert decode_one(raw) == Tlv(tag, value)
    assert Tlv(tag, value).to_bytes() == raw


@settings(max_examples=300, deadline=None)
@given(multi_tags(), st.binary(max_size=300))
def test_round_trip_multi_byte_tags(tag: int, value: bytes) -> None:
    raw = encode(tag, value)
    assert raw.startswith(encode_tag(tag))
    assert 2 <= len(encode_tag(tag)) <= 4
    assert decode_one(raw) == Tlv(tag, value)


@settings(max_examples=200, deadline=None)
@given(tlv_trees)
def test_round_trip_nested_constructed(tree: Tlv) -> None:
    raw = tree.to_bytes()
    again = decode_one(raw)
    assert again == tree

    def walk(a: Tlv, b: Tlv) -> None:
        assert a.tag == b.tag and a.value == b.value
        if a.constructed and a.value:
            kids_a, kids_b = a.children(), b.children()
            assert len(kids_a) == len(kids_b)
            for x, y in zip(kids_a, kids_b):
                walk(x, y)

    walk(again, tree)


@settings(max_examples=200, deadline=None)
@given(st.lists(primitive_tlvs, max_size=6))
def test_round_trip_sequences(items: list[Tlv]) -> None:
    raw = b"".join(t.to_bytes() for t in items)
    assert decode(raw) == items


# ---- broken input: ValueError, never anything else ----


@pytest.mark.parametrize(
    "raw",
    [
        "5A",  # tag, no length
        "5A 03 0102",  # value shorter than announced
        "5F",  # multi-byte tag announced, nothing follows
        "5F 81",  # multi-byte tag still announcing more
        "5A 80",  # indefinite length
        "5A 81",  # long form without its length byte
        "5A 82 01",  # long form, one of two length bytes
        "5A 84 00000001 00",  # 4 length bytes: too long
        "5A 81 05 0102",  # long form, value truncated
        "1F 81 81 81 01 00",  # 5-byte tag
    ],
)
def test_truncated_or_malformed_raises_value_error(raw: str) -> None:
    with pytest.raises(ValueError):
        decode(h(raw))
    with pytest.raises(ValueError):
        decode_one(h(raw))


def test_decode_one_refuses_trailing_bytes() -> None:
    with pytest.raises(ValueError, match="trailing"):
        decode_one(h("5A 01 01 02"))


@pytest.mark.parametrize("tag", [0x00, 0xFF01, -1, 0x1F, 0x1F81, 0x5F8180, 0x1F81818101])
def test_encode_refuses_invalid_tags(tag: int) -> None:
    with pytest.raises(ValueError):
        encode(tag, b"")


def test_encode_refuses_lengths_beyond_three_bytes() -> None:
    with pytest.raises(ValueError):
        encode_length(0x1000000)
    with pytest.raises(ValueError):
        encode_length(-1)


@settings(max_examples=300, deadline=None)
@given(tlv_trees, st.data())
def test_every_proper_prefix_raises_value_error(tree: Tlv, data: st.DataObject) -> None:
    raw = tree.to_bytes()
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(ValueError):
        decode_one(raw[:cut])


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=64))
def test_garbage_only_ever_raises_value_error(raw: bytes) -> None:
    for fn in (decode, decode_one):
        try:
            out = fn(raw)
        except ValueError:
            continue
        items = out if isinstance(out, list) else [out]
        for item in items:
            assert isinstance(item, Tlv)
            if item.constructed:
                try:
                    item.children()
                except ValueError:
                    pass

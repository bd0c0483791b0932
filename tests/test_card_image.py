"""Card images (applets.image, applets.fs JSON codec) and their files (reader.card_file): round trips,
every kind of broken image refused with an error that names the file, and atomic saves."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from applets.errors import ImageError
from applets.fs import EF, Access, Structure
from applets.fs import DF
from applets.image import FORMAT, VERSION, CardImage, ImageEncoder, PinState
from applets.ssse import SSSE_FID
from reader.card_file import (
    FileStorage,
    open_card_image,
    read_image,
    save_new_image,
    write_atomically,
)
from reader.errors import CardImageError
from tests.cards_fixtures import (
    DEMO_NAMES,
    SELECT_SSSE,
    custom_image,
    demo_image,
    demo_image_bytes,
    det_entropy,
    send,
    verify_apdu,
)

# ---- round trips ----


@pytest.mark.parametrize("name", DEMO_NAMES)
def test_demo_image_round_trip(name: str) -> None:
    raw = demo_image_bytes(name)
    image = CardImage.from_bytes(raw)
    assert image.to_bytes() == raw
    assert CardImage.from_json(json.loads(raw)).to_bytes() == raw


def test_custom_image_round_trip_keeps_every_field() -> None:
    image = custom_image()
    again = CardImage.from_bytes(image.to_bytes())
    assert again.to_bytes() == image.to_bytes()
    assert again.label == image.label and again.atr == image.atr
    assert (again.pin.salt, again.pin.digest, again.pin.tries_left, again.pin.max_tries) == (
        image.pin.salt,
        image.pin.digest,
        image.pin.tries_left,
        image.pin.max_tries,
    )
    cyclic = again.mf.child(0x0105)
    assert isinstance(cyclic, EF)
    assert (cyclic.structure, cyclic.max_records, cyclic.record_size, cyclic.write) == (
        Structure.CYCLIC,
        3,
        2,
        Access.ALWAYS,
    )
    pin_file = again.mf.child(0x0103)
    assert isinstance(pin_file, EF) and pin_file.read is Access.PIN
    nested = again.mf.child(0x1000)
    assert nested is not None and nested.child(0x1100).parent is nested  # type: ignore[union-attr]


def test_image_encoder_matches_to_bytes_after_every_kind_of_change() -> None:
    """The commit-time encoder (cached text of unchanged parts) writes exactly what to_bytes writes."""
    image = custom_image()
    encoder = ImageEncoder()
    assert encoder.to_bytes(image) == image.to_bytes()
    efs = [c for df in image.mf.walk_dfs() for c in df.children if isinstance(c, EF)]
    transparent = next(ef for ef in efs if ef.structure is Structure.TRANSPARENT)
    records = next(ef for ef in efs if ef.structure is not Structure.TRANSPARENT)
    size = records.record_size or 2
    changes: list[Callable[[], None]] = [
        lambda: transparent.data.__setitem__(slice(0, 1), b"\xAA"),  # in place, same bytearray
        lambda: records.records.insert(0, b"\x01" * size),
        lambda: records.records.__setitem__(0, bytearray(b"\x03" * size)),
        lambda: records.records[0].__setitem__(0, 0x05),  # a record stored as a bytearray, changed in place
        lambda: setattr(records, "read", Access.PIN),
        lambda: setattr(records, "sfi", 0x1C),
        lambda: image.applications.setdefault("purse", {}).__setitem__("x", 1),
        lambda: setattr(image.pin, "tries_left", image.pin.tries_left - 1),
        lambda: image.keys.__setitem__("extra", b"\x11" * 16),
        lambda: setattr(image, "label", "relabelled"),
        lambda: image.mf.add(DF(0x2000, name=b"\xA0\x00\x00\x00\x01", children=[EF(0x2001, Structure.LINEAR)])),
        lambda: image.mf.children.pop(),
        lambda: setattr(image.mf, "application", None),
    ]
    for change in changes:
        change()
        assert encoder.to_bytes(image) == image.to_bytes()
        assert encoder.to_bytes(image) == image.to_bytes()  # and again, all from the cache
    del records.records[records.max_records or len(records.records) :]
    again = CardImage.from_bytes(image.to_bytes())
    assert ImageEncoder().to_bytes(again) == encoder.to_bytes(image)


def test_image_is_json_with_the_format_header_and_no_pin_digits() -> None:
    obj = json.loads(demo_image_bytes("zhang-wei"))
    assert obj["format"] == FORMAT == "yikatong.card"
    assert obj["version"] == VERSION == 1
    assert "123456" not in demo_image_bytes("zhang-wei").decode("utf-8")
    assert set(obj["pin"]) == {"salt", "sha256", "tries_left", "max_tries"}
    # GBK-free, UTF-8 JSON: the holder name is inside EF06 as hex, the label as text
    assert isinstance(obj["label"], str)


def test_pin_state() -> None:
    pin = PinState.create("123456", b"salt")
    assert pin.matches("123456") and not pin.matches("123457")
    assert pin.tries_left == pin.max_tries == 3 and not pin.blocked
    pin.tries_left = 0
    assert pin.blocked
    for bad in ("123", "1234567890123", "12a456"):
        with pytest.raises(ValueError):
            PinState.create(bad, b"salt")


# ---- broken images: ImageError, and CardImageError naming the file ----


def mutate(edit: Callable[[dict[str, Any]], None]) -> bytes:
    obj = json.loads(demo_image_bytes("zhang-wei"))
    edit(obj)
    return json.dumps(obj).encode("utf-8")


def _ssse(obj: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in obj["mf"]["children"] if c["fid"] == f"{SSSE_FID:04X}")


def _ef05(obj: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in _ssse(obj)["children"] if c["fid"] == "0005")


BROKEN: dict[str, tuple[bytes, str]] = {
    "not json": (b"{not json", "not a JSON card image"),
    "not utf-8": (b"\xff\xfe{}", "not a JSON card image"),
    "empty": (b"", "not a JSON card image"),
    "a list": (b"[]", "a card image is a JSON object"),
    "wrong format": (mutate(lambda o: o.update(format="other.card")), "format is 'other.card'"),
    "no format": (mutate(lambda o: o.pop("format")), "format is None"),
    "wrong version": (mutate(lambda o: o.update(version=2)), "version 2 is not supported"),
    "version as string": (mutate(lambda o: o.update(version="1")), "version '1' is not supported"),
    "no atr": (mutate(lambda o: o.pop("atr")), "missing field 'atr'"),
    "no pin": (mutate(lambda o: o.pop("pin")), "missing field 'pin'"),
    "no pin salt": (mutate(lambda o: o["pin"].pop("salt")), "missing field 'salt'"),
    "no tries": (mutate(lambda o: o["pin"].pop("tries_left")), "missing field 'tries_left'"),
    "bad atr hex": (mutate(lambda o: o.update(atr="3BZZ")), "bad atr, pin or keys field"),
    "atr too short": (mutate(lambda o: o.update(atr="3B")), "atr must be 2..33 bytes"),
    "bad key hex": (mutate(lambda o: o["keys"].update({"ssse.auth_sm4": "XY"})), "bad atr, pin or keys field"),
    "key not a string": (mutate(lambda o: o["keys"].update({"ssse.auth_sm4": 5})), "bad atr, pin or keys field"),
    "tries beyond max": (mutate(lambda o: o["pin"].update(tries_left=4)), "tries_left must be 0..max_tries"),
    "negative tries": (mutate(lambda o: o["pin"].update(tries_left=-1)), "tries_left must be 0..max_tries"),
    "tries not a number": (mutate(lambda o: o["pin"].update(tries_left="three")), "bad atr, pin or keys field"),
    "short digest": (mutate(lambda o: o["pin"].update(sha256="00")), "sha256 32 bytes"),
    "pin not an object": (mutate(lambda o: o.update(pin=[1, 2])), "bad atr, pin or keys field"),
    "applications a list": (mutate(lambda o: o.update(applications=[])), "applications must map names"),
    "label a number": (mutate(lambda o: o.update(label=7)), "label must be a string"),
    "no mf": (mutate(lambda o: o.pop("mf")), "mf: expected a DF object"),
    "mf is an EF": (mutate(lambda o: o["mf"].update(type="EF")), "mf: expected a DF object"),
    "bad fid hex": (mutate(lambda o: o["mf"].update(fid="3FZZ")), "mf.fid: not valid hex"),
    "fid of 3 bytes": (mutate(lambda o: o["mf"].update(fid="3F0000")), "mf.fid: a FID is 2 bytes"),
    "bad record hex": (mutate(lambda o: _ef05(o)["records"].__setitem__(0, "0G")), "mf/DDF1/0005.records[0]: not valid hex"),
    "records not a list": (mutate(lambda o: _ef05(o).update(records="01")), "0005.records: expected a list"),
    "bad structure": (mutate(lambda o: _ef05(o).update(structure="tree")), "'tree' is not one of"),
    "bad access": (mutate(lambda o: _ef05(o).update(read="sometimes")), "'sometimes' is not one of"),
    "bad sfi": (mutate(lambda o: _ef05(o).update(sfi=31)), "sfi: must be an integer 1..30"),
    "empty tlv record": (mutate(lambda o: _ef05(o)["records"].append("")), "an empty record in a TLV record file"),
    "duplicate fid": (
        mutate(lambda o: _ssse(o)["children"].append(dict(_ef05(o)))),
        "FID 0005 already exists",
    ),
    "children not a list": (mutate(lambda o: o["mf"].update(children={})), "mf.children: expected a list"),
    "child not an object": (mutate(lambda o: o["mf"]["children"].append(3)), "expected an EF object"),
    "cyclic without max": (
        mutate(lambda o: _ef05(o).update(structure="cyclic")),
        "a cyclic file needs max_records",
    ),
    "too many records": (mutate(lambda o: _ef05(o).update(max_records=2)), "records but max_records is 2"),
    "record size mismatch": (mutate(lambda o: _ef05(o).update(record_size=3)), "a record is not 3 bytes long"),
    "max_records not a number": (mutate(lambda o: _ef05(o).update(max_records="many")), "0005.max_records"),
    "record_size null": (mutate(lambda o: _ef05(o).update(record_size=None)), "0005.record_size"),
    "application not a string": (mutate(lambda o: _ssse(o).update(application=5)), "application: expected a string"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_images_raise_image_error(case: str) -> None:
    raw, message = BROKEN[case]
    with pytest.raises(ImageError) as exc:
        CardImage.from_bytes(raw)
    assert message in str(exc.value)


@pytest.mark.parametrize("case", ["not json", "wrong version", "no pin", "bad record hex", "max_records not a number"])
def test_read_image_and_open_card_image_name_the_file(tmp_path: Path, case: str) -> None:
    raw, message = BROKEN[case]
    path = tmp_path / f"{case.replace(' ', '-')}.card.json"
    path.write_bytes(raw)
    for fn in (read_image, open_card_image):
        with pytest.raises(CardImageError) as exc:
            fn(path)
        assert str(path) in str(exc.value)
        assert message in str(exc.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.card.json"
    for fn in (read_image, open_card_image):
        with pytest.raises(CardImageError, match="no such card image") as exc:
            fn(path)
        assert str(path) in str(exc.value)


def test_an_unreadable_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(CardImageError, match="cannot read") as exc:
        read_image(tmp_path)  # a directory
    assert str(tmp_path) in str(exc.value)


def test_an_unknown_application_is_named_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "app.card.json"
    path.write_bytes(mutate(lambda o: _ssse(o).update(application="nope")))
    read_image(path)  # the format itself is fine
    with pytest.raises(CardImageError, match="unknown application 'nope'") as exc:
        open_card_image(path)
    assert str(path) in str(exc.value)


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 40),
    st.text(max_size=6),
    st.sampled_from(["", "00", "3F00", "XYZ", "always", "cyclic", "DF", "EF"]),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["type", "fid", "x"]), st.sampled_from(["DF", "EF", "0001"]), max_size=2),
)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


_BASE = json.loads(custom_image().to_bytes())
_ALL_PATHS = [p for p in _paths(_BASE) if p]


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_ALL_PATHS), _VALUES, st.booleans())
def test_any_damaged_field_is_an_image_error_or_a_valid_image(path: tuple, value: Any, delete: bool) -> None:
    """Replace or delete any one field of an image: it is refused with ImageError, or it loads and
    saves back to something that loads again — never another exception."""
    obj = json.loads(json.dumps(_BASE))
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    raw = json.dumps(obj).encode("utf-8")
    try:
        image = CardImage.from_bytes(raw)
    except ImageError:
        return
    assert CardImage.from_bytes(image.to_bytes()).to_bytes() == image.to_bytes()


# ---- files and atomic saves ----


def test_file_storage_saves_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "c.card.json"
    storage = FileStorage(path)
    storage.save(b"one")
    assert storage.load() == b"one"
    storage.save(b"two")
    assert path.read_bytes() == b"two"
    assert not (tmp_path / "c.card.json.ykt-tmp").exists()
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)


def test_open_card_image_saves_state_changes_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "zw.card.json"
    save_new_image(path, demo_image("zhang-wei"))
    card = open_card_image(path, entropy=det_entropy())
    card.power_on()
    assert send(card, SELECT_SSSE)[1] == 0x9000
    assert send(card, verify_apdu("000000"))[1] == 0x63C2
    assert read_image(path).pin.tries_left == 2
    # a second card over the same file sees the committed state
    again = open_card_image(path, entropy=det_entropy())
    assert again.image.pin.tries_left == 2


def test_save_new_image_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "x.card.json"
    save_new_image(path, demo_image("zhang-wei"))  # creates the folder
    before = path.read_bytes()
    with pytest.raises(CardImageError, match="already exists") as exc:
        save_new_image(path, demo_image("li-na"))
    assert str(path) in str(exc.value)
    assert path.read_bytes() == before
    save_new_image(path, demo_image("li-na"), overwrite=True)
    assert read_image(path).label == demo_image("li-na").label


def test_write_atomically_crash_at_rename_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cards"
    folder.mkdir()
    path = folder / "card.json"
    old = demo_image_bytes("zhang-wei")
    write_atomically(path, old)
    new = demo_image_bytes("li-na")

    def crash(src: Any, dst: Any) -> None:
        raise OSError(5, "simulated crash during rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        write_atomically(path, new)
    monkeypatch.undo()
    assert path.read_bytes() == old  # the old card, whole
    assert read_image(path).to_bytes() == old
    # nothing else took the card's name; a leftover temp file is not a card image
    assert sorted(p.name for p in folder.iterdir() if not p.name.endswith(".ykt-tmp")) == ["card.json"]
    # and the next save works and replaces any leftover
    write_atomically(path, new)
    assert path.read_bytes() == new
    assert not (folder / "card.json.ykt-tmp").exists()


def test_write_atomically_crash_mid_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "card.json"
    old = demo_image_bytes("zhang-wei")
    write_atomically(path, old)
    real_write = os.write
    calls = {"n": 0}

    def half_then_crash(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))  # a short write…
        raise OSError(28, "No space left on device")  # …then the disk is full

    monkeypatch.setattr(os, "write", half_then_crash)
    with pytest.raises(OSError):
        write_atomically(path, demo_image_bytes("li-na"))
    monkeypatch.undo()
    assert calls["n"] == 2  # the loop went on after the short write
    assert path.read_bytes() == old


def test_write_atomically_handles_short_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "card.json"
    real_write = os.write

    def dribble(fd: int, data: Any) -> int:
        return real_write(fd, bytes(data[:7]))

    monkeypatch.setattr(os, "write", dribble)
    write_atomically(path, demo_image_bytes("zhang-wei"))
    monkeypatch.undo()
    assert path.read_bytes() == demo_image_bytes("zhang-wei")


def test_write_atomically_fsyncs_file_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    order: list[str] = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (order.append(f"replace after {len(synced)} fsync"), real_replace(a, b))[1])
    write_atomically(tmp_path / "c.json", b"x")
    assert order == ["replace after 1 fsync"]  # the data is on disk before the rename
    assert len(synced) == 2  # and the folder entry after it

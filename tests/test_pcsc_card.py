"""The social security card through a real pcscd + vpcd, driven by pyscard and by opensc-tool."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reader.card_file import open_card_image, read_image
from reader.errors import CardRemoved, NoCard
from reader.pcsc import PcscReader
from reader.pcscd_service import vpcd_reader_name
from terminal.cardread import read_card
from terminal.demo import ensure_demo_cards
from terminal.issuer import load_profile
from terminal.datafiles import data_dir
from tests.pcscd import require_tool

pytestmark = pytest.mark.pcsc

SELECT_SSSE = "00A404000F7378312E73682EC9E7BBE1B1A3D5CF"
READ_EF05_TAG07 = "00B2072C00"


def demo_image(name: str) -> Path:
    return next(p for p in ensure_demo_cards() if p.name == f"{name}.card.json")


def transmit(reader: PcscReader, hex_apdu: str) -> str:
    return reader.transmit(bytes.fromhex(hex_apdu)).hex().upper()


def test_pyscard_reads_ssse_and_verify_counts_down(served_card, tmp_path: Path) -> None:
    image = demo_image("zhang-wei")
    with served_card(open_card_image(image), slot=0):
        reader = PcscReader(vpcd_reader_name(0))
        try:
            assert reader.connect() == read_image(image).atr
            assert transmit(reader, SELECT_SSSE) == "9000"
            assert transmit(reader, READ_EF05_TAG07) == b"\x07\x09A00000001".hex().upper() + "9000"
            assert transmit(reader, "0020000003111111") == "63C2"
            assert transmit(reader, "0020000003111111") == "63C1"
            assert transmit(reader, "0020000003123456") == "9000"
            result = read_card(reader)
            assert result.holder is not None and result.holder.name == "张伟"
        finally:
            reader.disconnect()
    # the bridge saved every state change: the image on disk has the counter restored by the right PIN
    assert read_image(image).pin.tries_left == 3


def test_wrong_pin_persists_through_the_bridge(served_card) -> None:
    image = demo_image("chen-xiaoyu")
    with served_card(open_card_image(image), slot=0):
        reader = PcscReader(vpcd_reader_name(0))
        try:
            reader.connect()
            assert transmit(reader, SELECT_SSSE) == "9000"
            assert transmit(reader, "0020000003000000") == "63C2"
        finally:
            reader.disconnect()
    assert read_image(image).pin.tries_left == 2


def test_opensc_tool_talks_to_the_virtual_card(served_card) -> None:
    tool = require_tool("opensc-tool")
    image = demo_image("wang-jianguo")
    with served_card(open_card_image(image), slot=0):
        out = subprocess.run(
            [tool, "-r", vpcd_reader_name(0), "-s", SELECT_SSSE, "-s", READ_EF05_TAG07,
             "-s", "0020000003999999", "-s", "0020000003123456"],
            capture_output=True, text=True, timeout=30,
        )
    text = out.stdout.upper()
    assert out.returncode == 0, out.stderr
    # opensc-tool prints each response's data as hex and "SW1=90, SW2=00"
    assert text.count("SW1=0X90, SW2=0X00") >= 3, text
    assert "41 30 30 30 30 30 30 30 33" in text  # "A00000003", EF05 tag 07
    assert "SW1=0X63, SW2=0XC2" in text


def test_card_serve_command_and_removal(pcscd) -> None:
    """`ykt card serve` as a user runs it; stopping it removes the card: pyscard sees no card."""
    image = demo_image("zhao-min")
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "terminal.cli", "card", "serve", str(image), "--slot", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    reader = PcscReader(vpcd_reader_name(1))
    try:
        assert reader.wait_for_card(10.0), "pcscd never saw the served card"
        reader.connect()
        result = read_card(reader)
        assert result.card.card_number == "A00000005"
        assert result.card.region == "510100"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        with pytest.raises((CardRemoved, NoCard)):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                reader.transmit(bytes.fromhex(SELECT_SSSE))
                time.sleep(0.1)
    finally:
        reader.disconnect()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "card removed" in proc.stderr.read()


def test_demo_profiles_exist() -> None:
    assert len(list((data_dir() / "cards").glob("*.toml"))) >= 6
    assert load_profile(data_dir() / "cards" / "zhang-wei.toml").holder.name == "张伟"


@pytest.mark.parametrize("leave_card", [False, True])
def test_leave_card_keeps_the_card_powered_across_a_disconnect(served_card, leave_card: bool) -> None:
    """Disconnect powers the card down (its session ends: the PIN must be presented again) unless the reader
    was made with `leave_card` (a validator's), when pcscd leaves it powered and the session goes on."""
    card = open_card_image(demo_image("zhang-wei"))
    with served_card(card, slot=0):
        reader = PcscReader(vpcd_reader_name(0), leave_card=leave_card)
        try:
            reader.connect()
            assert transmit(reader, SELECT_SSSE) == "9000"
            assert transmit(reader, "0020000003123456") == "9000"
            assert card.session.pin_verified
            reader.disconnect()
            reader.connect()
            assert card.session.pin_verified is leave_card
        finally:
            reader.disconnect()

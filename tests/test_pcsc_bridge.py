"""VpcdBridge and PcscReader.

Two parts:
* wire tests against a fake vpcd (a TCP listener in the test): framing, partial reads, control
  bytes, reconnect, stop (also from a signal handler), fault hook — no pcscd needed;
* ``@pytest.mark.pcsc`` tests through a real pcscd + vpcd + pyscard (and opensc-tool), with a stub
  card: pyscard sees it, APDUs round-trip, removal, two slots, pcscd restart, reader errors.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reader.base import Reader
from reader.errors import CardRemoved, NoCard, NoReader, ReaderError
from reader.pcsc import PcscReader, list_readers, select_reader
from reader.pcscd_service import PcscdService, vpcd_lock, vpcd_reader_name
from reader.vpcd import VpcdBridge
from tests.pcscd import require_tool, served_card

pytest_plugins = ["tests.pcsc_fixtures"]

REPO = Path(__file__).resolve().parent.parent
SLOT0 = vpcd_reader_name(0)
SLOT1 = vpcd_reader_name(1)
STUB_ATR = bytes.fromhex("3B 8A 80 01 59 4B 54 2D 53 54 55 42 30 30 0D".replace(" ", ""))


def h(spaced: str) -> bytes:
    return bytes.fromhex(spaced.replace(" ", ""))


@dataclass
class StubCard:
    """A card answering a few INS codes, enough to test transport and bridge.

    INS CA: echoes its command data ‖ 9000.   INS CB: answers `ident` ‖ 9000.
    INS B0: answers 61xx with `payload` waiting for GET RESPONSE (INS C0).
    INS B2: answers 6Cxx unless Le equals len(payload), then payload ‖ 9000.
    Anything else: 9000.
    """

    ident: bytes = b"\x00"
    atr_bytes: bytes = STUB_ATR
    payload: bytes = bytes(range(40))
    processed: list[bytes] = field(default_factory=list)
    power_ons: int = 0
    power_offs: int = 0
    _pending: bytes = b""

    @property
    def atr(self) -> bytes:
        return self.atr_bytes

    def power_on(self) -> bytes:
        self.power_ons += 1
        self._pending = b""
        return self.atr_bytes

    def power_off(self) -> None:
        self.power_offs += 1
        self._pending = b""

    def process(self, apdu: bytes) -> bytes:
        self.processed.append(apdu)
        ins = apdu[1]
        if ins == 0xCA:
            lc = apdu[4] if len(apdu) > 5 else 0
            return apdu[5 : 5 + lc] + b"\x90\x00"
        if ins == 0xCB:
            return self.ident + b"\x90\x00"
        if ins == 0xB0:
            self._pending = self.payload
            return bytes([0x61, len(self.payload)])
        if ins == 0xC0:
            data, self._pending = self._pending, b""
            return data + b"\x90\x00" if data else b"\x69\x85"
        if ins == 0xB2:
            le = apdu[-1] if len(apdu) == 5 else 0
            if le != len(self.payload):
                return bytes([0x6C, len(self.payload)])
            return self.payload + b"\x90\x00"
        return b"\x90\x00"


@dataclass
class Recorder:
    entries: list[tuple[bytes, bytes, int]] = field(default_factory=list)

    def record(self, command: bytes, response: bytes, duration_us: int) -> None:
        self.entries.append((command, response, duration_us))


@dataclass
class FaultAt:
    n: int
    action: str
    seen: list[int] = field(default_factory=list)

    def before_apdu(self, n: int, apdu: bytes) -> str | None:
        self.seen.append(n)
        return self.action if n == self.n else None


# ----------------------------------------------------------------------------- fake vpcd


class FakeVpcd:
    """The vpcd end of the wire: listens, accepts the bridge, sends framed messages."""

    def __init__(self, port: int = 0) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.server.settimeout(5.0)
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self, timeout: float = 5.0) -> None:
        self.server.settimeout(timeout)
        conn, _ = self.server.accept()
        conn.settimeout(5.0)
        self.conn = conn

    def send_raw(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(data)

    def send(self, body: bytes) -> None:
        self.send_raw(struct.pack(">H", len(body)) + body)

    def recv_exact(self, n: int) -> bytes:
        assert self.conn is not None
        data = b""
        while len(data) < n:
            chunk = self.conn.recv(n - len(data))
            if not chunk:
                raise EOFError(f"bridge closed after {len(data)} of {n} bytes")
            data += chunk
        return data

    def recv(self) -> bytes:
        (length,) = struct.unpack(">H", self.recv_exact(2))
        return self.recv_exact(length)

    def transact(self, body: bytes) -> bytes:
        self.send(body)
        return self.recv()

    def peer_closed(self, timeout: float = 5.0) -> bool:
        assert self.conn is not None
        self.conn.settimeout(timeout)
        try:
            return self.conn.recv(1) == b""
        except ConnectionResetError:
            return True

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def close(self) -> None:
        self.drop()
        self.server.close()


@contextmanager
def bridge_on_fake(card: StubCard, **kwargs: object) -> Iterator[tuple[VpcdBridge, FakeVpcd]]:
    fake = FakeVpcd()
    bridge = VpcdBridge(card, port=fake.port, **kwargs)  # type: ignore[arg-type]
    thread = threading.Thread(target=bridge.serve_forever, daemon=True)
    thread.start()
    try:
        fake.accept()
        assert fake.transact(b"\x04") == card.atr  # the bridge is serving
        yield bridge, fake
    finally:
        bridge.stop()
        thread.join(5.0)
        bridge.close()
        fake.close()
        assert not thread.is_alive(), "serve_forever did not return after stop()"


def test_wire_power_on_atr_apdu_power_off() -> None:
    card = StubCard()
    with bridge_on_fake(card) as (bridge, fake):
        fake.send(b"\x01")
        assert fake.transact(b"\x04") == STUB_ATR
        assert card.power_ons == 1
        assert fake.transact(h("00 CA 00 00 03 0A 0B 0C")) == h("0A 0B 0C 90 00")
        fake.send(b"\x02")  # reset: no answer, volatile state reset
        assert fake.transact(h("00 CB 00 00 00")) == h("00 90 00")
        assert card.power_ons == 2
        fake.send(b"\x00")
        assert fake.transact(h("00 CB 00 00 00")) == h("00 90 00")
        assert card.power_offs == 1
        assert bridge.apdu_count == 3


def test_wire_partial_and_coalesced_messages() -> None:
    card = StubCard()
    with bridge_on_fake(card) as (_bridge, fake):
        message = struct.pack(">H", 7) + h("00 CA 00 00 02 AB CD")
        for byte in message:  # one byte per segment, with pauses: the bridge must reassemble
            fake.send_raw(bytes([byte]))
            time.sleep(0.002)
        assert fake.recv() == h("AB CD 90 00")
        two = struct.pack(">H", 1) + b"\x04" + struct.pack(">H", 6) + h("00 CA 00 00 01 EE")
        fake.send_raw(two)  # two messages in one segment: two answers, in order
        assert fake.recv() == STUB_ATR
        assert fake.recv() == h("EE 90 00")


def test_wire_large_response_is_framed_in_one_message() -> None:
    card = StubCard()
    data = bytes(range(256)) * 4
    with bridge_on_fake(card) as (_bridge, fake):
        fake.send(h("00 CA 00 00 00") + len(data).to_bytes(2, "big") + data)  # extended Lc
        assert fake.recv() == b"\x90\x00"
        assert card.processed[-1][7:] == data


def test_stop_closes_socket_and_serve_forever_returns() -> None:
    card = StubCard()
    with bridge_on_fake(card) as (bridge, fake):
        assert bridge.connected
        started = time.monotonic()
        bridge.stop()
        assert fake.peer_closed(timeout=2.0)
        assert time.monotonic() - started < 1.0
    assert card.power_offs == 1  # leaving the reader powered the card down


def test_reconnects_after_vpcd_closes_and_while_it_is_absent() -> None:
    card = StubCard()
    with bridge_on_fake(card, backoff_initial=0.01, backoff_max=0.05) as (bridge, fake):
        assert fake.transact(b"\x04") == STUB_ATR
        fake.drop()  # pcscd went away / restarted
        fake.accept(timeout=5.0)
        assert fake.transact(b"\x04") == STUB_ATR
        assert bridge.connections == 2
        port = fake.port
        fake.close()  # nobody listening: connection refused, the bridge keeps retrying
        time.sleep(0.2)
        fake.server = socket.create_server(("127.0.0.1", port))
        fake.accept(timeout=5.0)
        assert fake.transact(h("00 CB 00 00 00")) == h("00 90 00")
        assert bridge.connections == 3


def test_fault_remove_closes_before_running_the_apdu() -> None:
    card = StubCard()
    faults = FaultAt(2, "remove")
    with bridge_on_fake(card, faults=faults) as (_bridge, fake):
        assert fake.transact(h("00 CA 00 00 01 01")) == h("01 90 00")
        fake.send(h("00 CA 00 00 01 02"))
        assert fake.peer_closed()
        assert card.processed == [h("00 CA 00 00 01 01")]
        assert faults.seen == [1, 2]


def test_fault_lose_runs_the_apdu_then_closes_and_reinserts() -> None:
    card = StubCard()
    faults = FaultAt(1, "lose")
    with bridge_on_fake(card, faults=faults, reinsert_after=0.0) as (bridge, fake):
        fake.send(h("00 CA 00 00 01 07"))
        assert fake.peer_closed()
        assert card.processed == [h("00 CA 00 00 01 07")]
        fake.drop()
        fake.accept()  # reinserted after reinsert_after
        assert fake.transact(h("00 CA 00 00 01 08")) == h("08 90 00")
        assert bridge.connections == 2 and faults.seen == [1, 2]


def test_stop_from_a_signal_handler_in_the_serving_thread() -> None:
    fake = FakeVpcd()
    script = textwrap.dedent(
        f"""
        import signal, sys
        from reader.vpcd import VpcdBridge
        from tests.test_pcsc_bridge import StubCard
        bridge = VpcdBridge(StubCard(), port={fake.port})
        signal.signal(signal.SIGTERM, lambda signum, frame: bridge.stop())
        bridge.serve_forever()
        sys.exit(0)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env)
    try:
        fake.accept(timeout=20.0)
        assert fake.transact(b"\x04") == STUB_ATR  # serving, blocked in recv
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=5.0) == 0
        assert fake.peer_closed()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        fake.close()


def test_bridge_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        VpcdBridge(StubCard(), slot=-1)
    with pytest.raises(ValueError):
        VpcdBridge(StubCard(), backoff_initial=0)
    assert VpcdBridge(StubCard(), slot=1).port == 35964


def test_select_reader_by_exact_name_unique_substring_and_index() -> None:
    names = [SLOT0, SLOT1, "ACS ACR122U PICC Interface 00 00"]
    assert select_reader(names, SLOT1) == SLOT1
    assert select_reader(names, "acr122") == names[2]
    assert select_reader(names, 1) == SLOT1
    with pytest.raises(NoReader, match="ambiguous"):
        select_reader(names, "Virtual")
    with pytest.raises(NoReader, match="Virtual PCD 00 01"):
        select_reader(names, "Gemalto")
    with pytest.raises(NoReader, match="#7"):
        select_reader(names, 7)


def test_pcscd_not_running_gives_how_to_start_it() -> None:
    pytest.importorskip("smartcard")
    script = textwrap.dedent(
        """
        from reader.errors import PcscUnavailable
        from reader.pcsc import list_readers
        try:
            list_readers()
        except PcscUnavailable as exc:
            print(exc)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm"}
    command = [sys.executable, "-c", script]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
    assert "sudo pcscd" in result.stdout
    assert "vsmartcard-vpcd" in result.stdout and "pcscd --foreground" in result.stdout


def test_pcsc_module_imports_without_pyscard() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["smartcard"] = None  # pyscard absent
        from reader.errors import PcscUnavailable
        from reader.pcsc import PcscReader
        try:
            PcscReader("Virtual PCD 00 00").connect()
        except PcscUnavailable as exc:
            print("unavailable:", exc)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", script]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("unavailable: pyscard is not installed")


def test_pcsc_reader_implements_the_reader_protocol() -> None:
    reader = PcscReader(SLOT0)
    assert isinstance(reader, Reader)
    assert reader.name == SLOT0 and reader.atr == b""
    reader.disconnect()  # never connected: a no-op, no pyscard call


def test_vpcd_lock_excludes_other_processes_and_is_reentrant(tmp_path: Path) -> None:
    lock_file = tmp_path / "vpcd.lock"
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from reader.pcscd_service import vpcd_lock
        with vpcd_lock(path=Path({str(lock_file)!r})):
            print("held", flush=True)
            sys.stdin.readline()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(TimeoutError, match=f"pid {holder.pid}"):
            with vpcd_lock(timeout=0.3, path=lock_file):
                pass
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(10)
    with vpcd_lock(timeout=5.0, path=lock_file):
        with vpcd_lock(timeout=0.0, path=lock_file):  # same process: re-entrant, no wait
            assert lock_file.read_text().strip() == str(os.getpid())


# ----------------------------------------------------------------------------- real pcscd


@pytest.mark.pcsc
def test_pyscard_sees_the_card_with_its_atr(pcscd: PcscdService) -> None:
    from smartcard.System import readers
    from smartcard.util import toBytes

    card = StubCard()
    with served_card(card, 0):
        assert SLOT0 in [str(r) for r in readers()]
        connection = next(r for r in readers() if str(r) == SLOT0).createConnection()
        connection.connect()
        try:
            assert bytes(connection.getATR()) == STUB_ATR
            data, sw1, sw2 = connection.transmit(toBytes("00 CA 00 00 02 12 34"))
            assert (bytes(data), sw1, sw2) == (h("12 34"), 0x90, 0x00)
        finally:
            connection.disconnect()
            connection.release()
        assert card.power_ons >= 1


@pytest.mark.pcsc
def test_pcsc_reader_round_trip_with_trace(pcscd: PcscdService) -> None:
    card = StubCard()
    trace = Recorder()
    with served_card(card, 0):
        reader = PcscReader(SLOT0, trace=trace)
        assert reader.connect() == STUB_ATR
        try:
            assert reader.atr == STUB_ATR and reader.card_present()
            assert reader.transmit(h("00 CA 00 00 03 01 02 03")) == h("01 02 03 90 00")
            # 61xx and 6Cxx from a card are handled inside transmit, through real pcscd
            assert reader.transmit(h("00 B0 00 00 00")) == card.payload + h("90 00")
            assert reader.transmit(h("00 B2 01 0C 00")) == card.payload + h("90 00")
        finally:
            reader.disconnect()
    commands = [c for c, _r, _us in trace.entries]
    assert commands == [
        h("00 CA 00 00 03 01 02 03"),
        h("00 B0 00 00 00"),
        h("00 C0 00 00 28"),
        h("00 B2 01 0C 00"),
        h("00 B2 01 0C 28"),
    ]
    assert all(us > 0 for _c, _r, us in trace.entries)


@pytest.mark.pcsc
def test_opensc_tool_talks_to_the_served_card(pcscd: PcscdService) -> None:
    tool = require_tool("opensc-tool")
    with served_card(StubCard(), 0):
        result = subprocess.run(
            [tool, "-r", SLOT0, "-s", "00CA000002ABCD"], capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 0, result.stderr
    assert "SW1=0x90, SW2=0x00" in result.stdout
    assert "AB CD" in result.stdout.split("Received", 1)[1]


@pytest.mark.pcsc
def test_stopping_the_bridge_is_card_removal(pcscd: PcscdService) -> None:
    reader = PcscReader(SLOT0)
    try:
        with served_card(StubCard(), 0):
            reader.connect()
            assert reader.transmit(h("00 CB 00 00 00")) == h("00 90 00")
        # served_card's exit waited until pcscd saw the slot empty
        assert not reader.card_present()
        with pytest.raises(CardRemoved):
            reader.transmit(h("00 CB 00 00 00"))
        with pytest.raises(NoCard):
            reader.connect()
    finally:
        reader.disconnect()


@pytest.mark.pcsc
@pytest.mark.parametrize("action", ["remove", "lose"])
def test_faults_surface_as_card_removed(pcscd: PcscdService, action: str) -> None:
    card = StubCard()
    reader = PcscReader(SLOT0)
    try:
        with served_card(card, 0, faults=FaultAt(2, action)) as bridge:
            reader.connect()
            assert reader.transmit(h("00 CA 00 00 01 01")) == h("01 90 00")
            with pytest.raises(CardRemoved):
                reader.transmit(h("00 CA 00 00 01 02"))
            ran = h("00 CA 00 00 01 02") in card.processed
            assert ran == (action == "lose")  # "lose" ran it, "remove" did not
            assert not bridge.connected
    finally:
        reader.disconnect()


@pytest.mark.pcsc
def test_two_slots_serve_two_cards_at_once(pcscd: PcscdService) -> None:
    first = StubCard(ident=b"\x01")
    second = StubCard(ident=b"\x02", atr_bytes=STUB_ATR[:-1] + b"\x0e")
    with served_card(first, 0), served_card(second, 1):
        readers = [PcscReader(SLOT0), PcscReader(SLOT1)]
        try:
            atrs = [r.connect() for r in readers]
            idents = [r.transmit(h("00 CB 00 00 00")) for r in readers for _ in range(3)]
        finally:
            for r in readers:
                r.disconnect()
    assert atrs == [first.atr, second.atr]
    assert idents == [h("01 90 00")] * 3 + [h("02 90 00")] * 3


@pytest.mark.pcsc
def test_bridge_reconnects_after_pcscd_restart(pcscd: PcscdService) -> None:
    if not pcscd.started:
        pytest.skip("pcscd was already running: not restarting a daemon this session did not start")
    card = StubCard()
    with served_card(card, 0) as bridge:
        assert bridge.connections == 1
        pcscd.restart()
        reader = PcscReader(SLOT0)
        assert reader.wait_for_card(10.0)
        try:
            assert reader.connect() == STUB_ATR
            assert reader.transmit(h("00 CA 00 00 01 5A")) == h("5A 90 00")
        finally:
            reader.disconnect()
        assert bridge.connections == 2


@pytest.mark.pcsc
def test_reader_errors_name_the_readers_there_are(pcscd: PcscdService) -> None:
    names = list_readers()
    assert SLOT0 in names and SLOT1 in names
    with pytest.raises(NoReader) as caught:
        PcscReader("No Such Reader 99").connect()
    assert SLOT0 in str(caught.value) and SLOT1 in str(caught.value)
    with pytest.raises(NoReader, match="ambiguous"):
        PcscReader("Virtual PCD").connect()
    empty = PcscReader(names.index(SLOT1))
    with pytest.raises(NoCard):
        empty.connect()
    assert empty.name == SLOT1
    assert not empty.card_present()
    assert not empty.wait_for_card(0.2)
    with pytest.raises(ReaderError, match="before connect"):
        empty.transmit(h("00 CB 00 00 00"))


@pytest.mark.pcsc
def test_wait_for_card_returns_when_a_card_arrives(pcscd: PcscdService) -> None:
    reader = PcscReader(SLOT0)
    assert not reader.card_present()
    card = StubCard()
    arrived = threading.Event()

    def insert_later() -> None:
        time.sleep(0.3)
        with served_card(card, 0):
            arrived.wait(10.0)

    inserter = threading.Thread(target=insert_later)
    inserter.start()
    try:
        started = time.monotonic()
        assert reader.wait_for_card(10.0)
        assert time.monotonic() - started >= 0.25
        assert reader.card_present()
    finally:
        arrived.set()
        inserter.join(15.0)
    assert reader.wait_for_removal(5.0)


@pytest.mark.pcsc
def test_round_trip_latency_has_no_nagle_delay(pcscd: PcscdService) -> None:
    from scripts.bench_pcsc import bench_vpcd_roundtrip

    result = bench_vpcd_roundtrip(StubCard(), n=300)
    assert result["n"] == 300
    # Nagle + delayed ACK costs ≈40 ms per APDU; with NODELAY + QUICKACK it is ≈0.1 ms. 5 ms
    # leaves room for a loaded machine while still catching the regression.
    assert 0 < result["median_us"] < 5000, result

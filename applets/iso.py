"""Inter-industry commands (ISO/IEC 7816-4 §11): SELECT, READ/UPDATE BINARY, READ/UPDATE/APPEND
RECORD, VERIFY, GET CHALLENGE. Every handler answers data or raises CardStatus."""

from __future__ import annotations

from typing import TYPE_CHECKING

from applets import pin as pins
from applets.apdu import CommandApdu
from applets.application import Application, CommandKey, Handler
from applets.errors import CardStatus
from applets.fs import DF, EF, Access, Structure
from applets.sw import SW
from applets.tlv import encode

if TYPE_CHECKING:
    from applets.card import VirtualCard


def require_access(card: VirtualCard, access: Access) -> None:
    if access is Access.ALWAYS:
        return
    if access is Access.PIN and card.session.pin_verified:
        return
    raise CardStatus(SW.SECURITY_STATUS_NOT_SATISFIED)


def application_of(card: VirtualCard, df: DF) -> Application | None:
    """The application a DF belongs to: its own, or the nearest ancestor's."""
    node: DF | None = df
    while node is not None:
        if node.application:
            return card.applications[node.application]
        node = node.parent
    return None


def select_df(card: VirtualCard, df: DF) -> None:
    app = application_of(card, df)
    if app is not None:
        app.on_select(card, df)
    s = card.session
    s.current_df, s.current_ef, s.application = df, None, app


def _file_control(node: DF | EF, template: int) -> bytes:
    """FCI (6F) / FCP (62) with file descriptor 82, FID 83, DF name 84, SFI 88 (ISO 7816-4 §5.3.3)."""
    if isinstance(node, DF):
        body = encode(0x82, b"\x38") + encode(0x83, node.fid.to_bytes(2, "big"))
        if node.name:
            body += encode(0x84, node.name)
    else:
        descriptor = {
            Structure.TRANSPARENT: 0x01,
            Structure.LINEAR: 0x02 if node.record_size else 0x04,
            Structure.CYCLIC: 0x06,
            Structure.TLV_RECORDS: 0x05,
        }[node.structure]
        body = encode(0x82, bytes((descriptor,))) + encode(0x83, node.fid.to_bytes(2, "big"))
        if node.structure is Structure.TRANSPARENT:
            body += encode(0x80, len(node.data).to_bytes(2, "big"))
        if node.sfi is not None:
            body += encode(0x88, bytes((node.sfi << 3,)))
    return encode(template, body)


def _walk_path(start: DF, path: bytes) -> tuple[DF, DF | EF]:
    """Follow a path of FIDs; returns (the DF holding the target, the target)."""
    if not path or len(path) % 2:
        raise CardStatus(SW.WRONG_LENGTH)
    holder, node = start, start
    for i in range(0, len(path), 2):
        if not isinstance(node, DF):
            raise CardStatus(SW.FILE_NOT_FOUND)
        holder = node
        nxt = node.child(int.from_bytes(path[i : i + 2], "big"))
        if nxt is None:
            raise CardStatus(SW.FILE_NOT_FOUND)
        node = nxt
    return holder, node


def select(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """SELECT (ISO 7816-4 §11.2.2): P1 04 by DF name, 00 by FID, 01 child DF, 02 EF, 03 parent,
    08 path from MF, 09 path from current DF; P2 00 FCI, 04 FCP, 0C no data."""
    p1, p2, data = cmd.p1, cmd.p2, cmd.data
    if p2 not in (0x00, 0x04, 0x0C):
        raise CardStatus(SW.INCORRECT_P1P2)
    mf = card.image.mf
    current = card.session.current_df
    holder = current
    node: DF | EF | None
    if p1 == 0x04:
        if not 1 <= len(data) <= 16:
            raise CardStatus(SW.WRONG_LENGTH)
        node = mf.find_by_name(data)
    elif p1 == 0x00:
        if not data:
            node = mf
        elif len(data) != 2:
            raise CardStatus(SW.WRONG_LENGTH)
        else:
            fid = int.from_bytes(data, "big")
            node = mf if fid == 0x3F00 else current.child(fid)
            if node is None and current.parent is not None:
                node = current.parent.child(fid)  # a sibling of the current DF
                holder = current.parent  # an EF found there makes its DF (the parent) current
    elif p1 in (0x01, 0x02):
        if len(data) != 2:
            raise CardStatus(SW.WRONG_LENGTH)
        node = current.child(int.from_bytes(data, "big"))
        if node is not None and isinstance(node, DF) != (p1 == 0x01):
            node = None
    elif p1 == 0x03:
        if data:
            raise CardStatus(SW.WRONG_LENGTH)
        node = current.parent
    elif p1 in (0x08, 0x09):
        holder, node = _walk_path(mf if p1 == 0x08 else current, data)
    else:
        raise CardStatus(SW.INCORRECT_P1P2)
    if node is None:
        raise CardStatus(SW.FILE_NOT_FOUND)
    if isinstance(node, DF):
        select_df(card, node)
    else:
        if holder is not current:  # an EF reached by path: its DF becomes current
            select_df(card, holder)
        card.session.current_ef = node
    if p2 == 0x0C:
        return b""
    return _file_control(node, 0x6F if p2 == 0x00 else 0x62)


# ---- transparent files ----


def _binary_target(card: VirtualCard, cmd: CommandApdu) -> tuple[EF, int]:
    if cmd.p1 & 0x80:  # short EF identifier in P1 b5..b1, offset in P2
        if cmd.p1 & 0x60:
            raise CardStatus(SW.INCORRECT_P1P2)
        ef = card.session.current_df.ef_by_sfi(cmd.p1 & 0x1F)
        if ef is None:
            raise CardStatus(SW.FILE_NOT_FOUND)
        card.session.current_ef = ef
        offset = cmd.p2
    else:
        ef = card.session.current_ef
        if ef is None:
            raise CardStatus(SW.COMMAND_NOT_ALLOWED_NO_EF)
        offset = (cmd.p1 << 8) | cmd.p2
    if ef.structure is not Structure.TRANSPARENT:
        raise CardStatus(SW.COMMAND_INCOMPATIBLE)
    return ef, offset


def read_binary(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """READ BINARY (ISO 7816-4 §11.3.3)."""
    if cmd.data or not cmd.ne:
        raise CardStatus(SW.WRONG_LENGTH)
    ef, offset = _binary_target(card, cmd)
    require_access(card, ef.read)
    if offset >= len(ef.data):
        raise CardStatus(SW.WRONG_PARAMETERS)
    return bytes(ef.data[offset : offset + cmd.ne])


def update_binary(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """UPDATE BINARY (ISO 7816-4 §11.3.5): the file keeps its size."""
    if not cmd.data or cmd.ne:
        raise CardStatus(SW.WRONG_LENGTH)
    ef, offset = _binary_target(card, cmd)
    require_access(card, ef.write)
    if offset >= len(ef.data):
        raise CardStatus(SW.WRONG_PARAMETERS)
    if offset + len(cmd.data) > len(ef.data):
        raise CardStatus(SW.WRONG_LENGTH)
    ef.data[offset : offset + len(cmd.data)] = cmd.data
    card.commit()
    return b""


# ---- record files ----


def _record_file(card: VirtualCard, p2: int) -> EF:
    sfi = p2 >> 3
    if sfi == 0x1F:
        raise CardStatus(SW.INCORRECT_P1P2)
    if sfi == 0:
        ef = card.session.current_ef
        if ef is None:
            raise CardStatus(SW.COMMAND_NOT_ALLOWED_NO_EF)
    else:
        ef = card.session.current_df.ef_by_sfi(sfi)
        if ef is None:
            raise CardStatus(SW.FILE_NOT_FOUND)
        card.session.current_ef = ef
    if ef.structure is Structure.TRANSPARENT:
        raise CardStatus(SW.COMMAND_INCOMPATIBLE)
    return ef


def read_record(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """READ RECORD (ISO 7816-4 §11.4.3): P2 b3..b1 = 100 → P1 is the record number; 000 / 001 → P1 is
    a record identifier (first byte of the record), first / last occurrence."""
    if cmd.data or not cmd.ne:
        raise CardStatus(SW.WRONG_LENGTH)
    mode = cmd.p2 & 0x07
    if cmd.p1 == 0 or mode not in (0, 1, 4):
        raise CardStatus(SW.INCORRECT_P1P2)
    ef = _record_file(card, cmd.p2)
    require_access(card, ef.read)
    if mode == 4:
        idx = ef.find_record(cmd.p1)
    else:
        hits = [i for i, r in enumerate(ef.records) if r and r[0] == cmd.p1]
        idx = (hits[0] if mode == 0 else hits[-1]) if hits else None
    if idx is None:
        raise CardStatus(SW.RECORD_NOT_FOUND)
    return ef.records[idx]


def update_record(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """UPDATE RECORD (ISO 7816-4 §11.4.5), by record number only (P2 b3..b1 = 100)."""
    if not cmd.data or cmd.ne:
        raise CardStatus(SW.WRONG_LENGTH)
    if cmd.p1 == 0 or cmd.p2 & 0x07 != 4:
        raise CardStatus(SW.INCORRECT_P1P2)
    ef = _record_file(card, cmd.p2)
    require_access(card, ef.write)
    idx = ef.find_record(cmd.p1)
    if idx is None:
        raise CardStatus(SW.RECORD_NOT_FOUND)
    if ef.record_size and len(cmd.data) != ef.record_size:
        raise CardStatus(SW.WRONG_LENGTH)
    if ef.structure is Structure.TLV_RECORDS and cmd.data[0] != cmd.p1:
        raise CardStatus(SW.WRONG_DATA)
    ef.records[idx] = cmd.data
    card.commit()
    return b""


def append_record(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """APPEND RECORD (ISO 7816-4 §11.4.6): linear files grow at the end; cyclic files write a new
    record 1 and drop the oldest when full."""
    if not cmd.data or cmd.ne:
        raise CardStatus(SW.WRONG_LENGTH)
    if cmd.p1 != 0 or cmd.p2 & 0x07 != 0:
        raise CardStatus(SW.INCORRECT_P1P2)
    ef = _record_file(card, cmd.p2)
    require_access(card, ef.write)
    if ef.structure is Structure.TLV_RECORDS:
        raise CardStatus(SW.COMMAND_INCOMPATIBLE)
    if ef.record_size and len(cmd.data) != ef.record_size:
        raise CardStatus(SW.WRONG_LENGTH)
    if ef.structure is Structure.CYCLIC:
        ef.records.insert(0, cmd.data)
        del ef.records[ef.max_records :]
    else:
        if ef.max_records and len(ef.records) >= ef.max_records:
            raise CardStatus(SW.NOT_ENOUGH_MEMORY)
        ef.records.append(cmd.data)
    card.commit()
    return b""


# ---- PIN and challenge ----


def verify(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """VERIFY (ISO 7816-4 §11.5.6): `00 20 00 00 Lc PIN(BCD)`; empty data asks for the try counter."""
    if cmd.p1 != 0x00:
        raise CardStatus(SW.INCORRECT_P1P2)
    if cmd.p2 != 0x00:
        raise CardStatus(SW.REFERENCED_DATA_NOT_FOUND)
    if cmd.ne:
        raise CardStatus(SW.WRONG_LENGTH)
    state = card.image.pin
    if not cmd.data:
        if state.blocked:
            raise CardStatus(SW.AUTH_METHOD_BLOCKED)
        if card.session.pin_verified:
            return b""
        raise CardStatus(0x63C0 | state.tries_left)
    pins.check_pin(card, pins.decode_bcd_pin(cmd.data))
    return b""


def get_challenge(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """GET CHALLENGE (ISO 7816-4 §11.5.3): 4, 8 or 16 random bytes, kept for EXTERNAL AUTHENTICATE."""
    if cmd.p1 or cmd.p2:
        raise CardStatus(SW.INCORRECT_P1P2)
    if cmd.data or cmd.ne not in (4, 8, 16):
        raise CardStatus(SW.WRONG_LENGTH)
    challenge = card.random(cmd.ne)
    card.session.challenge = challenge
    return challenge


ISO_COMMANDS: dict[CommandKey, Handler] = {
    (False, 0xA4): select,
    (False, 0xB0): read_binary,
    (False, 0xD6): update_binary,
    (False, 0xB2): read_record,
    (False, 0xDC): update_record,
    (False, 0xE2): append_record,
    (False, 0x20): verify,
    (False, 0x84): get_challenge,
}

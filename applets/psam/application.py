"""PSAM application (purse.md "PSAM"): the terminal id, the purchase master keys and the persistent
terminal transaction sequence; it computes MAC1 for the card and checks the card's MAC2.

- INIT SAM FOR PURCHASE `80 70 00 00 Lc`, Lc `1C`: card random 4 ‖ card offline counter 2 ‖ amount 4 ‖
  type 1 ‖ date 4 ‖ time 3 ‖ key version 1 ‖ alg id 1 ‖ diversification factor 8; Lc `24`: the same then
  the card's 8-byte issuer code (T-Union, two levels: DK = diversify(diversify(MK, issuer code), factor)).
  Answer: terminal txn seq 4 ‖ MAC1 4. The sequence is incremented and committed before the answer.
- CREDIT SAM FOR PURCHASE `80 72 00 00 04` MAC2 → 9000 or 9302, checked against the latest INIT.
  Project extension for recovery: Lc `08` = terminal txn seq 4 ‖ MAC2 4 checks the session of that
  sequence number. The PSAM keeps the expected MAC2 of its last 8 INITs in its image, committed with the
  sequence number, so that a transaction torn anywhere can still be verified after a power loss.
  Checking is idempotent (a verified MAC2 verifies again); a session allows two wrong MAC2s (each one
  committed) and is then dropped (6985 afterwards).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from applets.apdu import CommandApdu
from applets.application import Application, CommandKey, Handler
from applets.crypto import pboc
from applets.crypto.pboc import Algorithm
from applets.errors import CardStatus
from applets.fs import DF
from applets.purse.layout import TxnType, valid_date_time
from applets.sw import SW

if TYPE_CHECKING:
    from applets.card import VirtualCard

PSAM_AID = bytes.fromhex("D15600000590")  # ssc-card.md: the card family's PSAM application
PSAM_FID = 0x1001
SFI_TERMINAL_ID = 0x16  # 0016: terminal id, 6 bytes (BCD)
APP_NAME = "psam"
MAX_SESSIONS = 8
MAC2_TRIES = 2
MAX_SEQ = 0xFFFFFFFF
_PURCHASE_TYPES = (TxnType.ED_PURCHASE, TxnType.EP_PURCHASE, TxnType.CAPP_PURCHASE)


def master_key_name(alg: int, version: int) -> str:
    """Image key name of a purchase master key: ``psam.mpk.<alg>.<version>`` (hex)."""
    return f"psam.mpk.{alg:02X}.{version:02X}"


def _state(card: VirtualCard) -> dict[str, Any]:
    state = card.image.applications.get(APP_NAME)
    if state is None:
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    if state.get("blocked"):
        raise CardStatus(SW.APPLICATION_BLOCKED)
    return state


def _terminal_id(card: VirtualCard) -> bytes:
    ef = card.session.current_df.ef_by_sfi(SFI_TERMINAL_ID)
    if ef is None or len(ef.data) != 6:
        raise CardStatus(SW.FILE_NOT_FOUND)
    return bytes(ef.data)


def init_sam_for_purchase(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """INIT SAM FOR PURCHASE (see the module docstring)."""
    state = _state(card)
    if cmd.p1 != 0x00 or cmd.p2 != 0x00:
        raise CardStatus(SW.INCORRECT_P1P2)
    data = cmd.data
    if len(data) not in (0x1C, 0x24):
        raise CardStatus(SW.WRONG_LENGTH)
    random, counter = data[0:4], int.from_bytes(data[4:6], "big")
    amount, txn_type = int.from_bytes(data[6:10], "big"), data[10]
    date, time = data[11:15], data[15:18]
    version, alg_id, factor = data[18], data[19], data[20:28]
    issuer_code = data[28:36] if len(data) == 0x24 else None
    if txn_type not in _PURCHASE_TYPES or not valid_date_time(date, time):
        raise CardStatus(SW.WRONG_DATA)
    try:
        alg = Algorithm(alg_id)
    except ValueError:
        raise CardStatus(SW.WRONG_DATA) from None
    master = card.image.keys.get(master_key_name(alg, version))
    if master is None:
        raise CardStatus(SW.REFERENCED_DATA_NOT_FOUND)
    terminal_id = _terminal_id(card)
    seq = int(state.get("seq", 1))
    if seq > MAX_SEQ:
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    master_cipher = card.derived(("mpk", alg, version), master, lambda key: pboc.BlockCipher(alg, key))
    if issuer_code is None:
        dk = pboc.diversify(alg, master_cipher, factor)
    else:
        dk = pboc.two_level_diversify(alg, master_cipher, issuer_code, factor)
    sk = pboc.session_cipher(alg, pboc.session_key(alg, dk, pboc.purchase_session_input(random, counter, seq)))
    mac1 = sk.cbc_mac(pboc.purchase_mac1_data(amount, txn_type, terminal_id, date, time))
    sessions: dict[str, Any] = state.setdefault("sessions", {})
    sessions[str(seq)] = {"mac2": sk.cbc_mac(pboc.purchase_mac2_data(amount)).hex().upper(), "fails": 0}
    for old in sorted(sessions, key=int)[:-MAX_SESSIONS]:
        del sessions[old]
    state["seq"] = seq + 1
    card.commit()  # one save: the sequence number is never used twice, the session survives power loss
    return seq.to_bytes(4, "big") + mac1


def credit_sam_for_purchase(card: VirtualCard, cmd: CommandApdu) -> bytes:
    """CREDIT SAM FOR PURCHASE `80 72 00 00 04` MAC2 (or Lc 08: seq 4 ‖ MAC2 4) → 9000 / 9302."""
    state = _state(card)
    if cmd.p1 != 0x00 or cmd.p2 != 0x00:
        raise CardStatus(SW.INCORRECT_P1P2)
    if len(cmd.data) not in (4, 8) or cmd.ne:
        raise CardStatus(SW.WRONG_LENGTH)
    if len(cmd.data) == 8:
        seq, mac2 = int.from_bytes(cmd.data[:4], "big"), cmd.data[4:]
    else:
        seq, mac2 = int(state.get("seq", 1)) - 1, cmd.data  # the latest INIT
    sessions: dict[str, Any] = state.get("sessions", {})
    session = sessions.get(str(seq))
    if session is None:
        raise CardStatus(SW.CONDITIONS_NOT_SATISFIED)
    if pboc.verify_mac(bytes.fromhex(session["mac2"]), mac2):
        return b""
    session["fails"] = int(session.get("fails", 0)) + 1
    if session["fails"] >= MAC2_TRIES:
        del sessions[str(seq)]
    card.commit()
    raise CardStatus(SW.MAC_INVALID)


class PsamApplication(Application):
    name = APP_NAME
    commands: dict[CommandKey, Handler] = {
        (True, 0x70): init_sam_for_purchase,
        (True, 0x72): credit_sam_for_purchase,
    }

    def on_select(self, card: VirtualCard, df: DF) -> None:
        if card.image.applications.get(self.name, {}).get("blocked"):
            raise CardStatus(SW.APPLICATION_BLOCKED)

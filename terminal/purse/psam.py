"""The terminal's PSAM, over any Reader: terminal id, INIT SAM FOR PURCHASE, CREDIT SAM FOR PURCHASE
(purse.md "PSAM"). Transport failures (`reader.errors.ReaderError`) propagate to the caller."""

from __future__ import annotations

import logging

from applets.apdu import ResponseApdu
from applets.psam.application import PSAM_AID, SFI_TERMINAL_ID
from applets.sw import SW, describe
from reader.base import Reader
from reader.errors import ReaderError
from terminal.protocol.iso import ReadBinary, SelectByName
from terminal.purse.commands import CreditSamForPurchase, InitSamForPurchase, SamInit
from terminal.purse.errors import BadAnswer, PsamError

log = logging.getLogger(__name__)


def _reply(raw: bytes, what: str) -> ResponseApdu:
    try:
        return ResponseApdu.from_bytes(raw)
    except ValueError:
        raise BadAnswer(f"{what}: answer without a status word") from None


class Psam:
    """A PSAM in a reader slot. `open()` selects its application and reads the terminal id (0016).

    Example::

        >>> psam = Psam(reader)                 # doctest: +SKIP
        >>> psam.open().hex()                   # doctest: +SKIP
        '310100000001'
    """

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.terminal_id: bytes | None = None

    def open(self, reconnect: bool = False) -> bytes:
        """Select the PSAM application and read its terminal id; with `reconnect`, power it up first."""
        if reconnect:
            self.reader.connect()
        resp = _reply(self.reader.transmit(SelectByName(PSAM_AID).to_bytes()), "SELECT PSAM")
        if resp.sw != SW.OK:
            raise PsamError(f"the PSAM application is not there: SELECT answered {resp.sw:04X} {describe(resp.sw)}", resp.sw)
        resp = _reply(self.reader.transmit(ReadBinary(SFI_TERMINAL_ID, 0, 6).to_bytes()), "READ 0016")
        if resp.sw != SW.OK or len(resp.data) != 6:
            raise PsamError(f"cannot read the PSAM terminal id ({resp.sw:04X} {describe(resp.sw)})", resp.sw)
        self.terminal_id = resp.data
        return resp.data

    def reopen(self) -> bytes:
        """`open` on the live connection, else after a fresh power-up (the PSAM was reset or reinserted)."""
        try:
            return self.open()
        except ReaderError:
            return self.open(reconnect=True)

    def init_purchase(self, command: InitSamForPurchase) -> SamInit:
        """INIT SAM FOR PURCHASE → terminal txn seq and MAC1. Raises PsamError on any non-9000 answer."""
        resp = _reply(self.reader.transmit(command.to_bytes()), "INIT SAM FOR PURCHASE")
        if resp.sw != SW.OK:
            raise PsamError(f"INIT SAM FOR PURCHASE: {resp.sw:04X} {describe(resp.sw)}", resp.sw)
        try:
            return SamInit.from_bytes(resp.data)
        except BadAnswer as e:
            raise PsamError(str(e)) from None

    def credit(self, mac2: bytes, terminal_seq: int | None = None) -> int:
        """CREDIT SAM FOR PURCHASE: the status word (9000 valid, 9302 invalid, 6985 no such session)."""
        resp = _reply(self.reader.transmit(CreditSamForPurchase(mac2, terminal_seq).to_bytes()), "CREDIT SAM")
        return resp.sw

    def verify_mac2(self, mac2: bytes, terminal_seq: int) -> int:
        """CREDIT SAM for the session `terminal_seq` (Lc 08); if the PSAM does not answer, power it up
        again and ask once more (its sessions survive power loss). ReaderError if still not there.
        A PSAM not opened yet in this process (recovery after a restart) is selected first."""
        if self.terminal_id is None:
            self.reopen()
        try:
            return self.credit(mac2, terminal_seq)
        except ReaderError:
            self.open(reconnect=True)
            return self.credit(mac2, terminal_seq)

"""The purse card as the terminal sees it, over any Reader: send a command, select the purse and
read who the card is. Transport failures (`reader.errors.ReaderError`) propagate."""

from __future__ import annotations

import logging
from typing import Protocol

from applets.apdu import ResponseApdu
from applets.purse.layout import (
    ISSUER_INFO_SIZE,
    LOG_RECORDS,
    PURSE_AID,
    SFI_ISSUER,
    SFI_LOG,
    IssuerInfo,
    LogRecord,
)
from applets.sw import SW, describe
from reader.base import Reader
from reader.errors import ReaderError
from terminal.protocol.iso import ReadBinary, ReadRecord, SelectByName, Verify, check_verify
from terminal.purse.errors import BadAnswer, PurseError
from terminal.purse.results import CardIdentity, LogEntry

log = logging.getLogger(__name__)


class Command(Protocol):
    def to_bytes(self) -> bytes: ...


def sw_text(sw: int) -> str:
    return f"{sw:04X} {describe(sw)}"


class CardChannel:
    """One card reader slot holding (we hope) a purse card."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def send(self, command: Command | bytes) -> ResponseApdu:
        raw = command if isinstance(command, bytes) else command.to_bytes()
        answer = self.reader.transmit(raw)
        try:
            return ResponseApdu.from_bytes(answer)
        except ValueError:
            raise BadAnswer(f"the card answered {len(answer)} byte(s), no status word") from None

    def open(self, reconnect: bool = False) -> CardIdentity:
        """SELECT the purse (AID A000000632010105) and read 0015; with `reconnect`, power the card first.
        Raises PurseError when there is no usable purse, ReaderError when the card is not there."""
        if reconnect:
            self.reader.connect()
        resp = self.send(SelectByName(PURSE_AID))
        if resp.sw == SW.APPLICATION_BLOCKED:
            raise PurseError("the purse application is blocked (hotlisted card)", resp.sw)
        if resp.sw != SW.OK:
            raise PurseError(f"no purse on this card: SELECT answered {sw_text(resp.sw)}", resp.sw)
        resp = self.send(ReadBinary(SFI_ISSUER, 0, ISSUER_INFO_SIZE))
        if resp.sw != SW.OK:
            raise PurseError(f"cannot read 0015: {sw_text(resp.sw)}", resp.sw)
        try:
            return CardIdentity.from_issuer_info(IssuerInfo.from_bytes(resp.data))
        except ValueError as e:
            raise BadAnswer(str(e)) from None

    def reopen(self) -> CardIdentity:
        """Open again after a fault: first on the live connection, then with a fresh power-up."""
        try:
            return self.open()
        except ReaderError:
            return self.open(reconnect=True)

    def verify_pin(self, pin: str) -> None:
        check_verify(self.reader.transmit(Verify(pin).to_bytes()))

    def read_log(self) -> list[LogEntry]:
        out: list[LogEntry] = []
        for number in range(1, LOG_RECORDS + 1):
            resp = self.send(ReadRecord(SFI_LOG, number))
            if resp.sw == SW.RECORD_NOT_FOUND:
                break
            if resp.sw != SW.OK:
                raise PurseError(f"READ RECORD {number} of 0018: {sw_text(resp.sw)}", resp.sw)
            try:
                out.append(LogEntry(number, LogRecord.from_bytes(resp.data)))
            except ValueError as e:
                raise BadAnswer(str(e)) from None
        return out

    def read_record(self, sfi: int, number: int) -> bytes:
        resp = self.send(ReadRecord(sfi, number))
        if resp.sw != SW.OK:
            raise PurseError(f"READ RECORD {number} of SFI {sfi:02X}: {sw_text(resp.sw)}", resp.sw)
        return resp.data

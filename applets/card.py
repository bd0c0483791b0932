"""A virtual card: power, APDU dispatch and atomic commits of its image (pure; I/O comes in through
the `CardStorage` and the entropy function handed to it)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Mapping, Protocol, TypeVar

from applets.apdu import CommandApdu
from applets.application import Application, CommandKey, Handler
from applets.errors import CardStatus, ImageError, PowerLost
from applets.fs import DF, EF
from applets.image import CardImage, ImageEncoder
from applets.iso import ISO_COMMANDS
from applets.sw import SW

log = logging.getLogger(__name__)
T = TypeVar("T")

_OK = b"\x90\x00"


class CardStorage(Protocol):
    """Where a card's image lives between commits. `save` must be atomic (old or new, never half)."""

    def load(self) -> bytes: ...

    def save(self, image: bytes) -> None: ...


class MemoryStorage:
    """Keeps the last committed image in memory (for tests and the emulated reader's demo cards)."""

    def __init__(self, image: bytes) -> None:
        self.image = image
        self.saves = 0

    def load(self) -> bytes:
        return self.image

    def save(self, image: bytes) -> None:
        self.image = image
        self.saves += 1


@dataclass(slots=True)
class Session:
    """Volatile (RAM) state of one power-on: lost at power-off, reset and tearing."""

    current_df: DF
    current_ef: EF | None = None
    application: Application | None = None
    pin_verified: bool = False
    challenge: bytes | None = None
    scratch: dict[str, Any] = field(default_factory=dict)  # per-application volatile state


class VirtualCard:
    """A card OS instance over an image. `process` never raises except `PowerLost` (torn card)."""

    def __init__(
        self,
        storage: CardStorage,
        entropy: Callable[[int], bytes],
        applications: Mapping[str, Application] | None = None,
    ) -> None:
        from applets.registry import default_applications

        self.storage = storage
        self.entropy = entropy
        self.applications = dict(applications if applications is not None else default_applications())
        self.image = CardImage.from_bytes(storage.load())
        self._check_applications()
        self.session = Session(self.image.mf)
        self.powered = False
        self._stale = False  # RAM may differ from the last commit: reload before the next command
        self._encoder = ImageEncoder()  # the image's JSON, reusing the text of unchanged files
        self._derived: dict[Hashable, tuple[bytes, Any]] = {}  # see derived()

    # ---- power ----

    @property
    def atr(self) -> bytes:
        return self.image.atr

    def power_on(self) -> bytes:
        """Cold or warm reset: reload the last committed image if RAM may be stale; clear the session."""
        if self._stale:
            self._reload()
        self.session = Session(self.image.mf)
        for app in self.applications.values():
            app.on_power_on(self)
        self.powered = True
        return self.image.atr

    def power_off(self) -> None:
        self.powered = False
        self.session = Session(self.image.mf)

    # ---- state ----

    def commit(self) -> None:
        """Write the whole image atomically. May raise PowerLost (the card was torn)."""
        try:
            self.storage.save(self._encoder.to_bytes(self.image))
        except PowerLost:
            self._stale = True
            self.powered = False
            raise

    def app_state(self, name: str) -> dict[str, Any]:
        return self.image.applications.setdefault(name, {})

    def random(self, n: int) -> bytes:
        return self.entropy(n)

    def derived(self, name: Hashable, source: bytes, make: Callable[[bytes], T]) -> T:
        """`make(source)` kept in RAM under `name` while `source` (image data, e.g. a key) is unchanged: a key
        schedule made once instead of at every transaction. Never saved, never part of the image."""
        kept = self._derived.get(name)
        if kept is not None and kept[0] == source:
            return kept[1]  # type: ignore[no-any-return]
        value = make(source)
        self._derived[name] = (bytes(source), value)
        return value

    def _reload(self) -> None:
        self.image = CardImage.from_bytes(self.storage.load())
        self._stale = False

    def _check_applications(self) -> None:
        for df in self.image.mf.walk_dfs():
            if df.application and df.application not in self.applications:
                raise ImageError(f"DF {df.fid:04X} names unknown application {df.application!r}")

    # ---- dispatch ----

    def process(self, raw: bytes) -> bytes:
        """One command APDU in, one response APDU (data ‖ SW1 SW2) out."""
        if not self.powered:
            self.power_on()
        try:
            if self.session.application is not None:
                self.session.application.before_command(self, raw)
            cmd = CommandApdu.from_bytes(raw)
            data = self._handler(cmd)(self, cmd)
            if not cmd.ne:  # ISO 7816-4 §5.1: no Le field, no response data
                return _OK
            if len(data) > cmd.ne:
                return bytes((0x6C, len(data) & 0xFF))  # wrong Le; exact length in SW2
            return data + _OK
        except CardStatus as status:
            return status.sw.to_bytes(2, "big")
        except PowerLost:
            self._stale = True
            self.powered = False
            raise
        except Exception:  # a bug must never escape the card: answer 6F00 and drop uncommitted RAM
            log.exception("card fault on INS %02X", raw[1] if len(raw) > 1 else 0)
            self._stale = True
            try:
                self._reload()
                self.session = Session(self.image.mf)
            except Exception:
                log.exception("card image could not be reloaded")
            return SW.NO_PRECISE_DIAGNOSIS.to_bytes(2, "big")

    def _handler(self, cmd: CommandApdu) -> Handler:
        cla = cmd.cla
        if cla == 0xFF:
            raise CardStatus(SW.CLA_NOT_SUPPORTED)
        if cla & 0x80:  # proprietary: PBOC uses 80 (plain) and 84 (with MAC)
            if cla & 0x03:
                raise CardStatus(SW.LOGICAL_CHANNEL_NOT_SUPPORTED)
            if cla & 0x10:
                raise CardStatus(SW.CHAINING_NOT_SUPPORTED)
            if cla & 0x68:
                raise CardStatus(SW.CLA_NOT_SUPPORTED)
        else:  # ISO 7816-4 §5.4.1 inter-industry class
            if cla & 0x40 or cla & 0x03:
                raise CardStatus(SW.LOGICAL_CHANNEL_NOT_SUPPORTED)
            if cla & 0x10:
                raise CardStatus(SW.CHAINING_NOT_SUPPORTED)
            if cla & 0x0C:
                raise CardStatus(SW.SECURE_MESSAGING_NOT_SUPPORTED)
        key: CommandKey = (cmd.proprietary, cmd.ins)
        app = self.session.application
        if app is not None:
            handler = app.commands.get(key)
            if handler is not None:
                return handler
        handler = ISO_COMMANDS.get(key)
        if handler is not None:
            return handler
        other: CommandKey = (not cmd.proprietary, cmd.ins)
        if other in ISO_COMMANDS or (app is not None and other in app.commands):
            raise CardStatus(SW.CLA_NOT_SUPPORTED)
        raise CardStatus(SW.INS_NOT_SUPPORTED)

"""Applications on a card: each DF that is an application has an INS→handler table of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from applets.apdu import CommandApdu

if TYPE_CHECKING:
    from applets.card import VirtualCard
    from applets.fs import DF

# A handler answers with response data (SW 9000) or raises CardStatus.
Handler = Callable[["VirtualCard", CommandApdu], bytes]
# Commands are keyed by (proprietary class?, INS): ISO 7816-4 commands use CLA 00, PBOC ones 80/84.
CommandKey = tuple[bool, int]


class Application:
    """Base of every card application. Subclasses fill `commands`; state lives in the card image."""

    name: str = ""
    commands: dict[CommandKey, Handler] = {}

    def on_select(self, card: VirtualCard, df: DF) -> None:
        """Called when the application's DF is selected; may raise CardStatus (e.g. 9303 blocked)."""

    def before_command(self, card: VirtualCard, raw: bytes) -> None:
        """Called with every command APDU (even one that will be refused) while the application is
        selected, before it is parsed; e.g. to end a command sequence that this command interrupts."""

    def on_power_on(self, card: VirtualCard) -> None:
        """Called at every power-on/reset to clear the application's volatile state."""

"""Card-side errors. Handlers raise `CardStatus` to answer a status word; nothing else leaves a card."""

from __future__ import annotations


class AppletError(Exception):
    """Base class of the card side's errors."""


class CardStatus(AppletError):
    """Answer this status word now (like Java Card's ISOException). Caught by the card's dispatcher."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"SW {sw:04X}")
        self.sw = sw


class PowerLost(AppletError):
    """The card lost power (torn) while writing its memory: the only thing allowed out of `process`.

    Raised by a storage or by fault injection; the card's in-RAM state is gone and it must be powered
    on again, which reloads its last committed image.
    """


class ImageError(AppletError):
    """A card image is corrupt, of an unknown format or version, or inconsistent. Names what is wrong."""

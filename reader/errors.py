"""Reader-level errors: the transport failed, as distinct from a card that answered with an error SW."""


class ReaderError(Exception):
    """Base class for everything that goes wrong between the terminal and a card."""


class NoReader(ReaderError):
    """No reader of that name or index (the message lists the readers there are)."""


class PcscUnavailable(ReaderError):
    """The PC/SC service (pcscd) is not running or not reachable; the message says how to start it."""


class NoCard(ReaderError):
    """The reader is there but holds no card."""


class CardRemoved(ReaderError):
    """The card went away during a session (torn): the last command may or may not have run."""


class ResponseLost(ReaderError):
    """The command reached the card but its answer never came back (the card may have executed it)."""


class CardError(Exception):
    """A card-level failure: the card answered, but not with what the protocol needs."""

    def __init__(self, message: str, sw: int | None = None) -> None:
        super().__init__(message)
        self.sw = sw


class CardImageError(Exception):
    """A card image file cannot be used: the message names the file and what is wrong."""

"""Terminal side of the e-purse: transaction manager, recovery, PSAM client, issuer load host."""

from terminal.purse.issuer_host import LoadAuthorization, LoadHost, LoadRequest
from terminal.purse.manager import CappUpdate, PurseManager
from terminal.purse.psam import Psam
from terminal.purse.results import Attempt, CardIdentity, Kind, LogEntry, Outcome, PurseResult

__all__ = [
    "Attempt",
    "CappUpdate",
    "CardIdentity",
    "Kind",
    "LoadAuthorization",
    "LoadHost",
    "LoadRequest",
    "LogEntry",
    "Outcome",
    "Psam",
    "PurseManager",
    "PurseResult",
]

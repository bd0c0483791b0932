"""The offline sync and clearing service (docs/clearing.md): exactly-once ingest of terminal ledgers, TAC
verification with the issuer's keys, settlement per day / merchant / fund, and hotlist / policy / fare pushes."""

from .db import Database
from .errors import AuthError, BatchRejected, ClearingError, StorageError, UnknownArtifact
from .house import ClearingHouse, fares_bundle, policy_document
from .ingest import BatchResult
from .verify import TacVerifier

__all__ = [
    "AuthError", "BatchRejected", "BatchResult", "ClearingError", "ClearingHouse", "Database", "StorageError",
    "TacVerifier", "UnknownArtifact", "fares_bundle", "policy_document",
]

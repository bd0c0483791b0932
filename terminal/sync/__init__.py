"""The terminal's sync client (docs/clearing.md "Sync"): uploads the ledger outbox exactly once, resumable,
with retries; applies hotlist / policy / fare updates atomically."""

from .client import RetryPolicy, SyncReport, Syncer, default_key_path, open_syncer
from .errors import RefusedError, SyncError, TransientError
from .outbox import LedgerSource, ListSource
from .state import SyncState
from .transport import HttpTransport, LocalTransport
from .updates import current_dir, installed_version

__all__ = [
    "HttpTransport", "LedgerSource", "ListSource", "LocalTransport", "RefusedError", "RetryPolicy", "SyncError",
    "SyncReport", "SyncState", "Syncer", "TransientError", "current_dir", "default_key_path", "installed_version",
    "open_syncer",
]

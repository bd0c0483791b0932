"""Identity checks (身份凭证用卡): with the card, or with the QR electronic card. Every later counter flow
starts from the `Identity` these return."""

from terminal.identity.card import identify_card
from terminal.identity.errors import IdentityRefused, Reason
from terminal.identity.model import COUNTER_POLICY, LOOKUP_POLICY, Identity, IdentityPolicy, ssn_hash
from terminal.identity.nonces import MemoryNonceStore, NonceStore, SqliteNonceStore
from terminal.identity.qr import issue_qr, verify_qr
from terminal.identity.regions import FALLBACK_REGIONS, KnownRegions, load_known_regions

__all__ = [
    "COUNTER_POLICY",
    "FALLBACK_REGIONS",
    "Identity",
    "IdentityPolicy",
    "IdentityRefused",
    "KnownRegions",
    "LOOKUP_POLICY",
    "MemoryNonceStore",
    "NonceStore",
    "Reason",
    "SqliteNonceStore",
    "identify_card",
    "issue_qr",
    "load_known_regions",
    "ssn_hash",
    "verify_qr",
]

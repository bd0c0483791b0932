"""The result of an identity check, shared by every later counter flow, and the policy that drives it."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from applets.holder import mask_name, mask_ssn

Source = Literal["card", "qr"]

_HEX64 = re.compile(r"[0-9a-f]{64}")


def ssn_hash(ssn: str) -> str:
    """SHA-256 (hex) of the 18-character SSN, upper-cased (a final `x` counts as `X`).

    A join key, not a secret: the SSN has little entropy, so anyone holding the masked SSN and this hash
    can find the full SSN by trying birth dates (docs/identity.md). Never log or show it."""
    return hashlib.sha256(ssn.strip().upper().encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class IdentityPolicy:
    """What an identity check demands. `require_pin`: VERIFY the holder's PIN (counter transactions that
    need the holder's consent). `authenticate`: prove the card genuine (INTERNAL AUTHENTICATE under the
    issuer CA's certificate)."""

    require_pin: bool = False
    authenticate: bool = True


COUNTER_POLICY = IdentityPolicy(require_pin=True, authenticate=True)
LOOKUP_POLICY = IdentityPolicy(require_pin=False, authenticate=True)


@dataclass(frozen=True, slots=True)
class Identity:
    """A checked holder identity. `repr`/`str` show only masked data: the full name and the SSN hash
    are fields (later flows need them) but never printed.

    `authenticated` means the credential was proven genuine: for a card, INTERNAL AUTHENTICATE under
    the issuer CA's certificate; for a QR code, the e-card issuer's Ed25519 signature."""

    source: Source
    masked_ssn: str
    ssn_hash: str = field(repr=False)
    name: str = field(repr=False)
    masked_name: str
    card_number: str
    card_serial: str | None  # 16 hex digits (cards); None for a QR credential
    home_region: str
    insurance_scheme: str | None
    insurance_category: str | None
    card_expiry: date | None  # None for a QR credential
    pin_verified: bool
    authenticated: bool

    def __post_init__(self) -> None:
        if self.source not in ("card", "qr"):
            raise ValueError(f"identity source must be 'card' or 'qr', not {self.source!r}")
        if not _HEX64.fullmatch(self.ssn_hash):
            raise ValueError("ssn_hash must be 64 lower-case hex digits (SHA-256)")
        if "*" not in self.masked_ssn and len(self.masked_ssn) > 10:
            raise ValueError("masked_ssn must be masked")

    @classmethod
    def from_holder(
        cls,
        source: Source,
        ssn: str,
        name: str,
        card_number: str,
        home_region: str,
        *,
        card_serial: str | None = None,
        card_expiry: date | None = None,
        insurance_scheme: str | None = None,
        insurance_category: str | None = None,
        pin_verified: bool = False,
        authenticated: bool = False,
    ) -> Identity:
        """Build from a full SSN, which is masked and hashed here and not kept."""
        return cls(
            source=source,
            masked_ssn=mask_ssn(ssn),
            ssn_hash=ssn_hash(ssn),
            name=name,
            masked_name=mask_name(name),
            card_number=card_number,
            card_serial=card_serial,
            home_region=home_region,
            insurance_scheme=insurance_scheme,
            insurance_category=insurance_category,
            card_expiry=card_expiry,
            pin_verified=pin_verified,
            authenticated=authenticated,
        )

    def holder_matches(self, ssn: str) -> bool:
        """Whether `ssn` (e.g. typed at the counter) is this holder's, compared in constant time."""
        return hmac.compare_digest(self.ssn_hash, ssn_hash(ssn))

    def same_holder(self, other: Identity) -> bool:
        return hmac.compare_digest(self.ssn_hash, other.ssn_hash)

    def masked(self) -> dict[str, Any]:
        """The fields fit to show or log (no full name, no SSN hash)."""
        return {
            "source": self.source,
            "name": self.masked_name,
            "ssn": self.masked_ssn,
            "card_number": self.card_number,
            "card_serial": self.card_serial,
            "home_region": self.home_region,
            "insurance_scheme": self.insurance_scheme,
            "insurance_category": self.insurance_category,
            "card_expiry": self.card_expiry.isoformat() if self.card_expiry else None,
            "pin_verified": self.pin_verified,
            "authenticated": self.authenticated,
        }

    def __str__(self) -> str:
        checks = [c for c, ok in (("PIN verified", self.pin_verified), ("authenticated", self.authenticated)) if ok]
        extra = f", {', '.join(checks)}" if checks else ""
        return f"{self.masked_name} {self.masked_ssn} card {self.card_number} region {self.home_region} ({self.source}{extra})"

"""Card image: everything a virtual card keeps between power-ons, and its JSON format (v1).

The format is documented in docs/card-image.md. Images hold TEST keys only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from applets.errors import ImageError
from applets.fs import DF, df_from_json, df_to_json

FORMAT = "yikatong.card"
VERSION = 1


@dataclass(slots=True)
class PinState:
    """A PIN kept as a salted SHA-256 of its digits (so an image dump never shows it) and a try counter."""

    salt: bytes
    digest: bytes
    tries_left: int
    max_tries: int = 3

    @staticmethod
    def hash(salt: bytes, digits: str) -> bytes:
        return hashlib.sha256(salt + digits.encode("ascii")).digest()

    @classmethod
    def create(cls, digits: str, salt: bytes, max_tries: int = 3) -> PinState:
        if not (4 <= len(digits) <= 12 and digits.isdigit()):
            raise ValueError("a PIN is 4 to 12 decimal digits")
        return cls(salt, cls.hash(salt, digits), max_tries, max_tries)

    def matches(self, digits: str) -> bool:
        return hmac.compare_digest(self.digest, self.hash(self.salt, digits))

    @property
    def blocked(self) -> bool:
        return self.tries_left <= 0


@dataclass(slots=True)
class CardImage:
    label: str
    atr: bytes
    mf: DF
    pin: PinState
    keys: dict[str, bytes] = field(default_factory=dict)  # TEST keys by name
    applications: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-application state
    version: int = VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": self.version,
            "label": self.label,
            "atr": self.atr.hex().upper(),
            "pin": {
                "salt": self.pin.salt.hex(),
                "sha256": self.pin.digest.hex(),
                "tries_left": self.pin.tries_left,
                "max_tries": self.pin.max_tries,
            },
            "keys": {k: v.hex().upper() for k, v in sorted(self.keys.items())},
            "applications": self.applications,
            "mf": df_to_json(self.mf),
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> CardImage:
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ImageError(f"not a JSON card image ({e})") from None
        return cls.from_json(obj)

    @classmethod
    def from_json(cls, obj: Any) -> CardImage:
        if not isinstance(obj, dict):
            raise ImageError("a card image is a JSON object")
        if obj.get("format") != FORMAT:
            raise ImageError(f"format is {obj.get('format')!r}, expected {FORMAT!r}")
        version = obj.get("version")
        if version != VERSION:
            raise ImageError(f"card image version {version!r} is not supported (this program reads version {VERSION})")
        try:
            atr = bytes.fromhex(obj["atr"])
            pin_obj = obj["pin"]
            pin = PinState(
                salt=bytes.fromhex(pin_obj["salt"]),
                digest=bytes.fromhex(pin_obj["sha256"]),
                tries_left=int(pin_obj["tries_left"]),
                max_tries=int(pin_obj["max_tries"]),
            )
            keys = {str(k): bytes.fromhex(v) for k, v in dict(obj.get("keys", {})).items()}
        except KeyError as e:
            raise ImageError(f"missing field {e.args[0]!r}") from None
        except (TypeError, ValueError, AttributeError) as e:
            raise ImageError(f"bad atr, pin or keys field ({e})") from None
        if not 2 <= len(atr) <= 33:
            raise ImageError("atr must be 2..33 bytes")
        if not 0 <= pin.tries_left <= pin.max_tries <= 15 or len(pin.digest) != 32:
            raise ImageError("pin: tries_left must be 0..max_tries ≤ 15 and sha256 32 bytes")
        apps = obj.get("applications", {})
        if not isinstance(apps, dict) or not all(isinstance(v, dict) for v in apps.values()):
            raise ImageError("applications must map names to objects")
        label = obj.get("label", "")
        if not isinstance(label, str):
            raise ImageError("label must be a string")
        return cls(label=label, atr=atr, mf=df_from_json(obj.get("mf")), pin=pin, keys=keys, applications=apps)

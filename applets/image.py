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
from applets.fs import DF, EF, Structure, df_from_json, df_to_json, ef_to_json

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
        return self._head_json() | {"mf": df_to_json(self.mf)}

    def _head_json(self) -> dict[str, Any]:
        """Every field but the file tree ("mf", always last)."""
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


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode  # images are trees


class ImageEncoder:
    """`CardImage.to_bytes`, byte for byte, reusing the JSON text of what did not change since the last call.

    A card commits its whole image after every money-moving command but changes only a few files; this
    keeps, per EF and DF object and for the image's fixed fields (label, ATR, PIN, keys), their text and a
    snapshot of everything that text depends on, and re-encodes a part only when its snapshot differs. The
    per-application state is encoded each time. The image is still produced whole at each call; entries
    of files no longer in the image are dropped.
    """

    __slots__ = ("_nodes", "_head")

    def __init__(self) -> None:
        self._nodes: dict[int, tuple[DF | EF, tuple[Any, ...], str]] = {}
        self._head: tuple[tuple[Any, ...], str] | None = None

    def to_bytes(self, image: CardImage) -> bytes:
        seen: dict[int, tuple[DF | EF, tuple[Any, ...], str]] = {}
        tree = self._df(image.mf, seen)
        self._nodes = seen
        pin = image.pin
        # keys: a dict of their bytes (bytes() copies a bytearray, returns bytes as they are); dicts compare equal
        # whatever their order, and the encoding sorts them anyway
        snapshot = (image.version, image.label, bytes(image.atr), bytes(pin.salt), bytes(pin.digest), pin.tries_left,
                    pin.max_tries, {k: bytes(v) for k, v in image.keys.items()})
        if self._head is None or self._head[0] != snapshot:
            fixed = image._head_json()
            del fixed["applications"]
            self._head = (snapshot, _ENCODE(fixed)[:-1])
        return (self._head[1] + ',"applications":' + _ENCODE(image.applications) + ',"mf":' + tree + "}").encode("utf-8")

    def _df(self, df: DF, seen: dict[int, tuple[DF | EF, tuple[Any, ...], str]]) -> str:
        snapshot = (df.fid, None if df.name is None else bytes(df.name), df.application)
        cached = self._nodes.get(id(df))
        if cached is not None and cached[0] is df and cached[1] == snapshot:
            prefix = cached[2]
        else:
            out: dict[str, Any] = {"type": "DF", "fid": f"{df.fid:04X}"}
            if df.name is not None:
                out["name"] = df.name.hex().upper()
            if df.application:
                out["application"] = df.application
            prefix = _ENCODE(out)[:-1] + ',"children":['
        seen[id(df)] = (df, snapshot, prefix)
        parts = [self._df(c, seen) if isinstance(c, DF) else self._ef(c, seen) for c in df.children]
        return prefix + ",".join(parts) + "]}"

    def _ef(self, ef: EF, seen: dict[int, tuple[DF | EF, tuple[Any, ...], str]]) -> str:
        # bytes() copies a bytearray (transparent data, or a record stored as one) and returns a bytes
        # record itself: a snapshot cannot change behind the cache's back.
        content = bytes(ef.data) if ef.structure is Structure.TRANSPARENT else tuple(map(bytes, ef.records))
        snapshot = (ef.fid, ef.structure, ef.sfi, ef.read, ef.write, content, ef.max_records, ef.record_size)
        cached = self._nodes.get(id(ef))
        if cached is not None and cached[0] is ef and cached[1] == snapshot:
            text = cached[2]
        else:
            text = _ENCODE(ef_to_json(ef))
        seen[id(ef)] = (ef, snapshot, text)
        return text

"""Request authentication: HMAC-SHA256 with a per-terminal key over the whole request (docs/clearing.md "Auth").

Headers of every authenticated request::

    X-Ykt-Terminal:  310100000001                 the terminal id (12 hex digits)
    X-Ykt-Timestamp: 1714550400                   Unix seconds of the terminal's clock
    X-Ykt-Nonce:     32 hex digits from `secrets`  never reused
    X-Ykt-Signature: hex HMAC-SHA256(key, string to sign)

    string to sign = "ykt-sync/1\\n" METHOD "\\n" PATH "\\n" QUERY "\\n" TERMINAL "\\n" TIMESTAMP "\\n" NONCE "\\n"
                     hex(SHA-256(body))

The server refuses (401) an unknown or disabled terminal, a wrong signature (compared in constant time), a
timestamp more than `SKEW_S` away from its clock (the answer carries its time so the terminal can correct),
and a nonce it has already seen from that terminal (a replayed request). A retried upload is signed afresh
(new nonce), and the records it carries are idempotent anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import AuthError

VERSION = "ykt-sync/1"
SKEW_S = 300
H_TERMINAL, H_TIMESTAMP, H_NONCE, H_SIGNATURE = "X-Ykt-Terminal", "X-Ykt-Timestamp", "X-Ykt-Nonce", "X-Ykt-Signature"
_TERMINAL = re.compile(r"[0-9A-F]{12}")
_NONCE = re.compile(r"[0-9a-f]{32}")
_KEY = re.compile(r"[0-9a-f]{64}")


def normalise_terminal(terminal_id: str) -> str:
    text = terminal_id.strip().upper()
    if not _TERMINAL.fullmatch(text):
        raise ValueError(f"terminal id {terminal_id!r} is not 12 hex digits")
    return text


def new_key() -> bytes:
    return secrets.token_bytes(32)


def string_to_sign(method: str, path: str, query: str, terminal: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join((VERSION, method.upper(), path, query, terminal, timestamp, nonce,
                      hashlib.sha256(body).hexdigest())).encode("ascii")


def sign(key: bytes, method: str, path: str, query: str, terminal: str, timestamp: int, body: bytes,
         nonce: str | None = None) -> dict[str, str]:
    """The four headers of a signed request."""
    nonce = nonce or secrets.token_hex(16)
    mac = hmac.new(key, string_to_sign(method, path, query, terminal, str(timestamp), nonce, body), hashlib.sha256)
    return {H_TERMINAL: terminal, H_TIMESTAMP: str(timestamp), H_NONCE: nonce, H_SIGNATURE: mac.hexdigest()}


@dataclass(frozen=True)
class SignedRequest:
    terminal: str
    timestamp: int
    nonce: str
    signature: str


def parse_headers(headers: Mapping[str, str]) -> SignedRequest:
    """The signature headers, checked for shape (AuthError `missing` / `malformed`)."""
    values = {h: headers.get(h) for h in (H_TERMINAL, H_TIMESTAMP, H_NONCE, H_SIGNATURE)}
    if any(v is None for v in values.values()):
        raise AuthError("missing", "unauthenticated: the X-Ykt-* signature headers are missing")
    terminal, timestamp, nonce, signature = (str(values[h]) for h in (H_TERMINAL, H_TIMESTAMP, H_NONCE, H_SIGNATURE))
    if not _TERMINAL.fullmatch(terminal) or not timestamp.isdigit() or len(timestamp) > 12 \
            or not _NONCE.fullmatch(nonce) or not re.fullmatch(r"[0-9a-f]{64}", signature):
        raise AuthError("malformed", "unauthenticated: malformed signature headers")
    return SignedRequest(terminal, int(timestamp), nonce, signature)


def check_signature(key: bytes, req: SignedRequest, method: str, path: str, query: str, body: bytes) -> None:
    expected = hmac.new(key, string_to_sign(method, path, query, req.terminal, str(req.timestamp), req.nonce, body),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, req.signature):
        raise AuthError("bad_signature", "unauthenticated: the signature does not verify (wrong key or altered request)")


def check_clock(req: SignedRequest, now: int, skew: int = SKEW_S) -> None:
    if abs(req.timestamp - now) > skew:
        raise AuthError("clock_skew", f"unauthenticated: request time is {req.timestamp - now:+d} s from the server's"
                                      f" (allowed ±{skew} s)")


# ---------------------------------------------------------------- key files (terminal side and admin)
def write_key_file(path: str | Path, key: bytes) -> Path:
    """64 hex digits and a newline, mode 0600, written atomically."""
    from reader.card_file import write_atomically

    p = Path(path)
    write_atomically(p, key.hex().encode("ascii") + b"\n")
    p.chmod(0o600)
    return p


def read_key_file(path: str | Path) -> bytes:
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii").strip().lower()
    except FileNotFoundError:
        raise AuthError("no_key", f"{p}: no sync key file (get one with `ykt clearing terminal add … --key-out`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthError("no_key", f"{p}: cannot read the sync key ({exc})") from None
    if not _KEY.fullmatch(text):
        raise AuthError("no_key", f"{p}: not a sync key (64 hex digits)")
    return bytes.fromhex(text)

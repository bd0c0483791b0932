"""The TEST e-card issuing key (Ed25519) that signs QR electronic cards, and its public half."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from terminal.errors import ProfileError
from terminal.issuer import keys_dir

ECARD_KEY_FILE = "TEST-ecard-signing.key.pem"
ECARD_PUB_FILE = "TEST-ecard-signing.pub.pem"


def ecard_signing_key(folder: Path | None = None) -> Ed25519PrivateKey:
    path = (folder or keys_dir()) / ECARD_KEY_FILE
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ProfileError(f"{path}: TEST e-card signing key missing") from None
    except (OSError, ValueError, TypeError) as e:
        raise ProfileError(f"{path}: cannot load the e-card signing key ({e})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ProfileError(f"{path}: not an Ed25519 private key")
    return key


def ecard_public_key(folder: Path | None = None) -> Ed25519PublicKey:
    path = (folder or keys_dir()) / ECARD_PUB_FILE
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError:
        raise ProfileError(f"{path}: TEST e-card public key missing") from None
    except (OSError, ValueError) as e:
        raise ProfileError(f"{path}: cannot load the e-card public key ({e})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ProfileError(f"{path}: not an Ed25519 public key")
    return key

"""Signed checkpoints: an Ed25519 key the deployment holds signs the head of the trail now and then.

Only the public key is needed to check them, so an auditor can verify a copy of the trail without
the deployment's secret. The key id is the sha256 prefix of the raw public key.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.errors import SigningKeyError


def generate() -> Ed25519PrivateKey:
    """A new private key."""
    return Ed25519PrivateKey.generate()


def private_pem(key: Ed25519PrivateKey) -> bytes:
    """PKCS#8 PEM of a private key (unencrypted: keep it in a Secret)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(key: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of a public key."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: Ed25519PublicKey) -> str:
    """sha256 prefix of the raw public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_private(path: Path) -> Ed25519PrivateKey:
    """The private key in a PEM file (``SigningKeyError`` says what is wrong)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise SigningKeyError(
            str(path),
            f"not a readable PEM private key ({e}); create one with `aiguilleur audit keygen`",
        ) from e
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(
            str(path), "not an Ed25519 key; create one with `aiguilleur audit keygen`"
        )
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    """The public key in a PEM file (a private key file gives its public half)."""
    data = path.read_bytes() if path.exists() else b""
    try:
        if b"PRIVATE KEY" in data:
            return load_private(path).public_key()
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as e:
        raise SigningKeyError(str(path), f"not a readable PEM public key ({e})") from e
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(str(path), "not an Ed25519 public key")
    return key


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    """Base64 signature of ``message``."""
    return base64.b64encode(key.sign(message)).decode()


def verify(key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    """Whether ``signature`` is ``key``'s over ``message``."""
    try:
        key.verify(base64.b64decode(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True

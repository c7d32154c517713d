"""DKIM private keys for tests: PEM files (PKCS#8, no passphrase) as an operator makes them."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

__all__ = ["write_pem", "write_rsa_key"]


def write_pem(path: Path, key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def write_rsa_key(path: Path, bits: int = 2048) -> Path:
    """A new RSA key of `bits` written to `path`."""
    return write_pem(path, rsa.generate_private_key(public_exponent=65537, key_size=bits))

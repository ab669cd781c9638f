"""Encrypts stored secrets with Fernet, keyed from the instance secret."""

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


class SecretUnreadable(Exception):
    """The stored secret was encrypted with another SECRET_KEY."""


def _fernet() -> Fernet:
    # A derived key, so the session-signing key itself is never the encryption key.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"switchboard settings")
    key = hkdf.derive(current_app.config["SECRET_KEY"].encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted: SECRET_KEY changed since it was saved. "
            "Enter the secret again."
        ) from exc


def mask(secret: str) -> str:
    """`sk-or-v1-abcd…1a2b` → `sk-or-…1a2b`: enough to recognise, never enough to use."""
    if not secret:
        return ""
    if len(secret) <= 8:
        return "…" + secret[-2:]
    prefix = "sk-or-" if secret.startswith("sk-or-") else secret[:3]
    return f"{prefix}…{secret[-4:]}"

"""Encrypts stored secrets with Fernet, keyed from SECRET_KEY (earlier keys still decrypt)."""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

UNREADABLE = (
    "Stored secrets were encrypted with another SECRET_KEY: restore it, list it in "
    "SECRET_KEY_FALLBACKS, or enter the secrets again."
)


class SecretUnreadable(Exception):
    """A stored secret that neither SECRET_KEY nor any of SECRET_KEY_FALLBACKS decrypts."""

    def __init__(self, message: str = UNREADABLE):
        super().__init__(message)


@lru_cache(maxsize=8)
def _derived(secret_key: str) -> Fernet:
    # A derived key, so the session-signing key itself is never the encryption key. Derived
    # once per key: every webhook decrypts the app secret.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"switchboard settings")
    return Fernet(base64.urlsafe_b64encode(hkdf.derive(secret_key.encode())))


def _keys() -> tuple[str, ...]:
    """SECRET_KEY first (it encrypts), then SECRET_KEY_FALLBACKS (they still decrypt)."""
    config = current_app.config
    return (config["SECRET_KEY"], *config.get("SECRET_KEY_FALLBACKS", ()))


def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([_derived(key) for key in keys])


def encrypt(plain: str) -> str:
    return _fernet(_keys()).encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    return _decrypted(token, _keys())


@lru_cache(maxsize=64)
def _decrypted(token: str, keys: tuple[str, ...]) -> str:
    # Remembered: every turn and every webhook reads the same few secrets.
    try:
        return _fernet(keys).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable() from None


def readable(token: str) -> bool:
    try:
        decrypt(token)
    except SecretUnreadable:
        return False
    return True


def mask(secret: str) -> str:
    """`sk-or-v1-abcd…1a2b` → `sk-or-…1a2b`: enough to recognise, never enough to use."""
    if not secret:
        return ""
    if len(secret) <= 8:
        return "…" + secret[-2:]
    prefix = "sk-or-" if secret.startswith("sk-or-") else secret[:3]
    return f"{prefix}…{secret[-4:]}"

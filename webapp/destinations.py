"""Where stored secrets are sent: the API addresses, checked before a key goes to them.

The OpenRouter key goes to `openrouter_base_url` and the WhatsApp access token to
`whatsapp_api_base_url`, in clear inside TLS. Whoever can change an address can have the key
sent to a server of theirs, so an address may not point at a cloud's metadata service or
carry credentials, and a move to another host asks for the admin's password and the secret
again (webapp/admin/routes.py).
"""

import ipaddress
from urllib.parse import urlsplit

# The address setting → the secret that is sent to it.
SECRET_OF = {
    "openrouter_base_url": "openrouter_api_key",
    "whatsapp_api_base_url": "whatsapp_access_token",
}
OPENROUTER_HOST = "openrouter.ai"
# Cloud metadata services answer on link-local addresses; these names point at them too.
METADATA_NAMES = {"metadata", "metadata.google.internal", "instance-data"}
METADATA_ADDRESSES = {ipaddress.ip_address("fd00:ec2::254")}


def refusal(url: str) -> str | None:
    """Why a key must never be sent to `url`, or None when it may."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password (user:pass@host)"
    host = (parts.hostname or "").rstrip(".").lower()
    if host in METADATA_NAMES:
        return f"must not point at a cloud metadata service ({host})"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_link_local or address in METADATA_ADDRESSES:
        return f"must not point at a link-local or metadata address ({host})"
    return None


def host_of(url: str) -> tuple[str, str, int | None]:
    """What decides where a request goes: scheme, host and port (not the path)."""
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").rstrip(".").lower(), parts.port


def is_openrouter(url: str) -> bool:
    """OpenRouter's own API: the only host whose answers a page may show word for word."""
    scheme, host, _port = host_of(url)
    return scheme == "https" and (host == OPENROUTER_HOST or host.endswith("." + OPENROUTER_HOST))

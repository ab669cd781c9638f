"""Where stored secrets are sent: the API addresses, checked before a key goes to them.

The OpenRouter key goes to `openrouter_base_url` and the WhatsApp access token to
`whatsapp_api_base_url`, in clear inside TLS. Whoever can change an address can have the key
sent to a server of theirs, so an address may not point at a cloud's metadata service, the
server's own network or carry credentials (the same check the clients make before every call,
webapp/clients/addresses.py), and a move to another host asks for the admin's password and
the secret again (webapp/admin/routes.py).
"""

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from .clients.addresses import UNSAFE, url_refusal
from .config import private_addresses_allowed

# The address setting → the secret that is sent to it.
SECRET_OF = {
    "openrouter_base_url": "openrouter_api_key",
    "whatsapp_api_base_url": "whatsapp_access_token",
}
OPENROUTER_HOST = "openrouter.ai"


def refusal(url: str) -> str | None:
    """Why a key must never be sent to `url`, or None when it may."""
    return url_refusal(url, private_addresses_allowed())


def host_of(url: str) -> tuple[str, str, int | None]:
    """What decides where a request goes: scheme, host and port (not the path), as the
    clients read them; empty for what is no address."""
    try:
        parts = parse_url(url.strip())
    except LocationParseError:
        return "", "", None
    host = (parts.host or "").strip("[]").rstrip(".").lower()
    return (parts.scheme or "").lower(), host, parts.port


def is_openrouter(url: str) -> bool:
    """OpenRouter's own API: the only host whose answers a page may show word for word."""
    if UNSAFE.search(url):  # what one reader takes for the host, another may not
        return False
    scheme, host, _port = host_of(url)
    return scheme == "https" and (host == OPENROUTER_HOST or host.endswith("." + OPENROUTER_HOST))

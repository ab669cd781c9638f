"""Where the API clients may connect: one check of an address, whether the owner typed it or an
answer named it, and one of every address a name resolves to, made as the connection opens.

A key or token goes wherever its address points, and the server reaches places the internet
cannot: its own loopback services, the private network, a cloud's metadata service (which
hands out the machine's credentials). So an address is read by the parser that connects
(urllib3's `parse_url`), never by a second one that could see another host in it; and a name
is checked on the addresses it resolves to as the socket is opened, on the very address
connected to, so a DNS answer that changes between a check and the connection cannot slip
through. Link-local and metadata addresses are always refused; loopback and private ones
unless the server runs with ALLOW_PRIVATE_ADDRESSES=on (for a model server of one's own).

Through the environment's proxy (HTTPS_PROXY…) the proxy resolves names and connects: only
the address as written is checked then.
"""

import ipaddress
import re
import socket
import sys
from functools import lru_cache

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.util import parse_url
from urllib3.util.connection import allowed_gai_family, create_connection

METADATA = "a link-local or metadata address"
PRIVATE = "a local or private address"
ALLOWING = "to use a server on your own network, start Switchboard with ALLOW_PRIVATE_ADDRESSES=on"
# Whitespace, backslashes and control characters: parsers disagree on where such an address
# points (urllib3 reads "http://169.254.169.254\x/" as that host with the path "/\x"), and a
# line break in an address ends up in a header.
UNSAFE = re.compile(r"[\s\\\x00-\x1f\x7f-\x9f]")
# Cloud metadata services: names that point at them, and addresses outside link-local
# (AWS's IPv6 one, Alibaba's, Oracle's).
METADATA_NAMES = frozenset({"metadata", "metadata.google.internal", "instance-data"})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # IPv4 addresses reached through IPv6
# An address spelled inside a name ("169.254.169.254.nip.io", "10-0-0-1.sslip.io"): services
# that answer such names with that address exist to reach it.
SPELLED = re.compile(r"(?:^|[.-])(\d{1,3})[.-](\d{1,3})[.-](\d{1,3})[.-](\d{1,3})(?=$|[.-])")

# The one place a name becomes addresses for the clients (tests point names at their servers).
resolve = socket.getaddrinfo


@lru_cache(maxsize=1024)  # checked before every call: a model call's address seldom changes
def url_refusal(url: str, private_ok: bool) -> str | None:
    """Why nothing may be sent to `url`, in words that follow a setting's label ("… must not
    contain …"), or None when it may."""
    if UNSAFE.search(url):
        return "must not contain spaces, line breaks, backslashes or other control characters"
    try:
        parts = parse_url(url)
    except LocationParseError:
        return f"is not a valid address: {url!r}"
    if parts.scheme not in ("http", "https") or not parts.host:
        return f"must be an http:// or https:// URL, not {url!r}"
    if parts.auth is not None:
        return "must not contain a user name or password (user:pass@host)"
    return host_refusal(parts.host, private_ok)


@lru_cache(maxsize=256)
def host_refusal(host: str, private_ok: bool) -> str | None:
    """Why a URL's host (as parse_url gives it) is refused before any name is resolved: an
    address written in any form the resolver reads (2852039166, 0xa9fea9fe, [::ffff:…]), the
    machine's own name, a metadata service's name, or an address spelled in a name."""
    host = host.strip("[]").rstrip(".").lower()
    if host in METADATA_NAMES:
        return f"must not point at a cloud metadata service ({host})"
    if host == "localhost" or host.endswith(".localhost"):
        written = ["127.0.0.1"]
    elif literal := _as_address(host):
        written = [literal]
    else:
        written = [".".join(m.groups()) for m in SPELLED.finditer(host)]
    for address in written:
        try:
            kind = address_refusal(address, private_ok)
        except ValueError:  # four numbers that are no address (300.1.2.3)
            continue
        if kind:
            named = host if host == address else f"{host}, that is {address}"
            hint = f"; {ALLOWING}" if kind == PRIVATE else ""
            return f"must not point at {kind} ({named}){hint}"
    return None


def address_refusal(address: str, private_ok: bool) -> str | None:
    """Which kind of refused address `address` is (METADATA or PRIVATE), or None when the
    clients may connect to it."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):  # the IPv4 address inside is the one reached
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.is_link_local or ip in METADATA_ADDRESSES:
        return METADATA
    if not private_ok and (not ip.is_global or ip.is_multicast or ip.is_reserved):
        return PRIVATE
    return None


def _as_address(host: str) -> str | None:
    """`host` as the address the resolver reads it as, when it is written as one in any of
    the forms it accepts (decimal, hex, octal, shortened); None for a name."""
    try:
        found = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError, ValueError):
        return None
    return str(found[0][4][0]) if found else None


class RefusedAddress(NewConnectionError):
    """No address the name resolved to is one the clients may connect to."""

    def __init__(self, conn, why: str):
        super().__init__(conn, why)
        self.why = why


class _Checked:
    """A connection whose socket is opened only to an address the check allows. urllib3 uses
    it for direct connections; a proxy's connections are its own."""

    private_ok = False

    def _new_conn(self) -> socket.socket:
        # urllib3's own, but through _connect_checked and with its errors kept as they are.
        try:
            sock = self._connect_checked()
        except socket.gaierror as e:
            raise NameResolutionError(self.host, self, e) from e
        except TimeoutError as e:
            message = f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            raise ConnectTimeoutError(self, message) from e
        except OSError as e:
            raise NewConnectionError(self, f"Failed to establish a new connection: {e}") from e
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock

    def _connect_checked(self) -> socket.socket:
        host = self._dns_host.strip("[]")
        found = resolve(host, self.port, allowed_gai_family(), socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        allowed = [a for a in addresses if not address_refusal(a, self.private_ok)]
        if addresses and not allowed:
            kind = address_refusal(addresses[0], self.private_ok)
            hint = f"; {ALLOWING}" if kind == PRIVATE else ""
            raise RefusedAddress(self, f"it resolves to {addresses[0]}, {kind}{hint}")
        error: OSError = OSError("the name resolves to no address")
        for address in allowed:  # written out, so the name is not looked up a second time
            try:
                return create_connection(
                    (address, self.port), self.timeout, self.source_address, self.socket_options
                )
            except OSError as exc:
                error = exc
        raise error


def _pool(pool: type, connection: type, private_ok: bool) -> type:
    checked = type(f"Checked{connection.__name__}", (_Checked, connection), {})
    checked.private_ok = private_ok
    return type(f"Checked{pool.__name__}", (pool,), {"ConnectionCls": checked})


# The pools of each scheme, for each answer to "may private addresses be reached?".
POOLS = {
    private_ok: {
        "http": _pool(HTTPConnectionPool, HTTPConnection, private_ok),
        "https": _pool(HTTPSConnectionPool, HTTPSConnection, private_ok),
    }
    for private_ok in (False, True)
}


class CheckedAdapter(HTTPAdapter):
    """requests' adapter whose direct connections go through the address check."""

    def __init__(self, private_ok: bool, **options):
        self.private_ok = private_ok  # before HTTPAdapter's __init__ makes the pool manager
        super().__init__(**options)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOLS[self.private_ok]

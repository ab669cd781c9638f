"""Names pointed at loopback servers through the clients' own resolver hook, as a DNS answer
would point them: the clients' address check sees the address the name resolves to."""

import socket

import pytest

from webapp.clients import addresses


def point(monkeypatch: pytest.MonkeyPatch, names: dict[str, str]) -> None:
    """Resolve each of `names` to its address; every other name as the system does."""
    system = addresses.resolve

    def resolve(host, port, family=0, kind=0, *more):
        if (address := names.get(host)) and ":" in address:
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0))]
        if address:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return system(host, port, family, kind, *more)

    monkeypatch.setattr(addresses, "resolve", resolve)

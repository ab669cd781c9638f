"""Clients a server must survive, over raw sockets to a loopback URL: a huge body streamed until
the server answers."""

import select
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

PIECE = 64 * 1024


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


@dataclass
class Refusal:
    sent: int  # bytes of the body that left before the answer came, or the server closed
    status: int | None
    body: bytes


def post_streamed(
    url: str, path: str, size: int, chunked: bool = False, within: float = 60.0
) -> Refusal:
    """POST a body of `size` bytes, generated a piece at a time and sent until the server
    answers or closes the connection (or `within` seconds pass): how much of it was sent."""
    host, port = address(url)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    sent, deadline = 0, time.monotonic() + within
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall(f"{head}{framing}\r\n\r\n".encode())
        for piece in _pieces(size, chunked):
            if time.monotonic() > deadline or select.select([connection], [], [], 0)[0]:
                break
            try:
                connection.sendall(piece)
            except OSError:  # closed on us: the answer, if any, is waiting to be read
                break
            sent += len(piece)
        return _answer(connection, sent)


def _pieces(size: int, chunked: bool):
    left = size
    while left > 0:
        piece = b" " * min(PIECE, left)
        left -= len(piece)
        yield b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
    if chunked:
        yield b"0\r\n\r\n"


def _answer(connection: socket.socket, sent: int) -> Refusal:
    received = b""
    try:
        while b"\r\n\r\n" not in received and (data := connection.recv(65536)):
            received += data
    except OSError:
        pass
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head.startswith(b"HTTP/") else None
    return Refusal(sent, status, body)

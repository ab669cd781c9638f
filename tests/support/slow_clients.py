"""Clients a server must survive, over raw sockets to a loopback URL: a huge body streamed until
the server answers, and visitors that hold connections open by sending a little at a time."""

import contextlib
import select
import socket
import threading
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


class SlowVisitors:
    """`count` connections that each send a request a little at a time, every `every`
    seconds: its header lines one by one (never the blank line that ends them), or, after
    whole headers, its body a byte at a time. `closed()` counts those the server closed."""

    def __init__(self, url: str, count: int, body: bool = False, every: float = 1.0):
        self.url, self.count, self.body, self.every = url, count, body, every
        self.connections: list[socket.socket] = []
        self.stopping = threading.Event()
        self._trickle = threading.Thread(target=self._send_slowly, daemon=True)

    def __enter__(self) -> "SlowVisitors":
        host, port = address(self.url)
        head = f"POST /webhook/whatsapp HTTP/1.1\r\nHost: {host}:{port}\r\n"
        if self.body:
            head += "Content-Length: 100000\r\n\r\n"
        for _ in range(self.count):
            connection = socket.create_connection((host, port), timeout=5)
            connection.sendall(head.encode())
            self.connections.append(connection)
        self._trickle.start()
        return self

    def _send_slowly(self) -> None:
        line = 0
        while not self.stopping.wait(self.every):
            line += 1
            for connection in self.connections:
                with contextlib.suppress(OSError):  # closed by the server: closed() counts it
                    connection.sendall(b"x" if self.body else b"X-Slow-%d: 1\r\n" % line)

    def closed(self) -> int:
        """Connections the server has ended (or answered, which here means refused)."""
        poll = select.poll()  # select() stops at descriptor 1023
        for connection in self.connections:
            poll.register(connection, select.POLLIN)
        return len(poll.poll(0))

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self._trickle.join(timeout=10)
        for connection in self.connections:
            connection.close()

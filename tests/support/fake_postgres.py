"""A PostgreSQL server on the loopback that asks every client for its password, writes it
down and refuses it: what a command sent as the password, without a real server to check it."""

import socket
import struct
import threading
from contextlib import suppress

SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104
CLEARTEXT_PASSWORD = 3
REFUSAL = b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user\0\0"


def _read(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the client went away")
        data += chunk
    return data


class PasswordCatcher:
    """Listens on 127.0.0.1 until closed; `passwords` holds each one a client sent."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.passwords: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def url(self, user: str = "switchboard", password: str | None = None) -> str:
        secret = f":{password}" if password is not None else ""
        return f"postgresql+psycopg://{user}{secret}@127.0.0.1:{self.port}/switchboard"

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=5)

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            with connection, suppress(OSError):  # a client that went away: the next one
                connection.settimeout(10)
                self._ask_for_a_password(connection)

    def _ask_for_a_password(self, connection: socket.socket) -> None:
        while True:  # encryption offers are declined until the startup message comes
            length, code = struct.unpack("!ii", _read(connection, 8))
            _read(connection, length - 8)
            if code not in (SSL_REQUEST, GSSENC_REQUEST):
                break
            connection.sendall(b"N")
        connection.sendall(b"R" + struct.pack("!ii", 8, CLEARTEXT_PASSWORD))
        _, length = struct.unpack("!ci", _read(connection, 5))
        self.passwords.append(_read(connection, length - 4).rstrip(b"\0").decode())
        connection.sendall(b"E" + struct.pack("!i", len(REFUSAL) + 4) + REFUSAL)

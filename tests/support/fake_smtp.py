"""A mail server on a loopback port for the e-mail alerts: EHLO, STARTTLS (with the test
authority's certificate), AUTH PLAIN and LOGIN, MAIL FROM, RCPT TO, DATA, QUIT. It records
what it was told and can refuse every login."""

import base64
import socketserver
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy


@dataclass
class Received:
    """One mail as the server took it."""

    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self):
        return message_from_bytes(self.data, policy=policy.default)


@dataclass
class FakeSMTP:
    """Start with `start()`; `port`, `mails`, `logins` (user, password) and `lines` (every
    command line it read, as a client would see them on the wire) tell what happened."""

    user: str = "alerts@example.com"
    password: str = "mail-password-for-tests"
    tls_context: ssl.SSLContext | None = None  # offers STARTTLS when set
    implicit_tls: bool = False  # with tls_context: TLS from the first byte (port 465's way)
    refuse_logins: bool = False
    mechanisms: str = "PLAIN LOGIN"  # the AUTH mechanisms offered
    mails: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    started_tls: bool = False

    def start(self) -> "FakeSMTP":
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                _Session(fake, self).run()

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Session:
    def __init__(self, fake: FakeSMTP, handler):
        self.fake, self.handler = fake, handler
        self.sock, self.reader = handler.request, handler.rfile
        if fake.implicit_tls:
            self.sock = fake.tls_context.wrap_socket(self.sock, server_side=True)
            self.reader = self.sock.makefile("rb")
        self.sender, self.recipients, self.authed = "", [], False

    def say(self, line: str) -> None:
        self.sock.sendall((line + "\r\n").encode())

    def read(self) -> str | None:
        line = self.reader.readline()
        if not line:
            return None
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        self.fake.lines.append(text)
        return text

    def run(self) -> None:
        self.say("220 fake.smtp ESMTP ready")
        while (line := self.read()) is not None:
            verb, _, rest = line.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                self._ehlo()
            elif verb == "STARTTLS" and self.fake.tls_context is not None:
                self.say("220 2.0.0 Ready to start TLS")
                self.sock = self.fake.tls_context.wrap_socket(self.sock, server_side=True)
                self.reader = self.sock.makefile("rb")
                self.fake.started_tls = True
            elif verb == "AUTH":
                self._auth(rest)
            elif verb == "MAIL":
                self.sender, self.recipients = _address(rest), []
                self.say("250 2.1.0 OK")
            elif verb == "RCPT":
                self.recipients.append(_address(rest))
                self.say("250 2.1.5 OK")
            elif verb == "DATA":
                self._data()
            elif verb in ("NOOP", "RSET"):
                self.say("250 2.0.0 OK")
            elif verb == "QUIT":
                self.say("221 2.0.0 Bye")
                return
            else:
                self.say("502 5.5.2 Command not recognised")

    def _ehlo(self) -> None:
        offers = ["fake.smtp", f"AUTH {self.fake.mechanisms}", "8BITMIME"]
        if self.fake.tls_context is not None and not isinstance(self.sock, ssl.SSLSocket):
            offers.append("STARTTLS")
        for index, offer in enumerate(offers):
            self.say(("250 " if index == len(offers) - 1 else "250-") + offer)

    def _auth(self, rest: str) -> None:
        mechanism, _, initial = rest.partition(" ")
        if mechanism.upper() == "PLAIN":
            if not initial:
                self.say("334 ")
                initial = self.read() or ""
            _, user, password = _decoded(initial).split("\0")
        elif mechanism.upper() == "LOGIN":
            if not initial:
                self.say("334 " + base64.b64encode(b"Username:").decode())
                initial = self.read() or ""
            user = _decoded(initial)
            self.say("334 " + base64.b64encode(b"Password:").decode())
            password = _decoded(self.read() or "")
        else:
            self.say("504 5.5.4 Unrecognised authentication type")
            return
        self.fake.logins.append((user, password))
        if self.fake.refuse_logins or (user, password) != (self.fake.user, self.fake.password):
            self.say("535 5.7.8 Authentication credentials invalid")
            return
        self.authed = True
        self.say("235 2.7.0 Authentication successful")

    def _data(self) -> None:
        self.say("354 End data with <CR><LF>.<CR><LF>")
        lines = []
        while (line := self.reader.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        self.fake.mails.append(Received(self.sender, self.recipients, b"".join(lines)))
        self.say("250 2.0.0 OK: queued as FAKE1")


def _address(rest: str) -> str:
    return rest.partition(":")[2].split()[0].strip("<>") if ":" in rest else ""


def _decoded(text: str) -> str:
    return base64.b64decode(text.strip()).decode("utf-8", "replace")

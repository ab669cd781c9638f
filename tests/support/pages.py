"""A website on a loopback port for the knowledge reader: ordinary pages, redirects, a page that
never ends (1 GB and more) and one that never finishes arriving."""

import threading
import time
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    site: "FakeSite"

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        self.site.requests.append(self.path)
        route = self.site.routes.get(self.path)
        if route is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        kind, value = route
        # The reader may hang up, as it should on a page too large or too slow.
        with suppress(BrokenPipeError, ConnectionResetError):
            getattr(self, f"_{kind}")(value)

    def _page(self, value):
        body, content_type = value
        data = body.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _endless(self, _):
        """A page of a gigabyte and more, sent as fast as it is taken."""
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(2**30))
        self.end_headers()
        line = b"All work and no play makes a very long page. " * 1400 + b"\n"
        for _ in range(2**30 // len(line) + 1):
            self.wfile.write(line)
            self.site.sent += len(line)

    def _trickle(self, every):
        """A page that arrives a few bytes at a time and never ends."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        while not self.site.closing.is_set():
            self.wfile.write(b"<p>still coming</p>\n")
            self.wfile.flush()
            time.sleep(every)


class FakeSite:
    def __init__(self):
        self.routes: dict[str, tuple[str, object]] = {}
        self.requests: list[str] = []
        self.sent = 0
        self.closing = threading.Event()
        handler = type("Handler", (_Handler,), {"site": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, path: str, body: str, content_type: str = "text/html; charset=utf-8"):
        self.routes[path] = ("page", (body, content_type))

    def redirect(self, path: str, location: str):
        self.routes[path] = ("redirect", location)

    def endless(self, path: str):
        self.routes[path] = ("endless", None)

    def trickle(self, path: str, every: float = 0.2):
        self.routes[path] = ("trickle", every)

    def close(self):
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

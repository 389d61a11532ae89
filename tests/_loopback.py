"""A real HTTP server on 127.0.0.1 for the pass-through tests: what a ``pass_through()`` route reaches."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator


@contextlib.contextmanager
def serving(body: bytes = b"real", *, delay: float = 0.0, path: str = "/") -> Iterator[str]:
    """Serve ``body`` to every GET, after ``delay`` seconds of real time; yields the URL of ``path``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

"""Real sockets on 127.0.0.1: an HTTP server for the pass-through tests (what a ``pass_through()`` route reaches),
and a port nothing listens on (what a refused connection meets)."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any


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


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 that nothing listens on while the block runs: a connection there is refused.

    The port is held by a socket bound and never listening (Linux answers a connection to it with a reset), not
    closed again once picked: a port closed again could be taken by another test process (pytest-xdist) before
    the connection, which would then reach that process's server."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield int(held.getsockname()[1])


def nested_answers(job: Callable[..., Any], start: str) -> list[Any]:
    """Run ``job`` on ``go`` in a simulation inside another's, each routing GET https://api.example.com/who
    to its own name: what the inner and then the outer run returned (each must reach its own sink)."""
    import jobsim

    apps = [jobsim.App("outer"), jobsim.App("inner")]
    for app in apps:
        app.function("job", on="go")(job)
    with jobsim.Simulation(apps[0], start=start) as outer:
        outer.http.get("https://api.example.com/who").respond(200, text="outer")
        with jobsim.Simulation(apps[1], start=start) as inner:
            inner.http.get("https://api.example.com/who").respond(200, text="inner")
            inner.send("go", {})
            inner.run_until_idle()
        outer.send("go", {})
        outer.run_until_idle()
    return [inner.runs("job")[0].output, outer.runs("job")[0].output]


def simulate(job: Callable[..., Any], *, start: str, routes: Callable[[Any], Any] = lambda sim: None,
             retries: int = 0, data: Any = None) -> Any:
    """One run of ``job(ctx)`` on ``go`` (with ``data``), after ``routes(sim)`` set the sink's answers;
    returns the closed simulation."""
    import jobsim

    app = jobsim.App("http-client")
    app.function("job", on="go", retries=retries)(job)
    with jobsim.Simulation(app, start=start) as sim:
        routes(sim)
        sim.send("go", data or {})
        sim.run_until_idle()
    return sim


def output(sim: Any) -> Any:
    """The output of the one run of ``job``, which must have completed."""
    run = sim.runs("job")[0]
    assert run.status == "completed", run.error
    return run.output

"""httpx's TLS context, made once while a simulation runs rather than once per client.

httpx builds a TLS context for every client it makes, and the module functions
(``httpx.post(...)``, as the README's quick start and most job code call them) make a
client per call: each loads certifi's CA bundle, 22 ms on a 2-core machine. In a
simulation no request reaches a socket (respx answers below the connection pool), so a
daily cron job that posts once took 7 of the 8 s a simulated eight months cost, all in
``SSLContext.load_verify_locations``.

While a sink is installed, httpx's ``create_ssl_context`` gives a default client
(``verify=True``, no ``cert``) a context made once per process for the CA locations in
force (``SSL_CERT_FILE``/``SSL_CERT_DIR`` when ``trust_env``, else certifi's bundle): the
same settings give an equivalent context, so sharing it changes nothing a request can
see. A ``pass_through()`` request to the real network uses it as it would its own
(httpcore sets the ALPN protocols on it before each handshake). Any other ``verify=``
or a ``cert=`` goes to httpx's own function. httpx before 0.28, which builds its context
elsewhere, is left as it is.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

from ._patching import SinkPatches

if TYPE_CHECKING:
    from ._http import HttpSink

_PATCHES = SinkPatches()
_MADE: dict[tuple[Any, ...], ssl.SSLContext] = {}
"""The contexts made so far, by CA location: a cache of equivalent values, not a simulation's state."""
_LOCK = threading.Lock()


def install(sink: HttpSink) -> None:
    _PATCHES.install(sink, _patches)


def uninstall(sink: HttpSink) -> None:
    _PATCHES.uninstall(sink)


def _patches() -> list[tuple[Any, str, Any]]:
    module = httpx._transports.default
    original = getattr(module, "create_ssl_context", None)
    if original is None:  # httpx < 0.28
        return []
    return [(module, "create_ssl_context", _shared(original))]


def _shared(original: Callable[..., ssl.SSLContext]) -> Callable[..., ssl.SSLContext]:
    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
        if verify is not True or cert:
            return original(verify=verify, cert=cert, trust_env=trust_env)
        key = (trust_env and os.environ.get("SSL_CERT_FILE"), trust_env and os.environ.get("SSL_CERT_DIR"))
        with _LOCK:
            context = _MADE.get(key)
            if context is None:
                context = _MADE[key] = original(verify=verify, cert=cert, trust_env=trust_env)
        return context

    return create_ssl_context

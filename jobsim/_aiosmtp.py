"""aiosmtplib's client through the mail sink: the real client talks to the in-memory SMTP server.

Why this shape. As for ``smtplib`` (``jobsim._smtppatch``), replacing ``aiosmtplib.send`` or ``aiosmtplib.SMTP``
with a fake would skip the code that breaks in production: EHLO parsing, the automatic STARTTLS, AUTH,
``send_message``'s flattening, dot-stuffing, the timeouts and the exception each reply raises. So the
whole client runs, and only its network is replaced. ``SMTP._create_connection`` opens the connection
with the running loop's ``create_connection`` (``create_unix_connection`` for ``socket_path=``), and
aiosmtplib's ``SMTPProtocol`` upgrades it with that loop's ``start_tls``; while a simulation's mail sink
is installed, ``_create_connection`` runs with ``smtp.loop`` standing for a ``_Network``: the running
loop, except that those three calls attach aiosmtplib's own protocol to a ``_Wire``, a transport whose
other end is an ``SmtpSession`` of the sink's server (the one ``smtplib``'s connections talk to, faults
and all). STARTTLS is the real exchange; the wire only notes the TLS context instead of wrapping.

Time. A reply the server holds back (``smtp_delay``) is handed to the protocol by a timer of the loop,
which on jobsim's loops (``VirtualLoop``, ``asyncio.run`` in job code included) is virtual time: the
client's own ``asyncio.wait_for`` timeouts apply as they would against a slow server, and concurrent
sends wait at once. On any other loop (a test's own) the wait is spent on the host's clock instead, as
``smtplib``'s is. A dropped connection (``smtp_drop``, a ``421``, the answer to ``QUIT``) reaches the
protocol as the end of the stream, then the transport closes, as asyncio's socket transport does.

Three more patches keep real time and threads out: aiosmtplib 4 and 5 ask ``socket.getfqdn()`` for the
EHLO name in a thread (``asyncio.to_thread``), aiosmtplib 2 and 3 ask it directly (through its module's
``socket``, answered by ``FixedNameSocket``), and 5.1.3 builds its TLS context in a thread, which loads
the system's CA certificates (~90 ms) for a handshake that never happens. The EHLO name is
``LOCAL_HOSTNAME`` at once; the TLS context is aiosmtplib's own, built in the loop's thread once per
simulation for each setting of ``validate_certs``, ``cert_bundle`` and ``client_cert``/``client_key``
(a missing file still raises as it would in production).

The bridge relies on aiosmtplib internals, checked for the releases in ``VERIFIED``; on any other
aiosmtplib every connection in a simulation fails with a ``JobsimError`` naming the range, instead of
reaching a real server. Outside a simulation aiosmtplib is untouched.
"""

from __future__ import annotations

import asyncio
import collections
import importlib
import inspect
import re
import socket
from collections.abc import Callable
from typing import Any

from ._aio import VirtualLoop
from ._email import check_port
from ._safe import shown
from ._smtp import SmtpServer, SmtpSession
from ._smtppatch import LOCAL_HOSTNAME, FixedNameSocket
from ._time import SECOND
from .errors import JobsimError

try:  # mypy checks these against the aiosmtplib the dev extra installs, and passes without it
    import aiosmtplib  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # aiosmtplib is not a dependency of jobsim: without it nothing is intercepted
    aiosmtplib = None  # type: ignore[assignment, unused-ignore]

__all__ = ["VERIFIED", "patches", "unsupported"]

VERIFIED = ((2, 0), (5, 1))
"""The aiosmtplib releases (major, minor) the bridge is verified with: its tests pass on 2.0.0, 2.0.2, 3.0.0, 3.0.2,
4.0.0, 4.0.2, 5.0.0, 5.1.0 and 5.1.3 (1.x connects through other internals)."""
_INTERNALS = ("_create_connection", "_get_tls_context")
"""What the bridge replaces on ``aiosmtplib.SMTP`` (with ``_get_default_local_hostname`` where it exists)."""


def unsupported() -> str | None:
    """Why the installed aiosmtplib cannot be bridged, or None when it can (or is not installed)."""
    if aiosmtplib is None:
        return None
    library, smtp_class, _ = _library()
    own = vars(smtp_class)
    threaded = "_get_tls_context" in own and inspect.iscoroutinefunction(own["_get_tls_context"])
    if VERIFIED[0] <= _version(library) <= VERIFIED[1] and all(name in own for name in _INTERNALS) and (
            not threaded or "_build_tls_context" in own):  # fmt: skip
        return None
    low, high = (".".join(map(str, bound)) for bound in VERIFIED)
    return (f"jobsim: aiosmtplib {library.__version__} is not a version jobsim's mail sink was verified with "
            f"({low} to {high}), so it cannot take this connection into sim.mail, and will not let it reach a real "
            f"SMTP server either; install a verified aiosmtplib (pip install 'aiosmtplib>={low},"
            f"<{VERIFIED[1][0]}.{VERIFIED[1][1] + 1}') or a jobsim release that supports this one")


def _version(library: Any) -> tuple[int, ...]:
    """aiosmtplib's (major, minor)."""
    return tuple(int(part) for part in re.findall(r"\d+", library.__version__)[:2])


def _library() -> tuple[Any, Any, Any]:
    """aiosmtplib, its ``SMTP`` class and its ``smtp`` module as the process has them now.

    Not this module's own import of them: a module taken out of ``sys.modules`` and imported again (pytester's
    in-process runs restore ``sys.modules`` as it was, ``importlib.reload``) is a new module whose ``SMTP`` is
    the class job code uses, and patching the old one let that code reach the network.
    """
    library = importlib.import_module("aiosmtplib")
    module = importlib.import_module("aiosmtplib.smtp")
    return library, library.SMTP, module


def patches(server: SmtpServer) -> list[tuple[Any, str, Any]]:
    """What ``SmtpPatch`` installs for aiosmtplib (nothing without it): its connections go to ``server``.

    On an aiosmtplib the bridge was not verified with, ``SMTP.connect`` is replaced instead, by one
    that fails with the ``unsupported()`` message.
    """
    if aiosmtplib is None:
        return []
    _, smtp_class, module = _library()
    if unsupported() is not None:
        return [(smtp_class, "connect", _refuse)]
    own = vars(smtp_class)
    targets = [(smtp_class, "_create_connection", _connecting(server, own["_create_connection"])),
               (smtp_class, "_get_tls_context", _tls_contexts(own["_get_tls_context"])),
               (module, "socket", FixedNameSocket(vars(module)["socket"]))]
    if "_get_default_local_hostname" in own:  # 4.0+: getfqdn in a thread
        targets.append((smtp_class, "_get_default_local_hostname", _local_hostname))
    return targets


async def _refuse(smtp: Any, *args: Any, **kwargs: Any) -> Any:
    """``SMTP.connect`` on an aiosmtplib the bridge was not verified with."""
    raise JobsimError(unsupported())


async def _local_hostname(smtp: Any) -> str:
    """``SMTP._get_default_local_hostname``: the fixed name, with no thread and no DNS lookup."""
    return LOCAL_HOSTNAME


def _connecting(server: SmtpServer, original: Callable[..., Any]) -> Callable[..., Any]:
    """``SMTP._create_connection`` run with ``smtp.loop`` standing for a ``_Network`` to ``server``."""
    async def _create_connection(smtp: Any, *args: Any, **kwargs: Any) -> Any:
        loop = smtp.loop
        if loop is None or isinstance(loop, _Network):  # aiosmtplib's own error; or a sink installed later
            return await original(smtp, *args, **kwargs)  # (a simulation inside another's test) chose already
        smtp.loop = _Network(loop, server)
        try:
            return await original(smtp, *args, **kwargs)
        finally:
            smtp.loop = loop  # the protocol keeps the network, for STARTTLS

    _create_connection.__wrapped__ = original  # type: ignore[attr-defined]
    return _create_connection


def _tls_contexts(original: Callable[..., Any]) -> Callable[..., Any]:
    """``SMTP._get_tls_context`` building each setting's context once, in the loop's thread (5.1.3 builds it in
    a thread of its own), since no handshake ever uses it."""
    built: dict[tuple[Any, ...], Any] = {}
    threaded = inspect.iscoroutinefunction(original)

    def context(smtp: Any) -> Any:
        if smtp.tls_context is not None:
            return smtp.tls_context
        key = (bool(smtp.validate_certs), smtp.cert_bundle, smtp.client_cert, smtp.client_key)
        if key not in built:
            built[key] = smtp._build_tls_context() if threaded else original(smtp)
        return built[key]

    if not threaded:
        return context

    async def _get_tls_context(smtp: Any) -> Any:
        return context(smtp)

    return _get_tls_context


class _Network:
    """``smtp.loop`` while aiosmtplib connects: the running loop, but its connections reach the mail sink."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: SmtpServer) -> None:
        self._loop = loop
        self._server = server

    async def create_connection(self, protocol_factory: Callable[[], Any], host: str | None = None,
                                port: int | None = None, *, ssl: Any = None, sock: Any = None,
                                **options: Any) -> tuple[asyncio.Transport, Any]:  # fmt: skip
        if sock is None:
            check_port(port)
        return self._open(protocol_factory, ssl, sock, (host, port))

    async def create_unix_connection(self, protocol_factory: Callable[[], Any], path: Any = None, *,
                                     ssl: Any = None, sock: Any = None,
                                     **options: Any) -> tuple[asyncio.Transport, Any]:  # fmt: skip
        return self._open(protocol_factory, ssl, sock, path)

    async def start_tls(self, transport: _Wire, protocol: Any, sslcontext: Any, **options: Any) -> _Wire:
        return transport.start_tls(sslcontext)

    def _open(self, protocol_factory: Callable[[], Any], tls: Any, sock: Any,
              peer: Any) -> tuple[asyncio.Transport, Any]:  # fmt: skip
        if sock is not None and getattr(sock, "type", None) != socket.SOCK_STREAM:  # asyncio's own check; a
            raise ValueError(f"A Stream Socket was expected, got {shown(sock)}")  # bad one failed at its close()
        protocol = protocol_factory()
        session = SmtpSession(self._server, tls=tls is not None)
        return _Wire(self._loop, protocol, session, tls=tls, peer=peer, sock=sock), protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)


class _Wire(asyncio.Transport):
    """The connection aiosmtplib's protocol writes commands to; the ``SmtpSession`` on its other end answers.

    ``sock``: a socket the job passed (``sock=``), which aiosmtplib hands to the connection; it is closed
    with it, and nothing is sent on it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: Any, session: SmtpSession, *, tls: Any,
                 peer: Any, sock: Any) -> None:  # fmt: skip
        super().__init__()
        self._info: dict[str, Any] = {"peername": peer, "sslcontext": tls}
        self._loop = loop
        self._protocol = protocol
        self._session = session
        self._sock = sock
        self._closing = False
        self._hung_up = False  # the server closed its side
        self._due: collections.deque[asyncio.TimerHandle] = collections.deque()  # replies on their way, in order
        protocol.connection_made(self)
        self._answer()  # the greeting

    def start_tls(self, sslcontext: Any) -> _Wire:
        """The connection after STARTTLS: the same one, now noting its TLS context (``get_extra_info``)."""
        self._info["sslcontext"] = sslcontext
        return self

    # -- the transport aiosmtplib writes to --------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._closing:  # as a socket transport, a closed connection takes nothing more
            self._session.feed(bytes(data))
            self._answer()

    def writelines(self, chunks: Any) -> None:
        self.write(b"".join(chunks))

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._session.closed = True
        for handle in self._due:
            handle.cancel()
        if self._sock is not None:
            self._sock.close()
        self._loop.call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def is_closing(self) -> bool:
        return self._closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._info.get(name, default)

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def is_reading(self) -> bool:
        return not self._closing

    # -- the server's side -------------------------------------------------------------------------

    def _answer(self) -> None:
        """Send what the server replied to what it read, and its hanging up, when the reply is due."""
        session = self._session
        late, session.wait_ns = session.wait_ns, 0
        replies, hung_up = session.take_replies(), session.closed and not self._hung_up
        if not replies and not hung_up:
            return
        self._hung_up = self._hung_up or hung_up
        if not isinstance(self._loop, VirtualLoop):  # a test's own loop: the host's clock, as smtplib's
            if late and session.server.spend is not None:
                session.server.spend(late)
            late = 0
        when = self._loop.time() + late / SECOND
        if self._due:  # a connection delivers in order: no reply overtakes one sent before it
            when = max(when, self._due[-1].when())
        self._due.append(self._loop.call_at(when, self._arrive, replies, hung_up))

    def _arrive(self, replies: bytes, hung_up: bool) -> None:
        self._due.popleft()
        if self._closing:
            return
        if replies:
            self._protocol.data_received(replies)
        if hung_up:  # the end of the stream is read after the data, as from a socket
            self._loop.call_soon(self._end_of_stream)

    def _end_of_stream(self) -> None:
        if not self._closing and not self._protocol.eof_received():
            self.close()  # as asyncio's socket transport, when the protocol keeps no half-open connection

"""SMTP capture's client side: the job's real ``smtplib`` connects to ``SmtpSession`` (``jobsim._smtp``).

Why this shape. Replacing ``smtplib.SMTP`` with a fake class would skip the code
that breaks in production (EHLO parsing, AUTH, dot-stuffing, ``send_message``'s
header handling, the exceptions retries depend on) and would miss jobs that wrote
``from smtplib import SMTP`` before the patch. Instead, while installed, three
methods *on the classes* are replaced, which every import style shares:

- ``SMTP._get_socket`` and ``SMTP_SSL._get_socket`` return a ``FakeSocket``
  instead of opening a TCP (or TLS) connection;
- ``SMTP.starttls`` performs the real exchange (EHLO if needed, ``STARTTLS``,
  the 220 check, forgetting the EHLO answer as RFC 3207 requires) but skips
  wrapping the socket in TLS, which cannot wrap an in-memory object.

``smtplib``'s own reference to the ``socket`` module is swapped too, and
``email.utils``'s (on Python 3.13, which imports it inside ``make_msgid``, that function, given a
default ``domain``), for one whose ``getfqdn()`` answers a fixed name (``FixedNameSocket``):
``SMTP()`` without ``local_hostname``, and ``email.utils.make_msgid()`` without
``domain``, would otherwise do a reverse DNS lookup in real time.

Everything else is the standard library's own code reading real SMTP replies from
``SmtpSession``; a late reply (``SmtpDelay``) is spent as ``smtplib`` reads it (``FakeSocket.wait``).
"""

from __future__ import annotations

import functools
import importlib
import smtplib
import socket
from collections.abc import Callable
from typing import Any

from ._email import check_port
from ._smtp import SmtpServer, SmtpSession

__all__ = ["FakeSocket", "FixedNameSocket", "SmtpPatch"]

_SECOND = 1_000_000_000


class _Reader:
    """What ``socket.makefile("rb")`` returns: ``smtplib`` only calls ``readline``."""

    def __init__(self, sock: FakeSocket) -> None:
        self._sock = sock

    def readline(self, limit: int = -1) -> bytes:
        self._sock.wait()
        return self._sock.session.readline(limit)

    def close(self) -> None:
        pass


class FakeSocket:
    """Stands where ``smtplib`` keeps its socket; bytes go to an ``SmtpSession``.

    ``timeout``: the connection's (``SMTP(..., timeout=10)``, else ``socket.getdefaulttimeout()``), in
    seconds; ``None`` waits for a late reply however late it comes.
    """

    def __init__(self, session: SmtpSession, timeout: float | None = None) -> None:
        self.session = session
        self.timeout = timeout

    def wait(self) -> None:
        """Spend the time the reply the client reads next is late (``SmtpDelay``); past the socket's timeout,
        spend that and fail as a socket does (smtplib closes the connection: ``SMTPServerDisconnected``)."""
        late, self.session.wait_ns = self.session.wait_ns, 0
        spend = self.session.server.spend
        if not late or spend is None:
            return
        limit = None if self.timeout is None else round(self.timeout * _SECOND)
        if limit is not None and late > limit:
            spend(limit)
            self.session.closed = True
            raise TimeoutError("timed out")
        spend(late)

    def sendall(self, data: bytes) -> None:
        if self.session.closed:
            raise BrokenPipeError(32, "Broken pipe")
        self.session.feed(bytes(data))

    def makefile(self, mode: str = "rb") -> _Reader:
        return _Reader(self)

    def settimeout(self, timeout: float | None) -> None:
        self.timeout = timeout

    def close(self) -> None:
        self.session.closed = True


LOCAL_HOSTNAME = "worker.jobsim.test"
"""The name ``smtplib`` greets the server with (EHLO/HELO) when job code gives no ``local_hostname``, and the
domain of ``email.utils.make_msgid()`` without one."""


class FixedNameSocket:
    """``smtplib``'s, ``email.utils``' and ``aiosmtplib``'s global ``socket`` (the module) while a simulation's
    mail sink is installed.

    ``SMTP.__init__`` without ``local_hostname`` asks ``socket.getfqdn()`` for the name it sends in
    EHLO, and, for a name without a dot, ``socket.gethostbyname(socket.gethostname())``: a reverse DNS
    lookup that takes seconds (or hangs until the resolver's timeout) on a closed network, in real
    time, for every connection, and whose answer differs from machine to machine. ``make_msgid()``
    without ``domain`` asks the same for the right side of a Message-ID. Here ``getfqdn()`` answers
    ``LOCAL_HOSTNAME`` at once; every other name is the module's, and the ``socket`` module itself,
    which the job and everything else use, is left alone.
    """

    def __init__(self, module: Any) -> None:
        self._module = module

    def getfqdn(self, name: str = "") -> str:
        if name and name != "0.0.0.0":  # smtplib asks for its own name only; any other is the real answer
            answer: str = self._module.getfqdn(name)
            return answer
        return LOCAL_HOSTNAME

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def _msgid_with_domain(make_msgid: Callable[..., str]) -> Callable[..., str]:
    """``email.utils.make_msgid`` whose ``domain`` defaults to ``LOCAL_HOSTNAME``, where it reads
    ``socket.getfqdn()`` through a ``socket`` imported inside the function (Python 3.13)."""
    @functools.wraps(make_msgid)
    def with_domain(idstring: str | None = None, domain: str | None = None) -> str:
        return make_msgid(idstring, LOCAL_HOSTNAME if domain is None else domain)

    return with_domain


Patches = Callable[[SmtpServer], list[tuple[Any, str, Any]]]
"""Another client's patches for ``server``: (class or module, attribute name, replacement)."""


class SmtpPatch:
    """Installs the three class methods described in the module docstring, and ``smtplib``'s view of
    ``socket`` (``FixedNameSocket``), and the patches ``also`` gives (``jobsim._aiosmtp``), and undoes it.

    Originals are taken from each class's (and the module's) own ``__dict__`` and put back there, so
    uninstalling restores them attribute for attribute. Installs nest (last in, first out) like any
    monkeypatch.
    """

    def __init__(self, server: SmtpServer, also: Patches | None = None) -> None:
        self._server = server
        self._also = also
        self._saved: list[tuple[Any, str, Any]] = []

    @property
    def installed(self) -> bool:
        return bool(self._saved)

    def install(self) -> None:
        if self._saved:
            return
        for cls, name, replacement in self._targets():
            self._saved.append((cls, name, vars(cls)[name]))
            setattr(cls, name, replacement)

    def _targets(self) -> list[tuple[Any, str, Any]]:
        """What ``install`` replaces: (class or module, attribute name, replacement).

        ``smtplib`` and ``email.utils`` are looked up as the process has them now, not as they were when
        jobsim was imported: a module imported afresh since (``importlib.reload``, a test tool that
        restores ``sys.modules``) is the one job code reaches, and the one to patch.
        """
        lib = importlib.import_module("smtplib")
        utils = importlib.import_module("email.utils")
        ssl_class: type[smtplib.SMTP] | None = getattr(lib, "SMTP_SSL", None)
        targets: list[tuple[Any, str, Any]] = [
            (lib.SMTP, "_get_socket", self._socket_factory(tls=False)),
            (lib.SMTP, "starttls", _make_starttls(lib.SMTP.__dict__["starttls"], lib)),
            (lib, "socket", FixedNameSocket(vars(lib)["socket"])),
        ]
        utils_socket = vars(utils).get("socket")
        if utils_socket is not None:
            targets.append((utils, "socket", FixedNameSocket(utils_socket)))
        else:  # Python 3.13 imports socket inside make_msgid: the default domain is given instead
            targets.append((utils, "make_msgid", _msgid_with_domain(vars(utils)["make_msgid"])))
        if ssl_class is not None:
            targets.append((ssl_class, "_get_socket", self._socket_factory(tls=True)))
        if self._also is not None:
            targets += self._also(self._server)
        return targets

    def uninstall(self) -> None:
        while self._saved:
            cls, name, original = self._saved.pop()
            setattr(cls, name, original)

    def _socket_factory(self, *, tls: bool) -> Callable[..., FakeSocket]:
        server = self._server

        def _get_socket(smtp: smtplib.SMTP, host: str, port: int,
                        timeout: float | None) -> FakeSocket:
            if timeout is not None and not timeout:  # as smtplib's own check
                raise ValueError("Non-blocking socket (timeout=0) is not supported")
            check_port(port)
            if timeout is getattr(socket, "_GLOBAL_DEFAULT_TIMEOUT", None):
                timeout = socket.getdefaulttimeout()
            return FakeSocket(SmtpSession(server, tls=tls), timeout)

        return _get_socket


def _make_starttls(original: Callable[..., tuple[int, bytes]], lib: Any) -> Callable[..., tuple[int, bytes]]:
    """``SMTP.starttls`` over a ``FakeSocket``; it raises ``lib``'s exceptions (the ``smtplib`` it patches)."""

    def starttls(smtp: smtplib.SMTP, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        sock = smtp.sock
        if not isinstance(sock, FakeSocket):  # a connection opened before install
            return original(smtp, *args, **kwargs)
        smtp.ehlo_or_helo_if_needed()
        if not smtp.has_extn("starttls"):
            raise lib.SMTPNotSupportedError("STARTTLS extension not supported by server.")
        code, reply = smtp.docmd("STARTTLS")
        if code != 220:
            raise lib.SMTPResponseException(code, reply)
        smtp.file = None
        smtp.helo_resp = None
        smtp.ehlo_resp = None
        smtp.esmtp_features = {}
        smtp.does_esmtp = False
        return code, reply

    starttls.__doc__ = original.__doc__
    starttls.__wrapped__ = original  # type: ignore[attr-defined]
    return starttls

"""SMTP capture's server: ``SmtpSession``, an in-memory SMTP server the job's real ``smtplib`` talks to.

``smtplib``'s own code (``login``, ``sendmail``, ``send_message``, ``quit``, the context
manager) reads real SMTP replies from ``SmtpSession``, a small server state machine; how
``smtplib`` reaches it instead of a TCP connection is ``jobsim._smtppatch``. Each accepted ``DATA``
is handed to a ``deliver`` callback (the mail sink decodes it: ``jobsim._smtpmessage``); ``SmtpFault``
makes chosen commands answer with an error code so ``smtplib`` raises in job code exactly as against
a real server (a ``421`` closes the connection after its reply, as RFC 5321 §3.8 has servers do).

Time and dropped connections. ``SmtpDelay`` holds a command's reply back for some
virtual time, spent when ``smtplib`` reads it (``FakeSocket.wait``): past the
connection's ``timeout=`` the read fails at that timeout with the socket's own
``TimeoutError("timed out")``, which ``smtplib`` turns into ``SMTPServerDisconnected``.
``SmtpDrop`` closes the connection instead of replying (at DATA after queueing the
message, or not): ``smtplib`` reads the end of the stream and raises
``SMTPServerDisconnected("Connection unexpectedly closed")``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol, TypeVar

__all__ = ["SmtpDelay", "SmtpDrop", "SmtpFault", "SmtpServer", "SmtpSession"]

FaultPoint = Literal["CONNECT", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET", "QUIT"]
FAULT_POINTS: tuple[FaultPoint, ...] = ("CONNECT", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "RSET", "QUIT")
"""The commands a fault can meet, in the order of a session; ``"EHLO"`` is either greeting (``EHLO``, or the
``HELO`` a client falls back to when its ``EHLO`` is refused)."""

Deliver = Callable[[str, list[str], bytes], str]
"""``(mail_from, rcpt_tos, data) -> message id``: called for each accepted DATA."""
Spend = Callable[[int], None]
"""Spends ``ns`` of virtual time on the calling job's clock (``Host.consume``)."""
_PATH_HEAD = re.compile(r"(?i)(FROM|TO):\s*<")
# local@domain (the local part may be quoted, holding quoted pairs: "a\"b"), as a real server requires; RFC 5321
# lets "Postmaster" go without one
_ADDRESS = re.compile(r'(?:"(?:[^"\\]|\\[ -~])*"|[^@\s<>"]+)@[^@\s<>"]+|(?i:postmaster)')
SIZE_LIMIT = 36_700_160
"""The largest message the server takes by default, in bytes (35 MiB, as it advertises in ``SIZE``): a larger one
is refused with ``552`` (``sim.mail.smtp_size_limit``)."""
_TOO_BIG = "5.3.4 Message size exceeds fixed maximum message size"
_SIZE_PARAM = re.compile(r"(?i)(?<!\S)SIZE=(\S*)")  # the parameter itself, not XSIZE= or a value's SIZE=
_SIZE_VALUE = re.compile(r"[0-9]{1,20}")  # RFC 1870 size-value: 1*20DIGIT, ASCII (str.isdigit takes '²')


def _path(arg: str) -> tuple[str, str, str] | None:
    """``FROM:<path> params`` or ``TO:<path> params`` as ``(keyword, path, params)``, or None.

    The path ends at the first ``>`` outside a quoted local part, which may hold one (``"a>b"@x``, RFC 5321);
    with a quote left open it ends at the first ``>``, so that the address check names the address. One scan:
    a long line of quotes costs no backtracking.
    """
    head = _PATH_HEAD.match(arg)
    if head is None:
        return None
    start = i = head.end()
    quoted = False
    while i < len(arg):
        char = arg[i]
        if quoted and char == "\\":
            i += 1  # a quoted pair: the next character is taken as it is
        elif char == '"':
            quoted = not quoted
        elif char == ">" and not quoted:
            return head.group(1), arg[start:i], arg[i + 1 :]
        i += 1
    end = arg.find(">", start)
    return None if end < 0 else (head.group(1), arg[start:end], arg[end + 1 :])


@dataclass(slots=True)
class SmtpFault:
    """The next ``remaining`` commands at ``point`` answer ``code message``."""

    point: FaultPoint
    code: int
    message: str
    remaining: int

    @property
    def lines(self) -> list[str]:
        """The reply's text lines: a message with line breaks is a multi-line reply
        (``451-first``, ``451 last``), never stray lines smtplib would read as the
        answers to its next commands."""
        return self.message.splitlines()


@dataclass(slots=True)
class SmtpDrop:
    """The next ``remaining`` commands at ``point`` get no reply: the server closes the connection (at
    ``DATA`` having queued the message first when ``delivered``)."""

    point: FaultPoint
    delivered: bool
    remaining: int


@dataclass(slots=True)
class SmtpDelay:
    """The replies to the next ``remaining`` commands at ``point`` come ``after_ns`` of virtual time late."""

    point: FaultPoint
    after_ns: int
    remaining: int


class SmtpServer:
    """What every connection shares: the hostname, the delivery callback, the faults and delays."""

    def __init__(self, deliver: Deliver, hostname: str = "smtp.jobsim.test", spend: Spend | None = None) -> None:
        self.deliver = deliver
        self.hostname = hostname
        self.spend = spend
        self.faults: list[SmtpFault | SmtpDrop] = []
        self.delays: list[SmtpDelay] = []
        self.size_limit: int | None = SIZE_LIMIT  # None: no limit (advertised as a bare SIZE, RFC 1870)

    def take_fault(self, point: FaultPoint) -> SmtpFault | SmtpDrop | None:
        """The first pending fault (an error reply, or a drop) for ``point``, using up one of its repetitions."""
        return _take(self.faults, point)

    def take_delay(self, point: FaultPoint) -> int:
        """How late the reply at ``point`` comes (ns), using up one repetition of the first pending delay."""
        delay = _take(self.delays, point)
        return 0 if delay is None else delay.after_ns


class _Pending(Protocol):
    point: FaultPoint
    remaining: int


_P = TypeVar("_P", bound=_Pending)


def _take(pending: list[_P], point: FaultPoint) -> _P | None:
    for item in pending:
        if item.point == point and item.remaining > 0:
            item.remaining -= 1
            if item.remaining == 0:
                pending.remove(item)
            return item
    return None


class SmtpSession:
    """One SMTP conversation: command lines in, reply lines out (RFC 5321 subset).

    Implements EHLO/HELO (advertising SIZE, 8BITMIME, STARTTLS before TLS, AUTH
    PLAIN LOGIN once TLS is on, ENHANCEDSTATUSCODES, SMTPUTF8), STARTTLS, AUTH PLAIN/LOGIN with
    and without an initial response, MAIL, RCPT, DATA with dot-unstuffing, RSET,
    NOOP, VRFY and QUIT. Any credentials are accepted; inject ``AUTH`` faults to
    test refused logins. AUTH is offered and accepted only over TLS (after STARTTLS, or on
    ``SMTP_SSL``), as RFC 4954 §4 asks of a server with plaintext mechanisms and as Gmail, Office 365
    and Amazon SES do on port 587: a job that logs in without ``starttls()`` gets smtplib's
    ``SMTPNotSupportedError`` ("SMTP AUTH extension not supported by server") here as there.
    """

    def __init__(self, server: SmtpServer, *, tls: bool) -> None:
        self.server = server
        self.tls = tls
        self.closed = False
        self.wait_ns = 0  # how late the reply the client reads next comes (SmtpDelay)
        self.user: str | None = None
        self._out = bytearray()
        self._in = bytearray()
        self._mode = "command"
        self._greeted = False
        self._login_name = ""
        self._auth_fault: SmtpFault | SmtpDrop | None = None
        self._reset()
        if self._refused("CONNECT") is None:
            self._reply(220, f"{server.hostname} ESMTP jobsim")
        else:  # a refused greeting ends the connection, whatever its code
            self.closed = True

    # -- bytes in, bytes out -------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Bytes the client sent; complete lines are processed at once."""
        self._in += data
        while not self.closed and (end := self._in.find(b"\n")) >= 0:
            line = bytes(self._in[: end + 1])
            del self._in[: end + 1]
            self._line(line.rstrip(b"\r\n"))

    def take_replies(self) -> bytes:
        """Every reply line not read yet."""
        replies = bytes(self._out)
        self._out.clear()
        return replies

    def readline(self, limit: int = -1) -> bytes:
        """The next reply line; ``b""`` (end of stream) once nothing is pending."""
        end = self._out.find(b"\n")
        size = len(self._out) if end < 0 else end + 1
        if limit >= 0:
            size = min(size, limit)
        line = bytes(self._out[:size])
        del self._out[:size]
        return line

    def _reply(self, code: int, *lines: str) -> None:
        texts = lines or ("",)
        for index, text in enumerate(texts):
            sep = " " if index == len(texts) - 1 else "-"
            self._out += f"{code}{sep}{text}\r\n".encode("utf-8", "surrogateescape")

    def _refused(self, point: FaultPoint, fault: SmtpFault | SmtpDrop | None = None) -> SmtpFault | SmtpDrop | None:
        """The command at ``point`` meets its pending delay, then its pending fault (or ``fault``), returned if any:
        an error reply (a 421 closes the connection after it, as servers do) or no reply and a closed connection."""
        self.wait_ns += self.server.take_delay(point)
        if fault is None:
            fault = self.server.take_fault(point)
        if isinstance(fault, SmtpDrop):
            self.closed = True
        elif fault is not None:
            self._reply(fault.code, *fault.lines)
            self.closed = self.closed or fault.code == 421
        return fault

    def _reset(self) -> None:
        self._mail_from: str | None = None
        self._rcpts: list[str] = []
        self._data = bytearray()
        self._size = 0  # the message's size so far, in bytes (past the limit, nothing more is kept)

    def _too_big(self, size: int) -> bool:
        limit = self.server.size_limit
        return limit is not None and size > limit

    # -- commands ------------------------------------------------------------------

    def _line(self, raw: bytes) -> None:
        if self._mode == "data":
            self._data_line(raw)
            return
        line = raw.decode("utf-8", "surrogateescape")
        if self._mode != "command":
            self._auth_step(line)
            return
        verb, _, arg = line.partition(" ")
        handler = self._COMMANDS.get(verb.upper())
        if handler is None:
            self._reply(502 if verb else 500, "5.5.2 Error: command not recognized")
        else:
            handler(self, arg.strip())

    def _ehlo(self, arg: str) -> None:
        if self._refused("EHLO") is not None:
            return
        self._reset()
        self._greeted = True
        limit = self.server.size_limit
        features = [f"{self.server.hostname} greets {arg or 'client'}", "SIZE" if limit is None else f"SIZE {limit}",
                    "8BITMIME", *(("AUTH PLAIN LOGIN",) if self.tls else ("STARTTLS",)),
                    "ENHANCEDSTATUSCODES", "SMTPUTF8"]
        self._reply(250, *features)

    def _helo(self, arg: str) -> None:
        if self._refused("EHLO") is not None:
            return
        self._reset()
        self._greeted = True
        self._reply(250, self.server.hostname)

    def _starttls(self, arg: str) -> None:
        if self.tls:
            self._reply(554, "5.5.1 Error: TLS already active")
            return
        if self._refused("STARTTLS") is not None:
            return
        self._reply(220, "2.0.0 Ready to start TLS")
        self.tls, self._greeted, self.user = True, False, None
        self._reset()

    def _auth(self, arg: str) -> None:
        mechanism, _, initial = arg.partition(" ")
        mechanism = mechanism.upper()
        if not self.tls:  # Postfix's reply with smtpd_tls_auth_only, Gmail's too
            self._reply(530, "5.7.0 Must issue a STARTTLS command first")
        elif self.user is not None:
            self._reply(503, "5.5.1 Error: already authenticated")
        elif mechanism not in ("PLAIN", "LOGIN"):
            self._reply(504, "5.5.4 Unrecognized authentication type")
        elif (fault := self._refused("AUTH", self._auth_fault)) is not None:
            self._auth_fault = fault  # smtplib tries each mechanism: refuse them all
        elif not initial:
            self._mode = "auth-plain" if mechanism == "PLAIN" else "auth-login-user"
            self._reply(334, "" if mechanism == "PLAIN" else _b64("Username:"))
        elif mechanism == "PLAIN":
            self._finish_plain(initial)
        else:
            self._login_user(initial)

    def _auth_step(self, line: str) -> None:
        mode, self._mode = self._mode, "command"
        if line == "*":
            self._reply(501, "5.7.0 Authentication aborted")
        elif mode == "auth-plain":
            self._finish_plain(line)
        elif mode == "auth-login-user":
            self._login_user(line)
        elif _unb64(line) is None:
            self._reply(501, "5.5.2 Cannot decode response")
        else:
            self._reply(235, "2.7.0 Authentication successful")
            self.user = self._login_name

    def _login_user(self, encoded: str) -> None:
        name = _unb64(encoded)
        if name is None:
            self._reply(501, "5.5.2 Cannot decode response")
            return
        self._login_name = name
        self._mode = "auth-login-password"
        self._reply(334, _b64("Password:"))

    def _finish_plain(self, encoded: str) -> None:
        decoded = _unb64(encoded)
        parts = decoded.split("\0") if decoded is not None else []
        if len(parts) != 3:
            self._reply(501, "5.5.2 Cannot decode response")
            return
        self.user = parts[1]
        self._reply(235, "2.7.0 Authentication successful")

    def _mail(self, arg: str) -> None:
        keyword, path, params = _path(arg) or ("", "", "")
        if not self._greeted:
            self._reply(503, "5.5.1 Error: send HELO/EHLO first")
        elif self._mail_from is not None:
            self._reply(503, "5.5.1 Error: nested MAIL command")
        elif keyword.upper() != "FROM":
            self._reply(501, "5.5.4 Syntax: MAIL FROM:<address>")
        elif path and not _ADDRESS.fullmatch(path):  # <> (a bounce's) is fine
            self._reply(501, "5.1.7 Bad sender address syntax")
        elif (declared := _SIZE_PARAM.search(params)) and not _SIZE_VALUE.fullmatch(declared.group(1)):
            self._reply(501, "5.5.4 Bad message size syntax")
        elif declared and self._too_big(int(declared.group(1))):  # smtplib declares len(msg) (RFC 1870)
            self._reply(552, _TOO_BIG)
        elif self._refused("MAIL") is None:
            self._mail_from = path
            self._reply(250, "2.1.0 Ok")

    def _rcpt(self, arg: str) -> None:
        keyword, path, _ = _path(arg) or ("", "", "")
        if self._mail_from is None:
            self._reply(503, "5.5.1 Error: need MAIL command")
        elif keyword.upper() != "TO" or not path:
            self._reply(501, "5.5.4 Syntax: RCPT TO:<address>")
        elif not _ADDRESS.fullmatch(path):
            self._reply(501, "5.1.3 Bad recipient address syntax")
        elif self._refused("RCPT") is None:
            self._rcpts.append(path)
            self._reply(250, "2.1.5 Ok")

    def _data_command(self, arg: str) -> None:
        if not self._rcpts:
            self._reply(503, "5.5.1 Error: need RCPT command")
            return
        self._mode = "data"
        self._reply(354, "End data with <CR><LF>.<CR><LF>")

    def _data_line(self, raw: bytes) -> None:
        if raw != b".":
            line = (raw[1:] if raw.startswith(b".") else raw) + b"\r\n"
            self._size += len(line)
            if not self._too_big(self._size):  # a message past the limit is read to its end, not kept
                self._data += line
            return
        self._mode = "command"
        mail_from, rcpts, data, size = self._mail_from or "", self._rcpts, bytes(self._data), self._size
        self._reset()
        if self._too_big(size):  # undeclared, or larger than declared: refused once read, as Postfix does
            self._reply(552, _TOO_BIG)
            return
        fault = self.server.take_fault("DATA")
        if isinstance(fault, SmtpDrop) and fault.delivered:  # queued, then the connection went before the reply
            self.server.deliver(mail_from, rcpts, data)
        if self._refused("DATA", fault) is None:
            queued = self.server.deliver(mail_from, rcpts, data)
            self._reply(250, f"2.0.0 Ok: queued as {queued}")

    def _rset(self, arg: str) -> None:
        if self._refused("RSET") is not None:
            return
        self._reset()
        self._reply(250, "2.0.0 Ok")

    def _noop(self, arg: str) -> None:
        self._reply(250, "2.0.0 Ok")

    def _vrfy(self, arg: str) -> None:
        self._reply(252, "2.0.0 Cannot VRFY user, but will accept message")

    def _quit(self, arg: str) -> None:
        if self._refused("QUIT") is not None:
            return
        self._reply(221, "2.0.0 Bye")
        self.closed = True

    _COMMANDS: ClassVar[Mapping[str, Callable[[SmtpSession, str], None]]] = {
        "EHLO": _ehlo, "LHLO": _ehlo, "HELO": _helo, "STARTTLS": _starttls, "AUTH": _auth,
        "MAIL": _mail, "RCPT": _rcpt, "DATA": _data_command, "RSET": _rset,
        "NOOP": _noop, "VRFY": _vrfy, "QUIT": _quit,
    }


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode("ascii")


def _unb64(text: str) -> str | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None

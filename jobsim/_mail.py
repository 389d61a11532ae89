"""The mail outbox: every email the job sends, by SMTP or a provider's HTTP API.

``MailSink`` owns the outbox and its assertions. Capture happens in two places:
``install()`` points the standard library's ``smtplib`` (``_smtppatch``) and ``aiosmtplib``
(``_aiosmtp``) at one in-memory SMTP server (``_smtp``; ``_smtpmessage`` decodes what it accepts), and
the HTTP sink hands requests for provider URLs to ``handle_provider_request`` (``_providers``). All
produce the same ``Email``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, overload

import httpx

from . import _aiosmtp
from ._checks import check_callable, keywords_checked
from ._email import PROVIDERS, Attachment, Email, Provider, format_email, random_uuid
from ._host import Host
from ._providers import ProviderApis
from ._safe import shown
from ._smtp import FAULT_POINTS, FaultPoint, SmtpDelay, SmtpDrop, SmtpFault, SmtpServer
from ._smtpmessage import parse_message
from ._smtppatch import SmtpPatch
from ._time import Duration, duration_ns, iso, to_datetime
from .errors import InvalidArgument


class _Any:
    """A filter left out: it matches every email (``None`` given is refused: an unset setting is a bug)."""

    def __repr__(self) -> str:
        return "<any>"


ANY: Any = _Any()

__all__ = ["Attachment", "Email", "MailSink"]

Text = str | re.Pattern[str]
_TEMPORARY = "4.3.0 Temporary failure, please try again later"  # smtp_fail's text for a 4xx code
_PERMANENT = "5.0.0 Permanent failure, message not accepted"  # and for a 5xx one


class MailSink:
    """Captures outgoing mail into ``outbox`` and checks it.

    The Simulation calls ``install()`` when it starts and ``uninstall()`` when it
    closes; both are idempotent and uninstall restores ``smtplib`` and ``aiosmtplib`` exactly.
    """

    def __init__(self, host: Host) -> None:
        self._host = host
        self.outbox: list[Email] = []
        """Every accepted email, oldest first."""
        self._smtp = SmtpServer(self._deliver_smtp, spend=host.consume)
        self._patch = SmtpPatch(self._smtp, also=_aiosmtp.patches)
        self._providers = ProviderApis(host)
        # provider requests a test's route answered with success: no email exists for them,
        # which an outbox assertion's failure must say ("no email was sent" alone misleads)
        self._routed: list[str] = []

    # -- lifecycle -----------------------------------------------------------------

    def install(self) -> None:
        """Route ``smtplib.SMTP``/``SMTP_SSL`` and ``aiosmtplib.SMTP`` connections to the in-memory server."""
        self._patch.install()

    def uninstall(self) -> None:
        """Put ``smtplib`` and ``aiosmtplib`` back exactly as they were; the outbox is kept."""
        self._patch.uninstall()

    @property
    def installed(self) -> bool:
        return self._patch.installed

    def clear(self) -> None:
        """Empty the outbox (pending ``smtp_fail``, ``smtp_delay`` and ``smtp_drop`` faults stay)."""
        self.outbox.clear()
        self._routed.clear()

    # -- capture -------------------------------------------------------------------

    def handle_provider_request(self, request: httpx.Request) -> httpx.Response | None:
        """Answer an HTTP request to a mail provider's sending API, as that provider would.

        Returns ``None`` when the URL belongs to no supported provider endpoint
        (Resend ``/emails``, SendGrid ``/v3/mail/send``, Postmark ``/email``,
        Mailgun ``/v3/<domain>/messages``), so the HTTP sink treats it as unmatched.
        Accepted emails are added to the outbox; refused requests add nothing.
        """
        handled = self._providers.handle(request)
        if handled is None:
            return None
        for email in handled.emails:
            self._accept(email)
        return handled.response

    def provides(self, request: httpx.Request) -> bool:
        """Whether a supported mail provider's sending API owns ``request``'s URL."""
        return self._providers._endpoint(request) is not None

    def routed_elsewhere(self, request: httpx.Request, status: int, at_ns: int) -> None:
        """A route of the test, not the provider, answered ``request`` with success (the HTTP sink calls this)."""
        self._routed.append(f"  {request.method} {request.url} -> {status} at {iso(at_ns, self._host.tz)}")

    @keywords_checked("sim.mail.smtp_fail()")
    def smtp_fail(self, times: int = 1, *, code: int = 451, message: str | None = None,
                  on: FaultPoint = "DATA") -> None:
        """Make the next ``times`` SMTP commands at ``on`` answer ``code message``.

        ``on`` is where the server refuses, and decides what ``smtplib`` raises in
        the job: ``"DATA"`` (after the message was sent; ``SMTPDataError``, the
        message is not delivered), ``"MAIL"`` (``SMTPSenderRefused``), ``"RCPT"``
        (each ``RCPT``; ``SMTPRecipientsRefused`` when every recipient is refused),
        ``"AUTH"`` (every login on the next ``times`` connections, since ``smtplib``
        tries each mechanism; ``SMTPAuthenticationError``), ``"CONNECT"`` (the
        greeting; ``SMTPConnectError`` from the constructor), ``"EHLO"`` (``EHLO``, and
        the ``HELO`` a client falls back to: once, the client goes on with ``HELO``;
        twice, ``SMTPHeloError``), ``"STARTTLS"`` (``SMTPResponseException``),
        ``"RSET"`` (which ``smtplib`` sends after a refusal and ignores the answer to)
        or ``"QUIT"`` (``smtplib``'s ``with`` block raises ``SMTPResponseException``
        after the message was delivered). ``aiosmtplib`` raises its own classes of
        the same names (``SMTPConnectResponseError`` at ``"CONNECT"``), and ignores a
        refused ``QUIT`` in ``aiosmtplib.send``. Use a 4xx code for
        temporary failures a retry should get past, 5xx for permanent ones. A
        ``message`` of several lines is sent as one multi-line reply; without one, the
        text matches the code's class (RFC 3463: ``4.3.0 Temporary ...`` or ``5.0.0
        Permanent ...``), so a 550 never reads "temporary" in the job's error.
        """
        self._refuse_closed("smtp_fail")
        _check_times_on(times, on)
        if isinstance(code, bool) or not isinstance(code, int) or not 400 <= code <= 599:
            raise InvalidArgument.build("code", code, "an SMTP error code from 400 to 599")
        if message is None:
            message = _TEMPORARY if code < 500 else _PERMANENT
        elif not isinstance(message, str):
            raise InvalidArgument.build("message", message, "a str (several lines make a multi-line reply)")
        self._smtp.faults.append(SmtpFault(on, code, message, times))
        # an input to the jobs, like sim.fail: a replay of the trace arms it again
        self._host.record("fault.armed", fault="smtp", on=on, code=code, message=message, times=times)

    @keywords_checked("sim.mail.smtp_delay()")
    def smtp_delay(self, after: Duration, *, on: FaultPoint = "DATA", times: int = 1) -> None:
        """Make the server's reply to the next ``times`` commands at ``on`` come ``after`` of virtual time late.

        The job's ``smtplib`` (or ``aiosmtplib``) waits for it in virtual time. Past the connection's own
        timeout (``smtplib.SMTP(host, timeout=10)``; without one it waits as long as it takes) the client
        gives up at that timeout, as its socket does: ``SMTPServerDisconnected("Connection unexpectedly
        closed: timed out")`` (aiosmtplib: ``SMTPReadTimeoutError``; its default timeout is 60 s). At
        ``"DATA"`` the server has queued the message already (it is in the outbox): a client that gave up and
        sends again sends it twice. ``"CONNECT"`` delays the greeting (the error comes from the ``SMTP(...)``
        constructor). A ``smtp_fail`` or ``smtp_drop`` at the same command still applies, after the delay.
        """
        self._refuse_closed("smtp_delay")
        _check_times_on(times, on)
        after_ns = duration_ns(after, "after")
        self._smtp.delays.append(SmtpDelay(on, after_ns, times))
        self._host.record("fault.armed", fault="smtp.delay", on=on, after=after_ns, times=times)

    @keywords_checked("sim.mail.smtp_drop()")
    def smtp_drop(self, times: int = 1, *, on: FaultPoint = "DATA", delivered: bool | None = None) -> None:
        """Make the server close the connection instead of replying to the next ``times`` commands at ``on``.

        ``smtplib`` reads the end of the stream and raises ``SMTPServerDisconnected("Connection unexpectedly
        closed")`` in the job (from the ``SMTP(...)`` constructor for ``"CONNECT"``; aiosmtplib raises its own
        ``SMTPServerDisconnected``, ``SMTPConnectError`` from ``connect``). At ``"DATA"`` the
        connection drops after the whole message was sent: ``delivered`` (the default there) says the
        server had queued it, so it is in the outbox although the job saw an error (a retry sends it
        twice); ``delivered=False`` that it was lost with the connection. At other commands nothing was
        delivered.
        """
        self._refuse_closed("smtp_drop")
        _check_times_on(times, on)
        if delivered is not None and not isinstance(delivered, bool):
            raise InvalidArgument.build("delivered", delivered, "True or False (or None: True at DATA)")
        if delivered and on != "DATA":
            raise InvalidArgument.build("delivered", delivered, f"only a drop at 'DATA' can follow a delivery; "
                                        f"at {on!r} no message was sent yet: leave delivered out")
        delivered = on == "DATA" if delivered is None else delivered
        self._smtp.faults.append(SmtpDrop(on, delivered, times))
        self._host.record("fault.armed", fault="smtp.drop", on=on, delivered=delivered, times=times)

    @keywords_checked("sim.mail.smtp_size_limit()")
    def smtp_size_limit(self, limit: int | None) -> None:
        """Set the largest message, in bytes, the SMTP server takes (``SIZE_LIMIT``, 36,700,160 = 35 MiB, by
        default; ``None``: no limit).

        The server advertises it in its ``EHLO`` reply (``SIZE 10485760``, a bare ``SIZE`` without one), as a real
        one does, and refuses a larger message with ``552 5.3.4 Message size exceeds fixed maximum message size``:
        at ``MAIL FROM`` when the client declares the size (smtplib and aiosmtplib send ``SIZE=<bytes>``:
        ``SMTPSenderRefused``), else once ``DATA`` has read it (``SMTPDataError``). A refused message is not in the
        outbox. A replay of the trace sets it again.
        """
        self._refuse_closed("smtp_size_limit")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidArgument.build("limit", limit, "a number of bytes >= 1 (10 * 1024 * 1024 for 10 MiB), or "
                                        "None for no limit")  # fmt: skip
        self._smtp.size_limit = limit
        self._host.record("fault.armed", fault="smtp.size", size=limit)

    def _refuse_closed(self, fault: str) -> None:
        """As ``sim.fail``: a fault armed after the simulation closed could never fire (it was accepted, and
        its ``fault.armed`` record written into the closed simulation's trace after its last driving call)."""
        refuse = getattr(self._host, "_refuse_closed", None)  # the Simulation's (``_simfaults``)
        if refuse is not None:
            refuse(f"mail.{fault}")

    def _deliver_smtp(self, mail_from: str, rcpts: list[str], data: bytes) -> str:
        sent_at = to_datetime(self._host.now_ns())
        email = parse_message(mail_from, rcpts, data, sent_at=sent_at,
                              new_id=lambda: random_uuid(self._host.job_rng()))
        self._accept(email)
        return email.message_id

    def _accept(self, email: Email) -> None:
        self.outbox.append(email)
        self._host.record("email", provider=email.provider, to=list(email.to),
                          subject=email.subject, message_id=email.message_id,
                          email=email)  # the rest of it is summarised if the trace is saved

    # -- reading and asserting -------------------------------------------------------

    @keywords_checked("sim.mail.find()")
    def find(self, *, to: str | Iterable[str] = ANY, sender: str = ANY,
             subject: Text | None = None, containing: Text | None = None,
             provider: Provider | None = None,
             where: Callable[[Email], bool] | None = None) -> list[Email]:
        """The emails matching every filter given, oldest first.

        ``to``: an address (or several, all required) among the recipients —
        ``to``, ``cc`` or ``bcc``; case-insensitive. ``sender``: the From address.
        ``subject``: the exact subject, or a compiled pattern searched in it.
        ``containing``: text (or a pattern) found in the plain-text or HTML body.
        ``provider``: ``"smtp"``, ``"resend"``, ``"sendgrid"``, ``"postmark"`` or
        ``"mailgun"``. ``where``: any predicate on the ``Email``.
        """
        if provider is not None and provider not in PROVIDERS:
            raise InvalidArgument.build("provider", provider,
                                        "one of " + ", ".join(map(repr, PROVIDERS)))
        wanted = _addresses(to)
        if sender is not ANY and not isinstance(sender, str):  # None (an unset setting) would match every email
            raise InvalidArgument.build("sender", sender, "an address (leave sender= out to match any sender)")
        for name, value in (("subject", subject), ("containing", containing)):
            if value is not None and not isinstance(value, (str, re.Pattern)):
                raise InvalidArgument.build(name, value, "a str or a compiled re.Pattern")
        if where is not None:  # else where=3 "matched nothing" on an empty outbox and raised TypeError on a full one
            check_callable("where", where, 1, "a predicate taking the Email, e.g. lambda m: 'PDF' in m.subject")
        return [email for email in self.outbox if
                all(_has_recipient(email, address) for address in wanted)
                and (sender is ANY or email.sender.lower() == sender.lower())
                and (subject is None or _matches(subject, email.subject, exact=True))
                and (containing is None or _in_body(containing, email))
                and (provider is None or email.provider == provider)
                and (where is None or where(email))]

    @keywords_checked("sim.mail.sent_to()")
    def sent_to(self, address: str) -> list[Email]:
        """Every email delivered to ``address`` (as to, cc or bcc), oldest first."""
        if not isinstance(address, str):  # None (an unset setting) was no filter: every email matched
            several = (isinstance(address, (list, tuple, set, frozenset)) and address  # find(to=[]) is refused
                       and all(isinstance(item, str) for item in address))
            hint = (f"for emails sent to every address of a list, find(to={address!r})" if several
                    else "find() lists every email")
            raise InvalidArgument.build("address", address, f"an address (str); {hint}")
        return self.find(to=address)

    @overload
    def assert_sent(self, *, to: str | Iterable[str] = ..., sender: str = ...,
                    subject: Text | None = ..., containing: Text | None = ...,
                    provider: Provider | None = ..., where: Callable[[Email], bool] | None = ...,
                    count: None = ...) -> Email: ...

    @overload
    def assert_sent(self, *, to: str | Iterable[str] = ..., sender: str = ...,
                    subject: Text | None = ..., containing: Text | None = ...,
                    provider: Provider | None = ..., where: Callable[[Email], bool] | None = ...,
                    count: int) -> list[Email]: ...

    @keywords_checked("sim.mail.assert_sent()")
    def assert_sent(self, *, to: str | Iterable[str] = ANY, sender: str = ANY,
                    subject: Text | None = None, containing: Text | None = None,
                    provider: Provider | None = None,
                    where: Callable[[Email], bool] | None = None,
                    count: int | None = None) -> Email | list[Email]:
        """Assert that exactly one email matches (filters as in ``find``) and return it.

        With ``count=n``, assert that exactly ``n`` match and return them. Exactly,
        not "at least": a duplicate email after a retry is the bug this is for. On
        failure the message shows the filters and the whole outbox.
        """
        __tracebackhide__ = True
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            raise InvalidArgument.build("count", count, "an int >= 0")
        filters = {"to": to, "sender": sender, "subject": subject, "containing": containing,
                   "provider": provider, "where": where}
        found = self.find(to=to, sender=sender, subject=subject, containing=containing,
                          provider=provider, where=where)
        expected = 1 if count is None else count
        if len(found) != expected:
            hint = "" if count is not None or len(found) < 2 else (
                f" (pass count={len(found)} if that many are expected, or narrow the filters)")
            report = self._report(f"expected exactly {expected} email(s){_describe(filters)}, found "
                                  f"{len(found)}{hint}", found)
            raise AssertionError(report + self._unread_note() if len(found) < expected else report)
        return found[0] if count is None else found

    @keywords_checked("sim.mail.assert_not_sent()")
    def assert_not_sent(self, *, to: str | Iterable[str] = ANY,
                        sender: str = ANY, subject: Text | None = None,
                        containing: Text | None = None, provider: Provider | None = None,
                        where: Callable[[Email], bool] | None = None) -> None:
        """Assert that no email matches; with no filters, that the outbox is empty."""
        __tracebackhide__ = True
        filters = {"to": to, "sender": sender, "subject": subject, "containing": containing,
                   "provider": provider, "where": where}
        found = self.find(to=to, sender=sender, subject=subject, containing=containing,
                          provider=provider, where=where)
        if found:
            raise AssertionError(self._report(
                f"expected no email{_describe(filters)}, found {len(found)}", found))

    def format_outbox(self, marked: Iterable[Email] = ()) -> str:
        """The whole outbox as text, one block per email; ``marked`` ones get a ``*``."""
        if not self.outbox:
            return "Outbox: empty (no email was sent)"
        chosen = {id(email) for email in marked}
        blocks = []
        for number, email in enumerate(self.outbox, 1):
            block = format_email(email, number, self._host.tz)
            blocks.append(("* " if id(email) in chosen else "  ") + block.replace("\n", "\n  "))
        noun = "email" if len(self.outbox) == 1 else "emails"
        head = f"Outbox ({len(self.outbox)} {noun}, oldest first"
        return head + (", * = matching):\n" if chosen else "):\n") + "\n".join(blocks)

    def _report(self, headline: str, found: list[Email]) -> str:
        report = f"jobsim: {headline}.\n{self.format_outbox(found)}"
        if self._routed:
            noun, it = ("request", "it") if len(self._routed) == 1 else ("requests", "them")
            report += (f"\nNote: a route of the test answered {len(self._routed)} {noun} to a mail provider's "
                       f"sending API with success, so the provider never saw {it} and no email was recorded:\n"
                       + "\n".join(self._routed) + "\nTo script an outage and then let the provider send, "
                       "list only the failures: side_effect=[httpx.Response(500)] * 2")
        return report


    def _unread_note(self) -> str:
        """Work waiting on queues no simulated worker reads: often why an email was never sent (a task routed to
        an ``emails`` queue no simulated worker reads), and the warning at close is not shown when the test fails."""
        waiting = self._host.unread_work()
        if not waiting:
            return ""
        return "\nNote: work that may send it never ran:\n" + "\n".join(f"- {message}" for message in waiting)


def _check_times_on(times: int, on: str) -> None:
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise InvalidArgument.build("times", times, "an int >= 1")
    if on not in FAULT_POINTS:
        greeting = " ('EHLO' is the greeting, EHLO or the HELO a client falls back to)" if on == "HELO" else ""
        if isinstance(on, str) and on.upper() in FAULT_POINTS:  # SMTP's commands are upper case, as here
            greeting = f" (did you mean {on.upper()!r}?)"
        raise InvalidArgument.build("on", on, "one of " + ", ".join(map(repr, FAULT_POINTS)) + greeting)


def _addresses(to: str | Iterable[str]) -> list[str]:
    """The ``to`` filter as a list; anything that is not addresses is refused, not matched (``None``, an unset
    setting, matched every email: ``assert_sent(to=ADMIN_EMAIL)`` passed on the customer's)."""
    if to is ANY:
        return []
    if isinstance(to, str):
        return [to]
    if to is None:
        raise InvalidArgument.build("to", to, "an address or a list of addresses (None would match every email; "
                                    "leave to= out for that)")
    wanted = list(to) if isinstance(to, Iterable) else None
    if wanted is None or not all(isinstance(address, str) for address in wanted):
        raise InvalidArgument.build("to", to, "an address or a list of addresses")
    if not wanted:  # all() of no address held for every email: find(to=[]) listed the whole outbox
        raise InvalidArgument.build("to", to, "at least one address (an empty list would match every email; "
                                    "leave to= out for that)")
    return wanted


def _has_recipient(email: Email, address: str) -> bool:
    return address.lower() in (recipient.lower() for recipient in email.recipients)


def _matches(wanted: Text, value: str, *, exact: bool) -> bool:
    if isinstance(wanted, re.Pattern):
        return wanted.search(value) is not None
    return value == wanted if exact else wanted in value


def _in_body(wanted: Text, email: Email) -> bool:
    return any(_matches(wanted, body, exact=False)
               for body in (email.text, email.html) if body is not None)


def _describe(filters: Mapping[str, object]) -> str:
    parts = []
    for name, value in filters.items():
        if value is None or value is ANY:
            continue
        if isinstance(value, re.Pattern):
            value = f"re.compile({value.pattern!r})"
        elif callable(value):
            value = getattr(value, "__name__", "<predicate>")
        else:
            value = shown(value)
        parts.append(f"{name}={value}")
    return " with " + ", ".join(parts) if parts else ""

"""The one shape every captured email takes, however the job sent it.

``_smtpmessage`` (what real ``smtplib`` sent an in-memory server) and ``_providers`` (the
HTTP APIs of Resend, SendGrid, Postmark and Mailgun) both decode into ``Email``, so
a test asserts on mail the same way whichever transport production uses. This
module also holds the few helpers both need: address parsing, deterministic IDs
and the text block an assertion failure prints for each email.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import getaddresses
from html.parser import HTMLParser
from typing import Any, Literal

from ._safe import shown
from ._time import instant_ns, iso
from .errors import InvalidArgument

__all__ = ["PROVIDERS", "Attachment", "Email", "Provider", "format_email"]

Provider = Literal["smtp", "resend", "sendgrid", "postmark", "mailgun"]
PROVIDERS: tuple[Provider, ...] = ("smtp", "resend", "sendgrid", "postmark", "mailgun")

_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """A file attached to an email, decoded to its bytes."""

    filename: str
    content_type: str = "application/octet-stream"
    content: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class Email:
    """One email as the recipient's provider accepted it, stamped with virtual time.

    Addresses are bare (``"ada@example.com"``, display names dropped) so that
    assertions do not depend on how the job spelled them. ``text`` and ``html`` are
    the decoded bodies with line endings normalised to ``"\\n"``; ``None`` when
    the email has no such part. ``bcc`` holds recipients that are in neither ``to``
    nor ``cc`` (for SMTP: envelope recipients absent from the headers).
    ``template``/``template_data`` are set when a provider rendered a stored
    template (SendGrid ``template_id``, Postmark ``TemplateAlias``, Mailgun
    ``template``), since jobsim cannot render the template itself.
    ``headers``: for SMTP every top-level header of the message as sent; for the
    HTTP providers the custom headers the request set.
    ``message_id`` is what the provider answered (Resend/Postmark ``id``,
    SendGrid ``X-Message-Id``, shared by its personalizations, Mailgun ``id``)
    or, for SMTP, the ``Message-ID`` header (one is made up if it is missing).
    """

    sender: str
    to: list[str]
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    subject: str = ""
    text: str | None = None
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    template: str | None = None
    template_data: Mapping[str, Any] = field(default_factory=dict)
    sent_at: dt.datetime
    provider: Provider
    message_id: str

    @property
    def recipients(self) -> list[str]:
        """Everyone the email was delivered to: ``to``, then ``cc``, then ``bcc``."""
        return [*self.to, *self.cc, *self.bcc]

    @property
    def body(self) -> str:
        """The plain-text body, else the HTML body, else ``""``."""
        return self.text if self.text is not None else (self.html or "")

    @property
    def links(self) -> list[str]:
        """The links a reader can follow, in order, each once: the HTML body's ``<a href>`` targets, with
        entities decoded (``&amp;`` is ``&``, as a browser reads it), then the ``http(s)://`` URLs of the
        plain-text body that the HTML did not already give."""
        found: dict[str, None] = {}
        if self.html:
            collector = _Hrefs()
            collector.feed(self.html)
            collector.close()
            found.update(dict.fromkeys(collector.hrefs))
        if self.text:
            found.update(dict.fromkeys(match.rstrip(".,;:!?") for match in _URL.findall(self.text)))
        return list(found)


_URL = re.compile(r"https?://[^\s<>\"')\]]+")


class _Hrefs(HTMLParser):
    """The ``href`` of every ``<a>``, as the parser decodes it (``convert_charrefs``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href and href.strip():
                self.hrefs.append(href.strip())


def parse_addresses(value: str | Iterable[str] | None) -> list[str]:
    """``"Ada <ada@x.com>, bob@y.com"`` or a list of such strings -> bare addresses.

    Raises ``ValueError`` naming the first entry that is not an address, so each
    provider can turn it into its own validation error.
    """
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(item, str) for item in items):
        raise ValueError(repr(items))
    found: list[str] = []
    for item in items:
        if not item.strip():
            continue
        pairs = getaddresses([item])
        for _, address in pairs:
            if not _ADDRESS.fullmatch(address):
                raise ValueError(item)
            found.append(address)
    return found


def parse_address(value: str) -> str:
    """Exactly one address (a ``From``); ``ValueError`` otherwise."""
    found = parse_addresses(value)
    if len(found) != 1:
        raise ValueError(value)
    return found[0]


def addressees(to: Iterable[str], cc: Iterable[str] = (), bcc: Iterable[str] = ()) -> str:
    """``"to a@x, b@y"`` for one-line listings; with no ``to`` (envelope recipients only,
    a newsletter), ``"cc ...; bcc ..."`` so the line still says who got the email."""
    to = list(to)
    if to:
        return "to " + ", ".join(to)
    parts = [f"{name} {', '.join(found)}" for name, found in (("cc", list(cc)), ("bcc", list(bcc))) if found]
    return "; ".join(parts) or "to nobody"


def random_uuid(rng: random.Random) -> uuid.UUID:
    """A version-4 UUID drawn from the simulation's generator, so IDs repeat per seed."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def normalise_newlines(text: str | None) -> str | None:
    """CRLF (as on the wire) -> LF, so bodies compare equal to what the job wrote."""
    return None if text is None else text.replace("\r\n", "\n")


def _shorten(text: str, limit: int = 100) -> str:
    flat = repr(text)
    return flat if len(flat) <= limit else flat[: limit - 4] + "...'"


def format_email(email: Email, number: int, tz: dt.tzinfo | None = None) -> str:
    """The block an assertion failure prints for one email, times in ``tz``."""
    when = iso(instant_ns(email.sent_at), tz)
    lines = [f"#{number} via {email.provider} at {when}  id {email.message_id}"]
    rows: list[tuple[str, str]] = [("from", email.sender), ("to", ", ".join(email.to))]
    rows += [(name, ", ".join(value)) for name, value in
             (("cc", email.cc), ("bcc", email.bcc), ("reply-to", email.reply_to)) if value]
    rows.append(("subject", repr(email.subject)))
    if email.text is not None:
        rows.append(("text", _shorten(email.text)))
    if email.html is not None:
        rows.append(("html", _shorten(email.html)))
    if email.template is not None:
        rows.append(("template", f"{email.template!r} {dict(email.template_data)!r}"))
    for item in email.attachments:
        rows.append(("attached", f"{item.filename} ({item.content_type}, "
                                 f"{len(item.content)} bytes)"))
    lines += [f"    {name + ':':<10}{value}" for name, value in rows]
    return "\n".join(lines)


def check_port(port: Any) -> None:
    """Refuse, in the job, a port no socket could connect to: the mail sink answers any, so ``smtplib.SMTP(host,
    "garbage")`` or ``port=70000`` delivered in the simulation what a real worker's socket refuses
    (``socket.gaierror``, ``OverflowError``). A str of digits is a port, as ``getaddrinfo`` reads it."""
    number = int(port) if isinstance(port, str) and port.isascii() and port.isdigit() else port
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= 65535:
        raise InvalidArgument(f"an SMTP connection to port={shown(port)}: a TCP port is an int from 1 to 65535 "
                              "(25, 465 or 587 for SMTP; leave it out for the default), and a real worker's socket "
                              "refuses any other; check where the port is read (an env var, a config field)")

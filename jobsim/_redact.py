"""Redaction: secrets never reach a trace file, personal data reaches it pseudonymized.

A ``Redaction`` is the policy; ``Trace.save`` applies it to every record it writes
(the in-memory ``sim.trace`` keeps what happened, so tests can assert on it).
The rules follow ``reference/traces.md`` §4 and §6.4:

- **Secrets are dropped** (replaced by ``"[redacted]"``), in requests *and*
  responses: headers such as ``Authorization``, ``Cookie``, ``Set-Cookie``,
  ``X-Api-Key`` and any header naming a token, secret, signature or key; JSON fields
  named like ``password``, ``token``, ``api_key``, ``client_secret``; URL query
  parameters such as ``token``, ``key``, ``sig``; and values that look like
  credentials wherever they are (``Bearer ...``, ``sk_live_...``, JWTs, Slack
  webhook URLs, ``https://user:pass@``, private keys, AWS/Google/GitHub/SendGrid/
  Resend/Mailgun keys). What counts as secret lives in ``jobsim._secrets``, which
  ``jobsim scan`` uses too.
- **Personal data is pseudonymized** with stable HMAC-keyed fakes
  (``jobsim._pseudonyms``): email addresses anywhere in any string; person names,
  phone numbers, street addresses, IPs and usernames at fields named for them (a
  plain ``name`` counts when a sibling field holds an email, a phone number or a street
  address, as in ``{"email": ..., "name": ...}``). Each word of a person's name maps to a fake word, and those words
  are replaced wherever they appear in free text too, so "Welcome, Ada!" in an
  email subject becomes "Welcome, Maria!" exactly as the event's ``name`` did.
  Addresses at reserved domains (example.com, .test, .invalid, ...) are not
  personal and stay, which also makes a pseudonym's pseudonym itself.

Work happens at save time, in two passes over the records: ``learn`` finds the
names at named fields, ``apply`` rewrites each record (a new dict where anything
changed; the in-memory records are never touched). Results are remembered per string
and per HTTP header set or body, since traces repeat them endlessly, and by identity
for the objects records share (one ``HttpCall``'s summary, a nested list every event
carries): each such entry holds its object, so no other object can take its id while
it is remembered, and the identity memos are emptied whenever a new fake is made
(``_forget``), so they give what walking the object again would.

The key comes from ``Redaction(key=...)``, else the environment variable
``JOBSIM_REDACT_KEY``, else a built-in public key. With the public key anyone can
recompute the mapping by guessing inputs, so set a secret key for traces of real
people; pseudonymized data stays personal data while the key exists.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

import orjson

from ._checks import init_keywords_checked
from ._codec import CE_CORE, encode, encode_event
from ._pseudonyms import Pseudonyms, faker_version, key_fingerprint, reserved_domain
from ._secrets import (
    CAPITAL,
    HONORIFICS,
    MARKER,
    PHONE,
    PHONE_HINT,
    QUERY_PARAM,
    SECRET_TOKEN,
    TRIGGER,
    WORD,
    card_object,
    classify_key,
    drop_secrets,
    email_address,
    email_sub,
    normalize_key,
    phone_number,
    query_repl,
    query_sub,
    secret_header,
    secret_query,
)
from .errors import InvalidArgument

NAME_ADDR = re.compile(r'(?:^|[,;:]\s*)"?([^"<>,;:@\n]{1,100}?)"?\s*<([^<>\s@]+@[^<>\s]+)>')
"""``Grace Hopper <grace@navy.mil>`` (RFC 5322 §3.4 name-addr) at the start of a string or after ``,``
``;`` ``:`` (a list of recipients, a ``From:`` line): the display name and the address."""

def json_in(text: str) -> dict[str, Any] | list[Any] | None:
    """The object or array a string holds as JSON (a webhook's raw body, a queue message, a log
    line's payload, kept as a string), else None: redaction and scan look inside it, where its
    secret-named fields and people were written in clear."""
    try:
        value = orjson.loads(text)
    except ValueError:  # not JSON (orjson.JSONDecodeError), or a lone surrogate (UnicodeEncodeError)
        return None
    return value if type(value) is dict or type(value) is list else None


def json_string_in(text: str) -> str | None:
    """The string a JSON string literal holds (``"{\\"api_key\\": ...}"``: JSON encoded twice, as
    ``json.dumps`` of a body that already was JSON gives), else None: looked inside like any string."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return None
    try:
        value = orjson.loads(text)
    except ValueError:
        return None
    return value if type(value) is str else None


_UNSEEN: Any = object()
_SAME: Any = object()
_CACHED_LENGTH = 512
_CACHE_ENTRIES = 250_000
_NO_TOKEN = 1 << 62
"""``Redactor._shortest`` while no token is dropped: longer than any string."""
_MEMO_ENTRIES = 1 << 14
"""Objects remembered by identity at a time (``Redactor._messages``, ``_nested``, ``_learned``)."""
_PLANS = 1 << 12
"""Dict shapes (tuples of keys) whose plan ``Redactor._dict`` remembers at a time."""
_Table = tuple[tuple[str, Callable[[Any], Any] | None], ...]
"""What ``Redactor._fields`` rewrites in a record: (field, function), the function ``_TEXT`` for free text."""
_LATER = frozenset(("phone", "address", "ip", "username"))
"""Pseudonyms ``Redactor.learn`` queues, to fake once every name is known."""
_TEXT = None
"""In ``Redactor._tables``: the field is free text (``Redactor.text``), looked up in the per-string cache inline."""
_WALK: Any = object()
"""``Redactor._plan``: walk the value afresh (a plain ``name`` or ``number`` that is no person's or card's)."""
POLICY_NAME = "jobsim/1"
KEY_ENV = "JOBSIM_REDACT_KEY"
_BUILTIN_KEY = b"jobsim built-in redaction key (public: set JOBSIM_REDACT_KEY for real data)"

ACTIONS = ("drop", "email", "name", "phone", "address", "ip", "username", "keep")

@init_keywords_checked("Redaction()")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Redaction:
    """What ``Trace.save`` removes and rewrites. ``Redaction()`` is the default policy.

    ``pseudonymize``: replace personal data with keyed fakes (``False``: keep it,
    still dropping secrets). ``key``: the HMAC key (str or bytes; default: the
    ``JOBSIM_REDACT_KEY`` environment variable, else a public built-in key).
    ``fields``: extra rules by field name (matched case- and punctuation-blind),
    each one of ``"drop"``, ``"email"``, ``"name"``, ``"phone"``, ``"address"``,
    ``"ip"``, ``"username"`` or ``"keep"`` (``"keep"`` also overrides a built-in
    rule). ``headers``: extra header names to drop; ``keep_headers``: header names
    never dropped. ``keep_domains``: email domains that are not personal data (your
    own ``noreply@`` senders), kept with their subdomains. ``locale``: the Faker
    locale of the fakes.
    """

    pseudonymize: bool = True
    key: str | bytes | None = None
    fields: Mapping[str, str] = dataclasses.field(default_factory=dict)
    headers: tuple[str, ...] = ()
    keep_headers: tuple[str, ...] = ()
    keep_domains: tuple[str, ...] = ()
    locale: str = "en_US"

    def __post_init__(self) -> None:
        if not isinstance(self.pseudonymize, bool):
            raise InvalidArgument.build("pseudonymize", self.pseudonymize, "True or False")
        if self.key is not None and (not isinstance(self.key, (str, bytes)) or not self.key):
            raise InvalidArgument.build("key", self.key, "a non-empty str or bytes (or None for JOBSIM_REDACT_KEY)")
        if not isinstance(self.fields, Mapping):
            raise InvalidArgument.build("fields", self.fields, "a mapping of field name to action")
        for name, action in self.fields.items():
            if not isinstance(name, str) or action not in ACTIONS:
                raise InvalidArgument.build(f"fields[{name!r}]", action, "one of " + ", ".join(map(repr, ACTIONS)))
        for argument in ("headers", "keep_headers", "keep_domains"):
            value = getattr(self, argument)
            accepted = f"a tuple of {argument.split('_')[-1][:-1]} names"
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):  # None, 3: not a list at all
                raise InvalidArgument.build(argument, value, accepted)
            items = tuple(value)
            if not all(isinstance(h, str) for h in items):
                raise InvalidArgument.build(argument, value, accepted)
            object.__setattr__(self, argument, tuple(h.lower() for h in items))
        if not isinstance(self.locale, str) or not self.locale:  # Faker([]) and Faker(3) fail only when used
            raise InvalidArgument.build("locale", self.locale, "a Faker locale name such as 'en_US'")
        object.__setattr__(self, "fields", {normalize_key(k): v for k, v in self.fields.items()})

    def resolved_key(self) -> tuple[bytes, str]:
        """The key bytes, and where they came from: ``given``, ``env`` or ``builtin``."""
        if self.key is not None:
            return (self.key.encode() if isinstance(self.key, str) else self.key), "given"
        env = os.environ.get(KEY_ENV)
        if env:
            return env.encode(), "env"
        return _BUILTIN_KEY, "builtin"

    def describe(self) -> dict[str, Any]:
        """The header's ``redaction`` entry: enough to redact a replay the same way, no key."""
        info: dict[str, Any] = {"policy": POLICY_NAME, "secrets": "dropped",
                                "pii": "pseudonymized" if self.pseudonymize else "kept"}  # fmt: skip
        if self.pseudonymize:
            key, source = self.resolved_key()
            info.update(key=source, key_fp=key_fingerprint(key), faker=faker_version(), locale=self.locale)
        if self.fields:
            info["fields"] = dict(self.fields)
        if self.headers:
            info["headers"] = list(self.headers)
        if self.keep_headers:
            info["keep_headers"] = list(self.keep_headers)
        if self.keep_domains:
            info["keep_domains"] = list(self.keep_domains)
        return info

    @classmethod
    def from_header(cls, info: Mapping[str, Any], *, key: str | bytes | None = None) -> Redaction:
        """The policy a trace header describes (the key is never in it: pass it, or use the env)."""
        return cls(pseudonymize=info.get("pii") == "pseudonymized", key=key,
                   fields=dict(info.get("fields") or {}), headers=tuple(info.get("headers") or ()),
                   keep_headers=tuple(info.get("keep_headers") or ()),
                   keep_domains=tuple(info.get("keep_domains") or ()),
                   locale=str(info.get("locale") or "en_US"))  # fmt: skip

    def redactor(self, keep: Iterable[str] = (), phones: Container[str] = frozenset()) -> Redactor:
        """A redactor for one trace. ``keep``: values already pseudonymized, left as they are;
        ``phones``: phone numbers in free text left as they are (``PhonesIn`` a redacted trace)."""
        return Redactor(self, keep, phones)


def policy_for(redact: Any) -> Redaction | None:
    """``save(redact=...)``: ``None``/``True`` -> the default policy, ``False`` -> none."""
    if redact is None or redact is True:
        return Redaction()
    if redact is False:
        return None
    if isinstance(redact, Redaction):
        return redact
    raise InvalidArgument.build("redact", redact, "a jobsim.Redaction, True (the default policy) or False (none)")


class Redactor:
    """Applies one policy to one trace: ``learn`` every record first, then ``apply`` each."""

    def __init__(self, policy: Redaction, keep: Iterable[str] = (), phones: Container[str] = frozenset()) -> None:
        self.policy = policy
        self.pseudo = policy.pseudonymize
        key, _ = policy.resolved_key()
        self.fakes = Pseudonyms(key, policy.locale)
        self.keep = frozenset(keep)
        self.phones = phones
        self._actions: dict[str, str | None] = {}
        self._words: dict[str, str] = {}  # a word of a person's name -> its fake
        self._exact: dict[str, str] = {}  # a phone number, street address, ... -> its fake
        self._names: dict[str, str] = {}  # a whole name -> its fake (fixed once its words are)
        self._uncased: dict[str, str] = {}  # a name with no capitalised word (李小龙) -> its fake, for free text
        self._uncased_re: re.Pattern[str] | None = None
        self._pending: list[tuple[str, Any]] = []
        self._texts: dict[str, Any] = {}  # string -> its redacted form (_SAME: unchanged)
        self._secret_headers: dict[str, bool] = {}
        self._structures: dict[bytes, Any] = {}
        # By identity, each entry holding its object (so its id is not reused while remembered): HTTP
        # messages and nested dicts and lists a trace repeats (one HttpCall's summary, an event's
        # shared ``items`` list), and the nested data and HTTP messages ``learn`` has read. Emptied by ``_forget``
        # whenever a new fake changes what a rewrite gives.
        self._messages: dict[int, tuple[Any, Any]] = {}
        self._nested: dict[int, tuple[Any, Any]] = {}
        self._learned: dict[int, Any] = {}
        self._learned_messages: dict[int, Any] = {}
        self._emails: dict[str, str] = {}
        self._plans: dict[tuple[Any, ...], tuple[str | None, ...]] = {}  # a dict's keys -> what _dict does at each
        self._learn_plans: dict[tuple[Any, ...], tuple[str | None, ...]] = {}  # ... and what _learn does
        self.dropped: set[str] = set()
        self._queried: set[str] = set()  # URLs ``learn`` read the secret query parameters of
        """Tokens of the values dropped at secret places (a secret header, field or query parameter), found by
        ``learn``: the same token anywhere else (a response body echoing the key, an error message) is dropped too."""
        self._shortest = _NO_TOKEN
        """The length of the shortest token in ``dropped``: a shorter string holds none of them (an id, an address
        is shorter than most API keys), and is not searched for them."""
        self._log: list[tuple[str, Any]] | None = None
        """While ``logging()``: what learning did that a replay must do again, in order (``learnt``)."""
        self._kinds = self._tables()
        self._learners: tuple[dict[str, Callable[[Any], None] | None], Callable[[Any], None] | None] | None = None
        event_line: _Table = (("ce", self._ce), ("user", self._walk))
        self._lines = {**self._kinds, "event": event_line, "event.dropped": event_line}  # fields under "ce"
        self.rewritten = frozenset(kind for kind, how in self._kinds.items() if how)
        """Built-in kinds whose records may change; the others hold only names jobsim gives and times."""

    # -- the two passes -----------------------------------------------------------------------
    def learn(self, kind: str, data: dict[str, Any]) -> None:
        """Find the names (and other personal values) this record holds at named fields."""
        learners, whole = self.learners()
        how = learners.get(kind, whole)
        if how is not None:
            how(data)

    # -- learning in several processes ---------------------------------------------------------
    def sibling(self) -> Redactor:
        """A redactor of the same policy, kept values and phone numbers that has learned nothing yet."""
        return Redactor(self.policy, self.keep, self.phones)

    def logging(self) -> None:
        """Note from now on what ``learn`` does that changes what the rewriting gives (``learnt``)."""
        self._log = []

    def learnt(self) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
        """What ``learn`` did since ``logging()``, for ``replay`` (and stop noting it): the names met, in order,
        with the tokens dropped at secret places between them, and the values queued to fake once every name is
        known. Plain data (strings, lists and dicts of the records), to send to another process."""
        log, self._log = self._log or [], None
        return log, list(self._pending)

    def replay(self, learnt: tuple[list[tuple[str, Any]], list[tuple[str, Any]]]) -> None:
        """What another redactor's ``learn`` did (its ``learnt()``), done here after what this one learned: this
        redactor then fakes what one redactor learning both parts in that order fakes, in the same order (a
        name's first word decides its fake). Names this one faked already are memo hits; tokens it dropped
        already change nothing."""
        log, pending = learnt
        for what, value in log:
            if what == "name":
                self._pseudonym("name", value)
            else:
                self.dropped.update(value)
                self._shortest = min(self._shortest, *map(len, value))
        self._pending.extend(pending)

    def _learn_name(self, value: Any) -> None:
        """A person's name met while learning (faked now: its first word decides its fake), noted if logging."""
        if self._log is not None:
            self._log.append(("name", value))
        self._pseudonym("name", value)

    def learners(self) -> tuple[dict[str, Callable[[Any], None] | None], Callable[[Any], None] | None]:
        """What ``learn`` does by built-in kind (None: nothing to learn), and for a plugin's kind (every field),
        for a writer's first pass: one lookup a record instead of ``learn``'s."""
        if self._learners is None:
            learners: dict[str, Callable[[Any], None] | None] = dict.fromkeys(self._kinds)
            if self.pseudo:
                learners.update({"event": self._learn_event, "event.dropped": self._learn_event,
                                 "http": self._learn_http, "email": self._learn_email,
                                 "run.end": self._learn_output})  # fmt: skip
            else:  # secrets only: an HTTP record's secret headers and query still
                learners["http"] = self._learn_http
            self._learners = learners, (self._learn if self.pseudo else None)
        return self._learners

    def _learn_event(self, data: dict[str, Any]) -> None:
        self._learn(data.get("data"))
        if data.get("user") is not None:
            self._learn(data["user"])

    def _learn_http(self, data: dict[str, Any]) -> None:
        learned = self._learned_messages
        for part in ("request", "response"):
            message = data.get(part) or {}
            if learned.get(id(message)) is message:
                continue  # the same HttpCall's summary again: learning it twice finds nothing new
            if message:
                if len(learned) >= _MEMO_ENTRIES:
                    learned.clear()
                learned[id(message)] = message
            headers = message.get("headers")
            if headers:
                self._learn_secret_headers(headers)
            if not self.pseudo:  # secrets only: walking the body would fill the text cache early
                continue
            self._learn((message.get("body") or {}).get("json"))
            if headers:
                self._pending.extend(("ip", ip) for ip in self._header_ips(headers))
        url = data.get("url")
        if type(url) is str and "=" in url:
            self._learn_secret_query(url)

    def _learn_email(self, data: dict[str, Any]) -> None:
        if data.get("template_data") is not None:
            self._learn(data["template_data"])
        # the headers too: an SMTP message's To/From/Cc hold the display names ("Linus Torvalds <...>")
        # its sender/to fields, bare addresses, have lost
        for field in ("sender", "to", "cc", "bcc", "reply_to", "headers"):
            if data.get(field) is not None:
                self._learn(data[field])

    def _learn_output(self, data: dict[str, Any]) -> None:
        """A run's output: runs returning the same JSON share its decoded object (``_codec.expanders``)."""
        output = data.get("output")
        if type(output) is dict or type(output) is list:
            self._learn_nested(output)
        else:
            self._learn(output)

    def tables(self) -> tuple[Callable[[dict[str, Any], _Table], dict[str, Any]], dict[str, _Table]]:
        """For a writer's loop over every record, once ``learn`` has read them all: ``fields(data, tables[kind])``
        is ``apply(kind, data)`` of a built-in kind that may change (``rewritten``), without its lookups."""
        if self._pending:
            self._fake_pending()  # learn queues them, apply never does: faked now, before any record is rewritten
        # Rewriting starts with no memo: one made while learning (faking a pending value) may hold what a rewrite
        # gave before the last fake, and kept would make the records' bytes depend on when it is forgotten
        # (a full cache started afresh), which the writer's processes must not (``_tracefile._in_processes``).
        for memo in (self._texts, self._structures, self._messages, self._nested):
            memo.clear()
        return self._fields, {kind: self._kinds[kind] for kind in self.rewritten}

    def fakes_made(self) -> int:
        """How many fakes this redactor made (names' words, whole values, uncased names): what it rewrites
        changes only when this grows (every other thing it keeps is a memo, or fixed by the first pass)."""
        return len(self._words) + len(self._exact) + len(self._uncased)

    def apply(self, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """The record as it may be written (a new dict where anything changed)."""
        if self._pending:
            self._fake_pending()
        how = self._kinds.get(kind, _UNSEEN)
        if how is _UNSEEN:  # a plugin's kind: every field walked
            return self._dict(data)
        return data if not how else self._fields(data, how)

    def apply_line(self, kind: str, line: dict[str, Any]) -> dict[str, Any]:
        """A built-in kind's line (``jobsim._codec.encode``'s fresh dict), rewritten in place.

        The same result as ``encode(..., apply(kind, data))`` without a second copy of
        the record: the line's own dict (and an event's ``ce`` envelope) belong to the
        writer, so their fields are replaced where they are; anything nested below them
        is shared with the in-memory trace and copied on change as ``apply`` does.
        """
        if self._pending:
            self._fake_pending()
        for name, fn in self._lines[kind]:
            value = line.get(name)
            if value is not None:
                new = self.text(value) if fn is None else fn(value)
                if new is not value:
                    line[name] = new
        return line

    def event_line(self, seq: int, at: int, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """``apply_line(kind, encode(seq, at, kind, data))`` of an event without extension attributes or a
        source of its own (most events), made in one step: its id, data and user redacted first, in the
        order ``apply_line`` takes them, then the line built with them (nothing built twice or looked up again)."""
        if data.get("attributes") or data.get("source"):
            return self.apply_line(kind, encode(seq, at, kind, data))
        if self._pending:
            self._fake_pending()
        ident = data["id"]
        if type(ident) is str:
            hit = self._texts.get(ident)
            if hit is not None:
                if hit is not _SAME:
                    ident = hit
            else:
                ident = self._new_text(ident)
        elif ident is not None:
            ident = self.text(ident)
        payload = data.get("data", {})
        if payload is not None:
            payload = self._dict(payload) if type(payload) is dict else self._walk(payload)
        user = data.get("user")
        if user is not None:
            user = self._walk(user)
        return encode_event(seq, at, kind, data, ident, payload, user)

    def _fake_pending(self) -> None:
        """Phone numbers, addresses, ... found by ``learn``: faked once every name is known."""
        pending, self._pending = self._pending, []
        for action, value in pending:
            self._pseudonym(action, value)

    def _ce(self, ce: dict[str, Any]) -> dict[str, Any]:
        """An event line's CloudEvents envelope (the writer's own dict): id, source, data and extension attributes."""
        value = ce.get("id")
        if value is not None:
            if type(value) is not str:
                ce["id"] = self.text(value)
            else:  # free text, most of it new
                hit = self._texts.get(value)
                if hit is None:
                    ce["id"] = self._new_text(value)
                elif hit is not _SAME:
                    ce["id"] = hit
        value = ce.get("source")  # an imported event's own: a webhook URL may carry user:password@
        if isinstance(value, str) and not value.startswith("/jobsim/"):
            ce["source"] = self.text(value)
        value = ce.get("data")
        if value is not None:
            ce["data"] = self._dict(value) if type(value) is dict else self._walk(value)
        if not CE_CORE.issuperset(ce):
            extra = {key: value for key, value in ce.items() if key not in CE_CORE}
            ce.update(self._dict(extra))
        return ce

    # -- per kind ---------------------------------------------------------------------------------
    def _tables(self) -> dict[str, _Table]:
        """Which fields of each built-in kind hold what, as (field, function) pairs built once.

        An empty table: the kind holds only names jobsim gives (functions, steps, runs)
        and times, nothing to rewrite.
        """
        walk, text = self._walk, _TEXT
        event = (("data", walk), ("user", walk), ("id", text), ("attributes", walk))
        error = (("error", text),)
        step = (("step", text),)  # step ids are the developer's, and may embed a user's email
        keyed = (("key", walk), ("id", text))
        self._t_message = (("headers", self._same_headers), ("body", self._body))
        self._t_body = (("json", self._same_json), ("text", text), ("excerpt", text))
        http = (("url", text), ("error", text), ("request", self._message), ("response", self._message))
        shared = self._walk_shared  # an Email's summary is shared by the records of that Email
        email = (("sender", text), ("to", shared), ("cc", shared), ("bcc", shared), ("reply_to", shared),
                 ("subject", text), ("text", text), ("html", text), ("template_data", shared),
                 ("headers", self._headers), ("attachments", shared))  # fmt: skip
        stepped = ("wait.end", "retry", "sleep", "wait", "invoke")
        plain = ("run.start", "cron", "run.queued", "advance")
        return {"event": event, "event.dropped": event, "http": http, "email": email,
                "run.end": (("output", shared), ("error", text)), "attempt": (*step, *error), "fault": error,
                "fault.armed": (("error", walk), ("message", text)), "cancel": keyed, "run.skipped": keyed,
                "batch": keyed, "debounce": keyed,
                **dict.fromkeys(stepped, step), **dict.fromkeys(plain, ())}  # fmt: skip

    def _same_headers(self, headers: Any) -> Any:
        return self._by_content(headers, self._headers)

    def _same_json(self, value: Any) -> Any:
        return self._by_content(value, self._walk)

    def _by_content(self, value: Any, fn: Callable[[Any], Any]) -> Any:
        """``fn(value)``, remembered by the value's JSON: HTTP headers and bodies repeat call after call."""
        if type(value) is not dict and type(value) is not list:
            return fn(value)
        try:
            key = orjson.dumps(value)
        except TypeError:
            return fn(value)
        hit = self._structures.get(key)
        if hit is not None:
            return value if hit is _SAME else hit
        out = fn(value)
        if len(key) <= 4 * _CACHED_LENGTH:
            if len(self._structures) >= _CACHE_ENTRIES:
                self._structures.clear()
            self._structures[key] = _SAME if out is value else out
        return out

    def _message(self, message: Any) -> Any:
        """An HTTP request or response, remembered by identity: the records of one ``HttpCall`` share it."""
        if type(message) is not dict:
            return message
        hit = self._messages.get(id(message))
        if hit is not None and hit[0] is message:
            return hit[1]
        out = self._fields(message, self._t_message)
        if len(self._messages) >= _MEMO_ENTRIES:
            self._messages.clear()
        self._messages[id(message)] = (message, out)
        return out

    def _forget(self) -> None:
        """A new fake was made: what was rewritten before may be rewritten differently now."""
        if self._messages or self._nested:
            self._messages.clear()
            self._nested.clear()

    def _walk_shared(self, value: Any) -> Any:
        return self._shared(value) if type(value) is dict or type(value) is list else self._walk(value)

    def _shared(self, value: Any) -> Any:
        """``_walk`` of a dict or list inside another, remembered by identity (a trace's records share
        nested data: a constant list of items, a customer object passed along)."""
        nested = self._nested
        hit = nested.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        out = self._dict(value) if type(value) is dict else self._list(value)
        if len(nested) >= _MEMO_ENTRIES:
            nested.clear()
        nested[id(value)] = (value, out)
        return out

    def _body(self, body: Any) -> Any:
        return self._fields(body, self._t_body) if type(body) is dict else body

    def _fields(self, record: dict[str, Any], how: _Table) -> dict[str, Any]:
        out: dict[str, Any] | None = None
        texts = self._texts
        for name, fn in how:
            value = record.get(name)
            if value is None:
                continue
            if fn is not None:
                new = fn(value)
            elif type(value) is str:  # free text (``_TEXT``), most of it met before: its remembered form
                hit = texts.get(value)
                if hit is _SAME:
                    continue
                new = self._new_text(value) if hit is None else hit
            else:
                new = self.text(value)
            if new is not value:
                if out is None:
                    out = dict(record)
                out[name] = new
        return record if out is None else out

    # -- headers and URLs -----------------------------------------------------------------------
    def _headers(self, headers: Any) -> Any:
        if not isinstance(headers, dict):
            return headers
        out: dict[str, Any] | None = None
        known = self._secret_headers
        for name, value in headers.items():
            secret = known.get(name)
            if secret is None:
                secret = self._secret_header(name)
            if secret:
                new: Any = MARKER
            elif self.pseudo and type(value) is str and self._action(name) == "ip":
                new = ", ".join(self._pseudonym("ip", ip.strip()) for ip in value.split(","))
            else:
                new = self._walk(value)
            if new != value:
                if out is None:
                    out = dict(headers)
                out[name] = new
        return headers if out is None else out

    def _header_ips(self, headers: Any) -> Iterator[str]:
        """The client addresses proxies put in headers (``X-Forwarded-For: client, proxy``, ``X-Real-IP``):
        personal data as an ``ip`` field is, faked address by address (the value was walked as text,
        which finds no IP, so the client's address stayed in clear beside its faked ``ip`` field)."""
        if isinstance(headers, dict):
            for name, value in headers.items():
                if type(value) is str and self._action(name) == "ip":
                    yield from (ip.strip() for ip in value.split(","))

    def url(self, url: Any) -> Any:
        """Secret query parameters dropped, credentials and personal data rewritten."""
        return self.text(url)

    # -- walking JSON -------------------------------------------------------------------------------
    def _action(self, key: Any) -> str | None:
        action = self._actions.get(key, _UNSEEN)
        if action is not _UNSEEN:
            return action  # type: ignore[no-any-return]
        if not isinstance(key, str):
            return None
        custom = self.policy.fields.get(normalize_key(key))
        action = custom if custom is not None else classify_key(key)
        self._actions[key] = action
        return action

    def _has_email(self, data: dict[str, Any]) -> bool:
        """A field of ``data`` holds an email address, a phone number or a street address: then a plain
        ``name`` beside it is a person's (an SMS recipient ``{"name", "phone"}`` kept its name in clear)."""
        actions = self._actions
        for key in data:
            action = actions.get(key, _UNSEEN)
            if action is _UNSEEN:
                action = self._action(key)
            if action == "email" or action == "phone" or action == "address":
                return True
        return False

    def _walk(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return self.text(value)
        if kind is dict:
            return self._dict(value)
        if kind is list:
            return self._list(value)
        if isinstance(value, str):
            return self.text(value)
        return value

    def _list(self, value: list[Any]) -> list[Any]:
        """A new list only if an item changed (copied at the first change, as ``_dict`` does)."""
        out: list[Any] | None = None
        walk, shared = self._walk, self._shared
        for i, item in enumerate(value):
            kind = type(item)
            new = shared(item) if kind is dict or kind is list else walk(item)
            if new is not item:
                if out is None:
                    out = list(value)
                out[i] = new
        return value if out is None else out

    def _plan(self, keys: tuple[Any, ...], data: dict[Any, Any], learning: bool = False) -> tuple[str | None, ...]:
        """What ``_dict`` does at each key of a dict with these keys, in order: ``None`` (free text, a number, a
        nested value remembered by identity), ``_WALK`` (walked afresh: a plain ``name`` or ``number`` that is
        no person's or card's), or the action (``drop``, ``keep``, ``name``, ``phone``, ...). ``learning``: what
        ``_learn`` does instead: ``None`` (read as any other value: an email, a card's number) but for a name, a
        secret (``drop``) and the values faked once every name is known (``_LATER``).

        It depends on the keys alone (a plain ``name`` is a person's when a sibling key says email, phone or
        address; a ``number`` a card's beside ``exp_month``, ``cvc``, ...), so dicts of one shape share it."""
        plan: list[str | None] = []
        person: bool | None = None
        actions = self._actions
        for key in keys:
            action = actions.get(key, _UNSEEN)
            if action is _UNSEEN:
                action = self._action(key)
            if action == "name?":
                if person is None:
                    person = self._has_email(data)
                action = "name" if person else _WALK
            if learning:  # ``_learn`` reads a value as any other unless it is a name, a secret or queued
                if action != "drop" and action != "name" and action not in _LATER:
                    action = None
            elif action == "email":  # an email field's value is free text as any other
                action = None
            elif action == "card?":  # a card object's number (beside exp_month, cvc, ...): a secret
                action = "drop" if card_object(data) else _WALK
            plan.append(action)
        plans = self._learn_plans if learning else self._plans
        if len(plans) >= _PLANS:
            plans.clear()
        out = plans[keys] = tuple(plan)
        return out

    def _dict(self, data: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] | None = None
        keys = tuple(data)
        plan = self._plans.get(keys)
        if plan is None:
            plan = self._plan(keys, data)
        texts, names = self._texts, self._names
        for action, key, value in zip(plan, keys, data.values()):  # noqa: B905 -- the plan is of these keys; strict=
            # is a keyword call per dict (zip's slow path, ~0.1 µs)
            if action is None:
                kind = type(value)
                if kind is str:  # the commonest case, and most strings repeat: their remembered form
                    hit = texts.get(value)
                    if hit is _SAME:
                        continue
                    new = self._new_text(value) if hit is None else hit
                elif kind is int or kind is float or value is None or kind is bool:
                    continue
                elif kind is dict or kind is list:
                    new = self._shared(value)
                else:
                    new = self._walk(value)
            elif action is _WALK:
                new = self._walk(value)
            elif action == "keep":
                continue
            elif action == "drop":
                if value is None or value == "" or value == MARKER:
                    continue
                new = MARKER
            elif action == "name" and type(value) is str and value in names:
                new = names[value]  # what _pseudonym gives a name it faked before (_name remembers it)
            else:
                new = self._pseudonym(action, value)
            if new is not value:
                if out is None:
                    out = dict(data)
                out[key] = new
        return data if out is None else out

    def _pseudonym(self, action: str, value: Any) -> Any:
        if not self.pseudo:
            return self._walk(value)
        if isinstance(value, list):
            new = [self._pseudonym(action, item) for item in value]
            return value if all(a is b for a, b in zip(new, value, strict=True)) else new
        if not isinstance(value, str):
            return self._walk(value)
        if not value.strip() or value in self.keep or value == MARKER:
            return value
        if action == "name" or self._is_known_name(value):
            return self._name(value)  # a name in a username (or any) field fakes as that name does
        fake = self._exact.get(value)
        if fake is None:
            fake = self._exact[value] = getattr(self.fakes, action)(value)
            self._forget()
        return fake

    def _is_known_name(self, value: str) -> bool:
        words = WORD.findall(value)
        return bool(words) and all(word in self._words for word in words) and not WORD.sub("", value).strip(" ,.")

    def _name(self, value: str) -> str:
        """A person's name faked word by word; remembered whole, since once its words have fakes it never changes."""
        fake = self._names.get(value)
        if fake is None:
            fake = self._names[value] = self._fake_name(value)
        return fake

    def _fake_name(self, value: str) -> str:
        if WORD.search(value) is None:  # no capitalised words ("ada lovelace", 李小龙): fake it whole
            fake = self._exact.get(value)
            if fake is None:
                fake = self._exact[value] = self.fakes.full_name(value)
                self._forget()
            name = value.strip()
            if sum(c.isalpha() for c in name) >= 2 and name not in self._uncased:  # found in free text too
                self._uncased[name] = fake if name == value else self.fakes.full_name(name)
                self._uncased_re = None
            return fake
        leading = [True]
        return WORD.sub(lambda match: self._word(match.group(0), leading), value)

    def _word(self, word: str, leading: list[bool]) -> str:
        fake = self._words.get(word)
        if fake is None:
            keep = word in self.keep or word in HONORIFICS
            fake = word if keep else self.fakes.name_token(word, leading[0])
            self._words[word] = fake
            self._forget()
        if word not in HONORIFICS:
            leading[0] = False
        return fake

    def _learn(self, value: Any) -> None:
        if type(value) is dict:
            keys = tuple(value)
            plan = self._learn_plans.get(keys)
            if plan is None:
                plan = self._plan(keys, value, learning=True)
            for action, item in zip(plan, value.values()):  # noqa: B905 -- as in _dict: the plan is of these keys
                if action is None:
                    kind = type(item)
                    if kind is str:
                        if "<" in item or item[:1] in ("{", "["):
                            self._learn_string(item)
                    elif kind is dict or kind is list:
                        self._learn_nested(item)
                elif action == "drop":
                    self._learn_secret(item)
                elif action == "name" and not isinstance(item, dict):
                    if type(item) is not str or item not in self._names:  # a name faked before: nothing new
                        self._learn_name(item)
                elif action in _LATER and not isinstance(item, dict):
                    self._pending.append((action, item))  # faked once every name is known
                elif type(item) is str:  # what _learn does with a string, without the call
                    if "<" in item or item[:1] in ("{", "["):
                        self._learn_string(item)
                else:
                    self._learn(item)
        elif isinstance(value, list):
            for item in value:
                if type(item) is dict or type(item) is list:
                    self._learn_nested(item)
                else:
                    self._learn(item)
        elif type(value) is str and ("<" in value or value[:1] in ("{", "[")):
            self._learn_string(value)

    def _learn_nested(self, value: Any) -> None:
        """``_learn`` of a dict or list inside another, once per object: learning it again finds nothing new
        (every name, phone number, ... it holds was faked or queued the first time)."""
        learned = self._learned
        if learned.get(id(value)) is value:
            return
        if len(learned) >= _MEMO_ENTRIES:
            learned.clear()
        learned[id(value)] = value
        self._learn(value)

    def _learn_secret(self, value: Any) -> None:
        """A value at a secret place: its tokens are dropped wherever else they appear."""
        if type(value) is str and value != MARKER:
            tokens = [token for token in SECRET_TOKEN.findall(value) if token != "redacted"]
            if tokens:
                if self._log is not None and not self.dropped.issuperset(tokens):
                    self._log.append(("drop", tokens))
                self.dropped.update(tokens)
                self._shortest = min(self._shortest, *map(len, tokens))
        elif isinstance(value, (list, dict)):
            for item in value.values() if isinstance(value, dict) else value:
                self._learn_secret(item)

    def _learn_secret_headers(self, headers: Any) -> None:
        if isinstance(headers, dict):
            known = self._secret_headers
            for name, value in headers.items():
                secret = known.get(name)
                if secret is None:
                    secret = self._secret_header(name)
                if secret:
                    self._learn_secret(_cookie_values(name, value))

    def _secret_header(self, name: str) -> bool:
        """Whether the policy drops header ``name`` (remembered per name)."""
        lowered = name.lower()
        secret = lowered not in self.policy.keep_headers and (lowered in self.policy.headers or secret_header(lowered))
        self._secret_headers[name] = secret
        return secret

    def _learn_secret_query(self, url: str) -> None:
        seen = self._queried
        if url in seen:  # an HttpCall's URL again (calls repeat): nothing new in it
            return
        if len(seen) >= _MEMO_ENTRIES:
            seen.clear()
        seen.add(url)
        for match in QUERY_PARAM.finditer(url):
            if match.group(3) and secret_query(match.group(2)):
                self._learn_secret(unquote_plus(match.group(3)))

    def _learn_string(self, text: str) -> None:
        """A string's people: those of JSON kept as a string (``{"user": {"name": ...}}``), else the
        display names of its addresses."""
        parsed = json_in(text) if text[-1:] in ("}", "]") else None
        if parsed is not None:
            self._learn(parsed)
        elif "<" in text:
            self._learn_display_names(text)

    def _learn_display_names(self, text: str) -> None:
        """The display names of ``Grace Hopper <grace@navy.mil>`` (RFC 5322 name-addr, how mail APIs take
        ``to`` and ``from``): a person's name, as at a ``name`` field. Left alone at a reserved or kept
        domain (``Acme <hi@acme.test>``), as the address is. The address was faked and the name kept."""
        if "@" not in text and "%40" not in text:
            return
        for match in NAME_ADDR.finditer(text):
            name, address = match.group(1).strip(), match.group(2)
            domain = address.rpartition("@")[2].lower()
            if WORD.search(name) and not (address in self.keep or reserved_domain(domain) or self._kept_domain(domain)):
                self._learn_name(name)

    # -- free text ----------------------------------------------------------------------------------
    def text(self, value: Any) -> Any:
        """Credentials dropped and personal data rewritten inside any string.

        Results are remembered per string (traces repeat addresses, names, header
        values, URLs endlessly); ``apply`` only runs after ``learn`` has seen every
        record, so a remembered result never goes stale.
        """
        if type(value) is not str:
            return value if not isinstance(value, str) else self._text(value)
        hit = self._texts.get(value)
        if hit is not None:
            return value if hit is _SAME else hit
        return self._new_text(value)

    def _new_text(self, value: str) -> str:
        """``text`` of a string not in the per-string cache (the callers that looked it up inline)."""
        out = value if self._quiet(value) else self._text(value)
        if len(value) <= _CACHED_LENGTH:
            if len(self._texts) >= _CACHE_ENTRIES:
                self._texts.clear()  # a fresh start: what repeats is back after a few records, one-offs are gone
            self._texts[value] = _SAME if out is value else out
        return out

    def _uncased_names(self) -> re.Pattern[str]:
        """The learned names with no capitalised word, longest first; a Latin letter or digit may not touch
        either end ("bob" is not in "bobsled"), any other character may (Chinese and Japanese need no spaces)."""
        if self._uncased_re is None:
            names = sorted(self._uncased, key=len, reverse=True)
            self._uncased_re = re.compile("(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, names)) + ")(?![A-Za-z0-9])")
        return self._uncased_re

    def _quiet(self, value: str) -> bool:
        """``_text`` would give ``value`` back, told by cheaper tests than its own: no secret's trigger, no
        ``=``, not JSON (nor a JSON string literal), and (pseudonymizing) no ``@``, no phone number's start, no
        capital letter (every learned name's word has one), no uncased name learned (``_uncased``) and no whole
        value faked before. ~0.5 µs for an id, where ``_text`` took 1.2 µs."""
        if "=" in value or value[:1] in "{[\"":  # the tests that fail most often first: strings that are not
            return False  # quiet (error messages, URLs) are told apart before any regex runs
        if self.pseudo and ("@" in value or "%40" in value or value in self._exact
                            or (not value.islower() and CAPITAL.search(value) is not None)  # islower: no capital
                            or PHONE_HINT.search(value) is not None):  # fmt: skip
            return False
        if TRIGGER.search(value) is not None:
            return False
        if self.pseudo and self._uncased and self._uncased_names().search(value):  # a name with no capital letter
            return False
        return len(value) < self._shortest or self.dropped.isdisjoint(SECRET_TOKEN.findall(value))

    def _text(self, value: str) -> str:
        if len(value) < 3:
            return value
        if value[0] in "{[" and value[-1] in "}]":
            parsed = json_in(value)
            if parsed is not None:  # JSON kept as a string (a webhook's raw body, a queue message)
                new = self._walk(parsed)
                return value if new is parsed else orjson.dumps(new).decode()
        if value[0] == '"':
            inner = json_string_in(value)
            if inner is not None:  # JSON encoded twice: what it holds, encoded again if that changed
                new_inner = self.text(inner)
                return value if new_inner == inner else orjson.dumps(new_inner).decode()
        out = value
        out = drop_secrets(out)  # one scan for the triggers: the text itself when none is in it
        if len(out) >= self._shortest and not self.dropped.isdisjoint(SECRET_TOKEN.findall(out)):
            out = SECRET_TOKEN.sub(self._dropped_repl, out)
        if "=" in out:
            out = query_sub(query_repl, out)
        if self.pseudo:
            if "@" in out or "%40" in out:
                out = email_sub(self._email_repl, out)
            words = self._words
            if words and not out.islower():  # islower: no capital letter, so no word of a name (WORD)
                found = WORD.findall(out)
                if found and (not words.keys().isdisjoint(found)
                              or any(word.title() in words for word in found if word.isupper())):  # fmt: skip
                    out = WORD.sub(self._known_word, out)
            if PHONE_HINT.search(out) is not None:
                out = PHONE.sub(self._phone_repl, out)
            if self._exact:
                out = self._exact.get(out, out)
            if self._uncased:  # "Welcome, 李小龙!" kept the real name its event's faked 'name' field held
                out = self._uncased_names().sub(lambda match: self._uncased[match.group(0)], out)
        return value if out == value else out

    def _dropped_repl(self, match: re.Match[str]) -> str:
        """A token of a value dropped at a secret place, met elsewhere: dropped here too."""
        token = match.group(0)
        return MARKER if token in self.dropped else token

    def _phone_repl(self, match: re.Match[str]) -> str:
        """A phone number in free text: the fake a ``phone`` field holding it gets (a URL's ``%2B...``
        decoded first and its fake encoded again, so the URL stays one)."""
        found = match.group(0)
        if not phone_number(match):
            return found
        encoded = found[0] == "%"
        number = unquote_plus(found) if encoded else found
        if number in self.keep or number in self.phones:
            return found
        fake = self._pseudonym("phone", number)
        return quote_plus(fake) if encoded else fake

    def _email_repl(self, match: re.Match[str]) -> str:
        found = match.group(0)
        fake = self._emails.get(found)
        if fake is None:
            address, encoded = email_address(found)  # ada%40gmail.com in a form body: the fake ada@gmail.com gets
            domain = address.rpartition("@")[2].lower()
            if address in self.keep or reserved_domain(domain) or self._kept_domain(domain):
                fake = found
            else:
                fake = self.fakes.email(address)
                fake = quote(fake, safe="") if encoded else fake
            self._emails[found] = fake
        return fake

    def _kept_domain(self, domain: str) -> bool:
        return any(domain == kept or domain.endswith("." + kept) for kept in self.policy.keep_domains)

    def _known_word(self, match: re.Match[str]) -> str:
        """A learned name's fake, in the case the text writes it ("ADA LOVELACE" in a shouting subject line)."""
        word = match.group(0)
        fake = self._words.get(word)
        if fake is not None:
            return fake
        if word.isupper():
            fake = self._words.get(word.title())
            if fake is not None:
                return fake.upper()
        return word


def _cookie_values(name: str, value: Any) -> Any:
    """The secret part of a header's value: a cookie's values, without their names and attributes
    (``Path``, ``HttpOnly``, ``SameSite=Lax`` appear in every response); any other header whole."""
    lowered = name.lower()
    if type(value) is not str or lowered not in ("cookie", "set-cookie"):
        return value
    if lowered == "cookie":
        return [pair.partition("=")[2] for pair in value.split(";")]
    return [cookie.split(";", 1)[0].partition("=")[2] for cookie in value.split("\n")]


class _Harvester(Redactor):
    """Collects the personal values a (redacted) trace holds at named fields, unchanged."""

    def __init__(self, policy: Redaction) -> None:
        super().__init__(policy)
        self.found: set[str] = set()

    def _pseudonym(self, action: str, value: Any) -> Any:
        if isinstance(value, list):
            for item in value:
                self._pseudonym(action, item)
        elif isinstance(value, dict):
            self._learn(value)
        elif isinstance(value, str):
            self.found.add(value)
            if action == "name":
                self.found.update(WORD.findall(value))
        return value


_JSON_ESCAPE = re.compile(r'\\(?:u[0-9a-fA-F]{4}|.)')


class PhonesIn:
    """The phone numbers in the strings of a redacted trace's records: the fakes its free text got.

    A redactor leaves them alone, as it leaves ``pseudonyms_in`` alone, so a replay or a second
    save writes them as they are. They are looked for only when a redactor first meets a phone
    number: the search reads every record's JSON (~9 µs each), and most traces hold none.
    """

    __slots__ = ("_found", "_rows")

    def __init__(self, rows: Callable[[], Iterable[dict[str, Any]]]) -> None:
        self._rows: Callable[[], Iterable[dict[str, Any]]] | None = rows
        self._found: frozenset[str] = frozenset()

    def __contains__(self, number: object) -> bool:
        if self._rows is not None:
            rows, self._rows = self._rows, None
            self._found = frozenset(found for data in rows() for found in _phones_in(data))
        return number in self._found


def _phones_in(data: dict[str, Any]) -> Iterator[str]:
    """The phone numbers anywhere in a record's strings, searched in its JSON text (an escape
    such as ``\\n`` becomes a space first, so a number after a line break is found as it is)."""
    text = orjson.dumps(data, default=str).decode()
    if PHONE_HINT.search(text) is None:
        return
    if "\\" in text:
        text = _JSON_ESCAPE.sub(" ", text)
    for match in PHONE.finditer(text):
        if phone_number(match):
            found = match.group(0)
            yield unquote_plus(found) if found[0] == "%" else found


def pseudonyms_in(records: Iterable[tuple[str, dict[str, Any]]], policy: Redaction) -> frozenset[str]:
    """Values at personal-data fields of already-redacted records: a redactor must keep them.

    A replay of a redacted trace feeds these fakes to today's code; redacting the
    replay's outcome with ``keep=`` them leaves them alone (instead of faking a
    fake), so outcomes compare equal to the recorded ones.
    """
    harvester = _Harvester(policy)
    for kind, data in records:
        harvester.learn(kind, data)
    for action, value in harvester._pending:
        harvester._pseudonym(action, value)
    return frozenset(harvester.found)

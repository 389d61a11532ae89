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
  are replaced where they appear in free text too, so "Welcome, Ada!" in an
  email subject becomes "Welcome, Maria!" exactly as the event's ``name`` did (a word that is also an
  ordinary English word, "June", "Mark", only where the text makes it a name: ``_Text._name_words``), and
  the full name in lower case or as a slug ("ada-lovelace") becomes the fake's.
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

The parts: ``jobsim._redactpolicy`` (the policy), ``jobsim._redactfakes`` (the redactor's memory, the fakes),
``jobsim._redacttext`` (free text), ``jobsim._redactlearn`` (the first pass), this module (the second), and
``jobsim._redactkept`` (what a redacted trace already holds).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from typing import Any

import orjson

from . import _redacttext  # its cache limits, read where used: one value (and one test's patch) for both caches
from ._codec import CE_CORE, encode, encode_event
from ._redactfakes import _MEMO_ENTRIES, _SAME, _TEXT, _UNSEEN, _WALK, _Table
from ._redactlearn import _Learner
from ._redactpolicy import KEY_ENV as KEY_ENV  # the CLI imports it from here
from ._redactpolicy import Redaction as Redaction  # the CLI imports it from here too
from ._secrets import MARKER


class Redactor(_Learner):
    """Applies one policy to one trace: ``learn`` every record first, then ``apply`` each."""

    def __init__(self, policy: Redaction, keep: Iterable[str] = (), phones: Container[str] = frozenset()) -> None:
        super().__init__(policy, keep, phones)
        self._kinds = self._tables()
        event_line: _Table = (("ce", self._ce), ("user", self._walk))
        self._lines = {**self._kinds, "event": event_line, "event.dropped": event_line}  # fields under "ce"
        self.rewritten = frozenset(kind for kind, how in self._kinds.items() if how)
        """Built-in kinds whose records may change; the others hold only names jobsim gives and times."""

    def sibling(self) -> Redactor:
        """A redactor of the same policy, kept values and phone numbers that has learned nothing yet."""
        return Redactor(self.policy, self.keep, self.phones)

    # -- the second pass ------------------------------------------------------------------------
    def tables(self) -> tuple[Callable[[dict[str, Any], _Table], dict[str, Any]], dict[str, _Table]]:
        """For a writer's loop over every record, once ``learn`` has read them all: ``fields(data, tables[kind])``
        is ``apply(kind, data)`` of a built-in kind that may change (``rewritten``), without its lookups."""
        if self._pending:
            self._fake_pending()  # learn queues them, apply never does: faked now, before any record is rewritten
        # Rewriting starts with no memo: one made while learning (faking a pending value) may hold what a rewrite
        # gave before the last fake, and kept would make the records' bytes depend on when it is forgotten
        # (a full cache started afresh), which the writer's processes must not (``_tracefork._in_processes``).
        for memo in (self._texts, self._structures, self._messages, self._nested):
            memo.clear()
        return self._fields, {kind: self._kinds[kind] for kind in self.rewritten}

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
        stepped = ("wait.end", "retry", "sleep", "wait", "invoke", "invoke.timeout", "request.timeout")
        plain = ("run.start", "cron", "run.queued", "advance")
        return {"event": event, "event.dropped": event, "http": http, "email": email,
                "run.end": (("output", shared), ("error", text)), "attempt": (*step, *error), "fault": error,
                "refused": error, "fault.armed": (("error", walk), ("message", text)), "cancel": keyed,
                "run.skipped": keyed, "batch": keyed, "debounce": keyed,
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
        if len(key) <= 4 * _redacttext._CACHED_LENGTH:  # read on a miss only, after the dump and fn
            if len(self._structures) >= _redacttext._CACHE_ENTRIES:
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

    def url(self, url: Any) -> Any:
        """Secret query parameters dropped, credentials and personal data rewritten."""
        return self.text(url)

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
                if value is None or type(value) is bool or value == "" or value == MARKER:
                    continue  # a flag (``{"pin": true}``: one is set) is no secret
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

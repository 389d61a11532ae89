"""The redaction's first pass: ``learn`` reads every record before any is rewritten, and finds the names of
people (faked at once: the order they are met in decides their fakes), the values at secret places (their
tokens dropped wherever else they appear) and the phone numbers, addresses, ... to fake once every name is
known. For a save in several processes, what it did is noted (``learnt``) and done again elsewhere (``replay``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote_plus

from ._pseudonyms import reserved_domain
from ._redactfakes import _LATER, _MEMO_ENTRIES
from ._redacttext import _Text, json_in
from ._secrets import MARKER, SECRET_TOKEN, WORD

NAME_ADDR = re.compile(r'(?:^|[,;:]\s*)(?:"([^"<>\n]{1,100})"|([^"<>,;:@\n]{1,100}?))\s*<([^<>\s@]+@[^<>\s]+)>')
"""``Grace Hopper <grace@navy.mil>`` (RFC 5322 §3.4 name-addr) at the start of a string or after ``,``
``;`` ``:`` (a list of recipients, a ``From:`` line): the display name (group 1 quoted, which may hold a
comma, ``"Lovelace, Ada" <ada@...>``, whose surname was kept; else group 2) and the address (group 3)."""


class _Learner(_Text):
    """The first pass (``learn``), and its notes for other processes."""

    def learn(self, kind: str, data: dict[str, Any]) -> None:
        """Find the names (and other personal values) this record holds at named fields."""
        learners, whole = self.learners()
        how = learners.get(kind, whole)
        if how is not None:
            how(data)

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
                self._drop_tokens(value)
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
            body = message.get("body") or {}
            text = body.get("text")
            if type(text) is str and "=" in text:  # a form body's fields
                self._learn_query(text)
            if not self.pseudo:  # secrets only: walking the body would fill the text cache early
                continue
            self._learn(body.get("json"))
            if headers:
                self._pending.extend(("ip", ip) for ip in self._header_ips(headers))
        url = data.get("url")
        if type(url) is str and "=" in url:
            self._learn_query(url)

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

    def _header_ips(self, headers: Any) -> Iterator[str]:
        """The client addresses proxies put in headers (``X-Forwarded-For: client, proxy``, ``X-Real-IP``):
        personal data as an ``ip`` field is, faked address by address (the value was walked as text,
        which finds no IP, so the client's address stayed in clear beside its faked ``ip`` field)."""
        if isinstance(headers, dict):
            for name, value in headers.items():
                if type(value) is str and self._action(name) == "ip":
                    yield from (ip.strip() for ip in value.split(","))

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
                        if "<" in item or "=" in item or item[:1] in ("{", "["):
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
                    if "<" in item or "=" in item or item[:1] in ("{", "["):
                        self._learn_string(item)
                else:
                    self._learn(item)
        elif isinstance(value, list):
            for item in value:
                if type(item) is dict or type(item) is list:
                    self._learn_nested(item)
                else:
                    self._learn(item)
        elif type(value) is str and ("<" in value or "=" in value or value[:1] in ("{", "[")):
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
                self._drop_tokens(tokens)
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

    def _learn_query(self, text: str) -> None:
        """A URL's query or a form body: the values at secret names (their tokens dropped elsewhere too), the
        names of people (``name=Ada+Lovelace`` beside an ``email``, ``first_name``; ``Redaction(fields=...)``'s
        too) and the values faked once every name is known (``phone``, ``address``, ...)."""
        seen = self._queried
        if text in seen:  # an HttpCall's URL again (calls repeat): nothing new in it
            return
        if len(seen) >= _MEMO_ENTRIES:
            seen.clear()
        seen.add(text)
        for match, action in self.query_values(text) or ():
            value = unquote_plus(match.group(3))
            if action == "drop":
                self._learn_secret(value)
            elif not self.pseudo:
                continue
            elif action == "name":
                if value not in self._names:
                    self._learn_name(value)
            elif action in _LATER:
                self._pending.append((action, value))

    def _learn_string(self, text: str) -> None:
        """A string's people: those of JSON kept as a string (``{"user": {"name": ...}}``), else the
        display names of its addresses and the people of its queries (a URL an event carries)."""
        parsed = json_in(text) if text[-1:] in ("}", "]") else None
        if parsed is not None:
            self._learn(parsed)
            return
        if "<" in text:
            self._learn_display_names(text)
        if "=" in text:
            self._learn_query(text)

    def _learn_display_names(self, text: str) -> None:
        """The display names of ``Grace Hopper <grace@navy.mil>`` (RFC 5322 name-addr, how mail APIs take
        ``to`` and ``from``): a person's name, as at a ``name`` field. Left alone at a reserved or kept
        domain (``Acme <hi@acme.test>``), as the address is. The address was faked and the name kept."""
        if "@" not in text and "%40" not in text:
            return
        for match in NAME_ADDR.finditer(text):
            name, address = (match.group(1) or match.group(2)).strip(), match.group(3)
            domain = address.rpartition("@")[2].lower()
            if WORD.search(name) and not (address in self.keep or reserved_domain(domain) or self._kept_domain(domain)):
                self._learn_name(name)


def _cookie_values(name: str, value: Any) -> Any:
    """The secret part of a header's value: a cookie's values, without their names and attributes
    (``Path``, ``HttpOnly``, ``SameSite=Lax`` appear in every response); any other header whole."""
    lowered = name.lower()
    if type(value) is not str or lowered not in ("cookie", "set-cookie"):
        return value
    if lowered == "cookie":
        return [pair.partition("=")[2] for pair in value.split(";")]
    return [cookie.split(";", 1)[0].partition("=")[2] for cookie in value.split("\n")]

"""The redactor's memory and its fakes, the base of ``jobsim._redact.Redactor``.

Everything a redactor keeps is made here (the fakes and the memos of both passes), with what reads a field's
name (``_action``; ``_plan``: what each key of a dict shape holds, shared by the dicts of that shape) and what
makes the fakes: a person's name word by word (a word's first fake decides every later one), a phone number,
street address, IP or username whole (``_pseudonym``). ``jobsim._redacttext`` adds free text,
``jobsim._redactlearn`` the first pass, ``jobsim._redact`` the second.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable
from typing import TYPE_CHECKING, Any

from ._pseudonyms import Pseudonyms
from ._secrets import (
    HONORIFICS,
    LOWER_WORD,
    MARKER,
    PIECE,
    WORD,
    card_object,
    classify_key,
    normalize_key,
    secret_header,
)

if TYPE_CHECKING:
    from ._redactpolicy import Redaction

_UNSEEN: Any = object()
_SAME: Any = object()
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
_NAME_PART = re.compile(f"{WORD.pattern}|[^\\W\\d_]+(?:(?:['\u2019]|-)[^\\W\\d_]+)*")
"""A word of a name at a name field, in any case or script: ``WORD``'s capitalised one first ("Ada", "O'Brien"),
else a run of letters ("ada", "李"): every one is faked, so none of "Ada 李" or "ada Lovelace" stays in clear."""
_PARTICLES = frozenset({
    "al", "bin", "binti", "da", "das", "de", "del", "della", "den", "der", "di", "do", "dos", "du", "el", "la", "le",
    "ten", "ter", "van", "von", "zu",
})  # fmt: skip
"""Lower-case particles of names ("Ludwig van Beethoven", "de la Cruz"), kept: no one is told by them."""
_IP_SEPARATOR = re.compile(r"[\s,;]")
_IP = re.compile(r"[^\s,;]+")
"""An address in a list of them at an ``ip`` field (``"10.0.0.1, 192.168.1.7"``), each faked alone."""
_WALK: Any = object()
"""``Redactor._plan``: walk the value afresh (a plain ``name`` or ``number`` that is no person's or card's)."""


class _Fakes:
    """A redactor's state, the plans of dict shapes, and the fakes (``jobsim._redact.Redactor`` is the whole)."""

    _kinds: dict[str, _Table]
    """What each built-in kind's fields hold (``Redactor._tables``)."""

    def __init__(self, policy: Redaction, keep: Iterable[str] = (), phones: Container[str] = frozenset()) -> None:
        self.policy = policy
        self.pseudo = policy.pseudonymize
        key, _ = policy.resolved_key()
        self.fakes = Pseudonyms(key, policy.locale)
        self.keep = frozenset(keep)
        self.phones = phones
        self._actions: dict[str, str | None] = {}
        self._query_actions: dict[str, str | None] = {}  # a query parameter's or form field's name -> its action
        self._query_people = False  # ``_Text._query_repl`` met a value the policy may fake
        self._words: dict[str, str] = {}  # a word of a person's name -> its fake
        self._exact: dict[str, str] = {}  # a phone number, street address, ... -> its fake
        self._names: dict[str, str] = {}  # a whole name -> its fake (fixed once its words are)
        self._uncased: dict[str, str] = {}  # a name with no capitalised word (李小龙) -> its fake, for free text
        self._uncased_re: re.Pattern[str] | None = None
        self._lowered: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
        """A capitalised full name's words in lower case ("ada lovelace", the slug "ada-lovelace"), for free text: its
        first word -> (its words, its fake's words), longest first."""
        self._lowered_firsts: set[bytes] = set()
        """``_lowered``'s first words in UTF-8, for a cheap test of a text (``_Text._quiet``)."""
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
        self._pieces: set[str] = set()
        """The parts of the tokens in ``dropped`` between ``/`` and ``.`` (4 characters or more): a token quoted in a
        URL's path is no token of its own (``SECRET_TOKEN`` takes ``/v1/keys/KEY/usage`` whole), these find it; a
        token in the text has its parts in the text too, so they tell alone whether a text may quote one."""
        self._span = 1
        """The most parts between ``/`` and ``.`` a token in ``dropped`` has: how many of a text's a quote may span
        (``_Text._dropped_repl`` tries no longer run, so a long dotted text costs linear time)."""
        self._unpieced = False
        """A token in ``dropped`` has no part in ``_pieces`` (``1.2.3.4.5``): looked for as a ``SECRET_TOKEN`` too."""
        self._shortest = _NO_TOKEN
        """The length of the shortest token in ``dropped``: a shorter string holds none of them (an id, an address
        is shorter than most API keys), and is not searched for them."""
        self._log: list[tuple[str, Any]] | None = None
        """While ``logging()``: what learning did that a replay must do again, in order (``learnt``)."""
        self._learners: tuple[dict[str, Callable[[Any], None] | None], Callable[[Any], None] | None] | None = None
        """What ``learn`` does by kind (``learners``), made once."""

    def _drop_tokens(self, tokens: list[str]) -> None:
        """Tokens of a value dropped at a secret place: dropped wherever else they appear (``_Text._echoes``)."""
        self.dropped.update(tokens)
        self._shortest = min(self._shortest, *map(len, tokens))
        for token in tokens:
            pieces = PIECE.findall(token)
            self._pieces.update(pieces)
            self._unpieced = self._unpieced or not pieces
            self._span = max(self._span, token.count("/") + token.count(".") + 1)

    def fakes_made(self) -> int:
        """How many fakes this redactor made (names' words, whole values, uncased names): what it rewrites
        changes only when this grows (every other thing it keeps is a memo, or fixed by the first pass)."""
        return len(self._words) + len(self._exact) + len(self._uncased) + sum(map(len, self._lowered.values()))

    def _fake_pending(self) -> None:
        """Phone numbers, addresses, ... found by ``learn``: faked once every name is known."""
        pending, self._pending = self._pending, []
        for action, value in pending:
            self._pseudonym(action, value)

    def _forget(self) -> None:
        """A new fake was made: what was rewritten before may be rewritten differently now."""
        if self._messages or self._nested:
            self._messages.clear()
            self._nested.clear()

    def _action(self, key: Any) -> str | None:
        action = self._actions.get(key, _UNSEEN)
        if action is not _UNSEEN:
            return action  # type: ignore[no-any-return]
        if not isinstance(key, str):
            return None
        custom = self.policy.rules.get(normalize_key(key))
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
            if action == "ip" and _IP_SEPARATOR.search(value.strip()) is not None:  # "10.0.0.1, 192.168.1.7"
                fake = _IP.sub(lambda match: self._pseudonym("ip", match.group(0)), value)
            else:
                fake = getattr(self.fakes, action)(value)
            self._exact[value] = fake
            self._forget()
        return fake

    def _is_known_name(self, value: str) -> bool:
        words = WORD.findall(value)
        known = self._words
        return (
            bool(words)
            and all(word in known or word.title() in known for word in words)
            and not WORD.sub("", value).strip(" ,.")
        )

    def _name(self, value: str) -> str:
        """A person's name faked word by word; remembered whole, since once its words have fakes it never changes."""
        fake = self._names.get(value)
        if fake is None:
            fake = self._names[value] = self._fake_name(value)
        return fake

    def _fake_name(self, value: str) -> str:
        if value.lower() == value.upper():  # no cased letter (李小龙, an id): fake it whole
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
        fake = _NAME_PART.sub(lambda match: self._name_part(match.group(0), leading), value)
        name = value.strip()
        if WORD.search(value) is None and sum(c.isalpha() for c in name) >= 2 and name not in self._uncased:
            # "ada lovelace" found in free text as an uncased name is ("ada lovelaceさん")
            self._uncased[name] = fake.strip()
            self._uncased_re = None
            self._forget()
        words, fakes = tuple(LOWER_WORD.findall(value.lower())), tuple(LOWER_WORD.findall(fake.lower()))
        if len(words) >= 2 and fakes and fakes != words:  # "ada lovelace" in free text is this person too
            known = self._lowered.setdefault(words[0], [])
            if (words, fakes) not in known:
                known.append((words, fakes))
                self._lowered_firsts.add(words[0].encode("utf-8", "surrogatepass"))
                known.sort(key=lambda pair: -len(pair[0]))
                self._forget()
        return fake

    def _name_part(self, part: str, leading: list[bool]) -> str:
        """A word of a name at a name field faked: keyed case-blind ("ada", "ADA" and "Ada" are one person's, faked
        as "Ada" is, and written in the case given), a word of another script too ("李" in "Ada 李": one for free text
        as well if it is two letters or more), a lower-case particle ("van") kept."""
        if part.islower() and part in _PARTICLES:
            return part
        if part in HONORIFICS or part in self.keep:
            return self._word(part, leading)
        cased = part.lower() != part.upper()
        key = part if not cased or (not part.isupper() and WORD.fullmatch(part)) else part.title()
        fake = self._word(key, leading)
        if not cased:
            if len(part) >= 2 and part not in self._uncased:
                self._uncased[part] = fake
                self._uncased_re = None
                self._forget()
            return fake
        return fake.lower() if part.islower() else fake.upper() if part.isupper() and len(part) > 1 else fake

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

    def _secret_header(self, name: str) -> bool:
        """Whether the policy drops header ``name`` (remembered per name)."""
        lowered = name.lower()
        secret = lowered not in self.policy.keep_headers and (lowered in self.policy.headers or secret_header(lowered))
        self._secret_headers[name] = secret
        return secret

    def _kept_domain(self, domain: str) -> bool:
        return any(domain == kept or domain.endswith("." + kept) for kept in self.policy.keep_domains)

    def _walk(self, value: Any) -> Any:
        """Any value as it may be written (``jobsim._redact.Redactor``'s): ``_pseudonym`` and free text hand it
        what a list, a dict or a JSON string holds."""
        raise NotImplementedError  # pragma: no cover -- Redactor's

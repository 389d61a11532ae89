"""Free text redacted: credentials dropped and personal data rewritten inside any string (an email address, a
learned name's words, a phone number, a token dropped at a secret place), remembered per string; and the JSON a
string may hold (``json_in``, ``json_string_in``), which ``jobsim scan`` reads too."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

import orjson

from ._pseudonyms import reserved_domain
from ._redactfakes import _SAME, _UNSEEN, _Fakes
from ._secrets import (
    CAPITAL,
    CAPITALISED_WORDS,
    EMAIL,
    GREETINGS,
    HONORIFICS,
    LOWER_WORD,
    MARKER,
    PHONE,
    PHONE_HINT,
    PIECE,
    QUERY_PARAM,
    SECRET_TOKEN,
    TRIGGER,
    WORD,
    card_object,
    classify_key,
    common_words,
    drop_secrets,
    email_address,
    email_cut,
    email_sub,
    normalize_key,
    phone_number,
    query_field,
    query_start,
    query_sub,
    secret_query,
)


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


ECHO = re.compile(r"[A-Za-z0-9_.~+/%-]{4,}={0,2}")
"""Where a dropped value may be quoted: ``SECRET_TOKEN``'s characters and ``%`` (a percent-encoded quote)."""
_PIECE_SPLIT = re.compile(r"([/.])")

LETTERS_ONLY = bytes(c if c >= 128 or chr(c).isalpha() else 32 for c in range(256))
"""ASCII's other characters as spaces, in UTF-8: ``text.encode().translate(LETTERS_ONLY).split()`` holds the words of
a lower-case full name ``_Text._lower_names`` may find (a cheap test, without a regex, for the texts that hold none:
~0.35 µs, half of ``str.translate``'s)."""


def _sentence_start(text: str, start: int) -> bool:
    """``text[start:]`` starts a sentence: nothing before it, or ``.``, ``!``, ``?``, ``:``, ``;``, a line break or a
    bullet, then spaces, quotes or brackets (the 40 characters before it read, not the whole text: linear time)."""
    before = text[max(0, start - 40) : start].rstrip(" \t\"'([")
    if not before:
        return start <= 40
    return before[-1] in ".!?:;\n\u2022*" or before == "-" or before.endswith((" -", "\n-"))


_AROUND = " \t\n.,;:!?\"'()[]"
NAME_GAP = re.compile(r",? |-|, ?")
"""What may stand between two words of one name in text: "June Mark", "Mark, June", "Jean-Luc"."""
NAME_ADDRESS = re.compile(r" ?<[^<>\s@]+@")
"""A name's word before an address: ``June <june@...>``."""

_CACHED_LENGTH = 512
_CACHE_ENTRIES = 250_000
"""Strings up to this long are remembered (``Redactor._texts``; HTTP headers and bodies up to 4x as long, by
their JSON); at most this many at a time."""


class _Text(_Fakes):
    """``text``: a string as it may be written."""

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
        if (self._lowered and (" " in value or "-" in value or "_" in value)  # a full name in lower case, a slug
                and not self._lowered_firsts.isdisjoint(
                    value.encode("utf-8", "surrogatepass").translate(LETTERS_ONLY).split())):
            return False
        return len(value) < self._shortest or (  # no token of a dropped value, nor a part of one (``_echoes``)
            self._pieces.isdisjoint(PIECE.findall(unquote(value) if "%" in value else value))
            and not (self._unpieced and not self.dropped.isdisjoint(SECRET_TOKEN.findall(value))))

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
        if len(out) >= self._shortest and self._echoes(out):
            out = ECHO.sub(self._dropped_repl, out)
        if "=" in out:
            self._query_people = False
            dropped = query_sub(self._query_repl, out)  # the secrets; notes a personal value (most texts have none)
            if not self._query_people:
                out = dropped
            else:
                parts = self._query_parts(out)
                if parts is not None:  # secrets dropped, the fakes final, the text between them rewritten
                    people = self._people
                    out = "".join([people(part) if i % 2 == 0 else part for i, part in enumerate(parts)])
                    return value if out == value else out
        out = self._people(out)
        return value if out == value else out

    def _people(self, out: str) -> str:
        """``out`` with its people rewritten (email addresses, learned names' words, phone numbers, whole values
        faked before, uncased names); as it is when not pseudonymizing."""
        if self.pseudo:
            if "@" in out or "%40" in out:
                out = email_sub(self._email_repl, out)
            words = self._words
            if words and not out.islower():  # islower: no capital letter, so no word of a name (WORD)
                found = WORD.findall(out)
                if found and (not words.keys().isdisjoint(found)
                              or any(word.title() in words for word in found if word.isupper())):  # fmt: skip
                    out = self._name_words(out)
            if self._lowered and not self._lowered_firsts.isdisjoint(
                    out.encode("utf-8", "surrogatepass").translate(LETTERS_ONLY).split()):
                out = self._lower_names(out)
            if PHONE_HINT.search(out) is not None:
                out = PHONE.sub(self._phone_repl, out)
            if self._exact:
                out = self._exact.get(out, out)
            if self._uncased:  # "Welcome, 李小龙!" kept the real name its event's faked 'name' field held
                out = self._uncased_names().sub(lambda match: self._uncased[match.group(0)], out)
        return out

    # -- query strings and form bodies ---------------------------------------------------------
    def query_action(self, name: str) -> str | None:
        """What the policy does with a query parameter's or form field's value, by its name (remembered per
        name): ``drop``, ``keep``, a pseudonym kind (``name``, ``phone``, ``address``, ``ip``, ``username``,
        ``email``), ``name?``/``card?`` (decided by the other names beside it), or None (text as any other).
        ``Redaction(fields=...)`` first, by the whole name or the nested field's own (``user[nickname]``),
        then the built-in secret names, then the JSON fields' rules (``first_name``, ``phone``, ``address``)."""
        action = self._query_actions.get(name, _UNSEEN)
        if action is not _UNSEEN:
            return action  # type: ignore[no-any-return]
        plain = unquote_plus(name)
        field = query_field(plain)
        fields = self.policy.rules
        found = fields.get(normalize_key(plain))
        if found is None:
            found = fields.get(normalize_key(field))
        if found is None:
            found = "drop" if secret_query(name) else classify_key(field)
        if len(self._query_actions) >= 4096:
            self._query_actions.clear()
        self._query_actions[name] = found
        return found

    def _query_repl(self, match: re.Match[str]) -> str:
        """``query_sub``'s replacement: a secret value becomes the marker; a value the policy may fake (or a
        ``number`` a card's sibling may make secret) sets ``_query_people``, for ``_query_parts`` to do."""
        value = match.group(3)
        if not value or value == MARKER:
            return match.group(0)
        name = match.group(2)
        action = self._query_actions.get(name, _UNSEEN)
        if action is _UNSEEN:
            action = self.query_action(name)
        if action is None or action == "keep" or action == "email":
            return match.group(0)
        if action == "drop":
            return f"{match.group(1)}{name}={MARKER}"
        if self.pseudo or action == "card?":
            self._query_people = True
        return match.group(0)

    def query_values(self, text: str) -> list[tuple[re.Match[str], str]] | None:
        """The parameters of ``text``'s queries and form bodies that the policy rules on, each with its action
        (``name?`` and ``card?`` decided: a plain ``name`` is a person's beside an ``email``, ``phone`` or
        address, a ``number`` a card's beside ``exp_month`` or ``cvc``; else left out); None if there is none."""
        found: list[tuple[re.Match[str], str]] | None = None
        siblings: list[str] | None = None
        actions = self._query_actions
        for match in QUERY_PARAM.finditer(text, query_start(text)):
            value = match.group(3)
            if not value or value == MARKER:
                continue
            action = actions.get(match.group(2), _UNSEEN)
            if action is _UNSEEN:
                action = self.query_action(match.group(2))
            if action is None or action == "keep":
                continue
            if action == "name?" or action == "card?":
                if siblings is None:
                    siblings = [query_field(unquote_plus(m.group(2))) for m in QUERY_PARAM.finditer(text)]
                if action == "name?":
                    person = any(classify_key(sibling) in ("email", "phone", "address") for sibling in siblings)
                    action = "name" if person else ""
                else:
                    action = "drop" if card_object(dict.fromkeys(siblings)) else ""
                if not action:
                    continue
            if found is None:
                found = []
            found.append((match, action))
        return found

    def _query_parts(self, text: str) -> list[str] | None:
        """``text`` with its queries' and form bodies' secret values dropped, cut at the personal values their
        names rule on (``query_values``): text, a fake, text, ... (the fakes final, the text between them still to
        rewrite as text); None if no name rules on a value. An ``email`` value stays text (addresses are found
        anywhere), so does any value but a secret's when not pseudonymizing. A value is decoded before it is
        faked, and its fake encoded as the value was (``+`` or ``%20`` for a space)."""
        found = self.query_values(text)
        if found is None:
            return None
        parts: list[str] = []
        plain: list[str] = []  # the text since the last fake
        last = 0
        for match, action in found:
            value = match.group(3)
            if action == "drop":
                plain += (text[last : match.start(3)], MARKER)
                last = match.end(3)
                continue
            if not self.pseudo or action == "email":
                continue
            decoded = unquote_plus(value)
            fake = self._query_fake(action, decoded)
            if fake == decoded:
                continue
            plain.append(text[last : match.start(3)])
            parts += ("".join(plain), quote(fake, safe="") if "%20" in value and "+" not in value else quote_plus(fake))
            plain = []
            last = match.end(3)
        plain.append(text[last:])
        parts.append("".join(plain))
        return parts

    def _query_fake(self, action: str, value: str) -> str:
        """A query's or form's personal value faked as at a JSON field of that name. A name ``learn`` did not
        meet (an error message's URL) is faked here: in a save in several processes, a part that makes a new fake
        is written again by the parent (``_tracefork``), so the bytes stay one process's."""
        fake = self._pseudonym(action, value)
        return fake if isinstance(fake, str) else value

    def _echoes(self, text: str) -> bool:
        """``text`` may quote a value dropped at a secret place: one of its tokens is one of ``dropped``, or (in a
        URL's path, ``/v1/keys/KEY/usage``, or percent-encoded, ``%2B``) one of their parts (``_pieces``): one
        C-level search (two if a token has no part); ``_dropped_repl`` then tells exactly."""
        return not self._pieces.isdisjoint(PIECE.findall(unquote(text) if "%" in text else text)) or (
            self._unpieced and not self.dropped.isdisjoint(SECRET_TOKEN.findall(text)))

    def _dropped_repl(self, match: re.Match[str]) -> str:
        """A run of a token's characters (``ECHO``) quoting a value dropped at a secret place: the marker for it,
        or for the parts of it between ``/`` and ``.`` that do (a URL's path segment), longest first; a part
        written percent-encoded (``sess%2BTok%2F123``) is compared decoded."""
        token = match.group(0)
        if self._dropped_token(token):
            return MARKER
        parts = _PIECE_SPLIT.split(token)  # piece, separator, piece, ...
        count = len(parts) // 2 + 1
        if count == 1 or self._pieces.isdisjoint(PIECE.findall(unquote(token) if "%" in token else token)):
            return token
        out: list[str] = []
        i = 0
        while i < count:
            for j in range(min(count, i + self._span), i, -1):
                if self._dropped_token("".join(parts[2 * i : 2 * j - 1])):
                    out.append(MARKER)
                    break
            else:
                out.append(parts[2 * i])
                j = i + 1
            if j < count:
                out.append(parts[2 * j - 1])
            i = j
        return "".join(out)

    def _dropped_token(self, text: str) -> bool:
        """``text`` is a dropped token, or (decoded, when it is percent-encoded) made of dropped tokens only."""
        if text in self.dropped:
            return True
        if "%" not in text:
            return False
        plain = unquote(text)
        tokens = SECRET_TOKEN.findall(plain)
        return bool(tokens) and self.dropped.issuperset(tokens) and not SECRET_TOKEN.sub("", plain).strip()

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
            cut = email_cut(found)
            address_match = EMAIL.match(found, cut) if cut else None
            if address_match is not None:  # a query's ``to=`` before the address: kept, the address faked alone
                fake = self._emails[found] = found[:cut] + self._email_repl(address_match)
                return fake
            address, encoded = email_address(found)  # ada%40gmail.com in a form body: the fake ada@gmail.com gets
            domain = address.rpartition("@")[2].lower()
            if address in self.keep or reserved_domain(domain) or self._kept_domain(domain):
                fake = found
            else:
                fake = self.fakes.email(address)  # the fake of the address in any case ...
                fake = fake.upper() if address.isupper() else fake  # ... written as it is ("ADA@GMAIL.COM")
                fake = quote(fake, safe="") if encoded else fake
            self._emails[found] = fake
        return fake

    def _known_word(self, word: str) -> str | None:
        """A learned name's fake, in the case the text writes it ("ADA LOVELACE" in a shouting subject line)."""
        fake = self._words.get(word)
        if fake is not None:
            return fake
        if word.isupper():
            fake = self._words.get(word.title())
            if fake is not None:
                return fake.upper()
        return None

    def _name_words(self, text: str) -> str:
        """``text`` with the learned names' words replaced by their fakes where they are names.

        A word that is also an ordinary English word (``common_words``: June, Mark, Grace, May, Will, OK) is a name
        where a capital does not say so alone: at a sentence's start ("Mark your calendar", "Grace period"), in
        capitals ("MAY is busy") and for the words English always capitalises (``CAPITALISED_WORDS``: "starts in
        June", "Status: OK") it is a name only in context: beside another learned name's word ("June Mark",
        "MARK, JUNE"), after a greeting or an honorific ("Hi June", "Dear Mr Mark") or before an address ("June
        <june@...>"). Rewriting those corrupted the text (and made unchanged code replay as differing).
        Capitalised elsewhere ("slow for Grace", a value that is the word alone) it is the name, as any other
        learned word is wherever it is capitalised ("Ada", "Ada's", "ADA")."""
        matches = list(WORD.finditer(text))
        fakes: list[str | None] = []
        for match in matches:
            fakes.append(self._known_word(match.group(0)))
        common = common_words()
        alone = len(matches) == 1 and text.strip(_AROUND) == matches[0].group(0)  # a value that is the word alone
        pieces: list[str] = []
        last = 0
        for i, (match, fake) in enumerate(zip(matches, fakes, strict=True)):
            if fake is None:
                continue
            word = match.group(0)
            lower = word.lower()
            if lower in common and not self._named(text, matches, fakes, i) and (
                    lower in CAPITALISED_WORDS or word.isupper()
                    or (_sentence_start(text, match.start()) and not alone)):
                continue  # the word: a month, "OK", "MAY", "Mark your calendar" (but "slow for Grace" is Grace)
            pieces += text[last : match.start()], fake
            last = match.end()
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)

    @staticmethod
    def _named(text: str, matches: list[re.Match[str]], fakes: list[str | None], i: int) -> bool:
        """The ``i``-th capitalised word of ``text`` is a name there: next to another name's word (a space, a comma
        or a hyphen between), after a greeting or an honorific, or before an address (``<...@``)."""
        match = matches[i]
        if i > 0 and NAME_GAP.fullmatch(text, matches[i - 1].end(), match.start()):
            before = matches[i - 1].group(0)
            if fakes[i - 1] is not None or before.rstrip(".") in HONORIFICS or before.title() in GREETINGS:
                return True
        if i + 1 < len(matches) and fakes[i + 1] is not None and NAME_GAP.fullmatch(text, match.end(),
                                                                                     matches[i + 1].start()):
            return True
        return NAME_ADDRESS.match(text, match.end()) is not None

    def _lower_names(self, text: str) -> str:
        """``text`` with the learned full names written in lower case replaced by their fakes, in lower case and
        with the separator the text uses ("ada lovelace", the slug "ada-lovelace", "ada_lovelace"): a lone word
        ("grace", "mark") is the English word, never replaced."""
        lowered = self._lowered
        found = list(LOWER_WORD.finditer(text))
        pieces: list[str] = []
        last, i = 0, 0
        while i < len(found):
            start = found[i].start()
            for words, fakes in lowered.get(found[i].group(0), ()):
                end = i + len(words)
                if end <= len(found) and (start == 0 or not text[start - 1].isalnum()) and all(
                        found[k].group(0) == words[k - i] for k in range(i + 1, end)) and all(
                        found[k].start() - found[k - 1].end() == 1 and text[found[k].start() - 1] in " -_"
                        for k in range(i + 1, end)) and (found[end - 1].end() == len(text)
                                                         or not text[found[end - 1].end()].isalnum()):  # fmt: skip
                    separator = text[found[i].end()]
                    pieces += text[last:start], separator.join(fakes)
                    last, i = found[end - 1].end(), end
                    break
            else:
                i += 1
        if not pieces:
            return text
        pieces.append(text[last:])
        return "".join(pieces)

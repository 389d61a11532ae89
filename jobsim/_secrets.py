"""What looks secret or personal: header, field and parameter names, credential patterns.

Shared by redaction (``jobsim._redact``, which rewrites what it finds) and ``jobsim
scan`` (``jobsim._scan``, which reports what is left). The lists follow
``reference/traces.md`` §4 and §6.4 (OTel's redaction processor, vcrpy's leaks).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote

MARKER = "[redacted]"
"""What a dropped secret is replaced with."""

_SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "apikey",
    "x-auth-token", "x-access-token", "x-csrf-token", "x-xsrf-token", "x-amz-security-token",
    "x-goog-api-key", "x-postmark-server-token", "x-signature", "x-hub-signature", "x-hub-signature-256",
})  # fmt: skip
_SECRET_HEADER_PARTS = ("token", "secret", "password", "signature", "credential", "api-key", "apikey", "session")

_SECRET_KEYS = frozenset({
    "password", "passwd", "pwd", "passphrase", "secret", "token", "apikey", "apisecret", "accesstoken",
    "refreshtoken", "idtoken", "authtoken", "sessiontoken", "sessionid", "csrftoken", "clientsecret",
    "privatekey", "secretkey", "accesskey", "signingkey", "authorization", "cookie", "setcookie",
    "signature", "webhooksecret", "signingsecret", "credentials", "creditcard", "cardnumber", "cvv",
    "cvc", "ssn", "socialsecuritynumber", "iban", "dob", "dateofbirth", "birthdate",
    # payment cards and one-time codes (``cc_number``, ``cvv2``, ``pin``, ``otp``): whole names only, as ``pinned``,
    # ``spin``, ``options`` and ``otp_enabled`` are no secrets
    "ccnumber", "ccnum", "cardnum", "creditcardnumber", "cvv2", "cvc2", "securitycode", "cardsecuritycode",
    "pin", "pincode", "pinnumber", "otp", "otpcode", "totp", "totpcode", "hotp", "onetimecode", "onetimepasscode",
    "mfacode", "twofactorcode", "2facode",
})  # fmt: skip
_SECRET_KEY_SUFFIXES = ("password", "passwd", "secret", "token", "apikey", "privatekey", "secretkey",
                        "accesskey", "signature", "credentials")  # fmt: skip

_SECRET_QUERY_SUFFIXES = tuple(dict.fromkeys(("token", "secret", "password", "apikey", "signature",
                                              *_SECRET_KEY_SUFFIXES)))
_SECRET_QUERY = frozenset({
    "token", "accesstoken", "apikey", "key", "sig", "signature", "secret", "password", "pass", "pwd", "code",
    "auth", "clientsecret", "refreshtoken", "idtoken", "jwt", "sessionid", "xamzsignature",
    "xamzcredential", "xamzsecuritytoken", "xgoogsignature", "xgoogcredential",
})  # fmt: skip

_LABEL_TRIGGERS = "|".join(["Token"] + [
    re.escape(ending + separator)
    for ending in ("key", "Key", "KEY", "token", "TOKEN", "secret", "Secret", "SECRET", "password", "Password",
                   "PASSWORD", "passwd", "PASSWD", "pwd", "PWD", "phrase", "PHRASE", "credentials", "CREDENTIALS")
    for separator in (":", "'", '"', " ", "='", '="')])  # fmt: skip
"""Where a secret label's value may follow (``api_key:``, ``password '``, ``token ``): a label and the first
character after it, so ``api_key=`` in a URL (a query parameter's, ``QUERY_PARAM``) does not run the pattern.
``Token`` is the token scheme's trigger too (``TRIGGER_INDEX`` maps a literal to every pattern it starts)."""

# (name, trigger, kept prefix, secret): a pattern runs only where its literal trigger occurs,
# found for all patterns at once by one cheap regex (one big alternation with word
# boundaries costs ~75 µs on a 270-character email body; the triggers ~3 µs).
SECRET_PATTERNS: tuple[tuple[str, str, str, str], ...] = (
    # the schemes in any usual case ("authorization: bearer ...")
    # "Bearer%20..." / "Bearer+..." too: a header value carried in a URL or a form body
    ("bearer", r"Bearer|bearer|BEARER|Basic|basic|BASIC",
     r"\b(?:Bearer|bearer|BEARER|Basic|basic|BASIC)(?:\s+|%20|\+)", r"[A-Za-z0-9._~+/=-]{8,}"),
    # "Token"/"Bot" are English words too: the credential must hold a digit or a symbol, so
    # "Token verification failed" stays text
    ("token scheme", r"Token|Bot", r"\b(?:Token|Bot)\s+", r"(?=[A-Za-z]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}"),
    ("stripe", r"sk_|rk_", "", r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"),
    ("webhook secret", r"whsec_", "", r"\bwhsec_[A-Za-z0-9+/=]{8,}"),
    ("github token", r"gh[pousr]_|github_pat_", "", r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    ("slack token", r"xox", "", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    # percent-encoded too, as a callback URL in another URL's query (``?cb=https%3A%2F%2Fhooks.slack.com%2F...``)
    ("slack webhook", r"hooks\.slack", r"hooks\.slack\.com(?:/|%2[Ff])services(?:/|%2[Ff])", r"[A-Za-z0-9_/%-]+"),
    ("aws key", r"AKIA|ASIA", "", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("google key", r"AIza", "", r"\bAIza[0-9A-Za-z_-]{35}"),
    ("sendgrid key", r"SG\.", "", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    ("resend key", r"re_", "", r"\bre_(?=[A-Za-z0-9_]*\d)[A-Za-z0-9_]{16,}"),
    ("mailgun key", r"key-", "", r"\bkey-[0-9a-f]{32}\b"),
    ("jwt", r"eyJ", "", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    ("private key", r"-----BEGIN", "",
     r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"),
    # redis://:password@host has an empty user name
    ("url credentials", r"://", r"://", r"[^/\s:@\[\]]*:[^/\s@\[\]]+(?=@)"),
    # OpenAI (sk-proj-..., sk-svcacct-..., sk-...) and Anthropic (sk-ant-api03-...) keys
    ("model provider key (OpenAI, Anthropic)", r"sk-", "", r"\bsk-[A-Za-z0-9_-]{20,}"),
    ("gitlab token", r"glpat-", "", r"\bglpat-[A-Za-z0-9_-]{20,}"),
    ("npm token", r"npm_", "", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("hugging face token", r"hf_", "", r"\bhf_[A-Za-z0-9]{30,}"),
    ("shopify token", r"shpat_|shpss_|shpca_|shppa_", "", r"\bshp(?:at|ss|ca|pa)_[A-Fa-f0-9]{32}\b"),
    ("telegram bot token", r"/bot", r"/bot", r"\d{6,}:[A-Za-z0-9_-]{30,}"),  # api.telegram.org/bot<token>/...
    # one in free text ("Bot token: 123456789:AAHdq..."): the bot's id, then its secret from "A": BotFather gives 35
    # characters ("AAH..."), Telegram's own docs show 34 ("123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"); the length is
    # not specified, so 30 to 45 (the /bot form above takes 30 or more)
    ("telegram bot token (text)", r":A", r"\b\d{5,16}:", r"A[A-Za-z0-9_-]{29,44}(?![A-Za-z0-9_-])"),
    # an AWS secret access key is 40 random characters with no prefix of its own: found by its usual label
    ("aws secret access key", r"SECRET_ACCESS_KEY|secret_access_key",
     r"\b(?:AWS_SECRET_ACCESS_KEY|aws_secret_access_key|SECRET_ACCESS_KEY|secret_access_key)[\"']?\s*[=:]\s*[\"']?",
     r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"),
    ("azure key", r"AccountKey=|SharedAccessKey=", r"\b(?:AccountKey|SharedAccessKey)=", r"[A-Za-z0-9+/]{20,}={0,2}"),
    # a value after a secret-named label in text, as error messages and logs write it: ``api_key: X``, ``x-api-key: X``,
    # ``apiKey: X``, ``{'password': 'X'}`` (a dict's repr), ``client_secret='X'``, ``token X``, ``access token is X``.
    # Quoted, any value of 8 characters or more; unquoted, one with a digit or a symbol ("password: required",
    # "token expired" stay prose). ``api_key=X`` unquoted is a query or form parameter's (``QUERY_PARAM``).
    ("secret label", _LABEL_TRIGGERS,
     # "key" only as an API, private, secret or access key's ("monkey: ..." is no label); told after it, by
     # look-behinds, so every branch starts with a letter sre scans for
     r"(?i:key(?:(?<=apikey)|(?<=api[_-]key)|(?<=privatekey)|(?<=private[_-]key)|(?<=secretkey)|(?<=secret[_-]key)"
     r"|(?<=accesskey)|(?<=access[_-]key))|pass(?:word|wd|phrase)|pwd|secret|token|credentials)"
     r"(?:[\"']?\s*:\s*[\"']?|\s*=\s*[\"']|\s+(?:is\s+)?)",
     r"(?:(?<=[\"'])[A-Za-z0-9._~+/=-]{8,}|(?<![\"'])(?=[A-Za-z]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,})"
     r"(?![A-Za-z0-9._~+/=:\[-])"),  # whole, and not a Telegram bot's id before its token ("token: 123:AA...")
)


def _literals(trigger: str) -> list[str]:
    """The literal strings a pattern's trigger stands for (``gh[pousr]_`` is five of them)."""
    out: list[str] = []
    for literal in trigger.replace("\\", "").split("|"):
        out += [f"gh{c}_" for c in "pousr"] if literal == "gh[pousr]_" else [literal]
    return out


def _trie(literals: list[str]) -> str:
    """One regex for many literals, as a trie: ``s(?:k(?:_|\\-)|h...)`` instead of ``sk_|sk-|shpat_|...``.

    At each position the plain alternation tried every literal in turn (~40 of them, many
    starting with a common letter: s, r, e, k); the trie tests one character per step:
    0.2-0.4 µs instead of 1.7 µs on a 100-character error message. No literal is a prefix
    of another, so at most one matches at any position, the one the alternation matched.
    """
    tree: dict[str, Any] = {}
    for literal in literals:
        node = tree
        for char in literal:
            node = node.setdefault(char, {})

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + emit(child) for char, child in node.items()]
        if len(branches) <= 1:
            return "".join(branches)
        return "(?:" + "|".join(branches) + ")"

    for literal in literals:
        node = tree
        for char in literal:
            node = node[char]
        assert not node, f"{literal!r} is a prefix of another trigger"
    return emit(tree)


# Named groups would tell which trigger matched, but they stop sre's literal-prefix
# scan (60 µs instead of 3 µs on an email body): the matched text says it instead.
TRIGGER = re.compile(_trie(list(dict.fromkeys(
    literal for _, trigger, _, _ in SECRET_PATTERNS for literal in _literals(trigger)))))
TRIGGER_ALTERNATION = re.compile("|".join(trigger for _, trigger, _, _ in SECRET_PATTERNS))
"""``TRIGGER`` as it was first written, an alternative per pattern: the same matches (the tests check it)."""
TRIGGER_INDEX: dict[str, tuple[int, ...]] = {}
"""The patterns a trigger's literal starts (``key`` both a Mailgun key's and a secret label's)."""
for _i, (_, _trigger, _, _) in enumerate(SECRET_PATTERNS):
    for _literal in _literals(_trigger):
        TRIGGER_INDEX[_literal] = (*TRIGGER_INDEX.get(_literal, ()), _i)


def _which(literals: list[str]) -> Iterable[int]:
    """The patterns to run for the triggers found, in the list's order (no Python-level call but this one)."""
    return TRIGGER_INDEX[literals[0]] if len(literals) == 1 else sorted(set().union(*map(TRIGGER_INDEX.__getitem__,
                                                                                         literals)))


_PATTERNS = tuple(
    (name, re.compile(f"(?P<keep>{keep}){secret}")) for name, _, keep, secret in SECRET_PATTERNS
)


def find_secrets(text: str) -> list[tuple[str, re.Match[str]]]:
    """Every credential-looking value in ``text``: (pattern name, match)."""
    found: list[tuple[str, re.Match[str]]] = []
    for index in _which(TRIGGER.findall(text)):
        name, pattern = _PATTERNS[index]
        found.extend((name, m) for m in pattern.finditer(text))
    return found


SECRET_TOKEN = re.compile(r"[A-Za-z0-9_.~+/-]{8,}={0,2}")
"""A run of a credential's characters long enough to be one (8+): how a value dropped at a secret place
(an ``X-Api-Key`` header, a ``password`` field, ``?api_key=``) is found again where it is echoed."""


PIECE = re.compile(r"[A-Za-z0-9_~+-]{4,}={0,2}")
"""A part of a token between ``/``, ``.`` and ``%``-escapes (4 characters or more): how a dropped value is found
quoted in a URL's path (``/v1/keys/KEY/usage``) or percent-encoded (``_Text._echoes``)."""


def drop_secrets(text: str) -> str:
    """``text`` with every credential-looking value replaced by the marker (its prefix kept)."""
    found = TRIGGER.findall(text)  # the matched literals (no groups), without a match object each
    if not found:
        return text
    for index in TRIGGER_INDEX[found[0]] if len(found) == 1 else sorted(set().union(*map(TRIGGER_INDEX.__getitem__,
                                                                                          found))):
        if index == _URL_CREDENTIALS and "@" not in text:
            continue  # user:password ends where the host starts, at an "@" (the pattern's look-ahead)
        text = _PATTERNS[index][1].sub(secret_repl, text)
    return text


_URL_CREDENTIALS = next(i for i, (name, _, _, _) in enumerate(SECRET_PATTERNS) if name == "url credentials")


QUERY_PARAM = re.compile(r"(^|[?&;\s])([A-Za-z0-9_.~%\[\]-]+)=([^&\s'\"#<>]*)", re.M)
"""A URL query parameter, wherever a URL appears (a ``url`` field, an error message, a body),
or a form field (``client_secret=...&grant_type=...``: the first one at the start of the text)."""
_QUERY_NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~%[]-"


def query_start(text: str) -> int:
    """Where a ``QUERY_PARAM`` scan of ``text`` may start (``query_sub``'s reasoning): the character ahead of
    the name before the first ``=`` (0 if none: the scan then finds nothing)."""
    first = text.find("=")
    return max(0, len(text[:first].rstrip(_QUERY_NAME_CHARS)) - 1) if first >= 0 else len(text)


def query_sub(repl: Callable[[re.Match[str]], str], text: str) -> str:
    """``QUERY_PARAM.sub(repl, text)``, its scan started where the first match can start.

    Every match is a name run ended by ``=`` (the name class holds no ``=``), after a
    delimiter or at the very start: none starts before the character ahead of the name
    before the first ``=``. That character is no name character, so ``^`` matches no name
    at the cut. An error message quoting a URL is scanned from its query, not its start.
    """
    first = text.find("=")
    if first < 0:
        return text
    start = len(text[:first].rstrip(_QUERY_NAME_CHARS)) - 1
    if start <= 0:
        return QUERY_PARAM.sub(repl, text)
    return text[:start] + QUERY_PARAM.sub(repl, text[start:])


_LOCAL_CHARS = r"\w.%+!#$&'*=?^`{|}~-"
"""A local part's characters: RFC 5322's atext (``o'brien``, ``a+b``, ``x!y#z``; not ``/``, which a URL's path
would run into), the dot, and ``%`` for a percent-encoded address."""
_NOT_FIRST = "'`*{|}"
"""Local-part characters an address is not taken to start with: the quote, backtick, asterisk, brace or bar prose,
Markdown and tables put around it (``'ada@x.com'``, ``**ada@x.com**``, ``|ada@x.com|``)."""
EMAIL = re.compile(
    r'(?:"[^"\\\r\n@]{1,64}"'  # a quoted local part ("john doe"@example.com)
    rf"|[{''.join(c for c in _LOCAL_CHARS if c not in _NOT_FIRST)}][{_LOCAL_CHARS}]*)"
    r"(?:@|%40)[^\W_][\w-]*(?:\.[\w-]+)*\.[^\W\d_]{2,}"
)
"""An email address, internationalized ones too (RFC 6531: ``zoë@gmail.com``, ``ann@müller.de``):
with ASCII letters only the match began after the last non-ASCII letter, leaving the name in front
of it in clear (``josé.garcí`` + a fake), or found nothing at an IDN domain. Percent-encoded too
(``ada%40gmail.com``), as a form body or a URL's query writes it: see ``email_address``. Its local part
holds RFC 5322's characters (``o'brien``: only ``brien`` was found, ``o'`` stayed in clear) or is quoted
(``"john doe"@...``); a query's ``to=`` before it is cut off by ``email_cut``."""


_LOCAL_RUN = re.compile(f"[{_LOCAL_CHARS}]*")
_QUERY_PREFIX = re.compile(r"(?:[A-Za-z0-9_.~%\[\]+-]*[?&=])+")
"""What an ``EMAIL`` match may start with that is no address's: a URL query's or form body's names and delimiters
(``?to=``, ``a=1&email=``), as ``=``, ``?`` and ``&`` are local-part characters too."""


def email_cut(found: str) -> int:
    """Where the address starts in an ``EMAIL`` match (0, or after a query's ``name=`` it took in)."""
    if found[0] == '"':
        return 0
    at = found.find("@")
    local = found[: at if at >= 0 else found.find("%40")]
    prefix = _QUERY_PREFIX.match(local)
    return 0 if prefix is None or prefix.end() >= len(local) else prefix.end()


def _run_end(text: str, pos: int = 0) -> int:
    """Where the run of local-part characters from ``pos`` ends (``_LOCAL_RUN`` matches the empty run too)."""
    run = _LOCAL_RUN.match(text, pos)
    assert run is not None  # a pattern of one starred class always matches
    return run.end()


def _local_start(text: str, pos: int, first: int) -> int:
    """Where an address ending at ``first`` (an ``@`` or ``%40``) can start, not before ``pos``: the start of the run
    of local-part characters before it (matched on the text reversed from ``first``), past the characters no
    address starts with; or the opening quote of a quoted local part."""
    start = first - _run_end(text[pos:first][::-1])
    if start == first and first > pos and text[first - 1] == '"':
        quote = text.rfind('"', max(pos, first - 66), first - 1)
        return quote if quote >= 0 else first
    while start < first and text[start] in _NOT_FIRST:
        start += 1
    return start


def email_matches(text: str) -> Iterator[re.Match[str]]:
    """``EMAIL.finditer(text)``, in time linear in ``len(text)``.

    A regular-expression scan tries every start in a run of local-part characters, each taking
    the rest of the run and backtracking through it: quadratic in the run (an address
    ahead of a 20,000-character token took 10 s to redact). A match's local part is
    such a run ending at an ``@`` or ``%40`` (or a quoted one); when none starts at the first place one can,
    none starts later in that run either (a later start has only the same endings, and
    fewer), so the search goes on after the run. ``EMAIL`` has no anchor or look-behind:
    matching at a position gives what the scan gives there.
    """
    pos, at, encoded, length = 0, -1, -1, len(text)
    while pos < length:
        if at < pos:
            at = text.find("@", pos)
            if at < 0:
                at = length + 1
        if encoded < pos:
            encoded = text.find("%40", pos)
            if encoded < 0:
                encoded = length + 1
        first = min(at, encoded)  # the first place a local part can end
        if first > length:
            return
        start = _local_start(text, pos, first)
        match = EMAIL.match(text, start)
        if match is not None:
            yield match
            pos = match.end()
        else:  # none from here to the end of this run
            pos = max(_run_end(text, start), first + 1)


SHORT_TEXT = 256
"""Texts up to this long are rewritten by ``EMAIL.sub`` itself, from the first place a match can start: faster
than ``email_matches``'s loop (2.8 against 4.8 µs for a lone address), and its quadratic worst case is short."""


def email_sub(repl: Callable[[re.Match[str]], str], text: str) -> str:
    """``EMAIL.sub(repl, text)``, in linear time (``email_matches``) for long texts."""
    if len(text) <= SHORT_TEXT:
        at, encoded = text.find("@"), text.find("%40")
        first = at if encoded < 0 else encoded if at < 0 else min(at, encoded)
        if first < 0:
            return text
        start = _local_start(text, 0, first)
        return EMAIL.sub(repl, text) if start <= 0 else text[:start] + EMAIL.sub(repl, text[start:])
    pieces: list[str] = []
    last = 0
    for match in email_matches(text):
        pieces += text[last : match.start()], repl(match)
        last = match.end()
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def email_address(found: str) -> tuple[str, bool]:
    """An ``EMAIL`` match as an address, and whether it was percent-encoded (its fake is encoded back)."""
    if "@" in found:
        return found, False
    return unquote(found), True
PHONE = re.compile(
    r"(?<![\w+.,/-])(?:"
    r"(?:\+|%2[Bb])\d{1,15}(?:[ .-]?\(\d{1,4}\)[ .-]?\d{1,14})?(?:(?:[ .+-]|%20)\d{1,14}){0,6}"  # +44 20 7946 0958
    r"|(?:1[ .-]?)?\(\d{3}\) ?\d{3}[ .-]\d{4}"  # (415) 555-0100
    r"|(?:1-)?\d{3}-\d{3}-\d{4}|\d{3}\.\d{3}\.\d{4}"  # 415-555-0100, 1-800-555-0199, 415.555.0100
    r")(?: ?(?:x|ext\.?) ?\d{1,6})?(?![\w@%]|[.,:-]\d)"
)
"""A phone number in free text: international (``+`` or a URL's ``%2B``, then 8-15 digits in groups
separated by a space, dot or dash, or in a URL a ``+`` or ``%20``;
see ``phone_number``) or North American with its usual separators. Bare digit runs and national
formats with spaces only (``020 7946 0958``) are left alone: ids, ns timestamps and amounts look
the same. Not inside a word, a number or a date (the look-arounds), not before ``@`` (an email's)."""
PHONE_HINT = re.compile(r"[-.(+B]\d")
"""What every ``PHONE`` match holds: one character class then a digit, which sre scans for ~10x
faster than ``PHONE`` (whose look-behind runs at every position) rules a string out."""


def phone_number(match: re.Match[str]) -> bool:
    """A ``PHONE`` match is a phone number: E.164's 8-15 digits after a ``+``, and not a signed
    decimal (``+1234567.89``: one group after a single dot is an amount)."""
    text = match.group(0)
    if text[0] not in "+%":
        return True
    digits = sum(c.isdigit() for c in text.replace("%20", " ").partition("x")[0].partition("e")[0]) - (text[0] == "%")
    if not 8 <= digits <= 15:
        return False
    body = text[3:] if text[0] == "%" else text[1:]
    return not (body.count(".") == 1 and body.replace(".", "").isdigit())


_UPPER = "".join(c for c in map(chr, range(0x2000)) if c.isupper())
WORD = re.compile(
    f"[{_UPPER}](?:['\u2019][{_UPPER}])?[^\\W\\d_]+(?:(?:['\u2019](?![sS]\\b)|-)[^\\W\\d_]+)*"
)  # fmt: skip
"""A capitalised word (a name's): O'Brien, D\u2019Angelo, Jean-Luc, Zoë, Ångström, and "Ada" in "Ada's".

The first letter is an upper-case one of the Latin, Greek, Cyrillic, Armenian and Latin-extended
(Vietnamese) blocks, the rest letters of any script. With ASCII letters only, "Zoë Ångström" was
the word "Zo" and nothing (pseudonymized as "Theodoreë Ångström"); a possessive was part of the
word ("Lovelace's", an unknown word, kept the surname in clear), and "O'Brien" was "Brien"."""
WORD_FIRST_WRITTEN = re.compile(
    f"(?:[{_UPPER}]['\u2019])?[{_UPPER}][^\\W\\d_]+(?:(?:['\u2019](?![sS]\\b)|-)[^\\W\\d_]+)*"
)  # fmt: skip
"""``WORD`` as it was first written (the optional apostrophe prefix first): the same matches, without
sre's scan for the first letter, ~5x slower. The tests check the two agree."""
LOWER_WORD = re.compile(r"[^\W\d_]+")
"""A run of letters: the words of a name written in lower case ("ada lovelace", "ada-lovelace")."""
CAPITAL = re.compile(f"[{_UPPER}]")
"""A letter ``WORD`` may start with: a string without one holds no name's word."""
GREETINGS = frozenset({"Hi", "Hello", "Hey", "Dear", "Welcome", "Thanks", "Thank", "Congratulations", "Congrats",
                       "Bye", "Goodbye", "Cheers", "Attn", "Attention"})
"""Words after which a capitalised word is a person's name ("Hi June," "Dear Mark"), as after an honorific."""
_CAPITALISED = """
january february march april may june july august september october november december monday tuesday wednesday
thursday friday saturday sunday christmas easter ok okay us usa uk eu
"""
CAPITALISED_WORDS = frozenset(_CAPITALISED.split())
"""Ordinary words English capitalises anywhere (months, days, "OK"): a capital says nothing of a name there."""
_NAME_WORDS = """
spring summer autumn fall winter will mark grace hope faith joy rose lily iris ivy daisy violet ruby pearl
amber jade crystal holly heather dawn bill jack frank pat sue rich art grant dean chase hunter cliff miles ray
rob guy don drew gene ken max sky river brown green white black gray grey young king wood stone hill price
bell rice cash lane page wells banks rivers long little love bishop cook baker gold silver star sterling major
marshall judge chance sage reed field case penny rusty sandy melody harmony destiny trinity august justice
honor noble royal
"""


@functools.lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """Lower-case English words that are also first or last names ("Mark your calendar", "starts in June",
    "Grace period", "Status: OK"): a name's word that is one is rewritten in free text only where the text
    makes it a name (``jobsim._redacttext``). Faker's own English word list (~1,000 words) and these."""
    try:
        from faker.providers.lorem.en_US import Provider

        words = {word.lower() for word in Provider.word_list}
    except ImportError:  # pragma: no cover - faker is a dependency
        words = set()
    return frozenset(words | set(_NAME_WORDS.split()) | CAPITALISED_WORDS)


HONORIFICS = frozenset({"Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "Sir", "Jr", "Sr", "II", "III", "IV"})

_PII_KEYS: dict[str, str] = {
    **dict.fromkeys(("fullname", "firstname", "lastname", "givenname", "familyname", "surname", "middlename",
                     "displayname", "customername", "contactname", "recipientname", "billingname",
                     "shippingname", "cardholdername", "accountname", "fname", "lname", "nickname"), "name"),
    **dict.fromkeys(("username", "login", "handle", "screenname"), "username"),
    **dict.fromkeys(("mobile", "tel", "telephone", "cell", "cellphone", "fax", "msisdn"), "phone"),
    **dict.fromkeys(("address", "street", "streetaddress", "address1", "address2", "addressline1",
                     "addressline2", "line1", "line2"), "address"),
    **dict.fromkeys(("ip", "ips", "ipaddress", "ipaddresses", "clientip", "clientips", "remoteip", "remoteips",
                     "remoteaddr", "ipv4", "ipv6", "ipv4s", "ipv6s", "iplist", "ipaddrs",
                     "xforwardedfor", "xrealip", "xclientip", "cfconnectingip", "trueclientip",
                     "fastlyclientip", "xoriginalforwardedfor"), "ip"),
}  # fmt: skip


_NOT_ALNUM = re.compile(r"[^a-z0-9]")


@functools.lru_cache(maxsize=4096)
def normalize_key(key: str) -> str:
    """``"X-Api_Key"`` -> ``"xapikey"``: how field and parameter names are matched (few, asked often)."""
    return _NOT_ALNUM.sub("", key.lower())


_SECRET_HEADERS_NORM = frozenset(normalize_key(h) for h in _SECRET_HEADERS)
_SECRET_HEADER_PARTS_NORM = tuple({normalize_key(p) for p in _SECRET_HEADER_PARTS} | {"auth"})


def secret_header(name: str) -> bool:
    """Authorization, cookies, API keys, tokens: matched on the name without case or punctuation,
    so ``api_key``, ``X_Api_Key``, ``x-auth``, ``Authentication`` and ``X-Custom-Auth`` count."""
    norm = normalize_key(name)
    return norm in _SECRET_HEADERS_NORM or any(part in norm for part in _SECRET_HEADER_PARTS_NORM) or (
        norm.startswith("x") and norm.endswith("key")
    )


def secret_key(key: str) -> bool:
    norm = normalize_key(key)
    return norm in _SECRET_KEYS or norm.endswith(_SECRET_KEY_SUFFIXES)


@functools.lru_cache(maxsize=4096)
def secret_query(name: str) -> bool:
    """A query parameter or form field named for a secret: a JSON field's secret names count too (``passwd``,
    ``ssn``), and a nested field's own name (``card[cvc]``, ``user[password]``: see ``query_field``)."""
    plain = unquote(name)
    field = query_field(plain)
    return any(norm in _SECRET_QUERY or norm in _SECRET_KEYS or norm.endswith(_SECRET_QUERY_SUFFIXES)
               for norm in {normalize_key(plain), normalize_key(field)})  # fmt: skip


def query_field(name: str) -> str:
    """A form field's own name inside the brackets Rails, PHP and Stripe nest fields with (``card[cvc]`` ->
    ``cvc``, ``customer[address][line1]`` -> ``line1``, ``emails[]`` -> ``emails``); any other name as it is.
    Give it decoded (``card%5Bcvc%5D`` is ``card[cvc]``)."""
    if not name.endswith("]"):
        return name
    while name.endswith("[]"):
        name = name[:-2]
    cut = name.rfind("[")
    return name[cut + 1 : -1] if cut >= 0 and name.endswith("]") else name


_CARD_NUMBER_KEYS = frozenset({"number", "pan"})
_CARD_SIBLINGS = frozenset({
    "expmonth", "expyear", "exp", "expiry", "expires", "expiration", "expirationdate", "expirationmonth",
    "expirationyear", "cvc", "cvv", "cvv2", "cvc2", "securitycode",
})  # fmt: skip


def card_object(data: dict[Any, Any]) -> bool:
    """``data`` is a payment card (Stripe's ``card: {number, exp_month, exp_year, cvc}``): a plain
    ``number`` or ``pan`` in it is the card number. Told by its siblings, as a plain ``name`` is a
    person's beside an email: a ``number`` alone is an order's, a house's, a page's."""
    return any(isinstance(key, str) and normalize_key(key) in _CARD_SIBLINGS for key in data)


def card_number_key(key: str) -> bool:
    return normalize_key(key) in _CARD_NUMBER_KEYS


def classify_key(key: str) -> str | None:
    """The built-in action for a field name: ``drop``, a pseudonym kind, ``name?``, ``card?`` or ``None``."""
    if secret_key(key):
        return "drop"
    norm = normalize_key(key)
    found = _PII_KEYS.get(norm)
    if found is not None:
        return found
    if "email" in norm:
        return "email"
    if "phone" in norm:
        return "phone"
    if norm.endswith("address") and not norm.endswith(("emailaddress", "ipaddress")):
        return "address"
    if norm.endswith("fullname"):
        return "name"
    if norm in _CARD_NUMBER_KEYS:
        return "card?"
    return "name?" if norm == "name" else None


def query_repl(match: re.Match[str]) -> str:
    """``QUERY_PARAM.sub`` replacement: a secret parameter's value becomes the marker."""
    value = match.group(3)
    if value and value != MARKER and secret_query(match.group(2)):
        return f"{match.group(1)}{match.group(2)}={MARKER}"
    return match.group(0)


def secret_repl(match: re.Match[str]) -> str:
    """A credential pattern's replacement: the marker, after what the pattern keeps (``Bearer ``)."""
    return match.group("keep") + MARKER

"""Stable fake personal data, keyed by HMAC (Faker itself is reached through ``_fakedata``).

Every pseudonym is derived from ``HMAC-SHA256(key, kind \\0 value)``, so the same
value maps to the same fake everywhere in a trace and in every trace written with
the same key, and nobody without the key can recompute the mapping
(``reference/traces.md`` §4). The shapes are Faker's: names are picked from the
Faker locale's own first- and last-name lists by the digest's bytes, and email
addresses are built from those names; phone numbers, street addresses, IPs and
usernames come from a Faker instance seeded (``seed_instance``, never the
class-wide ``Faker.seed``) with the digest. Picking from the lists costs ~3 µs a
value where seeding Faker costs ~30 µs, and a trace of a million records may hold
tens of thousands of people. Fakes depend on the Faker version, which the trace
header records.

Fake email addresses use the domains RFC 2606 reserves (example.com, .net, .org),
which redaction never rewrites: pseudonymizing a pseudonym leaves it alone, so a
replay of a redacted trace sends mail to the very addresses the trace holds.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from typing import Any

from ._fakedata import new_faker, person_names

_FAKE_DOMAINS = ("example.com", "example.net", "example.org")
_RESERVED_NAMES = frozenset({"example.com", "example.net", "example.org", "localhost", "example", "test", "invalid"})
_RESERVED_SUFFIXES = (".example.com", ".example.net", ".example.org", ".example", ".test", ".invalid", ".localhost")


def reserved_domain(domain: str) -> bool:
    """Domains no real person has mail at (RFC 2606, RFC 6761): kept as they are."""
    domain = domain.lower().rstrip(".")
    return domain in _RESERVED_NAMES or domain.endswith(_RESERVED_SUFFIXES)


@functools.lru_cache(maxsize=16)
def key_fingerprint(key: bytes) -> str:
    """A short digest naming the key in trace headers, slow to search for the key from.

    Headers are shared with the traces, and team keys are often short phrases: a plain
    hash of one can be brute-forced offline in seconds. scrypt with the interactive
    parameters of its paper (N=2**14, r=8, p=1: 16 MiB, ~0.1 s) makes every guess
    cost that much. Computed once per key per process. 64 bits are enough to tell keys apart.
    """
    digest = hashlib.scrypt(key, salt=b"jobsim redaction key fingerprint", n=1 << 14, r=8, p=1, dklen=8)
    return "scrypt:" + digest.hex()


class Pseudonyms:
    """Fakes for one key; each distinct value is faked once (seeding Faker costs ~30 µs)."""

    def __init__(self, key: bytes, locale: str = "en_US") -> None:
        self._key = key
        self._locale = locale
        self._faker: Any = None
        self._first_names: frozenset[str] = frozenset()
        self._last_names: frozenset[str] = frozenset()
        self._firsts: tuple[str, ...] = ()
        self._lasts: tuple[str, ...] = ()
        self._cache: dict[tuple[str, str], str] = {}

    def _digest(self, kind: str, value: str) -> bytes:
        # hmac.digest: the one-shot C HMAC, a third of hmac.new(...).digest()'s time
        return hmac.digest(self._key, f"{kind}\0{value}".encode(), "sha256")

    def _lists(self) -> None:
        if self._faker is None:
            self._faker = new_faker(self._locale)
            firsts, lasts = person_names(self._faker)
            self._first_names, self._last_names = frozenset(firsts), frozenset(lasts)
            self._firsts, self._lasts = tuple(sorted(firsts)), tuple(sorted(lasts))

    def _seeded(self, kind: str, value: str) -> tuple[Any, int]:
        seed = int.from_bytes(self._digest(kind, value)[:8], "big")
        self._lists()
        self._faker.seed_instance(seed)
        return self._faker, seed

    def _pick(self, digest: bytes, names: tuple[str, ...], at: int) -> str:
        return names[int.from_bytes(digest[at : at + 4], "big") % len(names)]

    def _fake(self, kind: str, value: str) -> str:
        cached = self._cache.get((kind, value))
        if cached is None:
            cached = self._cache[(kind, value)] = _MAKERS[kind](self, value)
        return cached

    def email(self, address: str) -> str:
        return self._fake("email", address.strip().lower())

    def name_token(self, token: str, leading: bool = False) -> str:
        """One word of a person's name: a first name for a first name, else a last name.

        A word the locale's lists do not know is a first name when it leads a name
        (``leading``): "Ada Lovelace" -> "Maria Jones", not "Rivera Jones".
        """
        cached = self._cache.get(("token", token))
        if cached is None:
            cached = self._cache[("token", token)] = self._make_token(token, leading)
        return cached

    def full_name(self, value: str) -> str:
        return self._fake("name", value)

    def phone(self, value: str) -> str:
        return self._fake("phone", value)

    def address(self, value: str) -> str:
        return self._fake("address", value)

    def ip(self, value: str) -> str:
        return self._fake("ip", value)

    def username(self, value: str) -> str:
        return self._fake("username", value)

    # -- makers (cache misses) ----------------------------------------------------------------
    def _make_email(self, address: str) -> str:
        digest = self._digest("email", address)
        self._lists()
        first, last = _ascii(self._pick(digest, self._firsts, 0)), _ascii(self._pick(digest, self._lasts, 4))
        number, shape = f"{digest[8] % 100:02d}", digest[9] % 4  # only the local part's chosen shape is built
        if shape == 0:
            local = f"{first}.{last}{number}"
        elif shape == 1:
            local = f"{first[0]}{last}{number}"
        else:
            local = f"{first}{number}" if shape == 2 else f"{first}_{last}"
        return f"{local}@{_FAKE_DOMAINS[digest[10] % 3]}"

    def _make_token(self, token: str, leading: bool = False) -> str:
        digest = self._digest("token", token)
        self._lists()
        first = token in self._first_names or (leading and token not in self._last_names)
        return self._pick(digest, self._firsts if first else self._lasts, 0)

    def _make_name(self, value: str) -> str:
        faker, _ = self._seeded("name", value)
        return str(faker.name())

    def _make_phone(self, value: str) -> str:
        faker, _ = self._seeded("phone", value)
        return str(faker.phone_number())

    def _make_address(self, value: str) -> str:
        faker, _ = self._seeded("address", value)
        return str(faker.street_address())

    def _make_ip(self, value: str) -> str:
        faker, _ = self._seeded("ip", value)
        return str(faker.ipv6() if ":" in value else faker.ipv4())

    def _make_username(self, value: str) -> str:
        faker, seed = self._seeded("username", value)
        return f"{faker.user_name()}{seed % 100:02d}"

    def is_first_name(self, token: str) -> bool:
        self._lists()
        return token in self._first_names


_MAKERS = {
    "email": Pseudonyms._make_email, "name": Pseudonyms._make_name,
    "phone": Pseudonyms._make_phone, "address": Pseudonyms._make_address, "ip": Pseudonyms._make_ip,
    "username": Pseudonyms._make_username,
}  # fmt: skip


@functools.lru_cache(maxsize=8192)
def _ascii(name: str) -> str:
    """A name as it may appear in an email address: lower case, ASCII letters only (the locale's few names)."""
    import unicodedata

    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalpha()) or "user"


def faker_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("faker")
    except PackageNotFoundError:  # pragma: no cover - faker is a dependency
        return "unknown"

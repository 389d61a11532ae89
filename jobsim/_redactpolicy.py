"""The redaction policy: ``Redaction`` (what ``Trace.save`` drops and pseudonymizes, checked when made) and
``policy_for`` (``save(redact=...)`` read). ``jobsim._redact`` describes the rules and applies them."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Container, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._checks import init_keywords_checked
from ._pseudonyms import faker_version, key_fingerprint
from ._secrets import normalize_key
from .errors import InvalidArgument

if TYPE_CHECKING:
    from ._redact import Redactor

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
    rules: Mapping[str, str] = dataclasses.field(init=False, repr=False, compare=False, default_factory=dict)
    """``fields`` by normalized name (``xapikey``), as redaction looks them up; ``fields`` stays as written, for the
    header (``api_token`` was recorded as ``apitoken``)."""

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
            if "." in name.strip("."):  # matched as "usersecretanswer", which no nested field is: it did nothing
                own = name.rsplit(".", 1)[1]
                raise InvalidArgument.build("fields", {name: action}, f"field names, not paths: a rule matches the "
                                            f"field at any depth ({{{own!r}: {action!r}}}); a flat key holding a dot "
                                            f"is matched punctuation-blind ({name.replace('.', '_')!r})")
        object.__setattr__(self, "keep_domains", _domains(self.keep_domains))
        for argument in ("headers", "keep_headers"):
            value = getattr(self, argument)
            accepted = f"a tuple of {argument.split('_')[-1][:-1]} names"
            if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):  # None, 3: not a list at all
                raise InvalidArgument.build(argument, value, accepted)
            items = tuple(value)
            if not all(isinstance(h, str) for h in items):
                raise InvalidArgument.build(argument, value, accepted)
            object.__setattr__(self, argument, tuple(h.lower() for h in items))
        # Faker([]), Faker(3) and Faker("xx_YY") fail only when used: at save time, after the run
        if not isinstance(self.locale, str) or self.locale.replace("-", "_") not in _locales():
            raise InvalidArgument.build("locale", self.locale, "a Faker locale name such as 'en_US' or 'de_DE'")
        object.__setattr__(self, "fields", dict(self.fields))
        object.__setattr__(self, "rules", {normalize_key(k): v for k, v in self.fields.items()})

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
        from ._redact import Redactor  # which imports this module

        return Redactor(self, keep, phones)


def _locales() -> Container[str]:
    from faker.config import AVAILABLE_LOCALES  # Faker's own list, what Faker(locale) accepts

    return AVAILABLE_LOCALES


def _domains(value: Any) -> tuple[str, ...]:
    """``keep_domains`` as matched: lower case, ``@acme.com`` and ``*.acme.com`` read as ``acme.com`` (kept with its
    subdomains anyway); anything else that is no domain name refused, since it would keep nothing."""
    accepted = "a tuple of domain names such as ('acme.com',) (each kept with its subdomains)"
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):  # None, 3: not a list at all
        raise InvalidArgument.build("keep_domains", value, accepted)
    items = tuple(value)
    out = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidArgument.build("keep_domains", value, accepted)
        domain = item.strip().lower().removeprefix("@").removeprefix("*.").rstrip(".")
        if not domain or any(c in domain for c in "@*/: ") or ".." in domain or domain.startswith("."):
            raise InvalidArgument.build("keep_domains", value, accepted)
        out.append(domain)
    return tuple(out)


def policy_for(redact: Any) -> Redaction | None:
    """``save(redact=...)``: ``None``/``True`` -> the default policy, ``False`` -> none."""
    if redact is None or redact is True:
        return Redaction()
    if redact is False:
        return None
    if isinstance(redact, Redaction):
        return redact
    raise InvalidArgument.build("redact", redact, "a jobsim.Redaction, True (the default policy) or False (none)")

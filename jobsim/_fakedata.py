"""Fake payload data from Faker: the one place jobsim uses it.

Each ``FakeData`` owns its own ``Faker`` and reseeds it per payload with
``seed_instance`` (never the global ``Faker.seed``), so a payload is a pure function
of its seed: the same seed always gives the same dict. ``jobsim.strategies`` draws
that seed from Hypothesis, which makes faker-backed payloads replay and shrink
exactly (towards the payload of seed 0).
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Mapping
from typing import Any

from .errors import InvalidArgument

DEFAULT_FIELDS: dict[str, str] = {"id": "uuid4", "userId": "uuid4", "email": "email", "name": "name"}
"""What an event's payload holds when the user gives no strategy for it."""


class FakeData:
    """``payload(seed)``: a dict whose values come from the named Faker providers."""

    def __init__(self, fields: Mapping[str, str] | None = None, *, locale: str = "en_US") -> None:
        self.fields = dict(DEFAULT_FIELDS if fields is None else fields)
        self.locale = locale
        self._faker: Any = None
        self._check()

    def _check(self) -> None:
        if not self.fields:
            raise InvalidArgument.build("fields", self.fields, "at least one field=provider pair")
        faker = self.faker()
        for field, provider in self.fields.items():
            method = getattr(faker, provider, None) if isinstance(provider, str) else None
            if not callable(method):
                accepted = "the name of a Faker provider method, such as 'email', 'name', 'uuid4', 'city' or 'sentence'"
                raise InvalidArgument.build(f"fields[{field!r}]", provider, accepted)
        self.payload(0)  # every provider must run without arguments and give plain data

    def faker(self) -> Any:
        if self._faker is None:
            from faker import Faker

            if not isinstance(self.locale, str) or not self.locale:
                raise InvalidArgument.build("locale", self.locale, "a Faker locale such as 'en_US'")
            try:
                self._faker = Faker(self.locale)
            except AttributeError:
                raise InvalidArgument.build("locale", self.locale, "a Faker locale such as 'en_US'") from None
        return self._faker

    def payload(self, seed: int) -> dict[str, Any]:
        faker = self.faker()
        faker.seed_instance(seed)
        out = {}
        with _fixed_now():  # Faker's dates count back from "now": pin it, or seed s is not one payload
            for field, provider in self.fields.items():
                try:
                    out[field] = _plain(getattr(faker, provider)())
                except TypeError as exc:
                    accepted = f"a provider callable without arguments ({exc})"
                    raise InvalidArgument.build(f"fields[{field!r}]", provider, accepted) from None
        return out

    def __repr__(self) -> str:
        return f"FakeData({self.fields!r}, locale={self.locale!r})"


FIXED_NOW = "2025-01-01T00:00:00Z"
"""The "now" Faker's relative dates (``date_time``, ``past_date``, ...) are drawn against."""


def _fixed_now() -> Any:
    try:
        import time_machine
    except ImportError:  # pragma: no cover - PyPy: freezegun instead
        import freezegun

        return freezegun.freeze_time(FIXED_NOW)
    return time_machine.travel(FIXED_NOW, tick=False)


def _plain(value: Any) -> Any:
    """Faker values as event data holds them (JSON): dates as ISO text, decimals as floats."""
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def new_faker(locale: str = "en_US") -> Any:
    """A ``Faker`` of its own for ``locale`` (trace pseudonyms seed it per value, ``jobsim._pseudonyms``)."""
    from faker import Faker

    if not isinstance(locale, str) or not locale:
        raise InvalidArgument.build("locale", locale, "a Faker locale such as 'en_US'")
    try:
        return Faker(locale)
    except AttributeError:
        raise InvalidArgument.build("locale", locale, "a Faker locale such as 'en_US'") from None


def person_names(faker: Any) -> tuple[list[str], list[str]]:
    """The locale's first and last names (its person provider's data), for name pseudonyms."""
    for provider in faker.providers:
        firsts, lasts = getattr(provider, "first_names", None), getattr(provider, "last_names", None)
        if firsts and lasts:
            return list(firsts), list(lasts)
    return ["Alex", "Sam", "Robin", "Kim", "Jo"], ["Smith", "Jones", "Lee", "Brown", "Garcia"]

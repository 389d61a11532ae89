"""What a redacted trace already holds, for a redactor to leave alone: its pseudonyms at personal-data fields
(``pseudonyms_in``) and the phone numbers of its free text (``PhonesIn``), so a replay or a second save with
the same policy writes them as they are."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import unquote_plus

import orjson

from ._redact import Redactor
from ._redactpolicy import Redaction
from ._secrets import PHONE, PHONE_HINT, WORD, phone_number


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

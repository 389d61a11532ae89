"""Which ``@pytest.mark.jobsim`` options apply to a test: its markers merged, the closest winning.

The pytest plugin calls :func:`merged_options` with the test item. This module reads
pytest's nodes and marks by their attributes only (``iter_markers_with_node``,
``own``/``obj``, ``args``/``kwargs``), so pytest stays imported by the plugin alone.

"Closest" is defined here rather than taken from pytest's ``iter_markers``, whose order
puts a test's decorators before its ``pytest.param(marks=...)`` and a base class's
marks before its subclass's (pytest issues #10406 and #14329): either would let the
farther marker win. The levels, closest first:

1. the parameter set's marks (``pytest.param(..., marks=pytest.mark.jobsim(...))``);
2. the test's own decorators (or its ``pytestmark``);
3. markers a hook added to the test (``item.add_marker`` in a conftest): defaults;
4. each class, from the test's own up its MRO, then markers a hook added to the class;
5. the module, then its packages.

Which of two markers at *one* level is closer pytest does not define consistently
(stacked decorators against ``pytestmark`` lists: issue #7597), so two of them giving
one option two values is an error rather than a guess.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from ._safe import shown
from .errors import InvalidArgument

_ALIASES = {"timezone": "tz", "time_zone": "tz", "zone": "tz", "start_time": "start", "at": "start",
            "random_seed": "seed", "function": "functions", "only": "functions", "exclude": "exclude_functions"}
"""Names other tools use for an option, which no spelling distance finds."""

APP_NAMES = ("app", "apps", "target", "targets", "jobsim_app")
"""Keywords a user passes the marker for what to simulate, which comes from the ``jobsim_app`` fixture instead."""

APP_ADVICE = ("the app to simulate is not a marker option: it comes from a fixture named jobsim_app (in conftest.py, "
              "or in a test module for that module's tests) returning it")

Level = tuple[str, list[Any]]
"""Where markers were given (for messages) and the marks given there."""


def merged_options(item: Any, *, usage: str, accepted: Sequence[str], one_choice: Sequence[str]) -> dict[str, Any]:
    """The item's ``jobsim`` marker options, merged keyword by keyword, the closest level winning.

    ``one_choice``: options that are one choice together (``functions=`` and
    ``exclude_functions=``): a closer level giving either replaces what farther ones
    gave for all of them. Raises :class:`InvalidArgument` with the message to show.
    """
    options: dict[str, Any] = {}
    for where, marks in reversed(levels(item)):
        given = _one_level(where, marks, usage)
        if any(key in given for key in one_choice):
            for key in one_choice:
                options.pop(key, None)
        options.update(given)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        named = []
        for name in unknown:  # strat= and timezone= fail the test; name the option meant, as app.function does
            close = difflib.get_close_matches(name, accepted, n=1, cutoff=0.6) or [
                option for alias, option in _ALIASES.items() if name.lower() == alias and option in accepted]
            named.append(f"{name} (did you mean {close[0]}=?)" if close else name)
        advice = f"; {APP_ADVICE}" if set(unknown) & set(APP_NAMES) else ""
        raise InvalidArgument(f"jobsim: @pytest.mark.jobsim got unknown option(s) {', '.join(named)}; "
                              f"it accepts {', '.join(accepted)}{advice}")  # fmt: skip
    return options


def levels(item: Any) -> list[Level]:
    """The item's ``jobsim`` markers grouped by where they were given, closest first."""
    by_node: dict[int, tuple[Any, list[Any]]] = {}
    for owner, mark in item.iter_markers_with_node("jobsim"):
        by_node.setdefault(id(owner), (owner, []))[1].append(mark)
    found: list[Level] = []
    for owner, marks in by_node.values():
        obj = getattr(owner, "obj", None)
        if owner is item:
            params = [m for m in getattr(getattr(item, "callspec", None), "marks", ()) if m.name == "jobsim"]
            own = _declared(obj)
            found.append((f"pytest.param(...) of {item.name}", [m for m in marks if _among(m, params)]))
            found.append((item.name, [m for m in marks if _among(m, own) and not _among(m, params)]))
        elif isinstance(obj, type):  # a class node: its own markers, then each base class's
            for cls in obj.__mro__:
                found.append((f"class {cls.__name__}", [m for m in marks if _among(m, _declared(cls))]))
        else:
            found.append((f"{type(owner).__name__.lower()} {owner.name}", marks))
            continue
        added = [m for m in marks if not any(_among(m, level) for _, level in found)]
        found.append((f"{owner.name} (markers added by a hook)", added))
    return [(where, marks) for where, marks in found if marks]


def _declared(obj: object) -> list[Any]:
    """The marks written on a test function or on one class itself (its ``pytestmark``, not inherited)."""
    declared = obj.__dict__.get("pytestmark", []) if isinstance(obj, type) else getattr(obj, "pytestmark", [])
    return [getattr(m, "mark", m) for m in (declared if isinstance(declared, list) else [declared])]


def _among(mark: object, marks: list[Any]) -> bool:
    return any(mark is other for other in marks)


def _one_level(where: str, marks: list[Any], usage: str) -> dict[str, Any]:
    """The options the markers of one place give; one option given two values there is an error."""
    given: dict[str, Any] = {}
    for mark in marks:
        if mark.args:
            raise InvalidArgument(f"jobsim: @pytest.mark.jobsim takes keyword arguments only, got {shown(mark.args)}; "
                                  f"usage: @pytest.mark.{usage}")  # fmt: skip
        for key, value in mark.kwargs.items():
            if key in given and not _same(given[key], value):
                raise InvalidArgument(
                    f"jobsim: two @pytest.mark.jobsim markers on {where} give {key}= different values, "
                    f"{shown(given[key])} and {shown(value)}; keep one (a marker closer to the test overrides one "
                    "farther out: pytest.param(marks=...), then the test, its class, its module)"
                )
            given[key] = value
    return given


def _same(a: object, b: object) -> bool:
    try:
        return a is b or bool(a == b)
    except Exception:  # a value that cannot be compared is a different one
        return False

"""Argument checking for ``jobsim.strategies``, kept free of Hypothesis.

Every strategy checks its arguments when it is called, not when it is first drawn
from, so a mistake points at the line that made it. The checks live here so that
``strategies.py`` stays a thin layer of Hypothesis calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._faults import FAULT_KINDS, ErrorSpec, available_kinds, fault_kinds
from ._profiles import Profile, Profiles
from ._time import Duration, duration_ns, format_duration
from .errors import InvalidArgument

Target = tuple[str, "str | None"]
"""``(function_id, step_id)``; a step of ``None`` is the function body (``sim.fail(function_id)``)."""

_WHERE_HELP = (
    "a mapping of function id to step ids ({'process-order': ['reserve-inventory', None]}, None for the "
    "function body), a list of function ids or (function_id, step_id) pairs, or a jobsim.App"
)


def targets(where: Any, argument: str = "where") -> list[Target]:
    """``where`` -> distinct ``(function, step)`` pairs, in the order given."""
    from ._app import App

    pairs: list[Target] = []
    if isinstance(where, App):
        pairs = [(fid, None) for fid in where.functions]
    elif isinstance(where, Mapping):
        for function, steps in where.items():
            steps = [steps] if steps is None or isinstance(steps, str) else list(steps)
            if not steps:
                raise InvalidArgument.build(argument, dict(where), f"function {function!r} has no steps; {_WHERE_HELP}")
            pairs += [(function, step) for step in steps]
    elif isinstance(where, Iterable) and not isinstance(where, (str, bytes)):
        for item in where:
            pairs.append((item, None) if isinstance(item, str) else _pair(item, where, argument))
    else:
        raise InvalidArgument.build(argument, where, _WHERE_HELP)
    for function, step in pairs:
        if not isinstance(function, str) or not function:
            raise InvalidArgument.build(argument, where, f"function id {function!r} is not a non-empty string")
        if step is not None and (not isinstance(step, str) or not step):
            raise InvalidArgument.build(argument, where, f"step id {step!r} is not a non-empty string or None")
    if not pairs:
        raise InvalidArgument.build(argument, where, "at least one function; " + _WHERE_HELP)
    return list(dict.fromkeys(pairs))


def _pair(item: Any, where: Any, argument: str) -> Target:
    if isinstance(item, tuple) and len(item) == 2:
        return item[0], item[1]
    raise InvalidArgument.build(argument, where, f"{item!r} is neither a function id nor a pair; {_WHERE_HELP}")


def functions_of(pairs: list[Target]) -> list[str]:
    return list(dict.fromkeys(function for function, _ in pairs))


def size(name: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument.build(name, value, f"an int >= {minimum}")
    return value


def sizes(min_size: Any, max_size: Any) -> tuple[int, int]:
    low, high = size("min_size", min_size), size("max_size", max_size)
    if high < low:
        raise InvalidArgument.build("max_size", max_size, f"an int >= min_size={min_size!r}")
    return low, high


def span(min_value: Duration, max_value: Duration, resolution: Duration) -> tuple[int, int, int]:
    """``(low, high, step)`` in units of ``resolution``: what ``durations()`` draws between."""
    step = duration_ns(resolution, "resolution", allow_zero=False)
    if step % 1000:
        raise InvalidArgument.build("resolution", resolution, "a whole number of microseconds (timedelta's precision)")
    low_ns, high_ns = duration_ns(min_value, "min_value"), duration_ns(max_value, "max_value")
    low, high = -(-low_ns // step), high_ns // step
    if high_ns < low_ns:
        raise InvalidArgument.build("max_value", max_value, f"a duration >= min_value={min_value!r}")
    if high < low:
        raise InvalidArgument.build(
            "resolution", resolution, f"a step that fits between {format_duration(low_ns)} and {format_duration(high_ns)}"
        )
    return low, high, step


def errors(values: Iterable[Any]) -> list[ErrorSpec]:
    """A list of exceptions (instances or classes, or None for ``InjectedFault``), checked."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise InvalidArgument.build("errors", values, "a strategy of exceptions, or a list of exception instances/classes")
    out = list(values)
    for error in out:
        ok = error is None or isinstance(error, BaseException) or (
            isinstance(error, type) and issubclass(error, BaseException)
        )
        if not ok:
            raise InvalidArgument.build("errors", values, f"{error!r} is not an exception instance, class or None")
    if not out:
        raise InvalidArgument.build("errors", values, "at least one error")
    return out


def registered_profiles() -> Profiles:
    """The profiles a ``Simulation`` would know: built-ins and every plugin's."""
    from . import _plugins

    profiles = Profiles()
    for contributed in _plugins.manager().hook.jobsim_profiles():
        for item in contributed:
            profiles.register(item)
    return profiles


def profile(value: Any) -> Profile | None:
    """``None``, a ``jobsim.Profile``, a registered profile's name, or a ``Simulation`` (its profile)."""
    if value is None or isinstance(value, Profile):
        return value
    if hasattr(value, "profile") and isinstance(value.profile, Profile):
        return value.profile  # type: ignore[no-any-return]
    return registered_profiles().get(value)


def kinds(value: Any, chosen: Profile | None) -> tuple[str, ...]:
    """Fault kinds to draw: those asked for, checked against the profile; by default every kind
    the profile supports that this jobsim's ``Simulation`` can inject."""
    supported = FAULT_KINDS if chosen is None else fault_kinds(chosen)
    if value is None:
        usable = tuple(kind for kind in supported if kind in available_kinds())
        if not usable:
            raise InvalidArgument.build("kinds", value, f"profile {chosen.name!r} supports none of this jobsim's faults")  # type: ignore[union-attr]
        return usable
    asked = (value,) if isinstance(value, str) else tuple(value)
    unknown = [kind for kind in asked if kind not in FAULT_KINDS]
    if unknown or not asked:
        raise InvalidArgument.build("kinds", value, "some of " + ", ".join(map(repr, FAULT_KINDS)))
    refused = [kind for kind in asked if kind not in supported]
    if refused and chosen is not None:
        raise InvalidArgument.build(
            "kinds", value, f"profile {chosen.name!r} cannot suffer {', '.join(map(repr, refused))}; it supports "
            + ", ".join(map(repr, supported))
        )
    return tuple(dict.fromkeys(asked))

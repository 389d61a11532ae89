"""Argument checking for ``jobsim.strategies``, kept free of Hypothesis.

Every strategy checks its arguments when it is called, not when it is first drawn
from, so a mistake points at the line that made it. The checks live here so that
``strategies.py`` stays a thin layer of Hypothesis calls.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ._checks import check_callable, check_fault_error
from ._eventjson import json_copy
from ._faults import FAULT_KINDS, ErrorSpec, available_kinds, fault_kinds
from ._profiles import Profile, Profiles
from ._safe import shown
from ._time import Duration, duration_ns, format_duration, zone
from .errors import InvalidArgument


def items(argument: str, value: Any, accepted: str) -> tuple[Any, ...]:
    """A list-like argument as a tuple; ``None``, ``3`` or a mapping is refused by name (not ``TypeError``)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidArgument.build(argument, value, accepted)
    return tuple(value)

Target = tuple[str, "str | None"]
"""``(function_id, step_id)``; a step of ``None`` is the function body (``sim.fail(function_id)``)."""

WHERE_HELP = (
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
            if steps is not None and (isinstance(steps, (bytes, Mapping)) or not isinstance(steps, (str, Iterable))):
                raise InvalidArgument.build(argument, dict(where), f"function {function!r} maps to {shown(steps)}, "
                                            f"not a step id, None or a list of them; {WHERE_HELP}")
            steps = [steps] if steps is None or isinstance(steps, str) else list(steps)
            if not steps:
                raise InvalidArgument.build(argument, dict(where), f"function {function!r} has no steps; {WHERE_HELP}")
            pairs += [(function, step) for step in steps]
    elif isinstance(where, Iterable) and not isinstance(where, (str, bytes)):
        for item in where:
            pairs.append((item, None) if isinstance(item, str) else _pair(item, where, argument))
    else:
        raise InvalidArgument.build(argument, where, WHERE_HELP)
    pairs = [(_function_id(function, where, argument), step) for function, step in pairs]
    for function, step in pairs:
        if not isinstance(function, str) or not function:
            raise InvalidArgument.build(argument, where, f"function id {shown(function)} is not a non-empty string")
        if step is not None and (not isinstance(step, str) or not step):
            raise InvalidArgument.build(argument, where, f"step id {shown(step)} is not a non-empty string or None")
    if not pairs:
        raise InvalidArgument.build(argument, where, "at least one function; " + WHERE_HELP)
    return list(dict.fromkeys(pairs))


_PLAIN = (bytes, int, float, tuple, list, set, Mapping)
"""Values that are no function object: ``where``'s own shapes, checked as such (not taken for a backend's object)."""


def as_ids(where: Any) -> Any:
    """``where`` as a strategy's repr shows it: function objects as their ids (a dataclass's repr ran to 20 lines)."""
    from ._app import Function

    if isinstance(where, Function):
        return where.id
    if isinstance(where, Mapping):
        return {as_ids(key): value for key, value in where.items()}
    if isinstance(where, (list, tuple)):
        return type(where)(as_ids(item) for item in where)
    return where


def _function_id(function: Any, where: Any, argument: str) -> Any:
    """A jobsim function object (what ``@app.function`` returned) as its id, as ``sim.fail`` takes it; a backend's
    own object (a Celery task) is named with the id to give, as there is no simulation yet to map it."""
    from ._app import Function

    if isinstance(function, Function):
        return function.id
    if function is None or isinstance(function, (str, *_PLAIN)):
        return function
    raise InvalidArgument.build(argument, where, f"{shown(function)} is a backend's own object: give its function "
                                f"id, the one sim.runs() takes (a Celery task's name, an RQ function's dotted path, a "
                                f"Dramatiq actor's name); {WHERE_HELP}")


def _pair(item: Any, where: Any, argument: str) -> Target:
    if isinstance(item, tuple) and len(item) == 2:
        return item[0], item[1]
    if not isinstance(item, _PLAIN):  # a function object, its id next
        return _function_id(item, where, argument), None
    raise InvalidArgument.build(argument, where, f"{shown(item)} is neither a function id nor a pair; {WHERE_HELP}")


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
    longest = 999_999_999 * 86_400 * 10**9  # timedelta.max's days: the values drawn are timedeltas
    for argument, value, ns in (("min_value", min_value, low_ns), ("max_value", max_value, high_ns)):
        if ns > longest:
            raise InvalidArgument.build(argument, value, "a duration a timedelta can hold (at most 999999999 days)")
    low, high = -(-low_ns // step), high_ns // step
    if high_ns < low_ns:
        raise InvalidArgument.build("max_value", max_value, f"a duration >= min_value={min_value!r}")
    if high < low:
        raise InvalidArgument.build(
            "resolution", resolution,
            f"a step that fits between {format_duration(low_ns)} and {format_duration(high_ns)}",
        )
    return low, high, step


def windows(near: Any, width: int, low: int, high: int, step: int) -> list[tuple[int, int]]:
    """``durations(near=...)``: each landmark's ``[mark - width, mark + width]``, within ``[low, high]`` (in steps)."""
    import datetime as dt

    landmarks = [near] if isinstance(near, (str, int, float, dt.timedelta)) else list(
        items("near", near, "a duration or a list of durations to draw near"))
    out = []
    for landmark in landmarks:
        mark = duration_ns(landmark, "near") // step
        window = (max(low, mark - width), min(high, mark + width))
        if window[0] > window[1]:
            raise InvalidArgument.build(
                "near", near, f"landmarks within spread of the range {format_duration(low * step)}.."
                f"{format_duration(high * step)}; {landmark!r} is not"
            )
        out.append(window)
    return out


def errors(values: Iterable[Any]) -> list[ErrorSpec]:
    """A list of exceptions (instances or classes, or None for ``InjectedFault``), checked."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        accepted = "a strategy of exceptions, or a list of exception instances/classes"
        raise InvalidArgument.build("errors", values, accepted)
    out = list(values)
    for error in out:
        check_fault_error("errors", values, error)  # what sim.fail will take when the pattern is applied
    if not out:
        raise InvalidArgument.build("errors", values, "at least one error")
    return out


def registered_profiles() -> Profiles:
    """The profiles a ``Simulation`` would know: built-ins and every plugin's."""
    return Profiles.registered()


def profile(value: Any) -> Profile | None:
    """``None``, a ``jobsim.Profile``, a registered profile's name, or a ``Simulation`` (its profile)."""
    if value is None or isinstance(value, Profile):
        return value
    if hasattr(value, "profile") and isinstance(value.profile, Profile):
        chosen: Profile = value.profile
        return chosen
    return registered_profiles().get(value)


def kinds(value: Any, chosen: Profile | None) -> tuple[str, ...]:
    """Fault kinds to draw: those asked for, checked against the profile; by default every kind
    the profile supports that this jobsim's ``Simulation`` can inject."""
    supported = FAULT_KINDS if chosen is None else fault_kinds(chosen)
    if value is None:
        usable = tuple(kind for kind in supported if kind in available_kinds())
        if not usable:
            name = "this profile" if chosen is None else f"profile {chosen.name!r}"
            raise InvalidArgument.build("kinds", value, f"{name} supports none of this jobsim's faults")
        return usable
    some = "some of " + ", ".join(map(repr, FAULT_KINDS))
    asked = (value,) if isinstance(value, str) else items("kinds", value, some)
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


# -- simulations and machines ---------------------------------------------------------------------------
Check = Callable[[Any, Any], Any]
"""``check(sim, world)``: raises (``assert``, ``jobsim.invariants``) when the invariant does not hold."""


def check_targets(targets: tuple[Any, ...]) -> None:
    """An ``async def`` factory would be called for each example and its coroutine refused by
    ``Simulation`` (and dropped unawaited, a RuntimeWarning later): refused here, at the test's line."""
    for target in targets:
        if inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target):
            check_callable("targets", target, 0, "an App, or a function of no arguments building one")
        from ._simtargets import _refuse_plain

        _refuse_plain(target)  # None, the module holding the app: named here, not when Hypothesis draws
        if isinstance(target, (str, bytes, int, float)):  # no backend plugin takes a name or a number
            raise InvalidArgument.build("targets", target, "a jobsim.App (or a backend's app, queue or broker), or "
                                        "a function of no arguments building one; not its name")  # fmt: skip


def is_factory(target: Any) -> bool:
    """A plain function (or partial) taking no arguments builds fresh targets per example."""
    if not isinstance(target, (types.FunctionType, types.MethodType)) and not hasattr(target, "func"):
        return False
    try:
        inspect.signature(target).bind()
    except (TypeError, ValueError):
        return False
    return True


def check_seed(seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidArgument.build("seed", seed, "an int, or a strategy of ints")


def check_drawn_seed(seed: Any) -> None:
    """A seed a strategy drew: ``Simulation``'s own rule (a JSON number in the trace header)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not -(1 << 63) <= seed < 1 << 64:
        raise InvalidArgument.build("seed", seed, "an int within 64 bits")


def check_simulation_keywords(options: Mapping[str, Any]) -> None:
    """``max_chain=``/``random_streams=`` given to ``simulations()``: ``Simulation``'s own checks, made once."""
    from ._simtargets import _check_budget, _check_random_streams

    if "max_chain" in options:
        _check_budget("max_chain", options["max_chain"])
    if "random_streams" in options:
        _check_random_streams(options["random_streams"])


def targets_code(targets: Any) -> tuple[Callable[[Any], Any], str]:
    """How to get the simulated targets from the world, and how the printed code spells it."""
    from ._history import callable_name

    if targets is None:
        return (lambda world: world), "world"
    if isinstance(targets, str) and targets.isidentifier():
        return (lambda world: getattr(world, targets)), f"world.{targets}"
    if callable(targets):
        return targets, f"{callable_name(targets)}(world)"
    accepted = "None (the world is the target), an attribute name such as 'app', or a function world -> targets"
    raise InvalidArgument.build("targets", targets, accepted)


def callables(name: str, values: Any) -> tuple[Any, ...]:
    found = items(name, values, "a list of callables taking (sim, world)")
    for item in found:
        if not callable(item):
            raise InvalidArgument.build(name, values, f"callables taking (sim, world); {item!r} is not callable")
        check_callable(name, item, 2, "callables taking (sim, world)")
    return found


def machine_arguments(setup: Any, *, name: Any, targets: Any, send: Any, invariants: Any, at_end: Any,
                      on_start: Any, rules: Any, then: Any) -> dict[str, Any]:  # fmt: skip
    """``machine()``'s plain arguments, checked: what the machine class is built from."""
    check_callable("setup", setup, 0, "a function of no arguments returning a fresh world")
    if not isinstance(name, str) or not name.isidentifier():
        raise InvalidArgument.build("name", name, "a class name, such as 'ShopMachine'")
    for argument, value, accepted in (("send", send, "a function (sim, world, event)"),
                                      ("on_start", on_start, "a function (sim, world)")):  # fmt: skip
        if value is not None:
            check_callable(argument, value, 3 if argument == "send" else 2, accepted)
    if then is not None and then != "idle":
        duration_ns(then, "then")
    accepted = "a mapping of rule name (an identifier) to fn(sim, world, draw)"
    if rules is not None and not isinstance(rules, Mapping):
        raise InvalidArgument.build("rules", rules, accepted)
    extra = dict(rules or {})
    for rule_name, fn in extra.items():
        if not isinstance(rule_name, str) or not rule_name.isidentifier() or not callable(fn):
            raise InvalidArgument.build("rules", rules, accepted)
        check_callable(f"rules[{rule_name!r}]", fn, 3, "fn(sim, world, draw)")
    return {"targets": targets_code(targets), "invariants": callables("invariants", invariants),
            "at_end": callables("at_end", at_end), "rules": extra}  # fmt: skip


def strategy_hint(value: Any, drawn_by: str, drawn: type | tuple[type, ...], takes_list: bool) -> str:
    """How to give ``value`` as a strategy: ``drawn_by``, the strategy of ``jobsim.strategies`` that draws what the
    argument takes (values of type ``drawn``; from a list or dict of places or names when ``takes_list``), or
    ``st.just``: ``histories(events=["a/b"])`` means ``event_streams(["a/b"])``, not ``st.just(["a/b"])``."""
    ours = getattr(value, "__module__", "") == "jobsim.strategies"  # the strategy itself, not called
    if drawn_by and getattr(value, "__name__", None) == drawn_by and ours:
        return f"; call it: js.{drawn_by}(...)"
    if drawn_by and takes_list and isinstance(value, (list, tuple, dict)):
        return f"; to draw them, js.{drawn_by}({shown(value)})"
    if drawn_by and not isinstance(value, drawn):
        return f"; e.g. js.{drawn_by}(...)"
    return "" if callable(value) else f"; for this one value every time, st.just({shown(value)})"


_MAX_WITHIN = 36_500 * 86_400 * 10**9


def within(value: Any) -> int:
    """``faults(within=...)`` in ns: fault times past year 9999 would fail at apply(), naming another argument."""
    within_ns = duration_ns(value, "within", allow_zero=False)
    if within_ns > _MAX_WITHIN:
        raise InvalidArgument.build("within", value, "a duration of at most 36500d (100 years), so that "
                                    "every fault time drawn is a date a simulation can reach")  # fmt: skip
    return within_ns


def zone_names(zones: Any) -> list[str]:
    """``cron_expressions(zones=...)`` given as names: at least one, each an IANA time zone."""
    names = [zones] if isinstance(zones, str) else list(items("zones", zones, "IANA time zone names"))
    for name in names:
        zone(name, "zones")
    if not names:
        raise InvalidArgument.build("zones", zones, "at least one IANA time zone name")
    return names


def event_items(events: Any) -> list[tuple[Any, Any]]:
    """``(name, payload strategy or None)`` from ``{name: payload strategy or None}`` or a list of names (each
    name is checked as the strategies are built, in order)."""
    if isinstance(events, Mapping):
        found = list(events.items())
    elif isinstance(events, Sequence) and not isinstance(events, (str, bytes)):
        found = [(name, None) for name in events]
    else:
        accepted = ("a mapping of event name to payload strategy (or None for fake_payloads()), a list of event "
                    "names, or a strategy of jobsim.Event")  # fmt: skip
        raise InvalidArgument.build("events", events, accepted)
    if not found:
        raise InvalidArgument.build("events", events, "at least one event name")
    return found


# -- drawn values: checked as each is drawn (``strategies._Drawn``) ----------------------------------------
def check_payload(data: Any) -> None:
    if not isinstance(data, Mapping):
        raise InvalidArgument.build("data", data, "event data is a mapping")
    json_copy("data", data)  # what sim.send would refuse (a set, NaN), named here


def check_event_id(value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidArgument.build("id", value, "an event id is a non-empty string (or None: the bus assigns one)")

def check_zone_name(name: Any) -> None:
    """A ``TZ=`` prefix takes an IANA name (a ``tzinfo`` would print as no zone)."""
    if not isinstance(name, str):
        raise InvalidArgument.build("zones", name, "an IANA time zone name such as 'America/New_York'")
    zone(name, "zones")

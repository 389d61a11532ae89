"""``Simulation(app, functions=[...])`` / ``exclude_functions=[...]``: simulate some of the targets' functions.

An app's module declares every job it has, cron jobs included, and a test usually
cares about one or two of them: a daily report due at 09:00 should not fire in a
test about welcome emails that advances a day. A selection keeps the targets as they
are (their apps still send onto the bus, ``sim.events`` still shows every event) and
registers only the chosen functions with the engine: nothing else is triggered by an
event or a cron tick, and an event sent to a function that was left out stays on the
bus with no run.

Naming a left-out function later (``sim.runs``, ``sim.fail``, ``ctx.step.invoke``)
is an error that says it was left out and how to select it, rather than "no such
function": the function exists, the test chose not to simulate it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from ._app import Function
from ._checks import listed_ids
from .errors import InvalidArgument, NonRetriableError, UnsupportedFeature

_ACCEPTED = "a list of function ids (str) or functions (what @app.function returns)"


class FunctionNotSimulated(InvalidArgument, NonRetriableError):
    """A function the selection left out was named: by the test, or by job code's ``ctx.step.invoke``.

    Also a ``NonRetriableError``: raised at an invoke, retrying cannot help (the
    simulation's functions do not change), so the calling run fails at once with
    this message instead of going through its backoff first.
    """


class Selection:
    """Which functions a simulation leaves out, and why: the argument the test gave."""

    __slots__ = ("argument", "ids", "left_out")

    def __init__(self, argument: str, ids: list[str], left_out: dict[str, Function]) -> None:
        self.argument = argument
        self.ids = ids
        """The ids the argument named, in its order: what the test wrote, in a form messages can show."""
        self.left_out = left_out

    def find(self, function: Any) -> Function | None:
        """The left-out function ``function`` names (an id, the object, or a backend's own object)."""
        if isinstance(function, str):
            return self.left_out.get(function)
        return next((fn for fn in self.left_out.values() if _names(fn, function)), None)

    def refuse(self, fn: Function, argument: str, value: Any) -> FunctionNotSimulated:
        """The error for naming ``fn``, which this selection left out."""
        how = (f"add {fn.id!r} to functions=" if self.argument == "functions"
               else f"take {fn.id!r} out of exclude_functions=")  # fmt: skip
        return FunctionNotSimulated(
            f"{argument}={value!r}: function {fn.id!r} is not simulated, {self.argument}={self.ids!r} left it out; "
            f"{how} to simulate it (in jobsim.Simulation(...) or @pytest.mark.jobsim(...))"
        )


def select(functions: dict[str, Function], include: Any, exclude: Any, own_worker: Collection[str]) -> Selection | None:
    """Remove from ``functions`` (in place) what ``include``/``exclude`` leave out; ``None`` for no selection."""
    if include is None and exclude is None:
        return None
    if include is not None and exclude is not None:
        raise InvalidArgument(
            f"Simulation() got both functions={include!r} and exclude_functions={exclude!r}: give functions= "
            "(the ones to simulate) or exclude_functions= (the ones to leave out), not both"
        )
    argument, given = ("functions", include) if include is not None else ("exclude_functions", exclude)
    items = _items(argument, given)
    named = _resolve(argument, given, items, functions)
    if argument == "functions" and not named:
        raise InvalidArgument.build(argument, given, f"{_ACCEPTED}, at least one (leave functions= out, or None, "
                                    f"to simulate every function: {_known(functions)})")  # fmt: skip
    keep = set(named) if argument == "functions" else {k for k in functions if k not in named}
    if not keep:
        raise InvalidArgument.build(argument, given, f"it leaves out every function ({_known(functions)}): "
                                    "leave at least one to simulate")  # fmt: skip
    left_out = {fn_id: fn for fn_id, fn in functions.items() if fn_id not in keep}
    _refuse_own_worker(argument, given, left_out, own_worker)
    for fn_id in left_out:
        del functions[fn_id]
    return Selection(argument, named, left_out)


def _refuse_own_worker(argument: str, given: Any, left_out: dict[str, Function], own_worker: Collection[str]) -> None:
    """A backend plugin's own worker (jobsim-celery's) runs its functions whatever the engine registers."""
    kept_by_worker = sorted(fn_id for fn_id in left_out if fn_id in own_worker)
    if not kept_by_worker:
        return
    shown = ", ".join(map(repr, kept_by_worker[:5])) + (
        f" and {len(kept_by_worker) - 5} more" if len(kept_by_worker) > 5 else "")  # fmt: skip
    how = ("use exclude_functions= to leave out only functions jobsim's engine runs" if argument == "functions"
           else "leave out only functions jobsim's engine runs")  # fmt: skip
    raise UnsupportedFeature(
        f"{argument}={given!r} leaves out {shown}, which a backend plugin's own worker runs (it would still "
        f"run them); {how}, or leave that target out",
        feature=argument,
    )


def _items(argument: str, given: Any) -> list[Any]:
    """``given`` as a list: one id or function, or a list, tuple or set of them."""
    if isinstance(given, (str, Function)):
        return [given]
    if not isinstance(given, (list, tuple, set, frozenset)):  # a dict or a generator is more likely a mistake
        raise InvalidArgument.build(argument, given, _ACCEPTED)
    items = sorted(given, key=repr) if isinstance(given, (set, frozenset)) else list(given)  # messages: one order
    for item in items:
        if isinstance(item, str) and not item:
            raise InvalidArgument.build(argument, given, f"{_ACCEPTED}; '' is not a function id")
    return items


def _resolve(argument: str, given: Any, items: list[Any], functions: dict[str, Function]) -> list[str]:
    """The ids ``items`` name, in order, once each; every item that names none is listed in one error."""
    ids: list[str] = []
    unknown, hints = [], []
    for item in items:
        fn = _lookup(item, functions)
        if fn is None:
            unknown.append(item)
            if isinstance(item, Function) and item.id in functions:
                hints.append(f"{item!r} is not the function of that id the targets hold (a second copy of it: "
                             "was its module imported twice, or the app rebuilt?)")  # fmt: skip
            owner = _failure_owner(item, functions)
            if owner is not None:  # sim.runs("x-failure") finds it, so it reads as a function id
                hints.append(f"{item!r} is the on_failure handler of {owner!r}, simulated with it: "
                             f"select {owner!r}")
        elif fn.id not in ids:
            ids.append(fn.id)
    if unknown:
        what = ", ".join(map(repr, unknown))
        note = f"; {'; '.join(hints)}" if hints else ""
        raise InvalidArgument(
            f"{argument}={given!r} is not valid: {what} {'is' if len(unknown) == 1 else 'are'} "
            f"not among the targets' functions (name them by id, or by the object @app.function returned); "
            f"known function ids: {_known(functions, unknown[0])}{note}"
        )
    return ids


def _failure_owner(item: Any, functions: Mapping[str, Function]) -> str | None:
    """The id of the function whose ``on_failure`` handler ``item`` names (``'<id>-failure'``), if any."""
    if not isinstance(item, str) or not item.endswith("-failure"):
        return None
    owner = functions.get(item.removesuffix("-failure"))
    return None if owner is None or owner.on_failure is None else owner.id


def _lookup(item: Any, functions: Mapping[str, Function]) -> Function | None:
    if isinstance(item, str):
        return functions.get(item)
    return next((fn for fn in functions.values() if _names(fn, item)), None)


def _names(fn: Function, item: Any) -> bool:
    """Whether ``item`` is ``fn`` itself or the backend object a plugin adapted into it."""
    if item is fn:
        return True
    native = fn.options.get("native")
    return native is not None and (native is item or (not isinstance(item, Function) and _equal(native, item)))


def _equal(native: Any, item: Any) -> bool:
    try:
        return bool(native == item)
    except Exception:  # a backend object whose __eq__ refuses strangers
        return False


def _known(functions: Mapping[str, Function], given: Any = None) -> str:
    return listed_ids(functions, given) or "none"

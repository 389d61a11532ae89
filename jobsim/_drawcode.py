"""What strategies map their draws through, kept free of Hypothesis: objects Hypothesis prints as the code
that builds the value (a falsifying example to paste), the drawn event as a ``Send`` and the drawn retry
policy as ``Retries``.

``jobsim.strategies`` wraps them in strategies; nothing here imports Hypothesis.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from typing import Any

from ._drawspec import is_factory
from ._history import Send
from ._retries import Retries
from ._safe import shown
from ._simulation import Simulation
from ._time import duration_ns, format_duration, instant_ns, iso, to_datetime
from .errors import InvalidArgument


class InstantAt:
    """``k`` steps of ``step`` ns after ``low_ns``, as a datetime. An object, not a lambda: for a
    lambda's value a falsifying example prints its body (``to_datetime(low_ns + 0 * step)``),
    which cannot be pasted; for this one it prints the datetime."""

    __slots__ = ("low_ns", "step")

    def __init__(self, low_ns: int, step: int) -> None:
        self.low_ns, self.step = low_ns, step

    def __call__(self, k: int) -> dt.datetime:
        return to_datetime(self.low_ns + k * self.step)


class Code:
    """A value Hypothesis prints as the code ``text`` (a target's name in ``jobsim.Simulation(app, ...)``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class Build:
    """Builds each example's ``Simulation``. An object without ``__name__`` is printed by its ``repr``, so a
    falsifying example shows ``sim=jobsim.Simulation(app, start=..., seed=0)``: code that runs as printed
    (in Hypothesis's ``@example`` patch too), where a function's name (``simulation(seed=0)``) would not."""

    __slots__ = ("options", "profile", "targets", "tz")

    def __init__(self, targets: tuple[Any, ...], profile: Any, tz: Any, options: dict[str, Any]) -> None:
        self.targets, self.profile, self.tz, self.options = targets, profile, tz, options

    def __repr__(self) -> str:
        return "jobsim.Simulation"

    def __call__(self, *names: Code, start: Any, seed: int, **_shown: Any) -> Simulation:
        made = [target() if is_factory(target) else target for target in self.targets]
        try:
            sim = Simulation(*made, start=start, seed=seed, profile=self.profile, tz=self.tz, **self.options)
        except InvalidArgument as refused:
            raise _factory_named(refused, self.targets, made) or refused from None
        sim._drawn_as = ", ".join(name.text for name in names)  # the reproduction's targets, as printed here
        return sim


def _factory_named(refused: InvalidArgument, targets: tuple[Any, ...], made: list[Any]) -> InvalidArgument | None:
    """A target a factory built that ``Simulation`` refused, named as the factory's doing: ``targets=5 is not
    valid`` said nothing of the ``lambda: 5`` that returned it, which the test never passed as a target."""
    message = str(refused)
    for target, value in zip(targets, made, strict=True):
        if target is value:
            continue
        returned = [item for item in _flat(value) if message.startswith(f"targets={shown(item)} is not valid: ")]
        if returned:
            item, accepted = returned[0], message.partition(" is not valid: ")[2]
            kind = f"{shown(item)} ({type(item).__qualname__})"
            which = f"{shown(value)}, whose {kind} is" if value is not item else f"{kind}, which is"
            return InvalidArgument(
                f"js.simulations(): a factory among the targets, {_where(target)}, returned {which} not a target to "
                f"simulate; a factory must return what Simulation takes, or a list or tuple of such: {accepted}"
            )  # fmt: skip
    return None


def _flat(value: Any) -> list[Any]:
    """The targets a factory's value holds, as ``Simulation`` flattens them."""
    if isinstance(value, (list, tuple)):
        return [item for part in value for item in _flat(part)]
    return [value]


def _where(factory: Any) -> str:
    """``make_shop`` (test_shop.py, line 12): a lambda is known by where it is written."""
    function = getattr(factory, "func", factory)  # a functools.partial: the function it calls
    code = getattr(function, "__code__", None)
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None) or shown(function)
    if function is not factory:
        name = f"functools.partial({name})"
    if code is None:
        return name
    return f"{name} ({os.path.basename(code.co_filename)}, line {code.co_firstlineno})"


class IsoStart:
    """A drawn start as the ISO text the reproduction's header shows (``'2024-01-01T00:00:00.000Z'``): a
    falsifying example printed ``start=datetime.datetime(2024, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)``,
    which Hypothesis's ``@example`` patch pasted into a module that need not import ``datetime``."""

    __slots__ = ("tz",)

    def __init__(self, tz: dt.tzinfo) -> None:
        self.tz = tz

    def __call__(self, value: Any) -> str:
        return iso(instant_ns(value, "start", tz=self.tz))


def target_code(target: Any, names: Mapping[str, Any], source: Callable[[Any], str] | None = None) -> Code:
    """How a printed example names a target: the name the calling module has for it (``app``; a factory
    called, ``make_shop()``), else ``app`` as ``history.apply``'s reproduction does. A lambda no name holds
    (``js.simulations(lambda: make_app(retries=3))``) is called as its own source, ``(lambda: make_app(retries=3))()``,
    which ``source`` (Hypothesis's own reader of a lambda's text) gives: ``<lambda>()`` was no code to paste."""
    name = next((key for key, value in names.items() if value is target and not key.startswith("_")), None)
    if name is None:  # ``import shop`` then ``js.simulations(shop.app)``: ``app`` alone may be another app
        name = _module_attribute(target, names)
    if is_factory(target):
        if name is None and getattr(target, "__name__", None) == "<lambda>" and source is not None:
            text = _lambda_source(target, source)
            if text is not None:
                return Code(f"({text})()")
        return Code(f"{name or getattr(target, '__name__', 'app')}()")
    return Code(name or "app")


def _module_attribute(target: Any, names: Mapping[str, Any]) -> str | None:
    """``module.attribute`` when a module the caller imported holds the target (``shop.app``), or one of its
    submodules does (``import shop.jobs`` then ``shop.jobs.app``, three levels down at most), else ``None``.
    Plain modules only: reading a lazily imported one's (``importlib.util.LazyLoader``'s) attributes runs it;
    a submodule is one whose ``__name__`` extends its parent's (not ``os``, imported into ``shop``)."""
    import types

    level = [(key, value) for key, value in names.items()
             if type(value) is types.ModuleType and not key.startswith("_")]  # fmt: skip
    for _ in range(3):
        below = []
        for path, module in level:
            held = module.__dict__.items()
            attribute = next((attr for attr, item in held if item is target and not attr.startswith("_")), None)
            if attribute is not None:
                return f"{path}.{attribute}"
            below += [(f"{path}.{attr}", item) for attr, item in held if type(item) is types.ModuleType
                      and not attr.startswith("_") and item.__name__ == f"{module.__name__}.{attr}"]  # fmt: skip
        level = below
    return None


def _lambda_source(target: Any, source: Callable[[Any], str]) -> str | None:
    """The lambda's text when it reads back as code (its source found and parsed), else ``None``."""
    import ast

    try:
        text = source(target)
        ast.parse(text, mode="eval")
    except Exception:  # no source (a lambda typed at a prompt), or text that is not the lambda: the old name
        return None
    return text if text.startswith("lambda") else None


def refuse_unrunnable(targets: tuple[Any, ...], chosen: Any, selection: dict[str, Any]) -> list[str] | None:
    """A selection that names no function of the apps, or an app the profile cannot run (``UnsupportedFeature``),
    refused when the strategy is built: drawn, it would fail every example, and Hypothesis would shrink and
    explain that one error for half a minute. Returns the ids the selection named, to print."""
    from ._app import App
    from ._profiles import resolve
    from ._selection import select

    apps = [target for target in targets if isinstance(target, App)]
    if not apps or len(apps) != len(targets):  # factories and plugins' targets: checked per example
        return None
    functions = {fn_id: fn for app in apps for fn_id, fn in app.functions.items()}
    chosen_by = select(functions, selection.get("functions"), selection.get("exclude_functions"), ())
    if chosen is not None:
        resolve(chosen, functions.values())
    return chosen_by.ids if chosen_by is not None else None


def send_of(after: Any, drawn: tuple[Any, ...], id_: str | None = None) -> Send:
    """A drawn event, ``after`` the previous one; an event's own id wins over a drawn one."""
    own = drawn[2] if len(drawn) > 2 else None
    return Send(after=after, name=drawn[0], data=dict(drawn[1]), id=own if own is not None else id_)


def retries_of(n: int, backoff: str, low: Any, cap: Any, spread: Any) -> Retries:
    """A drawn retry policy: ``n`` attempts, ``backoff`` from ``low``, capped ``cap`` above it (``None``: no cap),
    with ``spread`` of jitter (``None``: none)."""
    low_ns = duration_ns(low, "min_delay")
    high = None if cap is None else format_duration(low_ns + duration_ns(cap, "max_delay"))
    spread_text = None if spread is None else format_duration(duration_ns(spread, "jitter"))
    return Retries(n, backoff, format_duration(low_ns), high, spread_text)  # type: ignore[arg-type]

"""``jobsim.App``: where job functions are declared, backend-neutrally."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeGuard

from ._checks import check_callable, is_async, keywords_checked
from ._cron import CronSchedule
from ._events import Event, check_send_fields, check_triggers, triggers_of
from ._every import Every
from ._flow import FlowControl
from ._retries import MAX_ATTEMPTS, Retries, RetryPolicy
from ._time import Duration, duration_ns
from .errors import InvalidArgument, JobsimError

if TYPE_CHECKING:
    from ._simulation import Simulation

Handler = Callable[[Any], Any]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Function:
    """A declared job function: its triggers, its policy, and its handler."""

    id: str
    handler: Handler
    app: App
    events: tuple[str, ...] = ()
    crons: tuple[CronSchedule, ...] = ()
    every: Every | None = None
    """An interval schedule (``every=``); only profiles with ``Profile.interval`` run it."""
    retries: RetryPolicy | None = None
    flow: FlowControl | None = None
    timeout_ns: int | None = None
    on_failure: Handler | None = None
    is_async: bool = False
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Options as the user wrote them (for profiles that validate features)."""
    event_if: Mapping[str, Callable[[Event], bool]] | None = None
    """Per event name, a condition the event must meet to start a run (Inngest's trigger ``if``)."""

    def listens_to(self, name: str) -> bool:
        """Whether an event named ``name`` triggers this function: by its name, or by a wildcard trigger."""
        events = self.events
        return name in events or any(trigger in events for trigger in triggers_of(name)[1:])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Calling the decorated function calls the handler, as if undecorated."""
        return self.handler(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<jobsim function {self.id!r} of app {self.app.id!r}>"


class App:
    """A set of job functions: ``app = jobsim.App("acme")``.

    ``@app.function(...)`` declares a function; ``app.send(...)`` emits an event onto
    the bus of the simulation the app is running in.
    """

    @keywords_checked("App()")
    def __init__(self, id: str) -> None:
        if not isinstance(id, str) or not id.strip():
            raise InvalidArgument.build("id", id, "an app id is a non-empty string such as 'acme'")
        self.id = id
        self.functions: dict[str, Function] = {}
        self._simulation: Simulation | None = None

    def __repr__(self) -> str:
        return f"App({self.id!r}, functions={list(self.functions)})"

    def function(
        self,
        id: str,
        *,
        on: str | Sequence[str] | None = None,
        cron: str | Sequence[str] | None = None,
        tz: str | dt.tzinfo | None = None,
        every: Duration | Every | None = None,
        retries: RetryPolicy | int | None = None,
        timeout: Duration | None = None,
        on_failure: Handler | None = None,
        **flow_options: Any,
    ) -> Callable[[Handler], Function]:
        """Declare a job function; see the README for every option."""
        if not isinstance(id, str) or not id.strip():
            bare = (f"; @app.function is called with the id first, then the decorated function: it was given "
                    f"{getattr(id, '__name__', 'a function')} itself (a bare @app.function?): write "
                    f"@app.function('{getattr(id, '__name__', 'my-job').replace('_', '-')}', on='...')"
                    if callable(id) else "")  # fmt: skip
            raise InvalidArgument.build("id", id, "a function id is a non-empty string such as "
                                                  f"'send-welcome-email'{bare}")
        if id in self.functions:
            raise InvalidArgument(f"function id {id!r} is already declared in app {self.id!r}; ids are unique")
        timeout_ns = None if timeout is None else duration_ns(timeout, "timeout", allow_zero=False)
        flow = _flow(id, flow_options, timeout_ns is not None)  # first: a misspelt on= is not "no trigger"
        events = _names(on)
        check_triggers(events, "on", on)
        # six fields (leading seconds) parse here; the profile refuses them for systems without seconds
        crons = tuple(CronSchedule.parse(expr, tz, seconds=True) for expr in _names(cron, "cron"))
        interval = None if every is None else Every.coerce(every)
        if interval is not None and crons:
            raise InvalidArgument(
                f"function {id!r} has cron={cron!r} and every={every!r}: a schedule is a cron pattern or an interval, "
                "not both (BullMQ: 'Both .pattern and .every options are defined'); drop one, or declare two functions"
            )
        if tz is not None and not crons:
            why = "an every= interval has no time zone; drop tz=" if interval else "give a cron schedule or drop tz="
            raise InvalidArgument.build("tz", tz, f"tz= applies to cron=; {why}")
        if not events and not crons and interval is None:
            raise InvalidArgument(
                f"function {id!r} has no trigger: give on='event/name' (or a list) and/or cron='0 9 * * *' (or "
                "every='5m'); a function only invoked by others can use on= with a name nothing else sends"
            )
        policy: RetryPolicy | None = None
        if isinstance(retries, int) and not isinstance(retries, bool):
            if not 0 <= retries < MAX_ATTEMPTS:  # else Retries() would name attempts=retries+1, not what was written
                raise InvalidArgument.build("retries", retries, f"a number of retries from 0 to {MAX_ATTEMPTS - 1} "
                                            "(Inngest's retries: N), or jobsim.Retries(attempts=..., ...)")
            policy = Retries(attempts=retries + 1)  # Inngest's `retries: N` counts retries
        elif _is_policy(retries):
            if isinstance(retries.attempts, bool) or retries.attempts < 1:  # a policy of the user's own making
                raise InvalidArgument.build("retries", retries, f"a policy whose attempts is an int >= 1 (it counts "
                                            f"the first attempt), not {retries.attempts!r}")
            policy = retries
        elif retries is not None:
            raise InvalidArgument.build(
                "retries", retries, "jobsim.Retries(attempts=..., ...), an int number of retries, or a system's own "
                "policy (jobsim.BullMQBackoff, TriggerDevRetry, QuirrelRetry, AgendaBackoff)"
            )
        if on_failure is not None:
            _check_handler("on_failure", on_failure)

        def decorate(handler: Handler) -> Function:
            _check_handler("handler", handler)
            if self._simulation is not None:  # it took this app's functions when it was built: this one would never run
                raise JobsimError(
                    f"function {id!r} was declared on app {self.id!r} while it runs in a simulation, which took the "
                    "app's functions when it was built, so this one would never run: declare every function before "
                    "building the Simulation (the pytest fixture `jobsim` builds it from `jobsim_app` before the "
                    "test runs), or use another App for it"
                )
            fn = Function(
                id=id, handler=handler, app=self, events=events, crons=crons, every=interval, retries=policy,
                flow=flow, timeout_ns=timeout_ns,
                on_failure=on_failure, is_async=is_async(handler),
                options={"on": on, "cron": cron, "tz": tz, "every": every, "retries": policy, "timeout": timeout,
                         "on_failure": on_failure, **flow_options},
            )  # fmt: skip
            self.functions[id] = fn
            return fn

        return decorate

    def send(self, event: Any, data: Any = None, *, delay: Any = None, **fields: Any) -> list[str]:
        """Emit an event onto the running simulation's bus; returns the event ids.

        Accepts ``send("name", {...})``, ``send(Event(...))`` or a list of events;
        ``delay="10m"`` sends it that much later (a delayed job, where the system has them).
        """
        sim = self._simulation
        if sim is None:
            raise JobsimError(
                f"app.send() was called while app {self.id!r} is not in a running simulation; "
                "start one with `with jobsim.Simulation(app) as sim:` (the pytest fixture `jobsim` does this)"
            )
        if fields:
            check_send_fields("app.send()", fields)
        if sim._undriven is None and sim.engine.x is None:  # the test's send, as sim.send's (``PendingWorkWarning``)
            sim._undriven = sim.kernel.now
        if delay is not None:
            from ._delay import send_later

            return send_later(sim, event, data, delay, fields)
        return sim._emit(event, data, **fields)


def cancel_events(functions: Iterable[Function]) -> set[str]:
    """The event names that cancel runs of ``functions`` (their ``cancel_on``)."""
    return {cancel.event for fn in functions if fn.flow is not None for cancel in fn.flow.cancel_on}


def listened_events(functions: Iterable[Function]) -> set[str]:
    """The event names ``functions`` trigger on (wildcards as written) or are cancelled by: what a check of a
    name the test gave compares it with (``invariants``' event names, ``js.apply``'s drawn events)."""
    functions = list(functions)
    return {name for fn in functions for name in fn.events} | cancel_events(functions)


def _is_policy(value: Any) -> TypeGuard[RetryPolicy]:
    """A ``RetryPolicy``: an int ``attempts`` and a ``delay_ns(retry, rng)``."""
    return isinstance(getattr(value, "attempts", None), int) and callable(getattr(value, "delay_ns", None))


def _check_handler(argument: str, handler: Any) -> None:
    """Refuse at declaration a handler that cannot be called as ``handler(ctx)``.

    Otherwise the ``TypeError`` would only surface as a failed attempt of the first
    run, retried with backoff like an outage, far from the decorator that caused it.
    """
    check_callable(argument, handler, 1, "a function callable with one positional argument, ctx; e.g. "
                   "`def job(ctx):`", async_ok=True)


def _names(value: str | Sequence[str] | None, argument: str = "on") -> tuple[str, ...]:
    if value is None:
        return ()
    try:
        items = [value] if isinstance(value, str) else list(value)
    except TypeError:  # on=3, cron=5: not a list either
        raise InvalidArgument.build(argument, value, "a non-empty string or a list of them") from None
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise InvalidArgument.build(argument, value, "a non-empty string or a list of them")
        if item in seen:  # each would start a run of its own
            why = "each such event would start the function twice" if argument == "on" else \
                "each of its ticks would start the function twice"
            raise InvalidArgument.build(argument, value, f"{item!r} is given twice: {why}; give each once")
        seen.add(item)
    return tuple(items)


def _flow(function_id: str, options: dict[str, Any], timeout: bool) -> FlowControl | None:
    """``None`` for a function with no flow control and no timeout: the engine's fast path."""
    if not options and not timeout:
        return None
    flow = FlowControl.build(function_id, options, timeout=timeout)
    return None if flow == FlowControl() and not timeout else flow


def coerce_events(value: Any) -> list[Event]:
    """One event or a list of them, in any accepted shape."""
    if isinstance(value, (list, tuple)):
        return [Event.coerce(item) for item in value]
    return [Event.coerce(value)]

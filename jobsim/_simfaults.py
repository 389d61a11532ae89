"""``Simulation``'s faults (``jobsim._simulation``'s third layer): ``sim.fail`` and the faults the profile's
system answers (``crash_worker``, ``downtime``, ``duplicate_delivery``), each recorded as ``fault.armed``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from ._checks import check_fault_error, keywords_checked
from ._faults import METHODS, OWN_WORKER_REFUSES
from ._simlife import _Lifecycle
from ._time import Instant, instant_ns, iso
from ._trace import describe_error
from .errors import InvalidArgument, JobsimError, UnsupportedFeature

if TYPE_CHECKING:
    from ._simulation import Simulation

MAX_DUPLICATES = 10_000
"""``duplicate_delivery(times=...)`` at most: the copies of one delivery are runs made at once, uncounted by budgets."""


class _Faults(_Lifecycle):
    """The faults a test arms."""

    # -- sim.fail (the next attempts of a function or of one of its steps fail) ---------------------
    @keywords_checked("sim.fail()")
    def fail(self, function_id: Any, step: str | None = None, *, times: int = 1, error: Any = None) -> None:
        """Make the next ``times`` attempts of that function (or of its ``step``) fail with ``error``.

        ``function_id`` may name a function's on_failure handler, ``'<id>-failure'``, before
        it first runs: the fault fires in its first run.
        """
        self._refuse_closed("fail")
        fn_id = self._function_id(function_id)  # '<id>-failure' too, before its on_failure handler first runs
        if step is not None and (not isinstance(step, str) or not step):
            raise InvalidArgument.build("step", step, "a step id (a non-empty string), or None for the function")
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise InvalidArgument.build("times", times, "an int >= 1")
        check_fault_error("error", error, error)  # one that fails each attempt as asked, not a TypeError
        self.engine.add_fault(fn_id, step, times, error)
        self._armed(self.now_ns(), {"fault": "fail", "function": fn_id, "step": step, "times": times,
                                    "error": describe_error(error)})  # fmt: skip

    def _refuse_closed(self, fault: str) -> None:
        """A fault armed before the start fires once the simulation runs; one armed after the close never could."""
        if self._state == "closed":
            raise JobsimError(f"sim.{fault}() needs a simulation that is not closed: it is closed, so nothing could "
                              "fire it; arm faults before or while the simulation runs (inside its `with` block)")

    def _armed(self, at: int, data: dict[str, Any]) -> None:
        """The ``fault.armed`` record of a fault; armed by job code rather than the test, it names that ``run``
        (as ``sim.record`` does, which ``sim.mail.smtp_fail`` records with): a replay arms again only the faults
        from outside the jobs, since today's job code arms its own (it was armed twice, once by each)."""
        x = self.engine.x
        if x is not None:
            data["run"] = x.run_.id
        self.trace.add(at, "fault.armed", data)

    # -- faults beyond sim.fail (the profile decides how the system answers) ------------------------
    @keywords_checked("sim.crash_worker()")
    def crash_worker(self, at: Instant | None = None, function: Any = None) -> None:
        """Kill the worker running the attempt in flight at ``at`` (default: now).

        The attempt in flight is the first one — of ``function`` (an id or a
        ``Function``), or of any function — whose code is spending virtual time
        across ``at`` (``time.sleep``, a delayed HTTP answer), else the first one
        that starts at or after ``at``, which dies before its code runs. It never
        reports; what happens next is the profile's (Inngest retries the step with
        earlier steps memoized, BullMQ re-runs the stalled job after its lock
        expires, Agenda after 10 minutes, node-cron and Vercel lose the run, ...).
        Backend plugins answer it for their own workers (``jobsim_crash_worker``):
        jobsim-celery kills its Celery worker as ``sim.celery.crash_worker`` does.
        """
        self._refuse_closed("crash_worker")
        at_ns = self._fault_instant(at, "at")
        fn_id = None if function is None else self._function_id(function, "function")  # '<id>-failure' too
        claimed = any(self._plugins.hook.jobsim_crash_worker(sim=self, at=at_ns, function=fn_id))
        if fn_id is None and not claimed:
            self._refuse_crash_nothing_could_take()
        if fn_id is None or not claimed:  # a backend plugin's worker is not the engine's
            self._system().arm_crash(at_ns, fn_id)
        self._armed(self.kernel.now, {"fault": "crash", "when": at_ns, "function": fn_id})

    def _refuse_for_own_workers(self, kind: str, fn_id: str | None) -> None:
        """A fault the engine cannot apply to functions a plugin's own worker runs (``OWN_WORKER_REFUSES``) is
        refused, not ignored."""
        assert kind in OWN_WORKER_REFUSES, kind
        fault = METHODS[kind]
        own = [a for a in self.adapted if a.own_worker]
        if fn_id is None:
            hit = own
        elif fn_id in self._own_worker:  # a dynamic backend declares its functions later, outside ``a.functions``
            hit = [a for a in own if any(f.id == fn_id for f in a.functions)] or [a for a in own if a.dynamic] or own
        else:
            hit = []
        if hit:
            backend = hit[0].backend
            instead = hit[0].fault_hint or (
                f"sim.crash_worker(...) is, if the {backend} plugin simulates crashes (see its README)")
            raise UnsupportedFeature(
                f"sim.{fault}() is not simulated for {backend} functions (their worker is the plugin's own); {instead}"
                + (", or name a function= that jobsim's engine runs" if fault == "duplicate_delivery" else ""),
                system=backend, feature=fault,
            )

    def _refuse_crash_nothing_could_take(self) -> None:
        """``crash_worker()`` without ``function=`` that no plugin's worker took and that no engine function could
        suffer (every function is a plugin's own worker's: APScheduler jobs, Huey tasks) is refused, not armed for
        nothing: it was accepted, never fired, and a test of a crash passed without one."""
        own = [a for a in self.adapted if a.own_worker]
        if not own or any(fn_id not in self._own_worker for fn_id in self.functions):
            return
        backends = ", ".join(sorted({a.backend for a in own}))
        hints = "".join(f"; {a.fault_hint}" for a in own if a.fault_hint)
        raise UnsupportedFeature(
            f"sim.crash_worker() without function= kills an attempt of a function jobsim's engine runs, and this "
            f"simulation has none: its functions are run by the own worker of {backends}, which took no crash "
            f"without function=, so it could never fire; name the function (function=...) if the plugin simulates "
            f"crashes (see its README){hints}",
            system=own[0].backend, feature="crash_worker",
        )

    @keywords_checked("sim.downtime()")
    def downtime(self, start: Instant, end: Instant) -> None:
        """The system is down in ``[start, end)``: nothing starts, in-flight attempts die.

        A persistent system runs what was due when it is back (missed cron ticks per
        its profile: all, the first, the latest); one without persistence (node-cron,
        Vercel Cron) loses its in-flight and pending runs and every tick due meanwhile.
        Windows may not overlap.
        """
        self._refuse_closed("downtime")
        self._refuse_for_own_workers("downtime", None)
        start_ns = self._fault_instant(start, "start")
        end_ns = instant_ns(end, "end", tz=self.tz)
        if end_ns <= start_ns:
            raise InvalidArgument(f"downtime end={end!r} is not after start={start!r}; give start < end")
        self._system().arm_downtime(start_ns, end_ns)
        self._armed(self.kernel.now, {"fault": "downtime", "start": start_ns, "end": end_ns})

    @keywords_checked("sim.duplicate_delivery()")
    def duplicate_delivery(self, function: Any = None, at: Instant | None = None, times: int = 1) -> None:
        """Deliver the next cron tick or event start of ``function`` (any, by default) ``times`` extra times.

        The delivery is the first at or after ``at`` (default: now). Only a system
        that does not deduplicate runs the copies (Vercel Cron: "can occasionally
        fire more than once"); the others drop them, and the trace says why.
        """
        self._refuse_closed("duplicate_delivery")
        at_ns = self._fault_instant(at, "at")
        fn_id = None if function is None else self._function(function, "function").id
        self._refuse_for_own_workers("duplicate", fn_id)
        if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= MAX_DUPLICATES:
            # each copy is a run made inside one delivery, which no max_items budget sees: a huge count would hang
            raise InvalidArgument.build("times", times, f"an int from 1 to {MAX_DUPLICATES:,}: how many extra "
                                        "deliveries (each copy is a run, made at once)")  # fmt: skip
        self._system().arm_duplicate(at_ns, fn_id, times)
        self._armed(self.kernel.now, {"fault": "duplicate", "when": at_ns, "function": fn_id, "times": times})

    def _fault_instant(self, at: Instant | None, name: str) -> int:
        now = self.kernel.now
        if at is None:
            return now
        ns = instant_ns(at, name, tz=self.tz)
        if ns < now:
            raise InvalidArgument(
                f"time can't go backwards: {name}={at!r} is before the simulation's now, {iso(now)}"
            )
        return ns

    def _system(self) -> Any:
        """The runtime of the profile's rules and of armed faults (``_runtime.py``), made on first need."""
        system = self.engine.system
        if system is None:
            from ._runtime import SystemRuntime

            system = SystemRuntime(cast("Simulation", self))
        return system

"""``Simulation``'s lifecycle (``jobsim._simulation``'s second layer): ``start`` (one simulation of an app at a
time), ``close`` and the warnings it gives about what the test likely got wrong (work sent and never driven, a
``sim.fail`` that never fired, a flow-control key that read nothing, an event name that missed by case only)."""

from __future__ import annotations

import os
import sys
import warnings
from typing import TYPE_CHECKING, Any, cast

from . import _plugins
from ._app import cancel_events
from ._casing import case_only_misses
from ._checks import one_typo
from ._patching import left_pushed
from ._simtargets import _caller_site, _Targets
from ._time import iso
from ._unread import PendingTurn, ask, backend_mistake, failure, messages, queue_names
from .errors import (
    FaultWarning,
    InvalidArgument,
    JobsimError,
    KeyWarning,
    PendingWorkWarning,
    PluginError,
    TriggerWarning,
    UnreadQueueWarning,
)

if TYPE_CHECKING:
    from ._kernel import Timer
    from ._simulation import Simulation

_FAULTABLE = ("run", "send_event")
"""The step kinds ``sim.fail(function, step=...)`` can fail (``Execution.fault``)."""


class _Lifecycle(_Targets):
    """Starting and closing a simulation, and the warnings at its close."""

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> Simulation:
        if self._state == "running":  # `with jobsim:` in a test: the fixture's simulation is started already
            raise JobsimError("this simulation is running already: use it as it is (the `jobsim` fixture's is "
                              "started for the test and closed after it, as `jobsim run` starts the one it gives "
                              "jobsim_traffic), or create a new Simulation for another run")  # fmt: skip
        if self._state != "new":
            raise JobsimError(f"this simulation is {self._state}; create a new Simulation for another run")
        self._refuse_late_functions()
        for app in self.apps:
            other = app._simulation
            if other is not None and other._role:
                raise JobsimError(
                    f"app {app.id!r} is already running in {other._role} ({other!r}): a test that takes the "
                    "`jobsim` fixture uses that simulation (options by @pytest.mark.jobsim(...)); to build your own "
                    "jobsim.Simulation of the app, leave the fixture out of the test's arguments"
                )
            if other is not None:
                raise JobsimError(
                    f"app {app.id!r} is already running in another simulation ({other!r}, started {other._where}); "
                    "close that one first (one a module- or session-scoped fixture keeps holds its apps until its "
                    "scope ends: give it an App of its own, or build it per test)"
                )
        self._release_backends()  # its own patches take the backends' calls from here
        sim = cast("Simulation", self)  # this layer's methods are Simulation's
        for app in self.apps:
            app._simulation = sim
        self._where = _caller_site()
        try:
            for fn in self.functions.values():
                self.engine.add_function(fn)
        except BaseException:  # the apps are free again: a new simulation of them must not find this one holding them
            for app in self.apps:
                if app._simulation is sim:
                    app._simulation = None
            raise
        self._state = "running"
        try:
            self._plugins.hook.jobsim_install(sim=self)
            for adapted in self.adapted:
                if adapted.install is not None:
                    adapted.install(sim)
        except BaseException:
            self.close()
            raise
        return sim

    def _refuse_late_functions(self) -> None:
        """A function declared on a target app after this simulation was built from it is not in the simulation
        (it took the app's functions then): it would never run, and its events would start nothing, silently."""
        left_out = self._selection.left_out if self._selection is not None else {}
        for app in self._app_targets:
            late = [fn_id for fn_id in app.functions if fn_id not in self.functions and fn_id not in left_out]
            if late:
                raise JobsimError(
                    f"function(s) {', '.join(map(repr, late))} were declared on app {app.id!r} after this Simulation "
                    "was built from it, so it does not have them and they would never run: declare every function "
                    "before building the Simulation, or build a new one"
                )

    def close(self) -> None:
        if self._state != "running":
            self._release_backends()  # one never started: the backends are the test's again
            return
        x = self.engine.x
        if x is not None:  # closing inside a driving call would pull the loop and the apps from under it
            raise JobsimError(
                f"sim.close() was called from job code (function {x.run_.function.id!r}); close the simulation "
                "from the test (`with jobsim.Simulation(app) as sim:` closes it when the block ends)"
            )
        for app in self.apps:
            if app._simulation is self:
                app._simulation = None
        try:
            due = self._due_now()  # before the backends uninstall: a worker's wake-up due now goes with its plugin
            for item in self._undriven_runs:
                if isinstance(item, PendingTurn):
                    item.settle()  # what a backend's turn would still start: the backend is still installed
            unread, failed = self._unread_work()
        finally:  # a plugin's turn that failed to say what it starts still lets everything go
            raised, left = self._uninstall()
        self._warn_unfired_faults()
        self._warn_blind_keys()
        self._warn_case_only_names()
        self._warn_undriven(due)
        for message in unread:
            self._warn(message, UnreadQueueWarning)
        errors = ([_plugins.uninstall_failed(raised, left)] if raised or left else []) + (
            [failure(failed)] if failed else [])  # fmt: skip
        if errors:  # everything is released: a plugin's bug is no reason to keep the backends patched
            error = errors[0] if len(errors) == 1 else PluginError(" Also: ".join(map(str, errors)))
            raise error from errors[0].__cause__
        if self._typos:  # inside a Hypothesis test: the example fails, and shrinks to the fewest events
            raise InvalidArgument(self._typos[0])

    def _uninstall(self) -> tuple[list[tuple[str, str, BaseException]], list[tuple[str, str]]]:
        """Every plugin's uninstall, then jobsim's own (the sinks, by its ``jobsim_uninstall``; the loop, the wall
        clock), each whatever the others did: a plugin that raises is noted (who, where, the error), and one that left
        its ``ProcessPatches`` pushed is popped and noted (who, the patches), for ``close`` to raise once all is
        released.
        An error of jobsim's own, or an interrupt (``KeyboardInterrupt``), is raised as it is, after the rest ran."""
        raised: list[tuple[str, str, BaseException]] = []
        own: list[BaseException] = []
        sim = cast("Simulation", self)
        try:
            for adapted in reversed(self.adapted):
                if adapted.uninstall is not None:
                    try:
                        adapted.uninstall(sim)
                    except BaseException as error:
                        raised.append((_plugins.adapted_owner(self._plugins, adapted), "Adapted.uninstall", error))
            for impl in self._plugins.hook.jobsim_uninstall.get_hookimpls():  # reverse of install order
                try:
                    impl.function(sim=self)
                except BaseException as error:
                    if impl.plugin_name == "jobsim.builtins":
                        own.append(error)
                    else:
                        raised.append((_plugins.hook_owner(impl), "jobsim_uninstall hook", error))
            left: list[tuple[str, str]] = []
            for who, patches in left_pushed(sim, lambda: _plugins.package_owners(self._plugins)):
                if all(who != failed for failed, _, _ in raised):  # its error says why it did not pop
                    left.append((who, f"ProcessPatches({patches._what!r})"))
                patches.pop(patches.current)  # or every later simulation is refused, as if this one still ran
        finally:  # jobsim's own, whatever a plugin did
            try:
                if self._loop is not None:
                    _close_loop(self._loop)
            finally:
                try:
                    self.wallclock.close()
                finally:
                    self._sends.end()
                    self._state = "closed"
        interrupt = next((e for _, _, e in raised if not isinstance(e, Exception)), None)
        if own or interrupt is not None:
            raise own[0] if own else cast(BaseException, interrupt)
        return raised, left

    def leave_unread(self, *queues: object, backend: str | None = None) -> None:
        """Declare queues this test leaves unread on purpose (``"emails"``, or a queue object with a ``name``):
        work waiting on them when the simulation closes does not warn (``jobsim.UnreadQueueWarning``). With
        ``backend`` (``"celery"``, as the warning names it: ``jobsim-celery``), only that backend's queues of those
        names (``"jobsim-celery"`` or a near miss of a backend plugin's name raises ``InvalidArgument``); without,
        every backend's."""
        if self._state == "closed":  # it warned already: a declaration now would silently do nothing
            raise JobsimError("sim.leave_unread() needs a simulation that is not closed: it is closed, and "
                              "warned as it closed; declare the queues before or while it runs (inside its "
                              "`with` block)")  # fmt: skip
        known = [impl.plugin_name for impl in self._plugins.hook.jobsim_unread.get_hookimpls()]
        wrong = backend_mistake(backend, known)
        if wrong:
            raise InvalidArgument.build("backend", backend, f"{wrong}a backend's name as the warning gives it after "
                                        "'jobsim-' (sim.leave_unread('emails', backend='celery')), or None for every "
                                        "backend's queue of that name")  # fmt: skip
        names = queue_names(queues, lambda queue: self._plugins.hook.jobsim_queue_name(queue=queue))
        self._left_unread.update((backend, name) for name in names)

    def _unread_work(self) -> tuple[list[str], list[str]]:
        """The warnings about work waiting, due, on queues no simulated worker reads (``jobsim_unread``), asked of
        the plugins before they uninstall, and the plugins whose answer failed (``close`` raises for them once
        everything is released). Not when the ``with`` block raised, the fixture's test failed, or a replay ended
        (``_unread_quiet``), nor inside a Hypothesis test, as for ``PendingWorkWarning``."""
        if self._unread_quiet or _in_hypothesis():
            return [], []
        items, failed = ask(self._plugins.hook.jobsim_unread, self)
        try:
            return messages(items, self._left_unread), failed
        except Exception as exc:  # an Unread with fields of the wrong type: still release the backends first
            return [], [*failed, f"the Unread items given could not be worded ({type(exc).__name__}: {exc})"]

    def _due_now(self) -> list[Timer]:
        """The kernel's items due by now, as the simulation closes (``_warn_undriven`` reads them)."""
        now = self.kernel.now
        return [t for t in self.kernel.pending() if t.due <= now]

    def _warn_undriven(self, due: list[Timer]) -> None:
        """The test sent events (or enqueued work through a backend plugin, ``hooks.note_test_enqueue`` and
        ``note_test_turn``) and closed without driving the clock: the work they queued never ran.

        Only work due by now counts (a delayed send, a future ``ts``, is the test's business),
        and not inside a Hypothesis test (``apply(..., then=None)`` stops there on purpose).
        """
        if (self._undriven is None and not self._undriven_runs) or _in_hypothesis():
            return
        once = [t for t in due if not t.recurring]  # the one-off items due now
        waiting = set(map(id, due))  # a backend's turn counts while its timer is due, recurring (a loop's) or not
        queued = [item for item in dict.fromkeys(self._undriven_runs)
                  if (item.label is not None and id(item.timer) in waiting if isinstance(item, PendingTurn)
                      else item.status == "queued" and once)]  # fmt: skip
        if self._undriven is not None and once:  # sim.send's: every one-off item due now
            count, owners = len(once), [t.owner for t in once]
        elif queued:  # a backend's enqueue alone: the runs and turns it queued, not the backend's own timers
            count, owners = len(queued), [_queued_label(item) for item in queued]
        else:
            return
        now = self.kernel.now
        self._warn(
            f"the simulation closed at {iso(now)} with {count} item(s) of work due that never ran "
            f"({', '.join(dict.fromkeys(owners))}), "
            "queued by the test (sim.send, or a backend's enqueue: actor.send, queue.enqueue, scheduler.add_job, "
            "...) after the last driving call: sending only queues, and runs start at the next sim.advance(...) or "
            "sim.run_until_idle(); call one before asserting (advance(0) runs what is due now)",
            PendingWorkWarning,
        )  # fmt: skip

    def _warn_unfired_faults(self) -> None:
        """A ``sim.fail`` aimed at a step it can never reach: the test passes without its failure path.

        Only likely mistakes warn (``FaultWarning``): the step is one that runs no code (a
        sleep, a wait, an invoke), or the function ran but never a step of that id (a typo;
        not inside a Hypothesis test, where drawn faults often aim at steps a history does
        not reach). A fault left over because its function never ran, or its step had
        already completed, may be the test's intent.
        """
        for (function_id, step), queue in self.engine.faults.items():
            if function_id is None or step is None or not any(entry[0] for entry in queue):
                continue  # the crash/downtime hook, a function-level fault, or used up
            kinds = {key: record.kind for run in self.engine.runs.get(function_id, ()) for key, record in
                     run.steps.items()}  # fmt: skip
            kind = kinds.get(step)
            if kind in _FAULTABLE or not any(run.attempts for run in self.engine.runs.get(function_id, ())):
                continue
            if kind is None:
                if _in_hypothesis():  # a drawn fault for a step this history does not reach: the search's business,
                    meant = one_typo(step, kinds)  # unless it is a typo of one that ran: the property passed vacuously
                    if meant is not None and not self._block_failed:
                        self._typos.append(
                            f"sim.fail({function_id!r}, step={step!r}) never fired: no step of that id ran, but "
                            f"{meant!r} did (a typo?), so the failures drawn for it test nothing and the property "
                            f"passes without its failure path; name the step as job code does "
                            f"(js.failure_patterns / js.faults / js.Fail)")  # fmt: skip
                    continue
                ran = ", ".join(map(repr, sorted(kinds))) or "none"
                hint = f"no step of that id ran (a typo?); its steps that ran: {ran}"
            else:
                article = "an" if kind.startswith(tuple("aeiou")) else "a"  # an invoke step, a sleep step
                hint = (f"it is {article} {kind} step, which runs no code (sim.fail reaches step.run and "
                        "step.send_event steps)")  # fmt: skip
            self._warn(f"sim.fail({function_id!r}, step={step!r}) never fired: {hint}", FaultWarning)

    def _warn_blind_keys(self) -> None:
        """A flow-control key path that read nothing on any of 2 or more events (a typo: ``event.data.userID``):
        they all shared one key, as on Inngest, so a debounce dropped work or a batch merged users, or (idempotency,
        the rate limit, singleton) none was keyed at all, so nothing was deduplicated or limited (``KeyWarning``).
        One event is no evidence, and an event that gave a value says the path exists. Not inside a Hypothesis
        test, where drawn events may all lack an optional field."""
        if _in_hypothesis():
            return
        for watch in self.engine.flowrt.watches:
            if not watch.valued and watch.events >= 2:
                self._warn(watch.message(), KeyWarning)

    def _warn_case_only_names(self) -> None:
        """Events sent as ``user.signup`` to a function ``on="user.Signup"``: it never ran (``TriggerWarning``)."""
        awaited = {*self.engine.waiters, *cancel_events(self.functions.values())}
        for message in case_only_misses(self.bus.history, self.engine.by_event, awaited, sim=cast("Simulation", self),
                                        typos=not _in_hypothesis()):  # fmt: skip
            self._warn(message, TriggerWarning)

    def _warn(self, message: str, category: type[Warning]) -> None:
        """Warn at the test's line: the caller outside jobsim (its ``with`` or ``close()``), or ``_warn_at``, where
        the pytest plugin points its fixture's warnings (the test's ``def``; the caller there is pytest's teardown)."""
        if self._warn_at is None:
            warnings.warn(message, category, stacklevel=_outside_jobsim())
        else:
            warnings.warn_explicit(message, category, *self._warn_at)

    def __enter__(self) -> Simulation:
        return self.start()

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if exc_type is not None:  # the block failed: what it left queued is not the news
            self._undriven, self._undriven_runs = None, []
            self._unread_quiet = True
            self._block_failed = True
        self.close()


def _queued_label(item: Any) -> str:
    """What the warning names for a queued run (``hooks.note_test_enqueue``) or a backend's turn
    (``hooks.note_test_turn``)."""
    return str(item.label) if isinstance(item, PendingTurn) else f"{item.function.id} (run {item.id})"


def _in_hypothesis() -> bool:
    """Inside a Hypothesis test (without importing Hypothesis when nobody has)."""
    in_test = getattr(sys.modules.get("hypothesis.control"), "currently_in_test_context", None)  # Hypothesis >= 6.x
    return in_test is not None and bool(in_test())


def _outside_jobsim() -> int:
    """The ``stacklevel`` of the first caller outside the jobsim package (the test's ``with`` or ``close()``)."""
    here = os.path.dirname(__file__)
    frame, level = sys._getframe(2), 2  # the caller of the function that warns
    while frame.f_back is not None and os.path.dirname(frame.f_code.co_filename) == here:
        frame, level = frame.f_back, level + 1
    return level


def _close_loop(loop: Any) -> None:
    """Close the simulation's loop, and see its default executor's idle threads (``asyncio.to_thread`` in job
    code) leave: ``close()`` only tells them to, and one still there when the next simulation's job code waits
    made that wait's refusal come after ``JOBSIM_REAL_WAIT`` instead of at once (``jobsim._threadwaits``). A thread
    still at work (a job's call that never ended) is not waited for."""
    executor = getattr(loop, "_default_executor", None)
    loop.close()
    for thread in list(getattr(executor, "_threads", ())):
        thread.join(0.1)

"""Revokes of Celery tasks in a simulation, once sent: when the worker gets them, and what they stop.

``app.control.revoke`` (the caller's virtual instant) and ``sim.celery.revoke`` (planned ahead, ``_world``)
send the revoke command; it reaches the simulated worker at that instant, where Celery's own ``revoke``
command (``worker/control.py: _revoke``) runs. ``terminate=True`` kills the pool process running the task
with a signal: a body runs to its end in one go when it starts, so the cuts planned here stop it part-way,
and one already past the instant is refused. A mixin of ``CeleryWorld`` (``_world``).
"""

from __future__ import annotations

import signal as _signal
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from celery.exceptions import TaskRevokedError
from celery.worker.control import _revoke

from jobsim._time import iso
from jobsim.errors import JobsimError, UnsupportedFeature

from ._worker import CeleryExecution, Held

if TYPE_CHECKING:
    from jobsim import Simulation
    from jobsim._records import Run

    from ._world import AppRuntime


class Revoking:
    """Part of ``CeleryWorld``: revoke commands on their way to the worker, and the bodies they terminate."""

    sim: Simulation
    apps: list[AppRuntime]
    runs: dict[str, Run]
    revoked_ids: set[str]
    cuts: dict[str, tuple[int, int]]
    spans: dict[str, tuple[int, int]]
    fatal: JobsimError | None
    killed: dict[str, Held]
    executing: Held | None

    if TYPE_CHECKING:  # CeleryWorld's own (``_world.py``)

        def attempt(self, held: Held, x: Any, error: BaseException | None, end: int | None = None) -> None: ...
        def revoked(self, held: Held, reason: str, signum: int = 0) -> None: ...
        def record(self, kind: str, **data: Any) -> None: ...
        def _name_of(self, task_id: str) -> str | None: ...

    def _app_of(self, task_id: str) -> AppRuntime:
        run = self.runs.get(task_id)
        return next((rt for rt in self.apps if run is not None and run.function.id in rt.functions), self.apps[0])

    def _revoke_at(self, rt: AppRuntime, ids: list[str], at: int, terminate: bool, signum: int) -> None:
        """The revoke command reaches the worker at ``at``: the caller's instant, which inside a
        task body (``x.now``) may be ahead of the kernel — a task started meanwhile is still run."""
        if terminate:
            self._plan_cuts(ids, at, signum)
        if at <= self.sim.kernel.now and self.sim.engine.x is None:
            self._apply_revoke(rt, ids, terminate, signum)
        else:
            self.sim.kernel.schedule(at, self._apply_revoke, rt, ids, terminate, signum, owner="celery revoke")

    def _plan_cuts(self, ids: list[str], at: int, signum: int) -> None:
        """Every body of these tasks still running at ``at`` stops there (``CeleryExecution``)."""
        for one in ids:
            span = self.spans.get(one)
            if span is not None and span[0] <= at < span[1]:
                name = self._name_of(one) or "the task"
                error = UnsupportedFeature(
                    f"revoke({one!r}, terminate=True) at {iso(at)}: {name} has been running since "
                    f"{iso(span[0])} until {iso(span[1])} in virtual time, and jobsim ran its body to the end when "
                    "it started, so nothing can stop it part-way now. Plan the kill before the task starts: "
                    f"sim.celery.revoke(task_id, at={iso(at)!r}, terminate=True), or revoke it from a task whose "
                    "body starts before it (bodies starting at one instant run in the order their messages "
                    "arrived: e.g. the revoking task sends the one it watches)"
                )
                if self.executing is not None:  # Celery's tracer would make it that task's failure: stop instead
                    self.fatal = error
                raise error
            executing = self.executing
            x = self.sim.engine.x
            if executing is not None and executing.task_id == one and isinstance(x, CeleryExecution):
                x.cut(at, signum)  # the task revokes itself: it stops when it next spends time
            planned = self.cuts.get(one)
            if planned is None or at < planned[0]:
                self.cuts[one] = (at, signum)

    def _apply_revoke(self, rt: AppRuntime, ids: list[str], terminate: bool, signum: int) -> None:
        """Celery's own ``revoke`` command (``worker/control.py: _revoke``), run on the simulated worker.

        It adds the ids to the revoked set; marks a task that is not running REVOKED at
        once if its state is still PENDING/RECEIVED/RETRY/REJECTED (Celery >= 5.7); and
        with ``terminate`` calls ``Request.terminate`` on a running request: the pool
        process is killed, ``_announce_revoked('terminated', True, signum, False)``
        stores REVOKED with ``TaskRevokedError('terminated')``, acknowledges the message
        (even with ``acks_late``: it is never redelivered, ``reject_on_worker_lost`` and
        ``retry_on_worker_lost`` do not apply) and sends ``task_revoked(terminated=True,
        signum=...)``. The killed body wrote nothing and sends no ``task_postrun``,
        ``task_failure`` nor errbacks.
        """
        assert rt.worker is not None
        for one in ids:
            data: dict[str, Any] = {"id": one, "task": self._name_of(one)}
            if terminate:
                data.update(terminate=True, signal=_signal.Signals(signum).name)
            self.record("celery.revoke", **data)
            self.revoked_ids.add(one)
            if self.cuts.get(one, (None,))[0] == self.sim.kernel.now:
                del self.cuts[one]
        state = SimpleNamespace(app=rt.app, consumer=SimpleNamespace(pool=rt.worker.pool))
        _revoke(state, set(ids), terminate=terminate, signal=signum or None)
        for one in ids:
            held = self.killed.pop(one, None)
            if held is not None:
                self.revoked(held, "terminated", signum=signum)

    def terminating(self, held: Held, x: Any) -> None:
        """A body stopped at its cut: the attempt ends there, and the revoke command finishes it."""
        self.attempt(held, x, TaskRevokedError("terminated"), end=x.now)
        self.killed[held.task_id] = held

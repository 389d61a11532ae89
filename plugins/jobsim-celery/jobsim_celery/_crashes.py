"""A Celery worker killed in a simulation, and what becomes of the messages it held.

``sim.celery.crash_worker`` (and ``sim.crash_worker``, ``_world``) plans a crash at an instant, on a task,
or both; a body that runs across it dies there (``WorkerCrash``), with its worker node or its one pool
process (``kind``). The messages the dead worker held unacknowledged go back to the broker and are delivered
again when that broker would: Redis after its visibility timeout, SQS likewise, AMQP at once. A message
rejected with ``requeue=True`` comes back at once, but on SQS after ``wait_time_seconds`` (``redeliver``).
A mixin of ``CeleryWorld`` (``_world``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from celery.exceptions import WorkerLostError

from jobsim._time import iso
from jobsim.errors import InvalidArgument, UnsupportedFeature

from ._worker import Held, WorkerCrash

if TYPE_CHECKING:
    from jobsim import Simulation
    from jobsim._records import Run

    from ._world import AppRuntime

KINDS = ("worker", "process")


@dataclasses.dataclass(slots=True, kw_only=True)
class CrashPlan:
    at: int | None
    function: str | None
    kind: str
    done: bool = False
    rt: Any = None  # the one app whose worker dies (a crash a task found), else every app's


class Crashes:
    """Part of ``CeleryWorld``: the bodies planned crashes kill, and the redelivery of a dead worker's messages."""

    sim: Simulation
    apps: list[AppRuntime]
    runs: dict[str, Run]
    pending: dict[str, Held]
    plans: list[CrashPlan]
    spans: dict[str, tuple[int, int]]
    executing: Held | None

    if TYPE_CHECKING:  # CeleryWorld's own (``_world.py``)

        def attempt(self, held: Held, x: Any, error: BaseException | None, end: int | None = None) -> None: ...
        def retrying(self, held: Held, x: Any, retry: Any) -> None: ...
        def finish(self, run: Run, status: str, at: int, error: BaseException | None, value: Any) -> None: ...
        def _receive(self, rt: AppRuntime, held: Held) -> None: ...
        def forget_unacked(self, rt: AppRuntime, tags: set[Any]) -> None: ...

    def runs_task(self, name: str) -> bool:
        """Whether ``name`` is a task of an app this world simulates."""
        return any(name in rt.functions for rt in self.apps)

    def _task_name(self, function: Any) -> str:
        name = getattr(function, "name", function)
        for rt in self.apps:
            if name in rt.functions:
                return name  # type: ignore[no-any-return]
        tasks = sorted(n for rt in self.apps for n in rt.functions if not n.startswith("celery."))
        accepted = "a task of the simulated app(s): " + ", ".join(map(repr, tasks))
        raise InvalidArgument.build("function", function, accepted)

    def _maybe_crash(self, name: str) -> None:
        x = self.sim.engine.x
        if x is None or not self.plans:
            return
        for plan in self.plans:
            if plan.done or (plan.function is not None and plan.function != name):
                continue
            if plan.rt is not None and (self.executing is None or self.executing.rt is not plan.rt):
                continue
            if plan.at is None:
                at = x.now
            elif plan.function is None:
                if not x.start <= plan.at <= x.now:
                    continue
                # The worker dies at a fixed instant: every body running across it dies with it, so the
                # plan stays armed for them; its timer at plan.at ends it and returns the worker's messages.
                raise WorkerCrash(plan, plan.at)
            elif plan.at <= x.now:
                at = max(plan.at, x.start)
            else:
                continue
            plan.done = True
            raise WorkerCrash(plan, at)

    def _crash_timer(self, plan: CrashPlan) -> None:
        if plan.done:
            return
        plan.done = True
        now = self.sim.kernel.now
        self.sim.trace.add(now, "celery.crash", {"how": plan.kind, "task": None, "id": None})
        for rt in self.apps if plan.rt is None else [plan.rt]:
            assert rt.worker is not None
            self._return_to_broker(rt, rt.worker.abandon(), now)

    def crashed(self, held: Held, x: Any, crash: WorkerCrash) -> None:
        rt = held.rt
        worker = rt.worker
        assert worker is not None
        at, kind = crash.at, crash.plan.kind
        error = WorkerLostError(f"Worker exited prematurely: signal 9 (SIGKILL) Job: {held.message.delivery_tag}.")
        self.attempt(held, x, error, end=at)
        self.sim.trace.add(at, "celery.crash", {"how": kind, "task": held.message.headers["task"], "id": held.task_id,
                                                 "run": held.task_id})
        if kind == "process":
            engine = self.sim.engine
            x.now = at
            engine.x = x
            try:
                worker.lose_process(held, error)
            finally:
                engine.x = None
            worker.held.discard(held)
            if held.requeued:
                held.run.status = "queued"
            elif self.pending.get(held.task_id) is not None:
                self.retrying(held, x, None)
            else:
                self.finish(held.run, "failed", at, error, None)
            return
        acked = held.acked
        plan = crash.plan
        if plan.function is None and plan.at is not None:
            pass  # _crash_timer returns the worker's messages at plan.at, once every body across it has died
        elif at > self.sim.kernel.now:
            # this body found the crash ahead of the clock: tasks that start on this worker before ``at`` and run
            # across it die too (a plan for that instant), and one that already ran across it cannot now
            self._refuse_overrun(rt, held, plan, at)
            follow = CrashPlan(at=at, function=None, kind="worker", rt=rt)
            self.plans.append(follow)
            self.sim.kernel.schedule(at, self._crash_timer, follow, owner="celery crash", priority=0)
        else:
            self._return_to_broker(rt, worker.abandon(), at)
        if acked:
            self.finish(held.run, "failed", at, WorkerLostError(
                f"the worker died at {iso(at)} running this task; its message was acknowledged when the task started "
                "(acks_late=False), so the broker will not deliver it again"), None)  # fmt: skip

    def _refuse_overrun(self, rt: AppRuntime, held: Held, plan: CrashPlan, at: int) -> None:
        """A task of this worker whose body already ran across ``at`` cannot die there any more."""
        for task_id, (start, end) in self.spans.items():
            run = self.runs.get(task_id)
            if task_id == held.task_id or not start < at < end or run is None or run.function.id not in rt.functions:
                continue
            raise UnsupportedFeature(
                f"the worker crash planned with function={plan.function!r} comes at {iso(at)}, but {run.function.id} "
                f"(task {task_id}) ran across that instant on the same worker ({iso(start)} to {iso(end)}): jobsim "
                "runs a task's body in one go when it starts, and that one started first, so it cannot die there now. "
                f"Plan the crash for the instant instead: sim.celery.crash_worker(at={iso(at)!r}) without function=",
                system="celery", feature="crash_worker(function=)",
            )  # fmt: skip

    def _return_to_broker(self, rt: AppRuntime, lost: list[Held], at: int) -> None:
        """The worker died at ``at`` (and is restarted then): what it held unacknowledged comes back when its
        broker gives it out again (``_visibility.Visibility.after_crash``). Copies of one message under one
        delivery tag (a long ETA the broker already handed out again) are one entry in Redis's unacked index."""
        latest: dict[Any, Held] = {}
        for held in sorted(lost, key=lambda h: h.fetched):
            latest[held.message.delivery_tag] = held
        self.forget_unacked(rt, set(latest))
        rt.visibility.restart(at)
        for held in sorted(latest.values(), key=lambda h: h.message.delivery_tag):  # the order they were delivered in
            due = rt.visibility.after_crash(held.fetched, at)
            message = redelivered(held.message, flag=rt.visibility.kind != "sqs")  # SQS flags no received copy
            again = Held(rt, message, held.queue, held.run, due)
            if held.run is not None and not held.run.done:
                held.run.status = "queued"
            self.pending[again.task_id] = again
            data = {"task": message.headers["task"], "id": again.task_id, "due": due,  # "at": every line's own
                    "run": again.task_id if held.run else None}  # fmt: skip
            self.sim.trace.add(at, "celery.redeliver", data)
            self.sim.kernel.schedule(due, self._receive, rt, again, owner=message.headers["task"])

    def redeliver(self, held: Held, at: int) -> None:
        """``reject(requeue=True)`` (``Reject(requeue=True)``, ``reject_on_worker_lost``, ``acks_on_timeout=False``):
        Redis (``QoS.reject``: ``restore_by_tag``) and RabbitMQ put the message back at once, ``redelivered``; SQS
        (``_visibility``) shows the stored body again ``wait_time_seconds`` later, unflagged."""
        rt = held.rt
        vis = rt.visibility
        due = at + vis.requeue
        message = redelivered(held.message, flag=vis.kind != "sqs")
        again = Held(rt, message, held.queue, held.run, due)
        self.pending[again.task_id] = again
        if due > at:  # say why it waits: the timeline tells the gap
            self.sim.trace.add(at, "celery.redeliver", {"task": message.headers["task"], "id": again.task_id,
                                                        "due": due, "run": again.task_id if held.run else None,
                                                        "why": "requeue"})  # fmt: skip
        self.sim.kernel.schedule(due, self._receive, rt, again, owner=message.headers["task"])


def redelivered(message: Any, flag: bool = True) -> Any:
    """A copy of ``message`` as the broker delivers it again: ``redelivered`` set in its delivery info and
    headers (kombu's Redis transport, ``Channel._do_restore_message``); with ``flag`` False (SQS, which receives the
    stored body again) as first published, even if ``message`` itself is a flagged copy."""
    from kombu.message import Message

    info = dict(message.delivery_info, redelivered=flag)
    headers = {k: v for k, v in message.headers.items() if k != "redelivered"}
    return Message(  # type: ignore[no-untyped-call]
        body=message.body, delivery_tag=message.delivery_tag, content_type=message.content_type,
        content_encoding=message.content_encoding, delivery_info=info,
        properties=dict(message.properties),
        headers=dict(headers, redelivered=True) if flag else headers,
    )

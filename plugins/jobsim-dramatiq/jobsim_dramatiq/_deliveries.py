"""How a Dramatiq message travels in one simulation: the delivery it belongs to, its run, and how that ends.

Each ``broker.enqueue`` (``_world.DramatiqWorld.enqueue``) belongs to a delivery (``Held``): the one whose
delayed message is being moved to its queue, the one ``Retries`` re-enqueues as its processing ends (a
``retry`` record), or a new one with its run (``run.start``, ``dramatiq.enqueue``); the message is then
posted to its queue for the simulated workers (``_worker``). As its processing ends the run settles
(completed, failed, skipped, lost, dead-lettered), unless it was enqueued again meanwhile. Messages a
``StubBroker`` held before the simulation became deliveries at its start. A mixin of ``DramatiqWorld``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import jobsim
import jobsim_dramatiq
from jobsim._events import Event
from jobsim._kernel import BACKGROUND
from jobsim._records import Run
from jobsim._time import MS
from jobsim.hooks import attempt_budget, end_run, note_test_enqueue, output_bytes

from ._broker import DeadLetter, Parcel, SimBroker

if TYPE_CHECKING:
    from jobsim import Simulation

    from ._worker import Item


class Held:
    """One delivery of a message: its run, and how many of its copies are on queues or held unacked."""

    __slots__ = ("calls", "message_id", "run", "sb", "unacked")

    def __init__(self, run: Run, sb: SimBroker, message_id: str) -> None:
        self.run = run
        self.sb = sb
        self.message_id = message_id
        self.calls = 0  # executions so far
        self.unacked = 0


class Deliveries:
    """Part of ``DramatiqWorld``: the deliveries of its messages, their runs, and how they end."""

    sim: Simulation
    functions: dict[str, jobsim.Function]
    deliveries: dict[str, list[Held]]
    current: Item | None
    finishing: Item | None
    move: Held | None
    dead: list[DeadLetter]
    minted: set[str]
    begin_ms: int
    real_shift_ms: int

    if TYPE_CHECKING:  # DramatiqWorld's own (``_world.py``)

        def next_seq(self) -> int: ...
        def _declare(self, name: str, actor: Any, sb: SimBroker, *, adopting: bool = False) -> jobsim.Function: ...

    # -- the messages a StubBroker held at the start ------------------------------------------------
    def _take_waiting(self, sb: SimBroker) -> None:
        """Messages a ``StubBroker`` already holds (sent before the simulation started) are the simulation's from
        its start, each a run, in their queues' order; a Redis or RabbitMQ server's are out of reach. They were
        stamped on the real clock: their ``message_timestamp`` and ``eta`` move with it to the simulation's
        start (a message sent a second before with ``delay=60_000`` is due 59 s into the simulation)."""
        from dramatiq.message import Message

        if sb.kind != "stub":
            return
        shift = self.real_shift_ms
        for queue_name, queue in list(sb.broker.queues.items()):
            while not queue.empty():
                queue.task_done()
                message = Message.decode(queue.get_nowait())
                options = {"eta": message.options["eta"] + shift} if "eta" in message.options else {}
                message = message.copy(message_timestamp=message.message_timestamp + shift, options=options)
                data = message.encode()
                held = self._new_delivery(sb, message, queue_name, None, origin="before the simulation")
                self._post(held, queue_name, data, 0, message.actor_name)

    # -- each enqueue's delivery --------------------------------------------------------------------
    def _built_before(self, message: Any) -> Any:
        """A message built before the simulation (a module-level or fixture ``actor.message(...)``, a pipeline's
        later stage built then) carries a real-clock ``message_timestamp`` (``message.py:84``), which AgeLimit
        (``age_limit.py:45-54``) would compare with the virtual clock. Like the messages a ``StubBroker`` holds at
        the start (``_take_waiting``), it moves with the real clock to the simulation's start. Such a message has
        an id the simulation did not draw and has not seen, and a timestamp off the virtual span so far (a
        message built in the simulation with a hand-made id is stamped inside it and left alone)."""
        from dramatiq.message import Message

        if not isinstance(message, Message) or message.message_id in self.minted:
            return message
        if message.message_id in self.deliveries:
            return message
        if self.begin_ms <= message.message_timestamp <= self.sim.now_ns() // MS:
            return message
        shift = self.real_shift_ms
        options = {"eta": message.options["eta"] + shift} if "eta" in message.options else {}
        return message.copy(message_timestamp=message.message_timestamp + shift, options=options)

    def _post(self, held: Held, queue_name: str, data: bytes, priority: int, actor_name: str) -> None:
        """The broker stored the message: it is on its queue from now (in actor code, the actor's instant)."""
        parcel = Parcel(held, queue_name, data, priority, self.next_seq())
        held.unacked += 1
        held.sb.unacked[_canonical(queue_name)] += 1
        held.sb.posted.append((self.sim.now_ns(), parcel))
        self.sim.kernel.schedule(self.sim.now_ns(), held.sb.arrive, parcel, owner=f"{actor_name} (dramatiq message)")
        if _canonical(queue_name) == queue_name:  # not a delay queue's: due now, like a sim.send
            note_test_enqueue(self.sim, held.run)  # the test's send only queues, as sim.send's (PendingWorkWarning)

    def _delivery(self, sb: SimBroker, message: Any, queue_name: str, delay: int | float | None) -> Held:
        """The delivery this enqueue belongs to: the one being moved from its delay queue, the one whose processing
        is ending (Retries re-enqueues the same message), or a new one, with its run."""
        if self.move is not None:
            return self.move
        item = self.finishing
        if item is not None and item.parcel.held.message_id == message.message_id:
            item.retried = True
            self._retry(item, message, delay)
            return item.parcel.held
        return self._new_delivery(sb, message, queue_name, delay)

    def _retry(self, item: Item, message: Any, delay: int | float | None) -> None:
        held, now = item.parcel.held, self.sim.now_ns()
        run = held.run
        run.status = "retrying"
        eta = message.options.get("eta")
        at = now if eta is None else max(now, _ceil_ms(eta))
        self.sim.trace.add(now, "retry", {"function": run.function.id, "run": run.id, "step": None,
                                          "attempt": held.calls, "at": at, "delay": at - now,
                                          "retries": message.options.get("retries")})  # fmt: skip

    def _new_delivery(self, sb: SimBroker, message: Any, queue_name: str, delay: int | float | None, *,
                      origin: str = "send") -> Held:  # fmt: skip
        fn = self.functions.get(message.actor_name) or self._declare(
            message.actor_name, sb.broker.actors.get(message.actor_name), sb
        )
        deliveries = self.deliveries.setdefault(message.message_id, [])
        run_id = message.message_id if not deliveries else f"{message.message_id}#{len(deliveries) + 1}"
        now = self.sim.now_ns()
        data = {"actor": message.actor_name, "queue": _canonical(queue_name), "message_id": message.message_id,
                "args": repr(message.args), "kwargs": repr(message.kwargs)}  # fmt: skip
        run = Run(fn, run_id, [Event("dramatiq/message", data, id=run_id, ts=now // MS)], now)
        cause = self.current.parcel.held.run if self.current is not None else None
        if cause is not None:
            self.sim.engine.descend(run, cause=cause)
        runs = self.sim.engine.runs[fn.id]
        runs.append(run)
        held = Held(run, sb, message.message_id)
        deliveries.append(held)
        if cause is not None:
            origin = f"{cause.function.id}#{self.sim.runs(cause.function).index(cause) + 1}"
        self.sim.trace.add(now, "run.start", {"function": fn.id, "run": run_id, "n": len(runs), "event": origin})
        eta = message.options.get("eta")
        self.sim.trace.add(
            now,
            "dramatiq.enqueue",
            {
                "function": fn.id,
                "run": run_id,
                "queue": _canonical(queue_name),
                "delay": delay,
                "eta": None if eta is None else _ceil_ms(eta),
            },
        )
        return held

    # -- how deliveries end ---------------------------------------------------------------------------
    def acked(self, parcel: Parcel) -> None:
        parcel.held.unacked -= 1
        parcel.held.sb.unacked[_canonical(parcel.queue)] -= 1

    def settle(self, item: Item, *, dead: bool) -> None:
        """The message's processing ended (it was acked or dead-lettered): the run's outcome, unless it was
        enqueued again meanwhile (a retry), which keeps the run going."""
        held = item.parcel.held
        run = held.run
        if item.retried:  # checked here: Dramatiq's emit_after logs and swallows what middleware raises
            attempt_budget(run, self.sim.now_ns(), "jobsim_dramatiq.MAX_ATTEMPTS_PER_RUN",
                           jobsim_dramatiq.MAX_ATTEMPTS_PER_RUN, noun="actor",
                           forever="max_retries=None, or a huge max_retries", bound="max_retries=")
            return
        error = item.value if item.kind != "ok" else None
        if item.kind == "skip":
            status = "skipped"
        elif item.kind == "error" or dead:
            status = "failed"
        else:
            status = "completed"
            if item.value is not None:
                run._payload = output_bytes(item.value)
        self._end(run, status, error, dead=dead)

    def lost(self, parcel: Parcel, why: str) -> None:
        """A message the broker dropped without processing it (``flush``, a stub broker's stopped worker)."""
        self.acked(parcel)
        run = parcel.held.run
        if parcel.held.unacked == 0 and not run.done:
            self._end(run, "lost", None, why=why)

    def _end(self, run: Run, status: str, error: BaseException | None, *, dead: bool = False, why: str = "") -> None:
        fields: dict[str, Any] = {"dead_lettered": True} if dead else {}
        if why:
            fields["why"] = why
        end_run(self.sim, run, status, self.sim.now_ns(), error, **fields)

    def dead_lettered(self, letter: DeadLetter) -> None:
        self.dead.append(letter)
        self.sim.trace.add(letter.at, "dramatiq.dead_letter", {
            "function": letter.message.actor_name, "run": letter.run_id,
            "queue": letter.queue, "expires": letter.expires_at})  # fmt: skip
        if letter.expires_at is not None:
            self.sim.kernel.schedule(letter.expires_at, self._expire, letter, owner="dramatiq dead letter (ttl)",
                                     priority=BACKGROUND, recurring=True)  # fmt: skip

    def _expire(self, letter: DeadLetter) -> None:
        if letter in self.dead:
            self.dead.remove(letter)
            self.sim.trace.add(
                self.sim.kernel.now,
                "dramatiq.dead_letter.expired",
                {"function": letter.message.actor_name, "run": letter.run_id, "queue": letter.queue},
            )

    def forget_dead_letters(self, broker: Any, queue: str | None) -> None:
        self.dead = [d for d in self.dead if d.broker is not broker or (queue is not None and d.queue != queue)]


def _canonical(queue_name: str) -> str:
    from dramatiq.common import q_name

    return str(q_name(queue_name))


def _ceil_ms(eta: float) -> int:
    """An ``eta`` (ms) as the first virtual instant the worker sees it due (``eta <= current_millis()``)."""
    return math.ceil(eta) * MS

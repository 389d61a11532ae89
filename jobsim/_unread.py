"""Work left on queues no simulated worker reads (``jobsim.UnreadQueueWarning``, a ``PendingWorkWarning``).

A backend plugin (jobsim-celery, -rq, -dramatiq, -bullmq, -arq) keeps a message sent to a queue none of the
simulation's workers reads, as the broker would: it waits there, and nothing runs it. A routing slip
(``queue="emails"`` while the worker reads ``default``) then passes any test that does not wait on the result,
while production never runs the job. When the simulation closes, each plugin answers ``jobsim_unread`` with the
work still waiting, due by then, on such queues; the simulation warns once per queue, naming the plugin, the
queue, each task with its count, the queues the workers read, and the fixes (jobsim-apscheduler answers with jobs
due on an executor alias its scheduler lacks). ``sim.leave_unread(queue)`` declares a queue this test leaves unread
on purpose. A plugin whose answer fails (it raises, or gives something else than ``Unread`` items) does not stop the
others' warnings nor the release of the backends: the close raises ``PluginError`` naming it once all is released.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ._safe import shown
from .errors import InvalidArgument, PluginError


class PendingTurn:
    """A turn of a backend's loop the test made due now (``hooks.note_test_turn``): ``timer`` starts it, and
    ``describe()`` names the work it would start then, or gives None when there is none any more (the job was
    removed, the scheduler paused). ``label`` is what ``describe()`` gave as the simulation closed."""

    __slots__ = ("describe", "label", "timer")

    def __init__(self, timer: Any, describe: Callable[[], str | None]) -> None:
        self.timer = timer
        self.describe = describe
        self.label: str | None = None

    def settle(self) -> None:
        """As the simulation closes, before the backend uninstalls: what the turn would still start."""
        self.label = self.describe()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Unread:
    """One item of work a plugin's broker holds, due, on a queue no simulated worker reads (``jobsim_unread``).

    ``backend`` is the plugin's name for messages (``"celery"``); ``queue`` the queue as the backend names it;
    ``name`` the task, actor or job name, of the ``kind`` given (``"task"``, ``"actor"``), in a ``unit`` (``"message"``,
    ``"job"``); ``read`` the queues the simulated workers read (empty: no worker);
    ``listing`` where the test finds these items (``"sim.celery.unconsumed"``); ``worker`` how to add a
    simulated worker for the queue, as code (``"CeleryTarget(app, queues=['default', 'emails'])"``); ``id`` the
    message's or job's id, where a plugin lists these records themselves as its ``unconsumed``; ``source`` the
    broker (or app) holding it (jobsim-dramatiq's ``"broker 2, a RedisBroker"``), where one simulation may run several
    of that backend: two of them with a queue of the same name are two queues, warned about apart, each naming its
    source.

    ``dependents`` are the jobs waiting on this one that will therefore never run either, as ``(id, name)`` pairs
    (RQ's ``depends_on`` jobs, deferred; a BullMQ flow's parents, in ``waiting-children``), transitively, and
    ``dependents_how`` says how they wait (``"depends_on: deferred"``); the warning counts each once per queue.

    A backend whose "queue" is something else (an APScheduler executor alias) names it in ``place``, and words what
    happened and the fix itself: ``why`` replaces "which no simulated worker reads (...), so they never ran, ...",
    ``fix`` replaces "Route the work to a queue a worker reads, or add a worker for ...".
    """

    backend: str
    queue: str
    name: str
    read: Sequence[str]
    unit: str = "message"
    kind: str = "task"
    id: str | None = None
    listing: str
    worker: str = ""
    place: str = "queue"
    verb: str = "wait"
    why: str | None = None
    fix: str | None = None
    source: str = ""
    dependents: Sequence[tuple[str, str]] = ()
    dependents_how: str = ""


def queue_names(
    queues: Iterable[object], named: Callable[[object], str | None] = lambda queue: None, argument: str = "queues"
) -> list[str]:
    """The queue names ``sim.leave_unread(*queues)`` declares: strings, or queue objects, named as ``named`` (the
    plugins' ``jobsim_queue_name``: a BullMQ ``Queue`` under another prefix is ``"app:emails"``) says, else by their
    ``name`` (an RQ ``Queue``, a kombu ``Queue``), each one non-empty."""
    names = []
    for queue in queues:
        name = queue if isinstance(queue, str) else named(queue) or getattr(queue, "name", None)
        if not isinstance(name, str) or not name:
            raise InvalidArgument.build(argument, queue, "a queue name (a non-empty str) or a queue object with a "
                                        "name, e.g. sim.leave_unread('emails')")  # fmt: skip
        names.append(name)
    return names


def ask(hook: Any, sim: object) -> tuple[list[Unread], list[str]]:
    """Each plugin's answer to ``jobsim_unread``, in the order pluggy calls them, and one line per plugin whose answer
    failed (it raised, or gave something else than ``Unread`` items): a plugin's bug must neither hide the other
    plugins' lost work nor stop the close from releasing the backends, and must not pass silently either."""
    items: list[Unread] = []
    failed: list[str] = []
    for impl in reversed(hook.get_hookimpls()):  # pluggy calls the last registered first
        try:
            answer = list(impl.function(sim=sim) or ())
        except Exception as exc:
            failed.append(f"{_plugin(impl)} raised {type(exc).__name__}: {exc}")
            continue
        wrong = next((item for item in answer if not isinstance(item, Unread)), None)
        if wrong is not None:
            failed.append(f"{_plugin(impl)} answered {shown(wrong)} among its items, not a jobsim.hooks.Unread")
            continue
        items += answer
    return items, failed


def failure(failed: list[str]) -> PluginError:
    """The error ``close`` raises, once everything is released, for the plugins whose ``jobsim_unread`` failed."""
    return PluginError(
        f"jobsim_unread failed as the simulation closed: {'; '.join(failed)}. The simulation is closed and its "
        "backends released, but the work that plugin holds on queues no simulated worker reads was not checked; "
        "report it to the plugin's authors (the hook must return a list of jobsim.hooks.Unread, or None, and never "
        "raise)"
    )


def _plugin(impl: Any) -> str:
    module = getattr(impl.plugin, "__name__", None) or type(impl.plugin).__module__
    return f"the jobsim plugin {impl.plugin_name!r} ({module})"


def messages(items: Iterable[Unread], left: set[tuple[str | None, str]]) -> list[str]:
    """One warning message per (backend, source, queue) holding work, in the order the plugins reported it; a queue
    in ``left`` (declared by ``sim.leave_unread``: ``(None, queue)`` for every backend, ``(backend, queue)`` for one)
    is left out. Queues of the same name in two backends (a Celery and an RQ ``default``) are two queues: each warns
    on its own, and its ``leave_unread`` names its backend; two apps or brokers of one backend are told apart by
    their ``source``."""
    by_queue: dict[tuple[str, str, str], list[Unread]] = {}
    for item in items:
        if (None, item.queue) not in left and (item.backend, item.queue) not in left:
            by_queue.setdefault((item.backend, item.source, item.queue), []).append(item)
    backends: dict[str, set[str]] = {}
    sources: dict[tuple[str, str], set[str]] = {}
    for backend, source, queue in by_queue:
        backends.setdefault(queue, set()).add(backend)
        sources.setdefault((backend, queue), set()).add(source)
    return [
        _message(group, shared=len(backends[queue]) > 1, apart=len(sources[backend, queue]) > 1)
        + _declared_amiss(backend, queue, left)
        for (backend, _, queue), group in by_queue.items()
    ]


def _declared_amiss(backend: str, queue: str, left: set[tuple[str | None, str]]) -> str:
    """The note on a ``sim.leave_unread`` that meant ``queue`` and misspelt it (``'emials'``), which declared
    nothing while this warning went on; ``""`` when no declared name is a near miss of it."""
    declared = sorted({name for name_of, name in left if name_of in (None, backend) and name != queue})
    close = difflib.get_close_matches(queue, declared, n=1, cutoff=0.6)
    if close:
        return f" (sim.leave_unread({close[0]!r}) names no {backend} queue holding work: did you mean {queue!r}?)"
    return ""


def _message(group: list[Unread], shared: bool = False, apart: bool = False) -> str:
    """``shared``: another backend has work on a queue of this name too; ``apart``: another app or broker of this
    backend has."""
    first = group[0]
    counts = Counter(item.name for item in group)
    names = ", ".join(f"{n} of {first.kind} {name!r}" for name, n in counts.items())
    close = difflib.get_close_matches(first.queue, first.read, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(map(repr, first.read))
    read = f"the workers read {shown}{hint}" if first.read else "the simulation has no worker"
    place, queue = first.place, first.queue
    why = first.why or (f"which no simulated worker reads ({read}), so they never ran, as on a broker with no worker "
                        f"on that {place}")  # fmt: skip
    fix = first.fix or f"Route the work to a {place} a worker reads, or add a worker for {queue!r} ({first.worker})"
    why += _dependents(group)
    article = "An" if place[:1] in "aeiou" else "A"
    source = f" ({first.source})" if apart and first.source else ""
    declare = f"{queue!r}, backend={first.backend!r}" if shared else repr(queue)
    return (
        f"jobsim-{first.backend}{source}: {len(group)} {first.unit}(s) ({names}) {first.verb} on {place} {queue!r}, "
        f"{why}. {fix}; {first.listing} lists them. {article} {place} this test leaves unread on purpose: "
        f"sim.leave_unread({declare})"
    )


def _dependents(group: list[Unread]) -> str:
    """The sentence on the jobs that wait on the group's work (each counted once, the group's own left out), or
    ``""``: "3 job(s) on 'emails' and 2 dependents waiting on them" is what the test needs to see."""
    own = {item.id for item in group if item.id is not None}
    waiting = {job_id: name for item in group for job_id, name in item.dependents if job_id not in own}
    if not waiting:
        return ""
    first = group[0]
    counts = Counter(waiting.values())
    names = ", ".join(f"{n} of {first.kind} {name!r}" for name, n in counts.items())
    how = f" ({first.dependents_how})" if first.dependents_how else ""
    return f"; and {len(waiting)} more {first.unit}(s) ({names}) wait on them{how}, so they never ran either"


def backend_mistake(backend: object, known: Sequence[str]) -> str:
    """What is wrong with ``sim.leave_unread``'s ``backend=`` (``""`` when nothing is): not a name, the plugin's
    whole name as the warning prints it (``"jobsim-celery"``), or a near miss of a backend plugin's name (``"Celery"``,
    ``"celey"``), each of which would declare nothing while the warning went on. A name unlike every plugin's is
    taken as it is (a plugin registered under another name than its ``Unread.backend``)."""
    if backend is None or backend in known:
        return ""
    if not isinstance(backend, str) or not backend:
        return "it needs a name: "
    bare = backend.removeprefix("jobsim-")
    if bare != backend and (bare in known or not known):
        return f"the warning's 'jobsim-' is not part of it, give {bare!r}; "
    folded = {name.lower(): name for name in known}
    close = folded.get(bare.lower()) or next(iter(difflib.get_close_matches(bare, known, n=1, cutoff=0.75)), None)
    if close is not None:
        return f"did you mean {close!r}? "
    return ""

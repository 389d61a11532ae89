"""``jobsim_rq.Worker``: one ``rq worker`` command line (or ``count`` of them), as a simulation target.

Production runs ``rq worker high default`` several times, or ``rq worker-pool high default -n 3``;
each worker reads its own queues in its own order. ``jobsim.Simulation``'s signature is
jobsim's, so the workers are targets of their own, written as the command lines are::

    jobsim.Simulation([jobsim_rq.Worker([high, default], count=2), jobsim_rq.Worker(low)])

The numbers are RQ's own options, in seconds as RQ takes them (``rq worker --maintenance-interval
--job-monitoring-interval --worker-ttl``, ``rq/cli/workers.py``): they set when a worker cleans
its registries and how long a dead worker's job stays ``started`` (``_crash.py``). This module
imports nothing from RQ, so ``import jobsim_rq`` stays cheap.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jobsim._checks import init_keywords_checked
from jobsim.errors import InvalidArgument

DEFAULT_MAINTENANCE_INTERVAL = 600  # rq/defaults.py:98 DEFAULT_MAINTENANCE_TASK_INTERVAL
DEFAULT_JOB_MONITORING_INTERVAL = 30  # rq/defaults.py:52
DEFAULT_WORKER_TTL = 420  # rq/defaults.py:46


@init_keywords_checked("jobsim_rq.Worker()")
@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class Worker:
    """``count`` RQ workers reading ``queues`` in this order (a ``Queue``, a queue name, or a list of them).

    ``name`` names the worker (``rq worker --name``); with ``count > 1`` the workers are
    ``name-1``, ``name-2``, ... Unnamed workers are ``jobsim-rq-1``, ``jobsim-rq-2``, ... in the
    order the simulation is given them (RQ draws a uuid4; jobsim's names are readable and stable).
    """

    queues: Any
    _: dataclasses.KW_ONLY
    name: str | None = None
    count: int = 1
    maintenance_interval: int = DEFAULT_MAINTENANCE_INTERVAL
    job_monitoring_interval: int = DEFAULT_JOB_MONITORING_INTERVAL
    worker_ttl: int = DEFAULT_WORKER_TTL

    def __post_init__(self) -> None:
        queues = self.queues if isinstance(self.queues, (list, tuple)) else [self.queues]
        if not queues:
            raise InvalidArgument.build("Worker(queues=...)", self.queues, "an RQ Queue, a queue name, or a non-empty "
                                        "list of them, read in that order (rq worker high default)")  # fmt: skip
        names = []
        for queue in queues:
            name = queue if isinstance(queue, str) else getattr(queue, "name", None)
            if not isinstance(name, str) or not name or not (isinstance(queue, str) or hasattr(queue, "_is_async")):
                raise InvalidArgument.build("Worker(queues=...)", queue, "an rq.Queue or a queue name (a non-empty "
                                            "str)")  # fmt: skip
            if name in names:
                raise InvalidArgument(f"Worker(queues=...) names queue {name!r} twice; give each queue once, in the "
                                      "order the worker reads them")  # fmt: skip
            names.append(name)
        object.__setattr__(self, "queues", tuple(queues))
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise InvalidArgument.build("Worker(name=...)", self.name, "a non-empty str (rq worker --name)")
        _positive("count", self.count, "how many identical workers (rq worker-pool -n)")
        _positive("maintenance_interval", self.maintenance_interval, "seconds (rq worker --maintenance-interval)")
        _positive("job_monitoring_interval", self.job_monitoring_interval,
                  "seconds (rq worker --job-monitoring-interval)")  # fmt: skip
        _positive("worker_ttl", self.worker_ttl, "seconds (rq worker --worker-ttl)")

    @property
    def queue_names(self) -> tuple[str, ...]:
        return tuple(q if isinstance(q, str) else q.name for q in self.queues)

    def names(self, unnamed: int) -> list[str]:
        """The workers' names; ``unnamed`` is how many unnamed workers came before (``jobsim-rq-N``)."""
        if self.name is None:
            return [f"jobsim-rq-{unnamed + i + 1}" for i in range(self.count)]
        return [self.name] if self.count == 1 else [f"{self.name}-{i + 1}" for i in range(self.count)]

    def __repr__(self) -> str:
        shown = [repr(list(self.queue_names))]
        for field, default in (("name", None), ("count", 1), ("maintenance_interval", DEFAULT_MAINTENANCE_INTERVAL),
                               ("job_monitoring_interval", DEFAULT_JOB_MONITORING_INTERVAL),
                               ("worker_ttl", DEFAULT_WORKER_TTL)):  # fmt: skip
            value = getattr(self, field)
            if value != default:
                shown.append(f"{field}={value!r}")
        return f"Worker({', '.join(shown)})"


def _positive(name: str, value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument.build(f"Worker({name}=...)", value, f"an int >= 1: {what}")

"""What a Celery retry costs in a simulation: a task retried for ever, up to the attempt budget.

A task with ``max_retries=None`` that always fails is retried until ``jobsim_celery.MAX_ATTEMPTS_PER_RUN``
(10,000) attempts, then the simulation stops with ``BudgetExceeded``. Each retry runs Celery's own tracer,
whose ``billiard.einfo.ExceptionInfo`` copies the traceback's code objects (all their positions, on Python
3.11+) and formats the traceback text. Two variants, in one process, interleaved:

  memo off   the simulation without ``jobsim_celery._patches._memo_tracebacks`` (as before it existed);
  memo on    the plugin as it is: each code object copied once, positions and caret anchors remembered;

each for ``self.retry(countdown=1)`` (``retry``) and ``autoretry_for=(OSError,)`` (``autoretry``: two
tracebacks a retry, the error's and the Retry's). CPU time (``time.process_time``) per run, medians of
interleaved rounds; the first round is a warm-up. Needs jobsim-celery (``plugins/jobsim-celery``).

    PYTHONPATH=.:plugins/jobsim-celery python benchmarks/bench_celery_retry.py
    PYTHONPATH=.:plugins/jobsim-celery python benchmarks/bench_celery_retry.py --attempts 10000 --repeat 5
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

import _common
from _common import fmt_ratio, fmt_time


def build() -> tuple[object, dict[str, object]]:
    from celery import Celery

    app = Celery("bench", broker="redis://127.0.0.1:1/0", backend="redis://127.0.0.1:1/1", set_as_current=False)
    app.conf.update(timezone="UTC", enable_utc=True)

    @app.task(name="poll", bind=True, max_retries=None, shared=False)
    def poll(self):  # type: ignore[no-untyped-def]
        raise self.retry(countdown=1)

    @app.task(name="auto", autoretry_for=(OSError,), max_retries=None, default_retry_delay=1, shared=False)
    def auto():  # type: ignore[no-untyped-def]
        raise OSError("down")

    return app, {"retry": poll, "autoretry": auto}


def variant(app: object, task: object, attempts: int, memo: bool) -> Callable[[], float]:
    import jobsim_celery
    from jobsim_celery import _patches

    import jobsim

    def run() -> float:
        saved, budget = _patches._memo_tracebacks, jobsim_celery.MAX_ATTEMPTS_PER_RUN
        if not memo:
            _patches._memo_tracebacks = lambda: None
        jobsim_celery.MAX_ATTEMPTS_PER_RUN = attempts
        began = time.process_time()
        try:
            with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
                task.delay()  # type: ignore[attr-defined]
                with contextlib.suppress(jobsim.BudgetExceeded):
                    sim.run_until_idle()
                assert len(sim.runs()[0].attempts) == attempts
            return time.process_time() - began
        finally:
            _patches._memo_tracebacks, jobsim_celery.MAX_ATTEMPTS_PER_RUN = saved, budget

    return run


def main() -> None:
    cli = _common.parser(__doc__.splitlines()[0])
    cli.add_argument("--attempts", type=int, default=2000, help="the attempt budget of each run (default 2000)")
    args = _common.parse(cli)
    attempts = 200 if args.quick else args.attempts
    logging.disable(logging.CRITICAL)  # Celery logs every retry, as a worker does
    _common.banner("celery", "billiard")
    app, tasks = build()
    rows = []
    for kind, task in tasks.items():
        samples = _common.interleaved({f"memo {state}": variant(app, task, attempts, state == "on")
                                       for state in ("off", "on")}, repeat=args.repeat)  # fmt: skip
        off, on = _common.median(samples["memo off"]), _common.median(samples["memo on"])
        rows.append([kind, f"{attempts:,}", fmt_time(off), fmt_time(off / attempts), fmt_time(on),
                     fmt_time(on / attempts), fmt_ratio(off / on)])  # fmt: skip
    _common.print_table(["task", "attempts", "memo off", "a retry", "memo on", "a retry", "off/on"], rows)


if __name__ == "__main__":
    main()

"""Where job code failed: the tracebacks a failing test's ``jobsim`` report section shows.

The timeline says *that* a run failed (``run  welcome#1 failed: KeyError: 'email'``);
without the traceback a test's author must go back, catch the run and print
``run.attempts[-1].traceback`` to learn *where*. A failing test whose runs failed
gets, after the timeline, the traceback of each failed run's error as job code
raised it (the first few runs; the rest are counted).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._records import Attempt, Run
    from ._simulation import Simulation

SHOWN = 3
"""Failed runs whose traceback is printed; a test about an outage fails many runs the same way."""


def failed_run_tracebacks(sim: Simulation) -> list[str]:
    """Report lines: for each failed run, the traceback of the attempt that raised its error."""
    failed = [run for run in sim.runs() if run.status == "failed"]
    lines: list[str] = []
    for run in failed[:SHOWN]:
        attempt = _culprit(run)
        text = None if attempt is None else attempt.traceback
        if attempt is None or text is None:
            continue
        number = sim.runs(run.function_id).index(run) + 1  # as the timeline numbers it
        where = "its body" if attempt.step is None else f"step {attempt.step!r}"
        lines += [f"{run.function_id}#{number} failed in {where}, attempt {attempt.number}:",
                  *("    " + line for line in text.rstrip("\n").splitlines())]  # fmt: skip
    if len(failed) > SHOWN and lines:
        lines.append(f"… and {len(failed) - SHOWN} more failed run(s): see run.attempts[-1].traceback")
    return lines


def _culprit(run: Run) -> Attempt | None:
    """The attempt whose error the run failed with (a step's, not the body's re-raised StepError), else the last."""
    failed = [a for a in run.attempts if a.error is not None]
    for attempt in reversed(failed):
        if attempt.error is run.error:
            return attempt
    return failed[-1] if failed else None

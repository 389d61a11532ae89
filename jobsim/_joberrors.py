"""Where job code failed: the tracebacks a failing test's ``jobsim`` report section shows.

The timeline says *that* a run failed (``run  welcome#1 failed: KeyError: 'email'``);
without the traceback a test's author must go back, catch the run and print
``run.attempts[-1].traceback`` to learn *where*. A failing test whose runs failed
gets, after the timeline, the traceback of each failed run's error as job code
raised it (the first few runs; the rest are counted).
"""

from __future__ import annotations

import os
import sysconfig
import traceback
from collections.abc import Callable
from types import FrameType
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
        text = None if attempt is None or attempt.error is None else _trimmed(attempt.error) or attempt.traceback
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


_JOBSIM = os.path.dirname(os.path.abspath(__file__))
_LIBRARIES = sorted({os.path.abspath(path) for key in ("purelib", "platlib", "stdlib", "platstdlib")
                     if (path := sysconfig.get_paths().get(key))}, key=len, reverse=True)  # fmt: skip


def called_below(error: BaseException, caller: Callable[[FrameType], bool]) -> tuple[list[FrameType], int] | None:
    """The frames of ``error``'s traceback and the index of the one the last frame ``caller`` accepts called
    (``_trimmed``: the project's code; ``_steps.misused_value``: job code, installed libraries too); None when no
    frame is the caller's, or the error was raised in the last one that is."""
    frames = [frame for frame, _ in traceback.walk_tb(error.__traceback__)]
    callers = [index for index, frame in enumerate(frames) if caller(frame)]
    if not callers or callers[-1] + 1 >= len(frames):
        return None
    return frames, callers[-1] + 1


def _library(frame: FrameType) -> str | None:
    """The package a frame's code belongs to (``"httpx"``, ``"jobsim"``), or None for the project's own code."""
    path = os.path.abspath(frame.f_code.co_filename)
    if path == _JOBSIM or path.startswith(_JOBSIM + os.sep):
        return "jobsim"
    for root in _LIBRARIES:
        if path.startswith(root + os.sep):
            parts = path[len(root) + 1:].split(os.sep)
            if parts[0] in ("site-packages", "dist-packages") and len(parts) > 1:  # under the stdlib's folder
                parts = parts[1:]
            return parts[0].removesuffix(".py")
    return None


def _trimmed(error: BaseException) -> str | None:
    """The traceback of an error jobsim raised under job code (``UnmatchedRequest`` beneath httpx's client,
    a ``StepMisuse``), cut after the job's last frame: the frames of httpx, respx and jobsim below it say
    nothing about the job. A client that turns jobsim's error into its own (requests' ``ConnectionError`` from
    urllib3's ``MaxRetryError`` from ``NewConnectionError``, aiohttp's ``ClientConnectorError``, urllib's
    ``URLError``) is cut the same way, two lines naming its chain of causes (``_causes``). ``None`` for any other error,
    whose traceback is shown whole."""
    chain = _chain(error)
    if chain is None:
        return None
    found = called_below(error, lambda frame: _library(frame) is None)
    if found is None:
        return None
    frames, cut = found
    first = next(index for index, frame in enumerate(frames) if _library(frame) is None)  # not the driver's frames
    below = frames[cut:] + [frame for inner in chain[1:] for frame, _ in traceback.walk_tb(inner.__traceback__)]
    names = list(dict.fromkeys(name for frame in below if (name := _library(frame)) is not None))
    libraries = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    kept = traceback.StackSummary.from_list(
        traceback.StackSummary.extract(traceback.walk_tb(error.__traceback__), limit=cut)[first:])
    return ("Traceback (most recent call last):\n" + "".join(kept.format())
            + f"  ... {len(below)} frame(s) of {libraries} below, where jobsim raised it\n"
            + _causes(chain) + "".join(traceback.format_exception_only(type(error), error)))


def _chain(error: BaseException) -> list[BaseException] | None:
    """``error`` and the errors it was raised from (``__cause__``, or the ``__context__`` it was raised while
    handling), outermost first, when the innermost is jobsim's and each one below ``error`` was raised in
    libraries and jobsim alone (no frame of the project's code); else None."""
    chain = [error]
    while len(chain) < 20:
        inner = chain[-1].__cause__ or (None if chain[-1].__suppress_context__ else chain[-1].__context__)
        if inner is None:
            break
        chain.append(inner)
    frames = [frame for frame, _ in traceback.walk_tb(chain[-1].__traceback__)]
    if not frames or _library(frames[-1]) != "jobsim":
        return None
    if any(_library(frame) is None for inner in chain[1:] for frame, _ in traceback.walk_tb(inner.__traceback__)):
        return None
    return chain


def _causes(chain: list[BaseException]) -> str:
    """The lines saying what the client made of jobsim's error, with its message when the outermost's does not
    quote it (urllib's ``<urlopen error [Errno 111] Connection refused>``)."""
    if len(chain) == 1:
        return ""
    inner = chain[-1]
    said = _qualified(inner) if str(inner) in str(chain[0]) else "".join(
        traceback.format_exception_only(type(inner), inner)).rstrip("\n")  # fmt: skip
    became = [_qualified(error) for error in reversed(chain[:-1])]
    names = became[0] if len(became) == 1 else ", ".join(became[:-1]) + " and " + became[-1]
    return f"  ... jobsim raised {said}\n  ... which became {names}:\n"


def _qualified(error: BaseException) -> str:
    module = type(error).__module__
    return type(error).__qualname__ if module == "builtins" else f"{module}.{type(error).__qualname__}"

"""Every task a canvas reaches is declared before any of it is sent (a refused one refuses the whole canvas).

A task registered on the app after the ``Simulation`` was built (its module imported inside the ``with``) is
declared as it is first sent (``CeleryWorld._function``), and the simulation may refuse it (``add_function``:
its name is a ``jobsim.App`` function's id). A canvas sends its tasks one by one: a chain's next task as the
previous one ends, a ``link``/``link_error`` callback as the task it hangs on ends, a group's tasks in turn,
a chord's body once its header is done (after storing the chord's state in the backend). Declared at its own
send, a refused task of a canvas would have been refused after the tasks before it ran -- inside the worker,
where Celery's tracer only warns ("Exception raised outside body") and the canvas quietly stopped.

So every send (``Publisher.send_task``) first declares the tasks its ``link``, ``link_error``, ``chain`` and
``chord`` options reach, and ``group.apply_async`` and ``chord.apply_async`` (wrapped while a simulation
runs, ``_patches.push``) first declare every task of the group or chord: a refusal is raised to the caller
of ``apply_async``/``delay`` before anything is sent or stored. Names the app does not know are left alone
(Celery sends them; the worker rejects them as unregistered, as before). ``xmap``/``xstarmap``/``chunks``
run their task's body inline inside Celery's ``celery.starmap`` task: that task is never a run of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from celery.utils.functional import _regen

from jobsim.errors import InvalidArgument, JobsimError

if TYPE_CHECKING:
    from ._world import AppRuntime, CeleryWorld

OPTIONS = ("link", "link_error", "chain", "chord")
"""``apply_async``/``send_task`` options that hold signatures sent later."""
_PARTS = {"group": ("tasks",), "chain": ("tasks",), "chord": ("header", "body")}


def task_names(parts: Iterable[Any]) -> Iterator[str]:
    """The task names of signatures ``parts`` (Signature objects or the dicts a message carries, lists of them),
    of what they hold (a group's or chain's tasks, a chord's header and body) and of their callbacks."""
    stack = list(parts)
    while stack:
        sig = stack.pop()
        if isinstance(sig, dict):
            if isinstance(sig.get("task"), str):
                yield sig["task"]
            kwargs = sig.get("kwargs")
            if isinstance(kwargs, dict):
                stack.extend(kwargs.get(key) for key in _PARTS.get(sig.get("subtask_type") or "", ()))
            options = sig.get("options")
            if isinstance(options, dict):
                stack.extend(options.get(key) for key in OPTIONS)
        elif isinstance(sig, (list, tuple, _regen)):  # _regen: a group of a generator (it keeps what it read)
            stack.extend(sig)


def declare_all(world: CeleryWorld, rt: AppRuntime, parts: Iterable[Any], what: str) -> None:
    """Declare every task of ``rt``'s app that ``parts`` reach; a refused one raises ``InvalidArgument`` naming
    it and ``what`` reaches it (``"the chain after task 'a'"``), before anything of it is sent."""
    undeclared = rt.app.tasks.keys() - rt.functions.keys()  # most often none: no canvas is walked
    if not undeclared:
        return
    for name in task_names(parts):
        if name not in undeclared or name in rt.functions:
            continue
        try:
            world._function(rt, name)
        except JobsimError as exc:
            raise InvalidArgument(
                f"task {name!r} in {what} is refused by the simulation, so nothing was sent: {exc}"
            ) from exc


def declare_options(world: CeleryWorld, rt: AppRuntime, name: str, options: dict[str, Any]) -> None:
    """``send_task(name, link=..., link_error=..., chain=..., chord=...)``: the task sent, then its callbacks."""
    if name not in rt.functions and name in rt.app.tasks:
        world._function(rt, name)  # refused: the add_function error itself, as for a plain delay()
    for key, what in (("link", "a link= callback of"), ("link_error", "a link_error= errback of"),
                      ("chain", "the chain after"), ("chord", "the chord body of")):  # fmt: skip
        if options.get(key):
            declare_all(world, rt, [options[key]], f"{what} task {name!r}")


def checked(original: Any, kind: str) -> Any:
    """``group.apply_async``/``_chord.apply_async`` declaring the whole canvas first, for a simulated app."""

    def apply_async(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            app = self.app
        except Exception:  # no app to find yet: Celery's own call below says what is wrong
            app = None
        world: CeleryWorld | None = getattr(app, "_jobsim_world", None)
        rt = None if world is None else next((rt for rt in world.apps if rt.app is app), None)
        if world is not None and rt is not None:
            declare_all(world, rt, [self, *(kwargs.get(key) for key in OPTIONS)], f"this {kind}")
        return original(self, *args, **kwargs)

    apply_async.__wrapped__ = original  # type: ignore[attr-defined]
    return apply_async

"""What the app's ``@app.task`` decorations got wrong, refused as the simulation is built (``AppRuntime``).

* **Two functions under one task name.** ``@app.task(name="emails.send")`` on two functions: Celery keeps one
  (the first its lazy registration evaluates, an order that changes between runs) and only warns
  (``DuplicateTaskNameWarning``); ``delay()`` of either runs that body. Before the app is finalized its
  decorations wait in ``app._pending`` (``PromiseProxy``'s holding the function and the options), which is read
  here; for an app finalized earlier, the names Celery warned about (``_duplicate_task_names_warned``). Among
  those, a *shared* task (``@app.task``'s default ``shared=True``, ``@shared_task``) joins every app finalized
  later (``connect_on_app_finalize``): a function that builds a fresh app (``build()`` of a ``jobsim.Scenario``,
  called once per profile) decorates the same closure again each time, so the second app gets both -- the same
  module and qualname, two function objects, Celery keeping the first's body. The fix said then is
  ``shared=False`` (or one app), not another name.
* **A near miss of a task option** (``max_retry=3``, ``retry_backof=5``): Celery sets any option as a task class
  attribute (custom ones are allowed), so a misspelt one is silently a custom attribute and the retries are lost.
  Only names close to one of Celery's options are refused, with the option meant.
* **``autoretry_for`` (``dont_autoretry_for``) not a tuple** of exception classes: ``autoretry_for=ConnectionError``
  raises a bare ``TypeError`` from ``tuple(...)`` deep in the app's finalize (``app/autoretry.py``).
"""

from __future__ import annotations

import difflib
from typing import Any

from jobsim.errors import InvalidArgument
from jobsim.hooks import near_miss

_DECORATOR = ("name", "base", "bind", "shared", "lazy", "filter", "pydantic", "pydantic_strict", "pydantic_context",
              "pydantic_dump_kwargs", "autoretry_for", "dont_autoretry_for", "retry_kwargs", "retry_backoff",
              "retry_backoff_max", "retry_jitter")  # fmt: skip
"""``app.task(...)`` keywords that are not ``Task`` attributes (``Celery.task``, ``_task_from_fun``, autoretry)."""
_EXCEPTIONS = ("autoretry_for", "dont_autoretry_for")


def check_pending(app: Any) -> dict[str, Any]:
    """Before the app is finalized: duplicate names and ``autoretry_for`` of the decorations waiting. Returns
    them, task name -> function, for ``check_tasks``."""
    seen: dict[str, Any] = {}
    for fun, options in _pending(app):
        name = options.get("name") or app.gen_task_name(fun.__name__, fun.__module__)
        for key in _EXCEPTIONS:
            if key in options:
                _check_exceptions(name, fun, key, options[key])
        first = seen.setdefault(name, fun)
        if first is not fun and _where(first) != _where(fun):  # the same module:qualname: a module imported again
            raise _duplicate(name, _where(first), _where(fun))
    return seen


def check_tasks(app: Any, tasks: dict[str, Any], pending: dict[str, Any] | None = None) -> None:
    """After it is finalized: the names Celery warned about, and options close to Celery's of decorated tasks.
    ``pending``: what ``check_pending`` read before, the app's own decorations (a name Celery warned about with
    one of them not the function it kept: a shared task of another app came in first, or after)."""
    from celery import Task

    for name in sorted(getattr(app, "_duplicate_task_names_warned", ()) or ()):
        if name not in tasks:
            continue
        kept, own = getattr(_fun_of(tasks[name]), "__func__", _fun_of(tasks[name])), (pending or {}).get(name)
        rivals = [fun for fun in (own, *_shared(app, name)) if fun is not None and fun is not kept]
        if any(_where(fun) == _where(kept) for fun in rivals):
            raise _made_again(name, _where(kept))
        if not rivals:
            raise _duplicate(name, _where(kept), "another function, decorated after the app was finalized "
                             "(Celery's DuplicateTaskNameWarning names it)")
        raise _duplicate(name, _where(kept), f"{_where(rivals[0])}, one a shared task of another app (@app.task's "
                         "default shared=True, or @shared_task, adds it to every app finalized later)")
    known = {*dir(Task), *_DECORATOR}
    options = sorted(name for name in known if not name.startswith("_"))
    for name, task in tasks.items():
        own = vars(type(task))
        if not own.get("_decorated"):
            continue  # a task class: its own attributes and methods are its business
        misses = [(key, own[key], meant) for key in own if key not in known and not key.startswith("_")
                  for meant in [near_miss(key, options)] if meant]
        if misses:
            raise _near_miss(name, _where(_fun_of(task)), misses)
        for key in _EXCEPTIONS:
            if key in own:
                _check_exceptions(name, _fun_of(task), key, own[key])


def _pending(app: Any) -> list[tuple[Any, dict[str, Any]]]:
    found = []
    for proxy in list(getattr(app, "_pending", ()) or ()):
        try:  # a PromiseProxy not evaluated yet holds them (celery/local.py); one evaluated has dropped them
            args = object.__getattribute__(proxy, "_Proxy__args")
            kwargs = object.__getattribute__(proxy, "_Proxy__kwargs")
        except AttributeError:
            continue
        if args and callable(args[0]) and isinstance(kwargs, dict):
            found.append((args[0], kwargs))
    return found


def _check_exceptions(name: str, fun: Any, key: str, value: Any) -> None:
    if isinstance(value, (tuple, list, set, frozenset)) and all(
            isinstance(item, type) and issubclass(item, BaseException) for item in value):  # fmt: skip
        return
    fix = f"a tuple: {key}=({value.__name__},)" if isinstance(value, type) else "a tuple of exception classes"
    raise InvalidArgument(
        f"Celery task {name!r} ({_where(fun)}): {key}={value!r} is not valid: Celery takes {fix} (it calls "
        f"tuple({key}) as the app is finalized, and except-clauses catch exception classes only)"
    )  # fmt: skip


def _duplicate(name: str, first: str, second: str) -> InvalidArgument:
    return InvalidArgument(
        f"Celery task name {name!r} is registered by two functions, {first} and {second}: Celery keeps one (the "
        "first its lazy registration evaluates, an order that can change between runs) and runs its body for both, "
        "with only a DuplicateTaskNameWarning. Give each its own name= in @app.task"
    )  # fmt: skip


def _shared(app: Any, name: str) -> list[Any]:
    """The functions of the shared tasks registered under ``name``: the callbacks ``@app.task`` (``shared=True``)
    and ``@shared_task`` leave in ``celery._state._on_app_finalizers``, each closing over ``fun`` and its options
    (``app/base.py``, ``app/__init__.py``)."""
    from celery import _state

    found = []
    for callback in list(getattr(_state, "_on_app_finalizers", ()) or ()):
        cells = dict(zip(getattr(getattr(callback, "__code__", None), "co_freevars", ()),
                         getattr(callback, "__closure__", None) or (), strict=False))  # fmt: skip
        try:
            fun = cells["fun"].cell_contents
            options = (cells.get("opts") or cells["options"]).cell_contents
        except (KeyError, ValueError):  # another callback, or a cell not filled
            continue
        if callable(fun) and isinstance(options, dict) and (
                options.get("name") or app.gen_task_name(fun.__name__, fun.__module__)) == name:  # fmt: skip
            found.append(fun)
    return found


def _made_again(name: str, where: str) -> InvalidArgument:
    return InvalidArgument(
        f"Celery task name {name!r} is registered by two functions, both {where}: the same function made again "
        "(a function that builds a fresh Celery app, such as a jobsim.Scenario's build(), called once per profile), "
        "and @app.task's default shared=True adds the task of every app built before to each later one "
        "(connect_on_app_finalize). Celery keeps one (the first registered, in an order that can change between "
        "runs) and runs its body -- with the state its own call captured -- for both, with only a "
        "DuplicateTaskNameWarning. Decorate with @app.task(shared=False), or "
        "build the app once"
    )  # fmt: skip


def _near_miss(name: str, where: str, misses: list[tuple[str, Any, str]]) -> InvalidArgument:
    said = ", ".join(f"{key}={value!r} (did you mean {meant!r}?)" for key, value, meant in misses)
    return InvalidArgument(
        f"Celery task {name!r} ({where}) has options Celery does not know, close to its own: {said}. Celery keeps "
        "an unknown option as a custom task attribute and nothing reads it (a misspelt retry option means no "
        "retries); spell it as Celery does, or give a custom attribute a name not so close to one"
    )  # fmt: skip


def _fun_of(task: Any) -> Any:
    return vars(type(task)).get("_decorated_fun") or getattr(task, "run", task)


def _where(fun: Any) -> str:
    fun = getattr(fun, "__func__", fun)
    module, qualname = getattr(fun, "__module__", None), getattr(fun, "__qualname__", None)
    return f"{module}:{qualname}" if module and qualname else repr(fun)


def warn_unregistered(rt: Any, name: str) -> None:
    """The simulated worker discarded a message of ``name``, a task the app does not register (a misspelt
    ``send_task`` name): warned at the driving call, with the registered names closest to it."""
    import celery

    import jobsim_celery
    from jobsim.hooks import warn_outside

    from ._warnings import CeleryUnregisteredTaskWarning

    names = sorted(task for task in rt.app.tasks if not task.startswith("celery."))
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    shown = ", ".join(map(repr, names[:10])) + (", ..." if len(names) > 10 else "")
    hint = f"did you mean {' or '.join(map(repr, close))}? " if close else f"its tasks are {shown or 'none'}; "
    warn_outside(CeleryUnregisteredTaskWarning(
        f"Celery app {rt.app.main or 'default'!r} received a message of task {name!r}, which it does not register: "
        f"{hint}a worker discards it (\"Received unregistered task\") and its result is a NotRegistered failure, "
        "in the simulation too. Send a registered name, or pass the app that registers it to the Simulation"
    ), None, jobsim_celery, celery)  # fmt: skip

"""What the app's ``@app.task`` decorations got wrong, refused as the simulation is built (``AppRuntime``).

* **Two functions under one task name.** ``@app.task(name="emails.send")`` on two functions: Celery keeps one
  (the first its lazy registration evaluates, an order that changes between runs) and only warns
  (``DuplicateTaskNameWarning``); ``delay()`` of either runs that body. Before the app is finalized its
  decorations wait in ``app._pending`` (``PromiseProxy``'s holding the function and the options), which is read
  here; for an app finalized earlier, the names Celery warned about (``_duplicate_task_names_warned``).
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


def check_pending(app: Any) -> None:
    """Before the app is finalized: duplicate names and ``autoretry_for`` of the decorations waiting."""
    seen: dict[str, Any] = {}
    for fun, options in _pending(app):
        name = options.get("name") or app.gen_task_name(fun.__name__, fun.__module__)
        for key in _EXCEPTIONS:
            if key in options:
                _check_exceptions(name, fun, key, options[key])
        first = seen.setdefault(name, fun)
        if first is not fun and _where(first) != _where(fun):  # the same module:qualname: a module imported again
            raise _duplicate(name, _where(first), _where(fun))


def check_tasks(app: Any, tasks: dict[str, Any]) -> None:
    """After it is finalized: the names Celery warned about, and options close to Celery's of decorated tasks."""
    from celery import Task

    for name in sorted(getattr(app, "_duplicate_task_names_warned", ()) or ()):
        if name in tasks:
            raise _duplicate(name, _where(_fun_of(tasks[name])), "another function, decorated after the app was "
                             "finalized (Celery's DuplicateTaskNameWarning names it)")
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

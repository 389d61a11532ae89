"""The two process-wide patches a Celery simulation needs, shared by every active simulation.

* **Jitter.** Celery draws retry jitter with the module-level ``random.randrange`` of
  ``celery.utils.time`` (``get_exponential_backoff_interval``:
  ``countdown = random.randrange(countdown + 1)`` when ``full_jitter``). While a
  simulation is active that name points at the simulation's seeded generator (the
  retried task's own stream, ``sim.job_rng()``, while its body runs), so Celery's own
  function makes the same draws for the same seed, whatever other tasks draw.
* **Task ids.** Celery names tasks, groups and chords with ``kombu.utils.uuid.uuid``
  (a uuid4), imported by name into ``celery.app.task``, ``celery.app.base`` and
  ``celery.canvas``. They are replaced by uuid4-shaped ids drawn from the stream of the
  task they name (``sim.rng_for(name)``: the caller's ``self`` says which, a task or a
  signature of one; a group's and a chord's are ``celery.group``'s and ``celery.chord``'s),
  which makes traces reproducible, and a task that sends more moves no other task's ids.

* **Apps outside the simulation.** ``Celery.send_task`` (the class attribute) refuses
  to send: a simulated app has its own ``send_task`` on the instance, so only an app
  that was not passed to the ``Simulation`` reaches it — and without the guard its
  ``delay()`` would try the app's real broker and result backend (19 s of
  reconnecting to a closed Redis port, then a ``RuntimeError`` about the result store).
  This one is also in place while a simulation that runs no Celery app at all is
  running (``SENDING``, a ``ClassGuard``), once Celery is imported: a test that forgot
  to pass its app is told so, where its task would otherwise reach a real broker — a
  developer's local Redis, where a worker may even run it.

* **The worker's name.** A ``celery worker`` runs tasks with ``fast_trace_task``, which
  puts the node name (``-n``, ``celery@<host>``) in ``self.request.hostname`` and the
  STARTED meta (``celery.app.trace: setup_worker_optimizations``). The simulated worker
  runs ``trace_task_ret``, whose module-level ``gethostname`` reads the machine's name:
  while a task runs there, it answers that worker's ``CeleryTarget.hostname``, so what a
  task sees and stores does not depend on the machine running the test.

* **No ``task_postrun`` from a killed process.** ``revoke(terminate=True)`` stops a
  body by raising ``ProcessTerminated`` from the call that spends virtual time; Python
  unwinds through the tracer, whose ``finally`` sends ``task_postrun``
  (``celery.app.trace``: the module-level ``send_postrun``). A killed pool process never
  gets there, so while a terminated body unwinds that name sends nothing.

* **Tracebacks' code, copied once.** Each retry and failure builds a ``billiard.einfo.ExceptionInfo``, whose
  picklable ``Traceback`` copies every frame's code object (``einfo._Code``), and on Python 3.11+ that copy lists
  all of the code's positions (``list(code.co_positions())``): for Celery's tracer (``celery.app.trace``'s
  ``trace_task``, thousands of instructions) that was most of a retry's cost, about 1.5 ms of 2.6 (a task retried
  for ever took 25 s to reach ``MAX_ATTEMPTS_PER_RUN``). While a simulation runs, the copy of each code object is
  made once and shared (``einfo._Frame.Code``): it holds only what the code object holds, which does not change.
  The traceback text it formats (``traceback.format_exception``, stored as the retry's ``traceback``) looks, for
  every frame, up the instruction's source position by walking the code's positions up to it
  (``traceback._get_code_position``) and parses the line for the ``^~~~`` marks
  (``_extract_caret_anchors_from_line_segment``, Python 3.11+): both give the same answer for the same code and
  instruction, or the same source text, so while a simulation runs they are remembered (about 0.5 ms of a retry;
  the text is unchanged, for tracebacks formatted elsewhere in the process too).

* **Eager mode stays off.** While a simulation runs an app, its settings read ``task_always_eager`` as
  ``False``, whenever and however it is set (``app.conf.task_always_eager = True`` or ``app.conf.update(...)`` from
  a fixture requested after ``jobsim``, or in the ``with``): Celery reads it at every ``apply_async`` and canvas
  call (``Task.apply_async``, ``chain``, ``group``, ``chord``) and would run the task there and then, outside the
  simulated worker, its countdown ignored. The app's settings object gets a subclass of its own class for the
  simulation (``no_eager``), so what was set is the app's again after the close (``eager_back``); settings the app
  builds anew during the run (``config_from_object(obj, force=True)``) get it as they are built.

* **Signal receivers' jobsim errors.** ``Signal.send`` (``utils/dispatch/signal.py``) calls each receiver in
  ``try``/``except Exception`` and only logs what it raises (``Signal handler %r raised``): the module's ``logger``
  is watched (``jobsim.hooks.LogWatch``), so a jobsim error logged there is kept (``CeleryWorld.keep``) and stops
  the driving call, as it does in a task.
* **A canvas is declared whole.** ``group.apply_async`` and ``chord.apply_async`` first declare every task the
  group or chord reaches (``_canvas``), so a task the simulation refuses refuses it before any of it is sent.

Module globals can only be patched once per process, so active simulations form a
stack: the most recently started one is served, and the originals come back when the
last one closes.
"""

from __future__ import annotations

import functools
import importlib
import random
import sys
import traceback
import uuid as _uuid
from typing import Any

from jobsim.errors import JobsimError, UnsupportedFeature
from jobsim.hooks import ClassGuard, LogWatch

_TARGETS = (("celery.app.task", "uuid"), ("celery.app.base", "uuid"), ("celery.canvas", "uuid"))
_active: list[Any] = []  # the worlds of running simulations, innermost last
_saved: dict[tuple[str, str], Any] = {}
_methods: dict[type, Any] = {}  # canvas class -> its own apply_async, while wrapped (_check_canvas)


class _Jitter:
    """Stands in for the ``random`` module inside ``celery.utils.time``."""

    def __getattr__(self, name: str) -> Any:
        source = _active[-1].sim.job_rng() if _active else random
        return getattr(source, name)


def _uuid4() -> str:
    if not _active:  # pragma: no cover - patches are removed with the last world
        return str(_uuid.uuid4())
    return str(_active[-1].new_id(_task_of(sys._getframe(1).f_locals.get("self"))))


def _task_of(owner: Any) -> str | None:
    """Whose id Celery draws, from the caller's ``self``: a task's (``Task.apply``, eager ``apply_async``) or a
    signature's (``freeze``: a task's, or ``celery.group``/``celery.chord``/``celery.chain``'s), else None."""
    name = getattr(owner, "name", None) if isinstance(owner, _task_class()) else None
    if name is None and isinstance(owner, dict):  # a Signature is a dict holding its task's name
        name = owner.get("task")
    return name if isinstance(name, str) else None


def _task_class() -> type:
    from celery import Task

    task: type = Task
    return task


def _refuse_sending(guard: ClassGuard) -> None:
    from celery import Celery
    from celery.app.control import Control

    guard.wrap(Celery, "send_task", _unsimulated_send_task)
    # remote control: every command but revoke (the simulated apps' own ``control.revoke``) goes through
    # ``Control.broadcast`` (inspect() too); ``purge`` (alias ``discard_all``) empties the broker's queues
    guard.wrap(Control, "broadcast", _unsimulated_control)
    guard.wrap(Control, "purge", _unsimulated_control)
    guard.wrap(Control, "discard_all", _unsimulated_control)
    # what else opens a broker connection: app.connection(), connection_for_read/_write, connection_or_acquire
    guard.wrap(Celery, "_connection", _unsimulated_connection)
    guard.wrap(Celery, "_acquire_connection", _unsimulated_connection)  # from app.pool, made before maybe


SENDING = ClassGuard(_refuse_sending)
"""``Celery.send_task`` and remote control (``Control.broadcast``, ``purge``) refused while a simulation runs: the
worlds of running Celery simulations and the running simulations with no Celery app (``jobsim_install``) are added."""


def _unsimulated_connection(app: Any, _: str, *args: Any, **kwargs: Any) -> UnsupportedFeature:
    """``Celery._connection``, which every broker connection an app opens goes through: nothing in a simulation
    needs one (sending, results and revoke are simulated), and user code using it would reach the real broker."""
    from kombu.utils.url import maybe_sanitize_url

    broker = maybe_sanitize_url(app.conf.broker_url) or "amqp://localhost"
    return UnsupportedFeature(
        f"a connection to the real broker of Celery app {app.main or 'default'!r} ({broker}) was opened while a "
        "simulation runs (app.connection(), connection_for_read/_write or connection_or_acquire): jobsim-celery "
        "simulates the broker for sending tasks and revoke only, and code that talks to the broker itself (queue "
        "lengths, consumers, events) would reach the real one. Leave it out of the simulated code; messages sent to "
        "queues no simulated worker reads are in sim.celery.unconsumed"
    )


def _unsimulated_control(control: Any, name: str, *args: Any, **kwargs: Any) -> UnsupportedFeature:
    """``app.control.broadcast(command, ...)`` or ``app.control.purge()``, of any app: nothing in a simulation answers
    remote control but revoke, and the real broker must not get the command (a developer's local Redis would)."""
    from kombu.utils.url import maybe_sanitize_url

    broker = maybe_sanitize_url(control.app.conf.broker_url) or "amqp://localhost"
    if name != "broadcast":
        return UnsupportedFeature(
            f"app.control.{name}() is not simulated by jobsim-celery: it would delete the messages waiting in the "
            f"real broker's queues ({broker}). Messages sent to queues no simulated worker reads are kept in "
            "sim.celery.unconsumed; leave purging out of the simulated code"
        )
    command = args[0] if args else kwargs.get("command")
    return UnsupportedFeature(
        f"app.control's {command!r} command (Celery remote control) is not simulated by jobsim-celery, which "
        f"simulates revoke only: it would be broadcast through the real broker ({broker}) to the workers listening "
        "there. Set what it changes on the app or task under test instead (rate_limit=, time_limit= on the task; "
        "CeleryTarget(app, concurrency=N, queues=[...]) for the worker), or leave remote control out of the "
        "simulated code"
    )


def _unsimulated_send_task(app: Any, _: str, name: str, *args: Any, **kwargs: Any) -> JobsimError:
    """``Celery.send_task(name, ...)`` of an app no active simulation runs: refused, naming the app and the task."""
    from celery import _state
    from kombu.utils.url import maybe_sanitize_url  # a password in the URL would reach the run's error and trace

    label = app.main or "default"
    where = f"would go to its real broker ({maybe_sanitize_url(app.conf.broker_url) or 'amqp://localhost'})"
    # Celery's fallback app (celery/_state.py: Celery('default', set_as_current=False)): a @shared_task binds to it
    # when no app of the user's is current
    if app.main is None or (app.main == "default" and app is _state.default_app):
        return JobsimError(
            f"task {name!r} was sent through Celery's default app, not yours: it {where}. A @shared_task uses the "
            "current app, and none of yours was current: create your app with set_as_current=True (the default) "
            "or call app.set_current() before the task is first used, and pass that app to the Simulation"
        )
    fix = ("Pass it too, e.g. jobsim.Simulation(app, other_app)" if _active else
           "This simulation runs no Celery app: pass it, e.g. jobsim.Simulation(app) or jobsim.Simulation(app, "
           "other_target)")  # fmt: skip
    return JobsimError(f"Celery app {label!r} is not part of this simulation: sending task {name!r} {where}. {fix}")


def _hostname() -> str:
    held = _active[-1].executing if _active else None
    if held is None:  # pragma: no cover - the tracer asks only while a task runs
        return _saved["celery.app.trace", "gethostname"]()  # type: ignore[no-any-return]
    return held.rt.hostname  # type: ignore[no-any-return]


def _postrun(original: Any) -> Any:
    def send_postrun(*args: Any, **kwargs: Any) -> Any:
        x = _active[-1].sim.engine.x if _active else None
        if getattr(x, "terminated", False) or getattr(x, "timed_out", False):
            return []  # the pool process is dead: nothing after the body runs (revoke(terminate=True), time_limit)
        return original(*args, **kwargs)

    return send_postrun


class _CodeCopies:
    """Stands in for ``billiard.einfo._Code`` in ``_Frame``: one copy per code object, made by ``_Code`` itself."""

    def __init__(self, make: Any) -> None:
        self.make = make
        self.made: dict[int, tuple[Any, Any]] = {}  # id(code) -> (code, its copy): the code kept, its id not reused

    def __call__(self, code: Any) -> Any:
        known = self.made.get(id(code))
        if known is None:
            known = self.made[id(code)] = (code, self.make(code))
        return known[1]


def _positions(original: Any) -> Any:
    """``traceback._get_code_position(code, instruction_index)``, remembered (the code kept: its id not reused)."""
    known: dict[tuple[int, int], tuple[Any, Any]] = {}

    def get_code_position(code: Any, instruction_index: int) -> Any:
        key = (id(code), instruction_index)
        found = known.get(key)
        if found is None:
            found = known[key] = (code, original(code, instruction_index))
        return found[1]

    return get_code_position


def _memo_tracebacks() -> None:
    einfo = importlib.import_module("billiard.einfo")
    _saved["billiard.einfo", "Code"] = einfo._Frame.__dict__["Code"]  # as defined: a class, or a staticmethod
    einfo._Frame.Code = staticmethod(_CodeCopies(einfo._Frame.Code))
    for attr, memo in (("_get_code_position", _positions),
                       ("_extract_caret_anchors_from_line_segment", functools.lru_cache(maxsize=4096))):  # fmt: skip
        original = getattr(traceback, attr, None)  # Python 3.11+
        if original is not None:
            _saved["traceback", attr] = original
            setattr(traceback, attr, memo(original))


def _check_canvas() -> None:
    """``group.apply_async`` and ``chord.apply_async`` declare every task they reach first (``_canvas``)."""
    from celery import canvas

    from ._canvas import checked

    for cls, kind in ((canvas.group, "group"), (canvas._chord, "chord")):
        _methods[cls] = cls.__dict__["apply_async"]
        cls.apply_async = checked(cls.apply_async, kind)


_EAGER = "task_always_eager"
_no_eager_classes: dict[type, type] = {}  # an app's settings class -> its subclass that never reads eager
_eager_bases: dict[type, type] = {}  # and back


def no_eager(app: Any) -> type:
    """Make ``app.conf`` read ``task_always_eager`` as ``False`` until ``eager_back``; returns its class. A settings
    object the app builds anew meanwhile is kept off eager too: ``app.config_from_object(obj, force=True)`` (or
    ``config_from_envvar``) on a configured app drops ``app._conf`` and ``_load_config`` builds a fresh ``Settings``
    (``celery/app/base.py``), which the app's instance attribute ``_load_config`` (shadowing the method until the
    close) turns off eager as it is built."""
    conf = app.conf
    cls = type(conf)
    _keep_off(conf)
    load = type(app)._load_config

    def _load_config() -> Any:
        settings = load(app)
        _keep_off(settings)
        return settings

    app.__dict__["_load_config"] = _load_config
    return cls


def _keep_off(conf: Any) -> None:
    cls = type(conf)
    if cls in _eager_bases:
        return
    sub = _no_eager_classes.get(cls)
    if sub is None:

        def __getitem__(self: Any, key: Any) -> Any:
            return False if key == _EAGER else cls.__getitem__(self, key)

        def copy(self: Any) -> Any:  # a copy the test keeps is a plain one, as the app's is after the close
            copied = cls.copy(self)
            object.__setattr__(copied, "__class__", cls)
            return copied

        namespace = {"__getitem__": __getitem__, "copy": copy, "__copy__": copy, "__module__": cls.__module__,
                     "__qualname__": cls.__qualname__}  # fmt: skip
        sub = _no_eager_classes[cls] = type(cls.__name__, (cls,), namespace)
        _eager_bases[sub] = cls
    object.__setattr__(conf, "__class__", sub)  # its own __setattr__ would store a setting named __class__


def eager_back(app: Any, cls: Any) -> None:
    """Undo ``no_eager``: the app reads what the test set, during the simulation too (``cls``, the class its
    settings had, is kept for the callers; the settings the app has now go back to their own class)."""
    app.__dict__.pop("_load_config", None)
    conf = app.__dict__.get("_conf")
    base = _eager_bases.get(type(conf))
    if base is not None:
        object.__setattr__(conf, "__class__", base)


def _keep(error: BaseException) -> None:
    """A jobsim error a signal receiver raised, which ``Signal.send`` caught and logged: the running simulation's."""
    if _active:
        _active[-1].keep(error)


def push(world: Any) -> None:
    if not _active:
        _memo_tracebacks()
        _check_canvas()
        for module_name, attr in (*_TARGETS, ("celery.utils.time", "random")):
            module = importlib.import_module(module_name)
            _saved[module_name, attr] = getattr(module, attr)
            setattr(module, attr, _Jitter() if attr == "random" else _uuid4)
        trace = importlib.import_module("celery.app.trace")
        _saved["celery.app.trace", "send_postrun"] = trace.send_postrun
        setattr(trace, "send_postrun", _postrun(trace.send_postrun))  # noqa: B010 (the module is untyped)
        _saved["celery.app.trace", "gethostname"] = trace.gethostname
        setattr(trace, "gethostname", _hostname)  # noqa: B010
        dispatch = importlib.import_module("celery.utils.dispatch.signal")
        _saved["celery.utils.dispatch.signal", "logger"] = dispatch.logger
        setattr(dispatch, "logger", LogWatch(dispatch.logger, _keep))  # noqa: B010
    SENDING.add(world)
    _active.append(world)


def pop(world: Any) -> None:
    if world in _active:
        _active.remove(world)
    if not _active:
        code = _saved.pop(("billiard.einfo", "Code"), None)  # a class attribute, not a module's
        if code is not None:
            importlib.import_module("billiard.einfo")._Frame.Code = code
        for cls, method in _methods.items():
            cls.apply_async = method  # type: ignore[attr-defined]  # a canvas class's, put back
        _methods.clear()
        for (module_name, attr), original in _saved.items():
            setattr(importlib.import_module(module_name), attr, original)
        _saved.clear()
    SENDING.remove(world)


def active() -> list[Any]:
    return list(_active)

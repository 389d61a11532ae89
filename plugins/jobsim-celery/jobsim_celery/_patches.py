"""The two process-wide patches a Celery simulation needs, shared by every active simulation.

* **Jitter.** Celery draws retry jitter with the module-level ``random.randrange`` of
  ``celery.utils.time`` (``get_exponential_backoff_interval``:
  ``countdown = random.randrange(countdown + 1)`` when ``full_jitter``). While a
  simulation is active that name points at the simulation's seeded generator, so
  Celery's own function makes the same draws for the same seed.
* **Task ids.** Celery names tasks, groups and chords with ``kombu.utils.uuid.uuid``
  (a uuid4), imported by name into ``celery.app.task``, ``celery.app.base`` and
  ``celery.canvas``. They are replaced by uuid4-shaped ids from a generator seeded
  with the simulation's seed (separate from the jitter generator, so adding a task
  does not change the jitter of another), which makes traces reproducible.

Module globals can only be patched once per process, so active simulations form a
stack: the most recently started one is served, and the originals come back when the
last one closes.
"""

from __future__ import annotations

import importlib
import random
import uuid as _uuid
from typing import Any

_TARGETS = (("celery.app.task", "uuid"), ("celery.app.base", "uuid"), ("celery.canvas", "uuid"))
_active: list[Any] = []  # the worlds of running simulations, innermost last
_saved: dict[tuple[str, str], Any] = {}


class _Jitter:
    """Stands in for the ``random`` module inside ``celery.utils.time``."""

    def __getattr__(self, name: str) -> Any:
        source = _active[-1].sim.rng if _active else random
        return getattr(source, name)


def _uuid4() -> str:
    if not _active:  # pragma: no cover - patches are removed with the last world
        return str(_uuid.uuid4())
    return str(_uuid.UUID(int=_active[-1].ids.getrandbits(128), version=4))


def push(world: Any) -> None:
    if not _active:
        for module_name, attr in (*_TARGETS, ("celery.utils.time", "random")):
            module = importlib.import_module(module_name)
            _saved[module_name, attr] = getattr(module, attr)
            setattr(module, attr, _Jitter() if attr == "random" else _uuid4)
    _active.append(world)


def pop(world: Any) -> None:
    if world in _active:
        _active.remove(world)
    if not _active:
        for (module_name, attr), original in _saved.items():
            setattr(importlib.import_module(module_name), attr, original)
        _saved.clear()


def active() -> list[Any]:
    return list(_active)

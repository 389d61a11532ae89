"""What an ``ArqRedis`` does while a simulation runs: its commands go to the simulated keyspace.

``ArqRedis`` is a ``redis.asyncio.Redis`` (``connections.py:87-117``); every command it sends goes
through ``execute_command``, and ``pipeline()`` makes a ``Pipeline`` that queues commands and sends
them in one ``MULTI``/``EXEC`` (``WATCH``-ed keys run at once until ``multi()``). Both are replaced on
the ``ArqRedis`` class (``_patches``), so every pool -- the worker's, one the test made with
``arq.create_pool``, one built before the simulation started -- answers from the simulation and none
opens a socket. ``arq.create_pool`` itself is replaced too: it returns a pool without ``PING``-ing a
server (``connections.py:220-299``). Plain ``redis.asyncio.Redis`` clients are not touched.

Each command (a pipeline's ``EXEC``, its ``WATCH`` and immediate-mode commands too) is answered through
``ArqWorld.answer`` (``jobsim.hooks.gate_while_blocked``): one that job code sends after a blocking call
(``time.sleep``) reaches Redis when the call returns, as from a real blocked worker, not while the simulation is
still before that instant.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError, WatchError

if TYPE_CHECKING:
    from ._redis import Store

    Answer = Callable[..., Coroutine[Any, Any, Any]]
    _Pipeline = Any  # redis-py's own types describe a connected pipeline; this one overrides what it answers
else:
    from redis.asyncio.client import Pipeline as _Pipeline


class SimulatedPipeline(_Pipeline):  # type: ignore[misc]
    """A redis-py asyncio ``Pipeline`` whose ``EXEC`` runs on the simulated keyspace.

    Commands queue until ``execute()``; after ``watch()`` and before ``multi()`` they run at once
    (redis-py's immediate mode). ``execute()`` raises ``WatchError`` and runs nothing when a watched
    key was written since it was watched; otherwise every queued command runs, and the first error
    among them is raised after all ran (Redis runs the rest of a ``MULTI`` block; redis-py's
    ``raise_on_error``)."""

    def __init__(self, store: Store, transaction: bool, answer: Answer) -> None:  # no connection pool
        self.store = store
        self.answer = answer
        self.transaction = transaction
        self.connection = None
        self.command_stack: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.watched: dict[bytes, int] = {}
        self.watching = False
        self.explicit_transaction = False

    def __repr__(self) -> str:
        return f"<jobsim-arq pipeline: {len(self.command_stack)} queued>"

    async def __aenter__(self) -> SimulatedPipeline:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.reset()

    def __len__(self) -> int:
        return len(self.command_stack)

    def __bool__(self) -> bool:
        return True

    def __del__(self) -> None:
        pass

    async def reset(self) -> None:
        self.command_stack.clear()
        self.watched.clear()
        self.watching = False
        self.explicit_transaction = False

    async def aclose(self) -> None:
        await self.reset()

    def multi(self) -> None:
        if self.explicit_transaction:
            raise RedisError("Cannot issue nested calls to MULTI")
        if self.command_stack:
            raise RedisError("Commands without an initial WATCH have already been issued")
        self.explicit_transaction = True

    async def watch(self, *names: Any) -> bool:
        from ._redis import _b

        if self.explicit_transaction:
            raise RedisError("Cannot issue a WATCH after a MULTI")
        versions = await self.answer(lambda: [(_b(name), self.store.version(_b(name))) for name in names])
        self.watched.update(versions)
        self.watching = True
        return True

    async def unwatch(self) -> bool:
        await self.answer(self.watched.clear)
        self.watching = False
        return True

    def execute_command(self, *args: Any, **options: Any) -> Any:
        if self.watching and not self.explicit_transaction:
            return self._now(args, options)
        self.command_stack.append((args, options))
        return self

    async def _now(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        return await self.answer(self.store.run, args, options)

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        stack, watched = list(self.command_stack), dict(self.watched)
        await self.reset()
        results: list[Any] = await self.answer(self._exec, stack, watched, raise_on_error)
        return results

    def _exec(self, stack: list[tuple[tuple[Any, ...], dict[str, Any]]], watched: dict[bytes, int],
              raise_on_error: bool) -> list[Any]:
        """``EXEC`` as it reaches Redis: ``WatchError`` for a watched key written since, else every command run."""
        if any(self.store.version(key) != version for key, version in watched.items()):
            raise WatchError("Watched variable changed.")
        results: list[Any] = []
        for args, options in stack:
            try:
                results.append(self.store.run(args, options))
            except RedisError as exc:
                results.append(exc)
        if raise_on_error:
            for result in results:
                if isinstance(result, RedisError):
                    raise result
        return results


def execute_command(pool: Any, *args: Any, **options: Any) -> Any:
    """``ArqRedis.execute_command`` while a simulation runs (a coroutine, as redis-py's is)."""
    from . import _patches

    w = _patches.world()
    w.used(pool)
    return w.answer(w.store.run, args, options)


async def answer(fn: Callable[..., Any], *args: Any) -> Any:
    """One command answered from the simulated keyspace: ``fn(*args)`` (``ArqWorld.answer`` gates it)."""
    return fn(*args)


def pipeline(pool: Any, transaction: bool = True, shard_hint: Any = None) -> SimulatedPipeline:
    from . import _patches

    w = _patches.world()
    w.used(pool)
    return SimulatedPipeline(w.store, transaction, w.answer)

"""A simulated server's commands, sent from a worker process a blocking call holds (``PumpedLoop.blocked_until``).

On a real worker, job code that blocks the event loop (``time.sleep(100)`` in an ``async def``) holds every command
the process would send: they reach the server when the call returns, and their replies come back over a socket,
a loop turn or two later. A plugin whose simulated server answers in no time, inside the call (jobsim-bullmq's
backend methods), wraps each command with ``gate_while_blocked`` so that the same holds in the simulation.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .errors import InvalidArgument

if TYPE_CHECKING:
    from ._aio import PumpedLoop

C = TypeVar("C", bound=Callable[..., Any])


class LoopHolder(Protocol):
    """What ``gate_while_blocked`` reads at each command: the plugin's world, whose ``loop`` is its worker process
    (None before the simulation starts it)."""

    @property
    def loop(self) -> PumpedLoop[Any] | None: ...


def gate_while_blocked(command: C, world: LoopHolder, *, reply_turns: int = 2) -> C:
    """``command`` (a coroutine function: one command of the simulated server), made to wait for a blocking call.

    Sent by code on ``world.loop`` while a blocking call holds the process (``blocked_until()`` is not None), the
    command waits for the call's return (one yield: the loop stops after this turn and runs again then), runs, and
    its reply is read ``reply_turns`` loop turns later, as over a socket: the tasks the blocked loop owes (overdue
    timers, woken in those turns) send their commands right behind it, as on a real worker. A command sent in the
    first turn after the call returned (``resuming``: the job awaited something else first) is answered as late.
    Anywhere else -- the loop not pumping, another loop (the test's), no block -- it runs at once with no yield, so
    the order of the workers' tasks is unchanged. A plain function is given back as it is."""
    if isinstance(reply_turns, bool) or not isinstance(reply_turns, int) or reply_turns < 0:
        raise InvalidArgument.build("gate_while_blocked(reply_turns=...)", reply_turns,
                                    "a whole number of loop turns >= 0 (2: the reply is read, then the task "
                                    "resumes)")  # fmt: skip
    if not inspect.iscoroutinefunction(command):
        return command

    @functools.wraps(command)
    async def gated(*args: Any, **kwargs: Any) -> Any:
        loop = world.loop
        if loop is None or not loop.pumping or asyncio.get_running_loop() is not loop:
            return await command(*args, **kwargs)
        if loop.blocked_until() is not None:
            await asyncio.sleep(0)  # to the turn after the call returned
        elif not loop.resuming:
            return await command(*args, **kwargs)
        try:
            return await command(*args, **kwargs)
        finally:
            for _ in range(reply_turns):
                await asyncio.sleep(0)

    return gated  # type: ignore[return-value]

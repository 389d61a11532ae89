"""A blocking call in job code holds a ``jobsim.hooks.PumpedLoop`` (a plugin's worker process) until it returns.

``time.sleep(100)`` inside an ``async def`` holds a real asyncio worker's whole event loop: no other task -- a poll, a
lock renewal, another job -- runs until the call returns. jobsim-arq and jobsim-bullmq both rely on the rule, which
``PumpedLoop`` implements once (``blocked_until``, ``resuming``, ``unblock``), and on ``gate_while_blocked`` for the
simulated server's commands (jobsim-bullmq).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from _pumped import CURRENT, START, World, app

import jobsim
from jobsim.hooks import PumpedLoop, gate_while_blocked

S = 1_000_000_000


class Loop(PumpedLoop[World]):
    wake_owner = "test worker"
    current = CURRENT


def _start(sim: jobsim.Simulation, *coroutines: Any) -> tuple[World, Loop]:
    world = World(sim)
    loop = world.loop = Loop(world)
    world.tasks.extend(loop.create_task(c) for c in coroutines)
    loop.book()
    return world, loop


def _at(sim: jobsim.Simulation) -> float:
    """Seconds since the start, on the simulation's (the kernel's) clock: not the blocked process's."""
    return (sim.kernel.now - sim.start_ns) / S


async def _blocks_then_waits(seconds: float) -> None:
    """Job code that blocks the process, then waits for what never comes (the loop's close cancels it)."""
    time.sleep(seconds)
    await asyncio.get_running_loop().create_future()


def test_no_other_task_runs_before_the_blocking_call_returns() -> None:
    """The ticker's 1 s timer falls inside the 100 s call: it runs when the simulation reaches the call's return, not
    in the pump that made the call (where the process's clock already read 100.5 s while the simulation's read 0.5)."""
    seen: list[tuple[str, float, float]] = []
    with jobsim.Simulation(app(), start=START) as sim:

        async def blocker() -> None:
            await asyncio.sleep(0.5)
            time.sleep(100)
            seen.append(("returned", _at(sim), loop.time()))

        async def ticker() -> None:
            for _ in range(3):
                await asyncio.sleep(1)
                seen.append(("tick", _at(sim), loop.time()))

        world, loop = _start(sim, blocker(), ticker())
        sim.advance("50s")
        assert seen == [("returned", 0.5, 100.5)]  # the rest of the blocking task's turn is the call's own
        assert loop.blocked_until() == sim.start_ns + 100_500_000_000
        assert world.busy()
        sim.run_until_idle()
        assert loop.blocked_until() is None
        loop.close_down()
    assert seen == [("returned", 0.5, 100.5), ("tick", 100.5, 100.5), ("tick", 101.5, 101.5),
                    ("tick", 102.5, 102.5)]  # fmt: skip


def test_a_blocked_process_wakes_at_the_calls_return_with_nothing_else_due() -> None:
    """No timer pending and nothing ready: the wake is still the call's return (``next_wake_ns``)."""
    with jobsim.Simulation(app(), start=START) as sim:
        _, loop = _start(sim, _blocks_then_waits(30))
        sim.advance("1s")
        assert loop.next_due_ns() is None  # nothing else wants a pump ...
        assert loop.next_wake_ns() == sim.start_ns + 30 * S  # ... and the process wakes when the call returns
        loop.close_down()


def test_the_first_turn_after_the_call_returned_is_resuming() -> None:
    turns: list[tuple[float, bool]] = []
    with jobsim.Simulation(app(), start=START) as sim:

        def note() -> None:
            turns.append((_at(sim), loop.resuming))

        async def blocker() -> None:
            time.sleep(30)
            loop.call_soon(note)  # the next turn: the first after the call returned
            loop.call_soon(loop.call_soon, note)  # the one after

        _, loop = _start(sim, blocker())
        sim.advance("1m")
        loop.close_down()
    assert turns == [(30.0, True), (30.0, False)]


def test_unblock_ends_the_hold_at_the_simulations_instant() -> None:
    with jobsim.Simulation(app(), start=START) as sim:
        _, loop = _start(sim, _blocks_then_waits(3600))
        sim.advance("10s")
        assert loop.blocked_until() == sim.start_ns + 3600 * S
        loop.unblock()  # the call died with its worker (a crash)
        assert loop.blocked_until() is None and not loop.resuming
        assert loop.next_wake_ns() is None
        loop.close_down()


class Server:
    """A simulated server answering in no time: each command notes when it ran (the simulation's clock)."""

    def __init__(self, sim: jobsim.Simulation) -> None:
        self.sim = sim
        self.log: list[tuple[str, float]] = []

    async def command(self, name: str) -> str:
        self.log.append((name, _at(self.sim)))
        return name.upper()


def test_a_gated_command_sent_while_blocked_reaches_the_server_when_the_call_returns() -> None:
    """Sent in the blocked turn it runs at the call's return; its reply is read two turns later, so the overdue
    renewal woken in the same turns sends its command first-come, right behind it, before the job reads the reply."""
    with jobsim.Simulation(app(), start=START) as sim:
        server = Server(sim)
        world: World
        order: list[str] = []

        async def job() -> None:
            await asyncio.sleep(1)
            time.sleep(60)
            order.append(await send("finish"))

        async def renewal() -> None:
            await asyncio.sleep(15)
            order.append(await send("renew"))

        world, loop = _start(sim, job(), renewal())
        send = gate_while_blocked(server.command, world)
        sim.run_until_idle()
        loop.close_down()
    assert server.log == [("finish", 61.0), ("renew", 61.0)]
    assert order == ["RENEW", "FINISH"]  # the reply to "finish" came two turns later: the renewal's came first


def test_a_gated_command_off_the_blocked_loop_runs_at_once() -> None:
    """From the test's own loop (or with no worker process yet) the command runs as it would ungated, no yield."""
    with jobsim.Simulation(app(), start=START) as sim:
        server = Server(sim)
        world = World(sim)
        send = gate_while_blocked(server.command, world)
        assert asyncio.run(send("add")) == "ADD"  # no loop yet
        world.loop = Loop(world)
        assert asyncio.run(send("add")) == "ADD"  # another loop: the test's
        world.loop.close_down()
    assert server.log == [("add", 0.0), ("add", 0.0)]
    assert send.__name__ == "command"  # functools.wraps: what bullmq or a traceback shows is the command's


def test_gate_while_blocked_leaves_plain_functions_and_refuses_a_bad_reply_turns() -> None:
    world = World.__new__(World)
    assert gate_while_blocked(len, world) is len
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(jobsim.InvalidArgument, match=r"reply_turns.*whole number of loop turns >= 0"):
            gate_while_blocked(len, world, reply_turns=bad)  # type: ignore[arg-type]

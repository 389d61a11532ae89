"""``jobsim.hooks.PumpedLoop`` (a plugin's worker process) waits a long timer in one jump, as ``VirtualLoop`` does.

asyncio caps a wait at a day (``MAXIMUM_SELECT_TIMEOUT``). A pumped loop books its kernel wake at the timer itself,
but while the simulation closes it runs the workers' shutdown itself, each wait added to its clock as asyncio asked
for it: a clean-up that slept a year took 365 waits of a day, where one jump to the timer does.
"""

from __future__ import annotations

import asyncio

from _pumped import CURRENT, START, World, app

import jobsim
from jobsim.hooks import PumpedLoop

YEAR = 365 * 86_400


class CountingLoop(PumpedLoop[World]):
    """Counts the times the loop would block (``_park``: a kernel wake booked, or a wait spent while closing)."""

    wake_owner = "test worker"
    current = CURRENT

    def __init__(self, world: World) -> None:
        self.parks = 0
        super().__init__(world)

    def _park(self, ns: int | None) -> None:
        self.parks += 1
        super()._park(ns)


def test_a_year_long_sleep_in_the_workers_shutdown_is_one_jump() -> None:
    with jobsim.Simulation(app(), start=START) as sim:
        world = World(sim)
        loop = CountingLoop(world)

        async def stubborn() -> float:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:  # its clean-up waits a year, as the shutdown lets it
                await asyncio.sleep(YEAR)
            return loop.time()

        task = loop.create_task(stubborn())
        world.tasks.append(task)
        loop.book()
        sim.advance("1s")
        before = loop.parks
        loop.close_down([task])
        assert task.result() == 1 + YEAR  # the clean-up's clock went on by the year, exactly
        assert loop.parks - before <= 3  # was 365: one wait of a day at a time


def test_a_year_long_sleep_in_a_running_worker_is_one_kernel_wake() -> None:
    with jobsim.Simulation(app(), start=START) as sim:
        world = World(sim)
        loop = CountingLoop(world)

        async def nap() -> float:
            await asyncio.sleep(YEAR)
            return loop.time()

        task = loop.create_task(nap())
        world.tasks.append(task)
        loop.book()
        sim.run_until_idle(max_time="400d")
        assert task.result() == YEAR
        assert sim.now_ns() - sim.start_ns == YEAR * 1_000_000_000
        assert loop.parks <= 2
        loop.close_down()

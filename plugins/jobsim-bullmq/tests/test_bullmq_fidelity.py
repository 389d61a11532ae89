"""Inputs bullmq-python 3.4 accepts and runs: the simulation runs them as the library and its Lua scripts do."""

from __future__ import annotations

import pytest
from bullmq_support import START, run

import jobsim

MS0 = 1740787200000  # START in ms


async def noop(job, token):
    return None


@pytest.mark.parametrize("every", ["1e3", "1000.0", " 1000 ", "0x3E8", "1E3", "0x3E8p0", "0x1.f4p9"])
def test_an_every_string_lua_reads_as_a_number_steps_by_it(worker_for, queue, every):
    """addJobScheduler-11.lua does ``math.floor(now / every)`` and ``prevMillis + every`` on the string msgpack
    carried: Lua reads '1e3' as 1000 (strtod), as it does '0x3E8'. jobsim refused '1e3' (int() of it failed)."""
    with jobsim.Simulation(worker_for(noop), start=START) as sim:
        job = run(queue.upsertJobScheduler("tick", {"every": every, "limit": 3}, "tick", {}))
        sim.advance("5s")
        assert job.id == f"repeat:tick:{MS0}"
        assert [r.id for r in sim.runs("q")] == [f"repeat:tick:{MS0 + n * 1000}" for n in range(3)]
        # job_scheduler.py's _transform_scheduler_data reads HGETALL's 'every' with int(): '1e3' is not shown
        shown = run(queue.getJobScheduler("tick"))
        assert shown["iterationCount"] == 3 and ("every" in shown) == (every == " 1000 ")


@pytest.mark.parametrize(("every", "slots"), [(1000, [0, 1000, 2000]), ("1000", [0, 500, 1500, 2500])])
def test_an_upsert_with_a_string_every_starts_the_iterations_again(worker_for, queue, every, slots):
    """``tonumber(HGET every) ~= every`` (addJobScheduler-11.lua:494-499) is true for a string: the pending job is
    replaced by one due now, not kept at its slot as for a number."""
    with jobsim.Simulation(worker_for(noop), start=START) as sim:
        run(queue.upsertJobScheduler("tick", {"every": every}, "tick", {}))
        sim.advance("0.5s")
        run(queue.upsertJobScheduler("tick", {"every": every}, "tick", {}))
        sim.advance("1.7s")
        kept = [r.id for r in sim.runs("q") if r.status != "cancelled"]  # the replaced job's run is cancelled
        assert kept == [f"repeat:tick:{MS0 + n}" for n in slots]


@pytest.mark.parametrize("every", ["1_000", "inf", "1000ms"])
def test_an_every_string_lua_cannot_read_is_still_refused(worker_for, queue, every):
    """Lua's strtod stops at '_' and 'ms': the script's arithmetic on the string would fail (a Redis error)."""
    with jobsim.Simulation(worker_for(noop), start=START), \
            pytest.raises(jobsim.InvalidArgument, match=r"\['every'\]=.* a whole number >= 1"):  # fmt: skip
        run(queue.upsertJobScheduler("tick", {"every": every}, "tick", {}))


@pytest.mark.parametrize(("concurrency", "at_once"), [(3.0, 3), (1.5, 2), (2, 2)])
def test_a_float_concurrency_runs_as_bullmqs_loop_compares_it(worker_for, queue, concurrency, at_once):
    """worker.py:182 starts a fetch while ``len(self.processing) < concurrency``: 3.0 is 3 jobs at once, and 1.5
    lets a second one start (1 < 1.5), as on a real worker. jobsim refused any float."""
    import asyncio

    async def minute(job, token):
        await asyncio.sleep(60)

    with jobsim.Simulation(worker_for(minute, concurrency=concurrency), start=START) as sim:
        for n in range(6):
            run(queue.add(f"j{n}", {}))
        sim.advance("30s")
        assert [r.status for r in sim.runs("q")].count("running") == at_once


def test_a_startdate_bullmq_cannot_read_is_dropped_as_bullmq_python_drops_it(worker_for, queue):
    """job_scheduler.py's ``_to_millis('garbage')`` is None (neither an int nor an ISO date): the scheduler is
    stored without it and starts now, with no error; a readable one (ms or ISO) delays the first job."""
    with jobsim.Simulation(worker_for(noop), start=START) as sim:
        garbage = run(queue.upsertJobScheduler("a", {"every": 1000, "startDate": "garbage", "limit": 1}, "a", {}))
        iso = run(queue.upsertJobScheduler("b", {"every": 1000, "startDate": "2025-03-01T00:00:03Z", "limit": 1},
                                           "b", {}))  # fmt: skip
        sim.advance("5s")
        assert garbage.id == f"repeat:a:{MS0}" and iso.id == f"repeat:b:{MS0 + 3000}"
        assert "startDate" not in run(queue.getJobScheduler("a"))
        assert run(queue.getJobScheduler("b"))["startDate"] == MS0 + 3000


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_under_1_creates_nothing_as_in_bullmq_python(worker_for, queue, limit):
    """``iteration_count > limit`` (job_scheduler.py): the first iteration (1) is already over it, so
    upsertJobScheduler returns None before reaching Redis -- no scheduler, no job."""
    with jobsim.Simulation(worker_for(noop), start=START) as sim:
        assert run(queue.upsertJobScheduler("tick", {"every": 1000, "limit": limit}, "tick", {})) is None
        sim.advance("5s")
        assert sim.runs("q") == [] and run(queue.getJobSchedulers()) == []


def test_get_jobs_of_a_state_no_queue_has_is_empty_as_in_redis(worker_for, queue):
    """getJobs-1.lua reads ``<prefix><type>`` with ZRANGE/ZREVRANGE: a key that does not exist is an empty range,
    so a misspelt type gives [] (no error), and a bare string is its letters (``sanitizeJobTypes``: list(types))."""
    with jobsim.Simulation(worker_for(noop), start=START) as sim:
        run(queue.add("a", {}))
        sim.run_until_idle()
        assert run(queue.getJobs(["nope"])) == [] and run(queue.getJobs("completed")) == []
        assert [job.id for job in run(queue.getJobs(["completed", "nope"]))] == ["1"]


@pytest.mark.parametrize("every", ["\u0661\u0660\u0660\u0660", "1\u0660\u0660\u0660", "0x" + "f" * 300, 2**1024],
                         ids=["arabic-indic", "mixed-digits", "hex-past-a-double", "int-past-a-double"])
def test_an_every_lua_cannot_read_or_overflows_is_refused_naming_it(worker_for, queue, every):
    """Lua's strtod reads ASCII digits only: Arabic-Indic one-zero-zero-zero is no number to the script (Python's
    ``\\d`` and float() read it as 1000, and the scheduler ran every second). A hex string past a double is
    HUGE_VAL (inf) to strtod, and so is a number too large for one: both were a bare OverflowError (float(int))
    from the check."""
    refused = pytest.raises(jobsim.InvalidArgument, match=r"\['every'\]=.* a whole number >= 1")
    with jobsim.Simulation(worker_for(noop), start=START), refused:
        run(queue.upsertJobScheduler("tick", {"every": every}, "tick", {}))


@pytest.mark.parametrize("every", ["0x1p10", "0x400.", "0X.8p11", " -0x0.4p-2 "])
def test_an_every_lua_reads_as_a_hex_float_is_read_as_strtod_reads_it(every):
    """C99 strtod (glibc, musl: Redis's Lua calls it for tonumber) reads hex floats with a binary exponent."""
    from jobsim_bullmq._schedulers import lua_number

    assert lua_number(every) == float.fromhex(every.strip())


@pytest.mark.parametrize("every", [1e300, "1e300", 10**30, 2**52])
def test_an_every_past_any_calendar_runs_once_and_leaves_the_next_job_due_then(worker_for, queue, every):
    """BullMQ adds the first job at once and the next ``every`` later; the worker's wake-up loop stepped toward that
    due time in 1 s blocks measured in floats, which past 2**52 ms no longer move: the simulation spun for ever."""
    with jobsim.Simulation(worker_for(noop), start=START) as sim:
        run(queue.upsertJobScheduler("tick", {"every": every}, "tick", {}))
        sim.advance("1h")
        first, following = sim.runs("q")
        assert (first.id, first.status) == (f"repeat:tick:{MS0}", "completed")
        assert following.id == f"repeat:tick:{MS0 + int(float(every))}" and following.status != "completed"

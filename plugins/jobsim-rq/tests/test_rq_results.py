"""Reading a simulated job's result the ways RQ 3.0.0 offers, none of which may reach Redis.

``Job.result`` (``rq/job.py:905-940``) is deprecated but still what much code reads: it is the
latest ``Result``'s return value when that result is a success, else the job hash's ``result``
field, which RQ's worker only fills on success (``rq/worker/base.py:1587``). So for a simulated
job it is ``return_value()``. ``latest_result()``/``results()`` return ``Result`` objects read
from a Redis stream (``rq/results.py``), which jobsim-rq does not simulate: they are refused by
name, instead of a ``redis.ConnectionError`` from deep inside redis-py.
"""

from __future__ import annotations

import warnings

import pytest
from rq_log import START

import jobsim


def double(x: int) -> int:
    return 2 * x


def broken() -> None:
    raise ValueError("broken")


def test_the_deprecated_result_property_reads_the_simulated_result(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        done = queue.enqueue(double, 21)
        failed = queue.enqueue(broken)
        expiring = queue.enqueue(double, 5, result_ttl=10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assert done.result is None  # not run yet
            sim.advance("1s")
            assert (done.result, failed.result, expiring.result) == (42, None, 10)
            with pytest.warns(DeprecationWarning, match="job.result is deprecated"):
                assert done.result == 42  # RQ's own warning, still given
            sim.advance("20s")  # expiring's result_ttl ran out; it had been read, so RQ's cached copy stays
            assert expiring.result == 10 and expiring.return_value(refresh=True) is None


def test_latest_result_and_results_are_refused_by_name(queue):
    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(double, 1)
        sim.run_until_idle()
        for call in (job.latest_result, job.results):
            with pytest.raises(jobsim.UnsupportedFeature, match=r"Job\.(latest_result|results)\(\) reads RQ's "
                               r"result stream in Redis.*return_value\(\)"):
                call()

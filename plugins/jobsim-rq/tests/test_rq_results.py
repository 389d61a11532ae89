"""Reading a simulated job's result the ways RQ 3.0.0 offers, none of which may reach Redis.

``Job.result`` (``rq/job.py:905-940``) is deprecated but still what much code reads: it is the
latest ``Result``'s return value when that result is a success, else the job hash's ``result``
field, which RQ's worker only fills on success (``rq/worker/base.py:1587``). So for a simulated
job it is ``return_value()``. ``latest_result()``/``results()`` return ``Result`` objects read
from the job's result stream (``rq/results.py``), which the simulation keeps at each virtual instant.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings

import pytest
from rq_log import SECOND, START, T0

import jobsim


def double(x: int) -> int:
    return 2 * x


def nap(seconds: int) -> int:
    time.sleep(seconds)
    return seconds


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


SEEN: list[int] = []


def seen_so_far() -> list[int]:
    SEEN.append(len(SEEN))
    return SEEN  # a module-level list: later jobs change it after this one returned


def pair() -> tuple[int, dict[int, str]]:
    return (1, {2: "two"})


def test_a_result_is_the_value_as_serialized_when_the_job_ended(queue):
    """The worker serializes the return value as it saves the ``Result`` (``Result.serialize``,
    ``rq/results.py:297-306``), at the job's end: an object changed later is read as it was then. Every read,
    ``job.result`` too, gets what the serializer gives back, not the object the job returned."""
    from redis import Redis
    from rq import Queue
    from rq.serializers import JSONSerializer

    SEEN.clear()
    with jobsim.Simulation(queue, start=START) as sim:
        first = queue.enqueue(seen_so_far)
        sim.run_until_idle()
        second = queue.enqueue(seen_so_far)
        sim.run_until_idle()
        assert SEEN == [0, 1]
        assert first.latest_result().return_value == first.return_value() == [0]
        assert second.return_value() == [0, 1] and second.return_value() is not SEEN
    json_queue = Queue("json", connection=Redis(host="127.0.0.1", port=1), serializer=JSONSerializer)
    with jobsim.Simulation(json_queue, start=START) as sim:
        job = json_queue.enqueue(pair)
        sim.run_until_idle()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assert job.result == job.return_value() == [1, {"2": "two"}]  # JSON's list and string keys


def test_latest_result_and_results_read_the_simulated_result_stream(queue):
    """They used to be refused; now they read what the worker saved (``test_rq_registries.py`` has more)."""
    from rq.results import Result

    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(double, 1)
        assert job.latest_result() is None and job.results() == []
        sim.run_until_idle()
        [result] = job.results()
        assert result == job.latest_result() and result.type == Result.Type.SUCCESSFUL and result.return_value == 2
        assert result.created_at == dt.datetime.fromtimestamp(T0, dt.timezone.utc) and result.job_id == job.id


def test_cancel_takes_a_waiting_job_out_of_its_queue_and_the_scheduler(queue):
    """``Job.cancel`` (``rq/job.py:1213-1320``): the job is ``canceled``, removed from its queue and
    registries, so it never runs. It used to set the status in the simulation and then fail with a
    ``redis.ConnectionError`` from its pipeline, leaving the run ``queued`` forever."""
    from rq.exceptions import InvalidJobOperation
    from rq.job import Dependency, JobStatus

    with jobsim.Simulation(queue, start=START) as sim:
        first = queue.enqueue(double, 1)
        queued = queue.enqueue(double, 2)
        later = queue.enqueue_in(dt.timedelta(minutes=5), double, 3)
        child = queue.enqueue(double, 4, depends_on=queued)
        freed = queue.enqueue(double, 5, depends_on=Dependency(jobs=[later]))
        assert queued.cancel() == {} and later.cancel(enqueue_dependents=True) == {"default": [freed.id]}
        with pytest.raises(InvalidJobOperation, match=f"Cannot cancel already canceled job: {queued.id}"):
            queued.cancel()
        sim.run_until_idle()
        assert [j.get_status() for j in (first, queued, later, child, freed)] == [
            JobStatus.FINISHED, JobStatus.CANCELED, JobStatus.CANCELED, JobStatus.DEFERRED, JobStatus.FINISHED]
        assert [(r.status, len(r.attempts)) for r in sim.runs(double)] == [
            ("completed", 1), ("cancelled", 0), ("cancelled", 0), ("waiting", 0), ("completed", 1)]
        assert sim.now_ns() == T0 * SECOND  # nothing waited for the 5-minute job


def test_cancel_and_delete_of_a_running_job_are_refused_by_name_and_requeue_finds_nothing(queue):
    from rq.exceptions import InvalidJobOperation

    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(nap, 60)
        sim.advance("10s")
        with pytest.raises(jobsim.UnsupportedFeature, match=r"job\.cancel\(\) of RQ job .* while it runs.*"
                           r"sim\.rq\.stop\(job, at=\.\.\.\)"):
            job.cancel()
        with pytest.raises(jobsim.UnsupportedFeature, match=rf"job\.delete\(\) of RQ job {job.id} .* while it runs"):
            job.delete()
        with pytest.raises(InvalidJobOperation, match=f"RQ job {job.id} is not in the FailedJobRegistry"):
            job.requeue()
        sim.run_until_idle()
        assert sim.runs(nap)[0].status == "completed"


def test_an_rq_call_that_reaches_redis_is_named_instead_of_a_redis_connection_error(queue):
    """Reads the simulation does not model (``job.get_executions()``, ``Queue.all()``...) reach for Redis;
    with no server they failed with redis-py's ``ConnectionError`` from deep inside its
    socket code. They now say which RQ call it was and what to use; Redis used by anything but RQ is
    left alone."""
    import redis
    import redis.backoff
    import redis.retry
    from rq import Queue

    with jobsim.Simulation(queue, start=START) as sim:
        job = queue.enqueue(double, 1)
        sim.advance(0)  # it runs (a job left unrun warns: PendingWorkWarning); the calls below are refused still
        for call, name in ((job.get_executions, "Job.get_executions"),
                           (lambda: Queue.all(connection=queue.connection), "Queue.all")):  # fmt: skip
            with pytest.raises(jobsim.UnsupportedFeature, match=rf"RQ's {name}\(\) reached for Redis at "
                               r"127\.0\.0\.1:1, which jobsim-rq does not simulate.*job\.get_status\(\)"):
                call()
        own = redis.Redis(host="127.0.0.1", port=1, retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0))
        with pytest.raises(redis.exceptions.ConnectionError):
            own.get("a-key-of-the-app's-own")


def uses_its_own_redis() -> str:
    """A job with its own Redis (a cache): RQ's ``Job.perform`` is further down the stack, but this is not RQ."""
    import redis
    import redis.backoff
    import redis.retry

    own = redis.Redis(host="127.0.0.1", port=1, retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0))
    own.get("cache-key")
    return "unreachable"


def test_a_job_using_redis_itself_fails_as_on_a_worker_without_redis(queue):
    import redis

    with jobsim.Simulation(queue, start=START) as sim:
        queue.enqueue(uses_its_own_redis)
        sim.run_until_idle()
        [run] = sim.runs(uses_its_own_redis)
        assert run.status == "failed" and isinstance(run.error, redis.exceptions.ConnectionError)


def test_the_deprecated_exc_info_property_reads_the_latest_failed_result(queue):
    """``Job.exc_info`` (``rq/job.py:866-881``): the latest ``Result``'s ``exc_string`` when it is a
    failure, else the job's own ``_exc_info``. A failed attempt that will be retried saves no ``Result``
    (``handle_job_failure`` skips ``_handle_failure`` then, ``rq/worker/base.py:766-774``), so while the job
    waits for its retry ``exc_info`` is None -- as checked on a real worker."""
    from rq import Retry

    with jobsim.Simulation(queue, start=START) as sim:
        failed = queue.enqueue(broken, retry=Retry(max=1, interval=60))
        done = queue.enqueue(double, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assert failed.exc_info is None  # not run yet
            sim.advance("1s")
            assert failed.get_status() == "scheduled" and failed.exc_info is None  # waiting for its retry
            sim.advance("1m")
            assert failed.exc_info.startswith("Traceback (most recent call last):")  # failed for good at 60 s
            assert failed.exc_info.rstrip().endswith("ValueError: broken") and done.exc_info is None
        with pytest.warns(DeprecationWarning, match="job.exc_info is deprecated"):
            assert failed.exc_info is not None

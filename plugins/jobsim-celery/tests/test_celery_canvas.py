"""Chains, groups, chords, links and errbacks: Celery's canvas code, run by the simulated worker."""

from __future__ import annotations

import datetime as dt

from celery import chain, chord, group

import jobsim

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)


def seconds(when):
    return (when - T0).total_seconds()


def define(app):
    @app.task(name="add")
    def add(x, y):
        return x + y

    @app.task(name="total")
    def total(xs):
        return sum(xs)

    @app.task(name="boom", autoretry_for=(KeyError,), max_retries=2, default_retry_delay=10)
    def boom(*args):
        raise KeyError("missing")

    @app.task(name="on_error")
    def on_error(request, exc, traceback):
        errors.append((request.id, repr(exc), dt.datetime.now(dt.timezone.utc)))

    @app.task(name="on_error_id")
    def on_error_id(task_id):
        return f"{task_id} failed"

    errors: list = []
    on_error.errors = errors
    return add, total, boom, on_error, on_error_id


def test_a_chain_passes_results_along_and_honours_a_links_countdown(app):
    add, *_ = define(app)
    with jobsim.Simulation(app, start=START) as sim:
        result = chain(add.s(1, 2), add.s(10).set(countdown=30), add.s(100)).apply_async()
        sim.run_until_idle()
        assert result.get() == 113
        assert [(r.output, seconds(r.started_at), seconds(r.attempts[0].started_at)) for r in sim.runs("add")] == [
            (3, 0, 0), (13, 0, 30), (113, 30, 30)]
        assert "add#2 started by add#1" in sim.timeline() and "add#3 started by add#2" in sim.timeline()


def test_a_chain_stops_at_a_failed_link_after_its_retries(app):
    add, _, boom, *_ = define(app)
    with jobsim.Simulation(app, start=START) as sim:
        result = chain(add.s(1, 2), boom.s(), add.s(5)).apply_async()
        sim.run_until_idle()
        # the last link never ran; Celery marks the rest of the chain failed with the link's error
        assert result.state == "FAILURE" and isinstance(result.result, KeyError)
        assert [seconds(a.started_at) for a in sim.runs("boom")[0].attempts] == [0, 10, 20]
        assert len(sim.runs("add")) == 1


def test_a_group_runs_in_parallel_and_collects_in_order(app):
    add, *_ = define(app)
    with jobsim.Simulation(app, start=START) as sim:
        result = group(add.s(i, i).set(countdown=10 - i) for i in range(4)).apply_async()
        sim.run_until_idle()
        assert result.get() == [0, 2, 4, 6]
        assert sorted(seconds(r.attempts[0].started_at) for r in sim.runs("add")) == [7, 8, 9, 10]


def test_a_chord_calls_its_body_once_every_header_task_is_done(app):
    add, total, *_ = define(app)
    with jobsim.Simulation(app, start=START) as sim:
        result = chord([add.s(i, 1).set(countdown=i * 60) for i in range(3)], total.s()).apply_async()
        sim.run_until_idle()
        assert result.get() == 6
        body = sim.runs("total")[0]
        assert seconds(body.attempts[0].started_at) == 120
        assert "total#1 started by add#3" in sim.timeline()


def test_a_chord_whose_header_tasks_sleep_calls_its_body_when_the_last_one_finishes(app):
    """A header task that spends virtual time reports at its end: the counter reaches the size then.

    Bodies run in one go, so the 30 s task ran (and finished, at 00:00:30) before the
    instant one; the chord's counter must still count both, in virtual-time order.
    """
    import time

    add, total, *_ = define(app)

    @app.task(name="slow_add")
    def slow_add(x, y, seconds):
        time.sleep(seconds)
        return x + y

    with jobsim.Simulation(app, start=START) as sim:
        result = chord([slow_add.s(1, 1, 30), add.s(2, 2), slow_add.s(3, 3, 10)], total.s()).apply_async()
        sim.advance("29s")
        assert result.state == "PENDING" and sim.runs("total") == []
        sim.run_until_idle()
        assert result.get() == 12
        assert seconds(sim.runs("total")[0].attempts[0].started_at) == 30
        assert "total#1 started by slow_add#1" in sim.timeline()


def test_a_chord_whose_failed_header_task_finishes_first_fails_when_the_slow_one_is_done(app):
    """Redis's counter fails the body once every header task returned: here at 00:00:20, when the slow one ends."""
    import time

    _, total, _, on_error, _ = define(app)

    @app.task(name="slow_add")
    def slow_add(x, y, seconds):
        time.sleep(seconds)
        return x + y

    @app.task(name="explode")
    def explode():
        raise KeyError("missing")

    with jobsim.Simulation(app, start=START) as sim:
        result = chord([slow_add.s(1, 1, 20), explode.s()], total.s().on_error(on_error.s())).apply_async()
        sim.run_until_idle()
        culprit = sim.runs("explode")[0].id
        assert repr(result.result) == f"ChordError(\"Dependency {culprit} raised KeyError('missing')\")"
        assert [seconds(at) for *_, at in on_error.errors] == [20]
        assert sim.runs("total") == []


def test_a_chord_whose_header_task_hits_its_time_limit_fails_when_it_is_killed(app):
    """billiard reports the kill at the hard limit from the pool, outside the tracer, twice (``Request.on_failure``,
    then ``on_timeout``); Redis counts the task once (its part-return script dedupes task id and index), so the
    body fails when the last header task returns. Counted twice, it failed at 20 s, before nap had returned."""
    import time

    add, total, _, on_error, _ = define(app)

    @app.task(name="stuck", time_limit=20)
    def stuck():
        time.sleep(60)

    @app.task(name="nap")
    def nap(seconds):
        time.sleep(seconds)
        return 0

    with jobsim.Simulation(app, start=START) as sim:
        result = chord([stuck.s(), nap.s(30), add.s(1, 1)], total.s().on_error(on_error.s())).apply_async()
        sim.run_until_idle()
        culprit = sim.runs("stuck")[0].id
        assert repr(result.result) == f"ChordError('Dependency {culprit} raised TimeLimitExceeded(20)')"
        assert [seconds(at) for *_, at in on_error.errors] == [30]  # when the last header task, nap, returned


def test_a_header_task_that_ignores_its_result_still_gives_it_to_the_body_as_redis_does(app):
    """Redis keeps each header result in the chord's own list (``backends/redis.py: on_chord_part_return``), so
    ``ignore_result=True`` on a header task does not starve the body (``test_celery_live_chord.py`` checks it on
    a real worker); the result is still not stored as the task's own. jobsim's join found it missing and failed
    the body with a ``ChordError`` about a JobsimError."""
    add, total, *_ = define(app)

    @app.task(name="quiet", ignore_result=True)
    def quiet(x):
        if x < 0:
            raise KeyError("negative")
        return x

    with jobsim.Simulation(app, start=START) as sim:
        result = chord([quiet.s(5), add.s(1, 1)], total.s()).apply_async()
        failed = chord([quiet.s(-1), add.s(1, 1)], total.s()).apply_async()
        sim.run_until_idle()
        assert result.get() == 7
        culprit = sim.runs("quiet")[1].id
        assert repr(failed.result) == f"ChordError(\"Dependency {culprit} raised KeyError('negative')\")"
        assert [app.AsyncResult(run.id).state for run in sim.runs("quiet")] == ["PENDING", "PENDING"]


def test_task_code_runs_with_its_app_current_as_in_a_pool_process(app):
    """A prefork pool process makes the worker's app current and default (``concurrency/prefork.py:
    process_initializer``). A group chained to a chain (its body a chain) is rebuilt from the message by
    ``maybe_signature`` and sent through ``current_app``, and so is a ``@shared_task`` called in a task: with an
    app made ``set_as_current=False`` both went to Celery's fallback app, refused as not part of the simulation."""
    from celery import _state, current_app, shared_task

    add, total, *_ = define(app)

    @app.task(name="inc")
    def inc(x):
        return x + 1

    @app.task(name="uses_shared")
    def uses_shared(x):
        return (current_app.main, double.delay(x).id is not None)

    finalizers = set(_state._on_app_finalizers)
    try:
        @shared_task(name="tests.double")
        def double(x):
            return x * 2

        with jobsim.Simulation(app, start=START) as sim:
            result = chain(group(add.s(1, 1), add.s(2, 2)), total.s(), inc.s()).apply_async()
            shared = uses_shared.delay(4)
            sim.run_until_idle()
            assert result.get() == 7
            assert shared.get() == ["tests", True] and [r.output for r in sim.runs("tests.double")] == [8]
        assert current_app.main != "tests"  # the test's own current app is left as it was
    finally:  # a shared task joins every app finalized later in the process: keep it to this test
        _state._on_app_finalizers.clear()
        _state._on_app_finalizers.update(finalizers)


def test_a_chord_with_a_failing_header_fails_its_body(app):
    add, total, boom, *_ = define(app)
    with jobsim.Simulation(app, start=START) as sim:
        result = chord([add.s(1, 1), boom.s()], total.s()).apply_async()
        sim.run_until_idle()
        assert result.state == "FAILURE" and "ChordError" in type(result.result).__name__
        assert sim.runs("total") == []


def test_a_chord_error_names_the_failed_header_task_as_the_redis_backend_does(app):
    """Redis's ``on_chord_part_return`` fails the body with ``Dependency <id> raised <exc!r>``.

    Checked on Celery 5.7 with a real worker and redis-server: the body's errback got
    ``ChordError("Dependency 10608d0a-... raised ValueError('member failed')")``.
    """
    add, total, boom, on_error, _ = define(app)
    with jobsim.Simulation(app, start=START) as sim:
        result = chord([add.s(1, 1), boom.s(), add.s(2, 2)], total.s().on_error(on_error.s())).apply_async()
        sim.run_until_idle()
        culprit = sim.runs("boom")[0].id
        assert repr(result.result) == f"ChordError(\"Dependency {culprit} raised KeyError('missing')\")"
        assert [(repr_, seconds(at)) for _, repr_, at in on_error.errors] == [
            (f"ChordError(\"Dependency {culprit} raised KeyError('missing')\")", 20)]


def test_link_and_link_error(app):
    """A ``(request, exc, traceback)`` errback is called inline by the worker; a ``(task_id)`` one is sent as a task."""
    add, _, boom, on_error, on_error_id = define(app)
    with jobsim.Simulation(app, start=START) as sim:
        add.apply_async((1, 1), link=add.s(40))
        failed = boom.apply_async(link_error=[on_error.s(), on_error_id.s()])
        sim.run_until_idle()
        assert [r.output for r in sim.runs("add")] == [2, 42]
        assert [seconds(a.started_at) for a in sim.runs("boom")[0].attempts] == [0, 10, 20]
        assert on_error.errors == [(failed.id, "KeyError('missing')", T0 + dt.timedelta(seconds=20))]
        assert sim.runs("on_error") == []
        assert [(r.output, seconds(r.started_at)) for r in sim.runs("on_error_id")] == [(f"{failed.id} failed", 20)]

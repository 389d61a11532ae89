"""``queue.getJobs`` answers as bullmq-python 3.4 on Redis 7 does, errors included (``jobsim_bullmq/_getjobs.py``).

A type naming a key that is no sorted set (``meta``, ``id``, ``events``, a job id, a deduplication key) failed the
call on Redis with ``WRONGTYPE`` and gave ``[]`` in the simulation; a string ``start``/``end``, which Lua's
``tonumber`` reads, gave a bare ``TypeError`` from jobsim's own code. The probe runs on both: the live test
checks the simulation's answers are the real ones (measured: bullmq-python 3.4.4, Redis 7.0.15).
"""

from __future__ import annotations

import warnings

import pytest
from bullmq import Queue, Worker
from bullmq_support import NOWHERE, START, run

import jobsim

QUEUE = "jobsim-getjobs"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NAN, INF = float("nan"), float("inf")

CALLS = [
    (["meta"],), (["id"],), (["events"],), (["1"],), (["custom"],), (["pc"],), (["de:x"],), (["repeat:s"],),
    (["marker"],), (["repeat"],), (["nope"],), (["completed", "meta"],), (["meta"], 3, 1), (["meta"], 0, -1, True),
    (["waiting"], 0, "5"), (["waiting"], "0", " 1 "), (["waiting"], 0, "0x2"), (["waiting"], "-2", -1),
    (["waiting"], 0, "1e1"), (["waiting"], 0, 10.0), (["waiting"], 0, "x"), (["waiting"], "x", 0, True),
    (["waiting"], -1, "x"), (["waiting"], -1, "x", True), (["delayed"], -1, "x", True), (["delayed"], 0, "x", True),
    (["delayed"], 0, 1.5), (["waiting"], 0, "1.5"), (["delayed"], 2, 1.5, True), (["waiting"], 5, 7.5, True),
    (["waiting"], 0, 10**17), (["waiting"], 0, None), (["waiting"], 0, True),
    # what strtod reads besides digits (NaN and the infinities), and -0, which Redis takes for no integer
    (["waiting"], 0, NAN), (["waiting"], "nan", 5), (["delayed"], 0, "NaN", True), (["waiting"], "inf", "inf"),
    (["waiting"], INF, INF), (["waiting"], 0, " -Infinity "), (["waiting"], 0, "nan(1)"), (["waiting"], NAN, "x", True),
    (["waiting"], NAN, "x"), (["waiting"], NAN, -1), (["waiting"], -0.0, 5), (["delayed"], "-0", 5),
    (["waiting"], -0.0, 5, True), (["waiting"], 0, -0.0), (["waiting"], -1, -0.0), (["waiting"], "-0", -1, True),
]  # fmt: skip


def answer(outcome: object) -> object:
    """A getJobs result as its ids, or an error as its type and message."""
    if isinstance(outcome, BaseException):
        return type(outcome).__name__, str(outcome)
    return [job.id for job in outcome]  # type: ignore[attr-defined]


async def probe(queue: Queue) -> list[object]:
    """Jobs of each kind of key, then each call of ``CALLS``."""
    empty = [answer(await queue.getJobs(["meta"])), answer(await queue.getJobs(["id"]))]  # nothing added yet
    await queue.add("a", {"n": 1})
    await queue.add("b", {}, {"deduplication": {"id": "x"}})
    await queue.add("c", {}, {"priority": 3, "jobId": "custom"})
    await queue.add("d", {}, {"delay": 60_000})
    await queue.add("e", {})
    await queue.upsertJobScheduler("s", {"every": 60_000, "startDate": 4_102_444_800_000}, "s", {})
    answers: list[object] = []
    for call in CALLS:
        try:
            answers.append(answer(await queue.getJobs(*call)))
        except Exception as error:  # the error is the answer
            answers.append(answer(error))
    return [empty, answers]


def predicted() -> list[object]:
    async def noop(job, token):
        return None

    worker = Worker(QUEUE, noop, {"autorun": False, "connection": NOWHERE})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jobsim.PendingWorkWarning)  # it reads the jobs it added: none is to run
        with jobsim.Simulation(worker, start=START):
            return run(probe(Queue(QUEUE, {"connection": NOWHERE})))


def test_get_jobs_of_a_key_that_is_no_sorted_set_fails_with_wrongtype_as_on_redis():
    empty, answers = predicted()
    assert empty == [[], []]  # before anything was added the keys do not exist: empty ranges
    by_call = dict(zip(map(repr, CALLS), answers, strict=True))
    sha = "2c21b4165511c6c23dffe537928638b4262e5752"  # getJobs-1.lua of bullmq-python 3.4.4
    for types in ("meta", "id", "events", "1", "custom", "pc", "de:x", "repeat:s"):
        assert by_call[repr(([types],))] == ("ResponseError", f"{WRONGTYPE} script: {sha}, on @user_script:65.")
    assert by_call[repr((["meta"], 0, -1, True))][1].endswith("on @user_script:63.")  # ZRANGE
    assert by_call[repr((["completed", "meta"],))][0] == "ResponseError"  # the whole call fails
    for types in ("repeat", "nope"):  # a sorted set whose members are no job, or no key at all
        assert by_call[repr(([types],))] == []
    assert by_call[repr((["marker"],))] == ["1"]  # the delayed marker's member "1" is job 1's id: HGETALL finds it
    assert by_call[repr((["meta"], 3, 1))] == []  # an empty window reads no key


def test_get_jobs_reads_start_and_end_as_luas_tonumber():
    _, answers = predicted()
    by_call = dict(zip(map(repr, CALLS), answers, strict=True))
    assert by_call[repr((["waiting"], 0, "5"))] == ["5", "2", "1"]  # newest first; c is prioritized, d delayed
    assert by_call[repr((["waiting"], "0", " 1 "))] == ["5", "2"]
    assert by_call[repr((["waiting"], 0, "0x2"))] == by_call[repr((["waiting"], 0, "1e1"))] == ["5", "2", "1"]
    assert by_call[repr((["waiting"], 0, 10.0))] == ["5", "2", "1"]
    assert by_call[repr((["waiting"], "-2", -1))] == ["2", "1"]
    assert by_call[repr((["waiting"], 0, "x"))][1].startswith("user_script:101: attempt to compare nil with number")
    assert by_call[repr((["waiting"], "x", 0, True))][1].startswith("user_script:93: attempt to compare number with")
    assert by_call[repr((["waiting"], -1, "x"))][1].startswith("Lua redis lib command arguments must be strings")
    for call in ((["delayed"], 0, 1.5), (["waiting"], 0, "1.5"), (["waiting"], 0, 10**17)):
        assert by_call[repr(call)][1].startswith("value is not an integer or out of range script:")
    assert by_call[repr((["waiting"], 5, 7.5, True))] == []  # past the list: no LRANGE
    assert by_call[repr((["waiting"], 0, None))] == (
        "DataError",
        "Invalid input of type: 'NoneType'. Convert to a bytes, string, int or float first.",
    )


def test_get_jobs_reads_nan_and_the_infinities_as_strtod_and_negative_zero_as_redis():
    """Lua's ``tonumber`` reads ``"nan"``, ``"inf"``, ``"infinity"`` (any case, signed) as C's ``strtod`` does, and
    redis-py sends ``float("nan")`` as ``"nan"``: a NaN in the range makes the script's ``needed`` NaN, so it reads
    nothing (no error), and a NaN start is no negative one. A range command's ``-0`` (Lua's ``-0.0`` written with
    ``%.17g``) is no integer to Redis (``string2ll``); the script only sends the start as it is (the end is
    computed, an ascending list's range negated). Measured on Redis 7.0.15: the live test checks all of ``CALLS``."""
    _, answers = predicted()
    by_call = dict(zip(map(repr, CALLS), answers, strict=True))
    nothing_read = [(["waiting"], 0, NAN), (["waiting"], "nan", 5), (["delayed"], 0, "NaN", True),
                    (["waiting"], "inf", "inf"), (["waiting"], INF, INF), (["waiting"], 0, "nan(1)")]  # fmt: skip
    for call in nothing_read:
        assert by_call[repr(call)] == [], call
    no_integer = [(["waiting"], 0, " -Infinity "), (["waiting"], NAN, -1), (["waiting"], -0.0, 5),
                  (["waiting"], -1, -0.0)]  # fmt: skip
    for call in no_integer:
        assert by_call[repr(call)][1].startswith("value is not an integer or out of range script:"), call
        assert by_call[repr(call)][1].endswith("on @user_script:59."), call  # LRANGE, newest first
    assert by_call[repr((["delayed"], "-0", 5))][1].endswith("on @user_script:65.")  # ZREVRANGE
    for call in ((["waiting"], NAN, "x", True), (["waiting"], NAN, "x")):  # NaN < 0 is false: rangeEnd < 0 fails
        assert by_call[repr(call)][1].startswith("user_script:101: attempt to compare nil with number"), call
    assert by_call[repr((["waiting"], -0.0, 5, True))] == ["1", "2", "5"]  # sent as -(5 + 1), -(-0 + 1)
    assert by_call[repr((["waiting"], "-0", -1, True))] == ["1", "2", "5"]
    assert by_call[repr((["waiting"], 0, -0.0))] == ["5"]  # the end is sent as 0 + 1 - 1


def test_a_string_limit_of_a_job_scheduler_is_bullmq_pythons_own_type_error(worker_for, queue):
    """``upsertJobScheduler(..., {"limit": "5"})``: bullmq-python's ``job_scheduler.py`` compares
    ``iteration_count > limit`` before reaching Redis and raises a bare TypeError; the simulation runs that same
    code, so it raises the same error (jobsim adds none of its own)."""

    async def noop(job, token):
        return None

    with jobsim.Simulation(worker_for(noop), start=START), pytest.raises(TypeError, match="'>' not supported"):
        run(queue.upsertJobScheduler("s", {"every": 1000, "limit": "5"}, "s", {}))


@pytest.mark.live
def test_a_real_queue_answers_get_jobs_as_predicted(redis_url):
    async def real():
        queue = Queue(QUEUE, {"connection": redis_url})
        try:
            answers = await probe(queue)
            try:
                await queue.upsertJobScheduler("t", {"every": 1000, "limit": "5"}, "t", {})
            except TypeError as error:
                answers.append(str(error))
            return answers
        finally:
            await queue.obliterate({"force": True})
            await queue.close()

    assert run(real()) == [*predicted(), "'>' not supported between instances of 'int' and 'str'"]

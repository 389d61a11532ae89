import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

import jobsim
from jobsim import InvalidArgument, Retries, TableBackoff
from jobsim._time import MINUTE, MS, SECOND


def test_exponential_doubles_from_min_and_caps_at_max():
    policy = Retries(attempts=20, backoff="exponential", min="1s", max="1m")
    rng = random.Random(0)
    assert [policy.delay_ns(k, rng) // SECOND for k in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


@pytest.mark.parametrize("attempts", [1, 4, 63, 64, 65, 1000])
def test_the_delays_made_with_the_policy_are_its_formulas_before_and_past_the_table(attempts):
    # Retries works out the delays of its first 63 retries when it is made (delay_ns indexes them), later ones
    # by the formula each time
    rng = random.Random(0)
    formulas = {"exponential": lambda k: min(2 ** (k - 1), 3600), "linear": lambda k: min(k, 3600),
                "constant": lambda k: 1}  # fmt: skip
    for backoff, formula in formulas.items():
        policy = Retries(attempts=attempts, backoff=backoff, min="1s", max="1h")
        retries = range(1, attempts + 2)  # one past the last retry too: delay_ns does not check its attempt
        assert [policy.delay_ns(k, rng) for k in retries] == [formula(k) * SECOND for k in retries]


def test_linear_and_constant():
    rng = random.Random(0)
    linear = Retries(attempts=5, backoff="linear", min="10s", max="25s")
    constant = Retries(attempts=5, backoff="constant", min="7s")
    assert [linear.delay_ns(k, rng) // SECOND for k in (1, 2, 3, 4)] == [10, 20, 25, 25]
    assert [constant.delay_ns(k, rng) // SECOND for k in (1, 2, 3)] == [7, 7, 7]


@given(
    k=st.integers(1, 60),
    base=st.integers(1, 10_000),
    cap=st.integers(1, 10**7),
    jitter=st.integers(1, 5_000),
    seed=st.integers(0, 2**32),
)
def test_every_policy_respects_formula_cap_and_jitter_range(k, base, cap, jitter, seed):
    cap = max(cap, base)
    for backoff, raw in (("exponential", base * 2 ** (k - 1)), ("linear", base * k), ("constant", base)):
        policy = Retries(attempts=2, backoff=backoff, min=f"{base}ms", max=f"{cap}ms", jitter=f"{jitter}ms")
        delay = policy.delay_ns(k, random.Random(seed))
        expected = min(raw, cap) * MS
        assert expected <= delay < expected + jitter * MS


def test_inngest_table_with_jitter_in_whole_ms():
    table = TableBackoff()
    rng = random.Random(3)
    bases = [15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200, 7200]
    for k, base in enumerate(bases, start=1):
        delay = table.delay_ns(k, rng)
        assert base * SECOND <= delay < base * SECOND + 30 * SECOND
        assert delay % MS == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": 0}, "attempts=0 is not valid: expected an int from 1 to 1000; it counts the first attempt"),
        ({"attempts": "3"}, "attempts='3' is not valid"),
        ({"attempts": 3, "backoff": "fibonacci", "min": "1s"}, "backoff='fibonacci' is not valid: expected one of"),
        ({"attempts": 3, "min": "-1s"}, "min='-1s' is not valid"),
        ({"attempts": 3, "min": "10s", "max": "1s"}, "max='1s' is not valid: must not be below min='10s'"),
        ({"attempts": 3, "backoff": "linear"}, "min=None is not valid: give the base delay"),
        # the profile's backoff applied and the jitter was dropped in silence: the delays had none of it
        ({"attempts": 3, "jitter": "1h"}, "min=None is not valid: give the base delay, e.g. min='1s', with "
                                          "jitter='1h': jitter= adds to Retries' own backoff, and without min= the "
                                          "profile's backoff applies, with the profile's jitter"),
    ],
)
def test_bad_policies(kwargs, message):
    with pytest.raises(InvalidArgument) as info:
        Retries(**kwargs)
    assert message in str(info.value)


def test_attempts_only_keeps_the_profile_backoff():
    app = jobsim.App("a")

    @app.function("f", on="go", retries=Retries(attempts=2))
    def f(ctx):
        ctx.step.run("s", fail)

    def fail():
        raise RuntimeError("no")

    with jobsim.Simulation(app, seed=11) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("f")[0]
    assert run.status == "failed"
    first, second = run.attempts[:2]
    assert 15 * SECOND <= second.start_ns - first.start_ns < 45 * SECOND
    assert len([a for a in run.attempts if a.step == "s"]) == 2
    assert MINUTE  # keep import used


@pytest.mark.parametrize("retries", [-1, 1000, 10**30])
def test_an_int_retries_out_of_range_is_named_as_retries(retries):
    # it was reported as attempts=retries+1 ('attempts=0 is not valid'), an argument the test never wrote
    app = jobsim.App("a")
    with pytest.raises(InvalidArgument, match=rf"^retries={retries} is not valid: a number of retries from 0 to 999"):
        app.function("f", on="go", retries=retries)


@pytest.mark.parametrize("offsets", [None, object(), b"10s", {"a": "10s"}])
def test_quirrel_offsets_that_are_not_a_list_are_named(offsets):
    # None raised "'NoneType' object is not iterable"
    with pytest.raises(InvalidArgument, match=r"^offsets=.* is not valid: 1 to 10 durations, e\.g\. \['10s', "):
        jobsim.QuirrelRetry(offsets)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": 0}, "attempts=0 is not valid: an int >= 1; it counts the first attempt"),
        ({"attempts": True}, "attempts=True is not valid"),
        ({"table": ()}, "table=() is not valid: a non-empty tuple of delays in nanoseconds (ints >= 0)"),
        ({"table": (SECOND, -1)}, "table=(1000000000, -1) is not valid"),
        ({"table": "15s"}, "table='15s' is not valid"),
        ({"jitter_ms": 0}, "jitter_ms=0 is not valid: an int >= 1: the jitter is U[0, jitter_ms) milliseconds"),
        ({"jitter_ms": 2.5}, "jitter_ms=2.5 is not valid"),
    ],
)
def test_a_table_backoff_checks_its_fields_when_made(kwargs, message):
    # they were taken as given: jitter_ms=0 raised randrange's ValueError, and an empty table an IndexError,
    # when the first retry was decided deep inside the engine
    with pytest.raises(InvalidArgument) as info:
        TableBackoff(**kwargs)
    assert str(info.value).startswith(message)
    assert TableBackoff(2, [SECOND], 1).table == (SECOND,)  # a list is taken as the tuple it stands for


class TwoSeconds:
    """A retry policy of the user's own making (the RetryPolicy protocol), returning ``delay``."""

    def __init__(self, delay=2 * SECOND, attempts=3):
        self.attempts, self.delay = attempts, delay

    def delay_ns(self, retry, rng):
        return self.delay

    def __repr__(self):
        return f"TwoSeconds({self.delay!r})"


def _failing_runs(policy, profile="inngest"):
    app = jobsim.App("a")
    app.function("f", on="go", retries=policy)(lambda ctx: ctx.step.run("s", Fails()))
    with jobsim.Simulation(app, profile=profile) as sim:
        sim.send("go")
        sim.run_until_idle()
    return sim.runs("f")


class Fails:
    def __call__(self):
        raise jobsim.InjectedFault("down")


@pytest.mark.parametrize("profile", ["inngest", "bullmq"])
@pytest.mark.parametrize("delay", [2.5, None, -SECOND, "2s", True])
def test_a_policy_of_ones_own_whose_delay_is_not_ns_is_named_when_the_retry_is_decided(profile, delay):
    # the engine added its delay to the clock: a TypeError from the heap (or a retry scheduled in the past)
    with pytest.raises(InvalidArgument) as info:
        _failing_runs(TwoSeconds(delay), profile)
    assert str(info.value) == (
        f"retries=TwoSeconds({delay!r}) of function 'f' is not valid: its delay_ns(1, rng) returned {delay!r}; "
        "a RetryPolicy's delay_ns returns an int of nanoseconds >= 0"
    )


def test_a_policy_of_ones_own_is_used_as_written_and_refused_without_attempts():
    run = _failing_runs(TwoSeconds())[0]
    assert [(a.start_ns - run.start_ns) // SECOND for a in run.attempts if a.step == "s"] == [0, 2, 4]
    for attempts in (0, -1, True):
        with pytest.raises(InvalidArgument, match=rf"^retries=TwoSeconds\(2000000000\) is not valid: a policy whose "
                                                  rf"attempts is an int >= 1 \(it counts the first attempt\), "
                                                  rf"not {attempts!r}$"):
            jobsim.App("a").function("f", on="go", retries=TwoSeconds(attempts=attempts))

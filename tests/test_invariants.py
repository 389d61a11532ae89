"""jobsim.invariants: each helper passes on a correct story and names every offender on a broken one."""

from __future__ import annotations

import contextlib
import datetime as dt
import smtplib
import time

import pytest

import jobsim
from jobsim import invariants
from jobsim._records import Attempt, Run
from jobsim.invariants import Violation

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
S = 1_000_000_000
T0_NS = 1_740_787_200 * S


def mail(to: str, subject: str) -> None:
    with smtplib.SMTP("smtp.example.com") as smtp:
        smtp.sendmail("shop@example.com", [to], f"From: shop@example.com\nTo: {to}\nSubject: {subject}\n\nhello")


# -- effects per key -------------------------------------------------------------------------------------
ROWS = [{"order": "o1", "n": 1}, {"order": "o2", "n": 2}, {"order": "o1", "n": 3}]


def test_exactly_once_names_duplicated_and_missing_keys():
    with pytest.raises(Violation) as caught:
        invariants.exactly_once(ROWS, key="order", expected=["o1", "o2", "o3"], what="charge")
    assert str(caught.value) == (
        "exactly once per key (charge): 2 key(s) broken\n"
        "  'o1': 2 time(s)\n"
        "      {'order': 'o1', 'n': 1}\n"
        "      {'order': 'o1', 'n': 3}\n"
        "  'o3': missing"
    )
    assert isinstance(caught.value, AssertionError) and isinstance(caught.value, jobsim.JobsimError)


def test_exactly_once_returns_the_effect_of_each_key():
    assert invariants.exactly_once(ROWS[:2], key=lambda row: row["order"], expected=["o2"]) == {
        "o1": ROWS[0], "o2": ROWS[1],
    }  # fmt: skip


def test_at_least_once_only_minds_missing_keys():
    assert invariants.at_least_once(ROWS, key="order", expected=["o1"]) == {"o1": [ROWS[0], ROWS[2]], "o2": [ROWS[1]]}
    expected = r"at least once per key \(effect\): 1 key\(s\) never happened\n  'o9': missing"
    with pytest.raises(Violation, match=expected):
        invariants.at_least_once(ROWS, key="order", expected=["o1", "o9"])


def test_at_most_once_only_minds_duplicates():
    assert invariants.at_most_once(ROWS[:2], key="order") == {"o1": ROWS[0], "o2": ROWS[1]}
    # its message said "exactly once per key", naming a check the test never made
    with pytest.raises(Violation, match=r"^at most once per key \(row\): 1 key\(s\) occurred more than once\n"
                                        r"  'o1': 2 time\(s\)\n"):
        invariants.at_most_once(ROWS, key="order", what="row")


def test_keys_are_paths_into_dicts_lists_and_attributes():
    events = [jobsim.Event("a/b", {"ids": ["x", "y"]}), jobsim.Event("a/b", {"ids": ["x"]})]
    with pytest.raises(Violation, match=r"'x': 2 time\(s\)\n      event a/b id=None {'ids': \['x', 'y'\]}"):
        invariants.at_most_once(events, key="data.ids.0")
    assert invariants.at_most_once(events, key="data.ids.1") == {"y": events[0], None: events[1]}


def test_a_key_that_reads_a_whole_list_says_how_to_key_by_an_element():
    # key="to" grouped emails under "['a@example.com']" and listed the expected address as missing, saying no more
    emails = [{"to": ["a@example.com"], "subject": "Welcome!"}]
    hint = "  key='to' reads a whole list from each effect (['a@example.com']); key='to.0' keys by its first element"
    for check in (invariants.exactly_once, invariants.at_least_once):
        with pytest.raises(Violation) as info:
            check(emails, key="to", expected=["a@example.com"])
        assert str(info.value).splitlines()[1:] == ["  'a@example.com': missing", hint + ", or pass a callable"]
    assert invariants.exactly_once(emails, key="to.0", expected=["a@example.com"]) == {"a@example.com": emails[0]}
    with pytest.raises(Violation) as info:  # a list key that is not the confusion: no hint
        invariants.exactly_once(emails, key="to", expected=["b@example.com"])
    assert "reads a whole list" not in str(info.value)


@pytest.mark.parametrize("check", [
    lambda effects, key: invariants.exactly_once(effects, key=key),
    lambda effects, key: invariants.at_most_once(effects, key=key),
    lambda effects, key: invariants.at_least_once(effects, key=key, expected=[None]),
])  # fmt: skip
def test_a_key_path_that_reads_nothing_from_any_effect_is_refused(check):
    # a misspelt path read None from every effect: one email "was exactly once" (key None), and two were
    # "broken" under the key None; the test could not catch the duplicate it was written for
    emails = [jobsim.Email(sender="s@x.com", to=["ada@example.com"], subject="Order o1", provider="smtp",
                           sent_at=dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc), message_id="<m1@x>")]
    with pytest.raises(jobsim.InvalidArgument, match=r"^key='subjct' is not valid: it read nothing \(None\) from "
                                                     r"every one of the 1 effect\(s\), e\.g\. email to "
                                                     r"ada@example\.com 'Order o1' at 2025-03-01T00:00:00\.000Z; "
                                                     r"a dotted path into each effect, such as 'data\.orderId' or "
                                                     r"'subject', or a callable$"):
        check(emails, "subjct")
    assert invariants.at_most_once(emails, key="subject") == {"Order o1": emails[0]}
    events = [jobsim.Event("a/b", {"id": "x"}), jobsim.Event("a/b", {})]
    assert invariants.at_most_once(events, key="data.id") == {"x": events[0], None: events[1]}  # some have it
    assert invariants.exactly_once([], key="data.id") == {}  # nothing to read: nothing to say


def test_more_than_ten_offenders_are_counted_not_listed():
    with pytest.raises(Violation) as caught:
        invariants.exactly_once([], key="k", expected=range(13))
    lines = str(caught.value).splitlines()
    assert (len(lines), lines[-1]) == (12, "  … and 3 more")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: invariants.exactly_once("abc", key="k"), "effects='abc' is not valid: an iterable of effects"),
        (lambda: invariants.exactly_once([], key="a..b"), "key='a..b' is not valid: a dotted path"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(jobsim.InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


# -- no email after --------------------------------------------------------------------------------------------
def slow_mailer() -> jobsim.App:
    app = jobsim.App("mailer")

    @app.function("remind", on="reminder/due", timeout="1m")
    def remind(ctx):
        def send():
            time.sleep(120)  # virtual: the step's code runs past the run's 1 m timeout
            mail("ada@example.com", "Reminder")

        ctx.step.run("send", send)

    @app.function("notify", on="notify/due")
    def notify(ctx):
        ctx.step.sleep("wait", ctx.event.data["after"])
        ctx.step.run("send", mail, "bob@example.com", f"About {ctx.event.data['key']}")

    return app


def test_no_email_after_catches_code_that_outlives_its_cancelled_run():
    with jobsim.Simulation(slow_mailer(), start=START) as sim:
        sim.send("reminder/due", {})
        sim.run_until_idle()
        run = sim.runs("remind")[0]
        assert (run.status, run.finished_at) == ("cancelled", T0 + dt.timedelta(minutes=1))
        with pytest.raises(Violation) as caught:
            invariants.no_email_after(sim, "remind")
        invariants.no_email_after(sim, "remind", statuses=("completed",))
    assert str(caught.value) == (
        "no email after a cancelled/completed run of 'remind': 1 email(s) sent after\n"
        f"  email to ada@example.com 'Reminder' at 2025-03-01T00:02:00.000Z: 1m after run remind {run.id} cancelled "
        "(started 2025-03-01T00:00:00.000Z, ended 2025-03-01T00:01:00.000Z)"
    )


def test_no_email_after_follows_related_emails_sent_by_other_functions():
    with jobsim.Simulation(slow_mailer(), start=START) as sim:
        sim.send("reminder/due", {})
        sim.send("notify/due", {"key": "k1", "after": "30s"})
        sim.send("notify/due", {"key": "k2", "after": "90s"})
        sim.run_until_idle()
        late = lambda email, run: email.to == ["bob@example.com"]  # noqa: E731
        expected = r"email to bob@example.com 'About k2' at 2025-03-01T00:01:30.000Z: 30s after"
        with pytest.raises(Violation, match=expected):
            invariants.no_email_after(sim, "remind", statuses=("cancelled",), related=late)


def test_no_email_after_event_compares_each_key_with_its_own_event():
    with jobsim.Simulation(slow_mailer(), start=START) as sim:
        for key in ("k1", "k2"):
            sim.send("notify/due", {"key": key, "after": "10s"})
        sim.advance("5s")
        sim.send("notify/stop", {"key": "k1"})
        sim.run_until_idle()
        sim.send("notify/stop", {"key": "k2"})
        about = lambda email: email.subject.split()[-1]  # noqa: E731
        with pytest.raises(Violation) as caught:
            invariants.no_email_after_event(sim, "notify/stop", key="data.key", email_key=about)
        invariants.no_email_after_event(sim, "notify/stop", key="data.key", email_key=about,
                                        emails=sim.mail.find(subject="About k2"))  # fmt: skip
    stop = next(e for e in sim.events if e.name == "notify/stop")
    assert str(caught.value) == (
        "no email after notify/stop: 1 email(s) sent after their key's notify/stop\n"
        "  email to bob@example.com 'About k1' at 2025-03-01T00:00:10.000Z: 5s after event notify/stop "
        f"id={stop.id!r} at 2025-03-01T00:00:05.000Z {{'key': 'k1'}}"
    )


# -- retries respect the policy -------------------------------------------------------------------------------
def flaky(retries: jobsim.Retries) -> jobsim.App:
    app = jobsim.App("flaky")

    @app.function("sync", on="sync/run", retries=retries)
    def sync(ctx):
        ctx.step.run("pull", lambda: "ok")
        return "done"

    return app


def test_retries_with_jitter_and_retry_after_respect_the_policy():
    policy = jobsim.Retries(attempts=5, backoff="exponential", min="1s", max="5s", jitter="500ms")
    with jobsim.Simulation(flaky(policy), start=START, seed=3) as sim:
        sim.fail("sync", step="pull", times=3)
        sim.fail("sync", step="pull", error=jobsim.RetryAfterError("45s"))
        sim.send("sync/run", {})
        sim.run_until_idle()
        invariants.retries_respect_policy(sim)
        starts = [a.start_ns - T0_NS for a in sim.runs("sync")[0].attempts if a.step == "pull"]
    # RetryAfterError("45s") replaced the backoff: 45 s after the failure, as the millisecond inngest-py sends
    assert starts[-2] % 1_000_000 and starts[-1] == (starts[-2] + 45 * 10**9) // 1_000_000 * 1_000_000


def test_a_retry_that_did_not_wait_what_the_policy_says_is_named():
    with jobsim.Simulation(flaky(jobsim.Retries(attempts=3, backoff="exponential", min="1s")), start=START) as sim:
        sim.fail("sync", step="pull", times=2)
        sim.send("sync/run", {})
        sim.run_until_idle()
        fn = sim.functions["sync"]
        sim.engine._policies[fn.id] = jobsim.Retries(attempts=3, backoff="constant", min="1s", jitter="100ms")
        with pytest.raises(Violation) as caught:
            invariants.retries_respect_policy(sim, "sync")
        run = sim.runs("sync")[0]
    assert str(caught.value) == (
        "retries respect the policy: 1 violation(s)\n"
        f"  run sync {run.id} completed (started 2025-03-01T00:00:00.000Z, ended 2025-03-01T00:00:03.000Z): "
        "step 'pull' attempt 2 started 2s after attempt 1 failed at 2025-03-01T00:00:01.000Z; "
        "the policy allows 1s..1s99ms999999ns"
    )


def test_giving_up_early_and_running_too_many_attempts_are_named():
    with jobsim.Simulation(flaky(jobsim.Retries(attempts=3, backoff="constant", min="1s")), start=START) as sim:
        sim.fail("sync", step="pull", times=3)
        sim.send("sync/run", {})
        sim.run_until_idle()
        fn = sim.functions["sync"]
        sim.engine._policies[fn.id] = jobsim.Retries(attempts=5, backoff="constant", min="1s")
        with pytest.raises(Violation, match=r"step 'pull' gave up after attempt 2 failed at 2025-03-01T00:00:02.000Z "
                                            r"\(InjectedFault\) with 2 attempt\(s\) left"):  # fmt: skip
            invariants.retries_respect_policy(sim)
        sim.engine._policies[fn.id] = jobsim.Retries(attempts=2, backoff="constant", min="1s")
        with pytest.raises(Violation, match=r"step 'pull' ran attempt 2 but the policy allows 2 attempt\(s\)"):
            invariants.retries_respect_policy(sim)


def test_parallel_steps_retry_on_their_own_counters_not_the_next_attempt_of_the_run():
    # regression (found by tests/test_fuzz_combinations.py): a failed step of a parallel group was paired
    # with its sibling's attempt, which came next in run.attempts, and reported as giving up
    app = jobsim.App("fan")
    calls = []

    def flaky_step():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("once")
        return "ok"

    @app.function("fan", on="fan/run", retries=jobsim.Retries(attempts=3, backoff="constant", min="2s"))
    def fan(ctx):
        return ctx.step.parallel([lambda: ctx.step.run("a", flaky_step), lambda: ctx.step.run("b", lambda: "b")])

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("fan/run", {})
        sim.run_until_idle()
        run = sim.runs("fan")[0]
        assert [(a.step, a.number, (a.start_ns - T0_NS) // S) for a in run.attempts] == [
            ("a", 0, 0), ("b", 0, 0), ("a", 1, 2), (None, 0, 2)]
        _holds_but_not_with_a_1s_backoff(sim, "step 'a'")


def _holds_but_not_with_a_1s_backoff(sim: jobsim.Simulation, where: str) -> None:
    """The run passes under its 2 s policy, and the same retry is reported once the policy says 1 s."""
    invariants.retries_respect_policy(sim)
    sim.engine._policies["fan"] = jobsim.Retries(attempts=3, backoff="constant", min="1s")
    with pytest.raises(Violation, match=rf"{where} attempt 1 started 2s after attempt 0 failed at "
                                        r"2025-03-01T00:00:00.000Z; the policy allows 1s"):  # fmt: skip
        invariants.retries_respect_policy(sim)


def test_a_failure_outside_steps_retried_by_the_request_that_plans_a_parallel_group():
    # regression (found by tests/test_fuzz_combinations.py): the planning request records no attempt of its
    # own, so the body's failure looked like giving up
    app = jobsim.App("fan")

    @app.function("fan", on="fan/run", retries=jobsim.Retries(attempts=3, backoff="constant", min="2s"))
    def fan(ctx):
        return ctx.step.parallel([lambda: ctx.step.run("a", lambda: "a"), lambda: ctx.step.run("b", lambda: "b")])

    with jobsim.Simulation(app, start=START) as sim:
        sim.fail("fan", times=1)
        sim.send("fan/run", {})
        sim.run_until_idle()
        run = sim.runs("fan")[0]
        assert [(a.step, a.number, (a.start_ns - T0_NS) // S) for a in run.attempts] == [
            (None, 0, 0), ("a", 0, 2), ("b", 0, 2), (None, 0, 2)]
        _holds_but_not_with_a_1s_backoff(sim, "the function body")


def test_a_step_that_failed_for_good_before_a_group_is_not_retried_by_the_planning_request():
    # regression (found by tests/test_fuzz_combinations.py): the group's first step was taken for the body's retry
    app = jobsim.App("fan")

    def boom():
        raise RuntimeError("boom")

    @app.function("fan", on="fan/run", retries=0)
    def fan(ctx):
        with contextlib.suppress(jobsim.StepError):
            ctx.step.run("first", boom)
        return ctx.step.parallel([lambda: ctx.step.run("a", lambda: "a"), lambda: ctx.step.run("b", lambda: "b")])

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("fan/run", {})
        sim.run_until_idle()
        assert [(a.step, a.number) for a in sim.runs("fan")[0].attempts] == [
            ("first", 0), ("a", 0), ("b", 0), (None, 0)]
        invariants.retries_respect_policy(sim)


def test_in_race_mode_a_siblings_request_may_overtake_the_retry_of_a_failure_outside_steps():
    # regression (found by tests/test_fuzz_combinations.py): each step's end starts its own request in race
    # mode; the first failed outside steps, the second carried the run to its end before that retry was due
    app = jobsim.App("fan")
    failed = []

    @app.function("fan", on="fan/run")
    def fan(ctx):
        out = ctx.step.parallel([lambda: ctx.step.run("a", lambda: "a"), lambda: ctx.step.run("b", lambda: "b")],
                                mode="race")
        if not failed:
            failed.append(1)
            raise RuntimeError("once")
        return out

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("fan/run", {})
        sim.run_until_idle()
        run = sim.runs("fan")[0]
        assert (run.status, [(a.step, a.number, a.error is None) for a in run.attempts]) == (
            "completed", [("a", 0, True), ("b", 0, True), (None, 0, False), (None, 0, True)])
        invariants.retries_respect_policy(sim)


def test_in_race_mode_two_requests_retry_one_step_on_their_own_counters():
    # both steps of a race-mode group end at 0 s, so two requests run 'after' (Inngest runs it inline in each
    # finished step's discovery) and each retries on its own counter: attempt 0 twice at 0 s, attempt 1 twice at
    # 2 s; the first chain fails it for good at 4 s and the run ends before the second chain's retry
    app = jobsim.App("fan")

    def boom():
        raise RuntimeError("boom")

    @app.function("fan", on="fan/run", retries=jobsim.Retries(attempts=3, backoff="constant", min="2s"))
    def fan(ctx):
        ctx.step.parallel([lambda: ctx.step.run("a", lambda: "a"), lambda: ctx.step.run("b", lambda: "b")],
                          mode="race")
        return ctx.step.run("after", boom)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("fan/run", {})
        sim.run_until_idle()
        run = sim.runs("fan")[0]
        assert [(a.step, a.number, (a.start_ns - T0_NS) // S) for a in run.attempts] == [
            ("a", 0, 0), ("b", 0, 0), ("after", 0, 0), ("after", 0, 0), ("after", 1, 2), ("after", 1, 2),
            ("after", 2, 4), (None, 2, 4)]
        _holds_but_not_with_a_1s_backoff(sim, "step 'after'")
        sim.engine._policies["fan"] = jobsim.Retries(attempts=2, backoff="constant", min="2s")
        with pytest.raises(Violation, match=r"step 'after' ran attempt 2 but the policy allows 2 attempt\(s\)"):
            invariants.retries_respect_policy(sim)


def test_in_race_mode_a_grouped_steps_retry_is_not_the_retry_of_a_step_after_the_group():
    # regression (found by tests/test_fuzz_combinations.py with race groups checked again): 'p4' failed for good
    # at 10 s, the handler caught the StepError and ran 'r7', which failed; the attempt numbered 1 that came next
    # was the grouped 'p5''s own retry (12 s), taken for r7's retry 2 s after its failure
    app = jobsim.App("fan")
    calls: list[str] = []

    def body(name: str, seconds: int, failures: int) -> str:
        calls.append(name)
        time.sleep(seconds)
        if calls.count(name) <= failures:
            raise RuntimeError(f"{name} failed")
        return name

    @app.function("fan", on="fan/run", retries=jobsim.Retries(attempts=2, backoff="constant", min="10s"))
    def fan(ctx):
        with contextlib.suppress(jobsim.StepError):
            ctx.step.parallel([lambda: ctx.step.run("p4", body, "p4", 0, 9),
                               lambda: ctx.step.run("p5", body, "p5", 2, 1)], mode="race")
        return ctx.step.run("r7", body, "r7", 0, 1)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("fan/run", {})
        sim.run_until_idle()
        run = sim.runs("fan")[0]
        assert [(a.step, a.number, (a.start_ns - T0_NS) // S, a.error is None) for a in run.attempts] == [
            ("p4", 0, 0, False), ("p5", 0, 0, False), ("p4", 1, 10, False), ("r7", 0, 10, False),
            ("p5", 1, 12, True), ("r7", 0, 14, True), (None, 0, 14, True)]
        invariants.retries_respect_policy(sim)


def test_in_race_mode_each_failure_takes_the_retry_that_fits_its_delay():
    # regression (found by the combination fuzzer): 'r7' failed with a RetryAfterError (2 s) in the first request
    # and succeeded in the second, where 'r8' then failed and retried after 1 s; that retry was taken for r7's
    app = jobsim.App("fan")
    calls: list[str] = []

    def once(name: str, error: Exception) -> str:
        calls.append(name)
        if calls.count(name) == 1:
            raise error
        return name

    @app.function("fan", on="fan/run", retries=jobsim.Retries(attempts=2, backoff="constant", min="1s"))
    def fan(ctx):
        ctx.step.parallel([lambda: ctx.step.run("a", lambda: "a"), lambda: ctx.step.run("b", lambda: "b")],
                          mode="race")
        ctx.step.run("r7", once, "r7", jobsim.RetryAfterError("2s", "busy"))
        return ctx.step.run("r8", once, "r8", RuntimeError("r8 failed"))

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("fan/run", {})
        sim.run_until_idle()
        run = sim.runs("fan")[0]
        assert [(a.step, a.number, (a.start_ns - T0_NS) // S, a.error is None) for a in run.attempts] == [
            ("a", 0, 0, True), ("b", 0, 0, True), ("r7", 0, 0, False), ("r7", 0, 0, True), ("r8", 0, 0, False),
            ("r8", 1, 1, True), (None, 0, 1, True)]
        invariants.retries_respect_policy(sim)


def test_in_race_mode_a_sleep_the_retry_planned_is_that_retry():
    # regression (found by the combination fuzzer): the body failed (an injected fault) and its retry planned a
    # race-mode group with a sleep, recorded as that request's attempt 1; a later retry of the body was taken instead
    app = jobsim.App("fan")

    @app.function("fan", on="fan/run", retries=jobsim.Retries(attempts=2, backoff="constant", min="5s"))
    def fan(ctx):
        return ctx.step.parallel([lambda: ctx.step.run("a", lambda: "a"), lambda: ctx.step.sleep("nap", "1s")],
                                 mode="race")

    with jobsim.Simulation(app, start=START) as sim:
        sim.fail("fan", times=1)
        sim.send("fan/run", {})
        sim.run_until_idle()
        run = sim.runs("fan")[0]
        assert [(a.step, a.number, (a.start_ns - T0_NS) // S) for a in run.attempts] == [
            (None, 0, 0), ("nap", 1, 5), ("a", 0, 5), (None, 0, 6)]
        invariants.retries_respect_policy(sim)
        sim.engine._policies["fan"] = jobsim.Retries(attempts=2, backoff="constant", min="4s")
        with pytest.raises(Violation, match=r"the function body attempt 1 started 5s after attempt 0 failed"):
            invariants.retries_respect_policy(sim)


def test_in_race_mode_a_group_a_siblings_request_planned_is_not_the_retry_of_a_failure_outside_steps():
    # regression (found by the combination fuzzer): the first request failed outside steps at 0 s; the second
    # (number 0, the other step's) planned the next group at once, and was taken for that failure's retry
    app = jobsim.App("fan")
    failed: list[int] = []

    @app.function("fan", on="fan/run", retries=jobsim.Retries(attempts=2, backoff="constant", min="2s"))
    def fan(ctx):
        ctx.step.parallel([lambda: ctx.step.run("a", lambda: "a"), lambda: ctx.step.run("b", lambda: "b")],
                          mode="race")
        if not failed:
            failed.append(1)
            raise RuntimeError("once")
        return ctx.step.parallel([lambda: ctx.step.run("c", lambda: "c"), lambda: ctx.step.run("d", lambda: "d")],
                                 mode="race")

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("fan/run", {})
        sim.run_until_idle()
        run = sim.runs("fan")[0]
        assert [(a.step, a.number, (a.start_ns - T0_NS) // S, a.error is None) for a in run.attempts] == [
            ("a", 0, 0, True), ("b", 0, 0, True), (None, 0, 0, False), ("c", 0, 0, True), ("d", 0, 0, True),
            (None, 0, 0, True)]
        invariants.retries_respect_policy(sim)


def test_in_race_mode_failures_take_the_earliest_fitting_retry_even_when_queues_may_delay_one():
    # regression (found by the combination fuzzer): with flow control any later retry fits, and the body's failure
    # took the body's attempt 1 at 2 s (same step first) instead of the sleep its retry planned at 1 s; a failure of
    # 'r6' was left with that sleep, 0 s after it
    app = jobsim.App("fan")
    calls: list[int] = []

    def r6() -> str:
        calls.append(1)
        if len(calls) <= 2:
            raise RuntimeError("r6 failed")
        return "r6"

    @app.function("fan", on="fan/run", concurrency=5, retries=jobsim.Retries(attempts=2, backoff="constant", min="1s"))
    def fan(ctx):
        ctx.step.sleep("s2", "0s")
        ctx.step.parallel([lambda: ctx.step.run("p3", lambda: "p3"), lambda: ctx.step.run("p4", lambda: "p4")],
                          mode="race")
        return ctx.step.run("r6", r6)

    with jobsim.Simulation(app, start=START) as sim:
        sim.fail("fan", times=1)
        sim.send("fan/run", {})
        sim.run_until_idle()
        run = sim.runs("fan")[0]
        assert [(a.step, a.number, (a.start_ns - T0_NS) // S, a.error is None) for a in run.attempts] == [
            (None, 0, 0, False), ("s2", 1, 1, True), ("p3", 0, 1, True), ("p4", 0, 1, True), ("r6", 0, 1, False),
            ("r6", 0, 1, False), ("r6", 1, 2, True), (None, 1, 2, True)]
        invariants.retries_respect_policy(sim)


class FakeSim:
    """Just enough of a simulation to hold a hand-written run."""

    def __init__(self, run: Run, policy: jobsim.Retries) -> None:
        self._run, self.profile = run, jobsim.Simulation(flaky(policy)).profile
        self.engine = type("Engine", (), {"policy": staticmethod(lambda fn: policy)})()

    def runs(self, function: object = None) -> list[Run]:
        return [self._run]


def test_a_retried_non_retriable_error_is_named():
    fn = flaky(jobsim.Retries(attempts=3, backoff="constant", min="1s")).functions["sync"]
    run = Run(fn, "run-1", [jobsim.Event("sync/run", {})], T0_NS)
    run.status = "completed"
    run.attempts = [
        Attempt(0, "pull", T0_NS, T0_NS, jobsim.NonRetriableError("no")),
        Attempt(1, "pull", T0_NS + S, T0_NS + S, None),
    ]
    expected = r"step 'pull' was retried at 2025-03-01T00:00:01.000Z after a NonRetriableError"
    with pytest.raises(Violation, match=expected):
        invariants.retries_respect_policy(FakeSim(run, jobsim.Retries(attempts=3, backoff="constant", min="1s")))


@pytest.mark.parametrize("error", [jobsim.NonRetriableError("no"), jobsim.RetryAfterError("2s", "busy")])
def test_errors_the_system_has_no_class_for_are_retried_on_its_backoff(error):
    # found by tests/test_fuzz_combinations.py (on 3.13's draws): Agenda has neither class, so jobsim retries
    # both after the policy's delay; the invariant reported the retry of the first and demanded the second's 2 s
    app = jobsim.App("a")
    failed = []

    @app.function("sync", on="sync/run", retries=jobsim.AgendaBackoff(max_retries=1, delay="1s"))
    def sync(ctx):
        if not failed:
            failed.append(1)
            raise error

    with jobsim.Simulation(app, start=START, profile="agenda") as sim:
        sim.send("sync/run", {})
        sim.run_until_idle()
        run = sim.runs("sync")[0]
        # the retry is due 1 s after the failure; Agenda's next poll (every 5 s) finds it
        assert [(a.number, a.error is None, a.start_ns - run.start_ns) for a in run.attempts] == [
            (0, False, 0), (1, True, 5 * S)]
        invariants.retries_respect_policy(sim)


# -- every event handled ---------------------------------------------------------------------------------------
def notifier(fail_for: str | None = None) -> jobsim.App:
    app = jobsim.App("notifier")

    @app.function("digest", on="note/sent", batch=jobsim.Batch(max_size=3, timeout="10s"))
    def digest(ctx):
        if any(e.data["user"] == fail_for for e in ctx.events):
            raise jobsim.NonRetriableError(f"cannot mail {fail_for}")
        return len(ctx.events)

    @app.function("audit", on="note/sent", rate_limit=jobsim.RateLimit(limit=1, period="1h"))
    def audit(ctx):
        return None

    return app


def test_every_event_in_a_completed_batch_is_handled():
    with jobsim.Simulation(notifier(), start=START) as sim:
        sim.send([jobsim.Event("note/sent", {"user": u}) for u in "abcde"])
        sim.run_until_idle()
        handled = invariants.every_event_handled(sim, "digest", once=True)
    assert sorted(len(runs) for runs in handled.values()) == [1] * 5


def test_events_of_failed_and_skipped_runs_are_not_handled():
    with jobsim.Simulation(notifier(fail_for="d"), start=START) as sim:
        sim.send([jobsim.Event("note/sent", {"user": u}, id=f"n-{u}") for u in "abcd"])
        sim.run_until_idle()
        with pytest.raises(Violation) as caught:
            invariants.every_event_handled(sim)
    at = "at 2025-03-01T00:00:00.000Z"
    assert str(caught.value).splitlines() == [
        "every event handled by every subscribed function: 4 violation(s)",
        f"  event note/sent id='n-b' {at} {{'user': 'b'}}: not handled by 'audit' (its run(s) ended skipped)",
        f"  event note/sent id='n-c' {at} {{'user': 'c'}}: not handled by 'audit' (its run(s) ended skipped)",
        f"  event note/sent id='n-d' {at} {{'user': 'd'}}: not handled by 'digest' (its run(s) ended failed)",
        f"  event note/sent id='n-d' {at} {{'user': 'd'}}: not handled by 'audit' (its run(s) ended skipped)",
    ]


def test_an_event_still_in_an_open_batch_or_handed_out_twice_is_named():
    with jobsim.Simulation(notifier(), start=START) as sim:
        sim.send([jobsim.Event("note/sent", {"user": u}, id=f"n-{u}") for u in "abcd"])
        sim.advance("1s")
        with pytest.raises(Violation, match=r"id='n-d' .*: not handled by 'digest' \(no run got it\)"):
            invariants.every_event_handled(sim, "digest", event="note/sent")
        sim.run_until_idle()
        first, second = sim.runs("digest")
        second.events.append(first.events[0])  # as if the batcher had handed n-a out twice
        expected = f"id='n-a' .*: handled 2 times by 'digest' \\(runs {first.id}, {second.id}\\)"
        with pytest.raises(Violation, match=expected):
            invariants.every_event_handled(sim, "digest", once=True)
        invariants.every_event_handled(sim, "digest", statuses=None)


@pytest.mark.parametrize("profile", ["bullmq", "agenda", "trigger.dev", "inngest"])
def test_a_crash_recovery_is_not_taken_for_a_retry(profile):
    """After a worker crash the system's recovery decides when the job runs again (BullMQ's
    stall check, Agenda's lock expiry, Trigger.dev's heartbeat): not a retry delay."""
    app = jobsim.App("crashy")

    @app.function("export", on="export/start", retries=jobsim.Retries(attempts=3))
    def export(ctx):
        time.sleep(60)  # spends virtual time: the crash lands in it
        return "done"

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z", profile=profile) as sim:
        sim.crash_worker(at="2025-03-01T00:00:30Z", function="export")
        sim.send("export/start")
        sim.run_until_idle()
        run = sim.runs("export")[0]
        assert isinstance(run.attempts[0].error, jobsim.errors.WorkerCrashed)
        assert run.status == "completed"
        invariants.retries_respect_policy(sim)


def test_quirrel_offsets_count_from_the_failed_attempts_start():
    from jobsim import QuirrelRetry

    app = jobsim.App("q")
    calls = []

    @app.function("slow", on="slow/start", retries=QuirrelRetry(["10s", "1m"]))
    def slow(ctx):
        calls.append(ctx.attempt)
        time.sleep(4)  # a 4 s attempt: the 10 s offset still counts from its start
        if len(calls) < 3:
            raise RuntimeError("flaky")

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z", profile="quirrel") as sim:
        sim.send("slow/start")
        sim.run_until_idle()
        starts = [a.start_ns - sim.start_ns for a in sim.runs("slow")[0].attempts]
        assert starts == [0, 10 * 10**9, 60 * 10**9]
        invariants.retries_respect_policy(sim)


def test_quirrel_offsets_count_from_when_the_attempt_was_due_not_from_a_start_a_downtime_delayed():
    """Quirrel's retry k runs at the original run time + offset k (``owl : retry.ts``), so when a
    downtime pushes the first attempt from 09:00:00.000 to .001, the retry still comes at 09:00:05.000,
    4.999 s after the failure. The engine did so; the invariant measured from the late start and
    called it a violation (found by a property test: Fail + Downtime 0..1ms under profile quirrel)."""
    from jobsim import QuirrelRetry

    app = jobsim.App("q")

    @app.function("hook", on="hook/queued", retries=QuirrelRetry(["5s", "1m", "10m"]))
    def hook(ctx):
        return "sent"

    with jobsim.Simulation(app, start="2025-03-01T09:00:00Z", profile="quirrel") as sim:
        sim.fail("hook", times=2)
        sim.downtime("2025-03-01T09:00:00.000Z", "2025-03-01T09:00:00.001Z")
        sim.send("hook/queued")
        sim.run_until_idle()
        run = sim.runs("hook")[0]
        assert [a.start_ns - sim.start_ns for a in run.attempts] == [1_000_000, 5 * S, 60 * S]
        invariants.retries_respect_policy(sim)
    # the timeline gives a window's end its milliseconds (it read "goes down until ... 09:00:00 UTC")
    assert "fault     the system goes down until 2025-03-01 09:00:00.001 UTC" in sim.timeline()


def test_quirrel_offsets_after_a_crash_count_from_the_bodys_retry_that_planned_the_step():
    """A crash outside the step, then the step's first failure: its attempt was planned by the body's retry (a
    ``retry`` record of no step), which the invariant did not read; it measured from the failure and called the
    retry at the already-past offset a violation (a Hypothesis property under profile quirrel found it)."""
    from jobsim import QuirrelRetry

    app = jobsim.App("q")

    @app.function("charge", on="order/placed", retries=QuirrelRetry(["10s", "1m"]))
    def charge(ctx):
        ctx.step.run("call", time.sleep, 3)

    with jobsim.Simulation(app, start="2024-01-01T00:00:00.000Z", profile="quirrel") as sim:
        sim.fail("charge", step="call")
        sim.crash_worker()  # attempt 0 dies; the stale checker fails it 60 min later
        sim.send("order/placed", {"orderId": "o1"})
        sim.advance("6h")
    run = sim.runs("charge")[0]
    assert [(a.start_ns - sim.start_ns) // S for a in run.attempts] == [0, 3600, 3600] and run.status == "completed"
    invariants.retries_respect_policy(sim)
    rows = sim.trace._rows
    i = next(i for i, (_, kind, data) in enumerate(rows) if kind == "retry" and data["step"] is None)
    at, kind, data = rows[i]
    rows[i] = (at, kind, {**data, "planned": at - S})  # planned a second before: the step's retry came too soon
    with pytest.raises(invariants.Violation, match=r"step 'call' attempt 2 started 1s after"):
        invariants.retries_respect_policy(sim)


def test_a_retry_held_by_a_downtime_is_not_taken_for_a_late_retry():
    """A retry due while the system is down starts when it comes back (``sim.downtime``):
    the policy was kept, the system was not there. ``js.faults`` draws such windows, so
    this must not be a violation (found by a property test: Fail + Downtime 1ms..1s1ms)."""
    with jobsim.Simulation(flaky(jobsim.Retries(attempts=3, backoff="constant", min="1s")), start=START) as sim:
        sim.fail("sync", step="pull")
        sim.downtime("2025-03-01T00:00:00.001Z", "2025-03-01T00:00:01.001Z")
        sim.send("sync/run", {})
        sim.run_until_idle()
        run = sim.runs("sync")[0]
        assert [a.start_ns - T0_NS for a in run.attempts if a.step == "pull"] == [0, S + 1_000_000]
        invariants.retries_respect_policy(sim)


def test_a_retry_a_downtime_does_not_explain_is_still_named():
    with jobsim.Simulation(flaky(jobsim.Retries(attempts=3, backoff="constant", min="1s")), start=START) as sim:
        sim.fail("sync", step="pull")
        sim.downtime("2025-03-01T00:00:00.001Z", "2025-03-01T00:00:01.001Z")
        sim.send("sync/run", {})
        sim.run_until_idle()
        fn = sim.functions["sync"]
        sim.engine._policies[fn.id] = jobsim.Retries(attempts=3, backoff="constant", min="2s")  # due after the window
        with pytest.raises(Violation, match=r"step 'pull' attempt 1 started 1s1ms after attempt 0 failed at "
                                            r"2025-03-01T00:00:00.000Z; the policy allows 2s$"):
            invariants.retries_respect_policy(sim)


def _one_run_sim() -> jobsim.Simulation:
    app = jobsim.App("a")
    app.function("job", on="go")(lambda ctx: None)
    sim = jobsim.Simulation(app)
    with sim:
        sim.send("go", {"orderId": "o1"})
        sim.run_until_idle()
    return sim


@pytest.mark.parametrize(("check", "message"), [
    (lambda sim: invariants.retries_respect_policy(None), r"^sim=None is not valid: a jobsim.Simulation"),
    (lambda sim: invariants.every_event_handled(3), r"^sim=3 is not valid: a jobsim.Simulation"),
    (lambda sim: invariants.no_email_after(None, "job"), r"^sim=None is not valid"),
    (lambda sim: invariants.no_email_after(sim, "job", statuses=None), r"^statuses=None is not valid: run statuses"),
    (lambda sim: invariants.no_email_after(sim, "job", statuses=["complete"]),
     r"^statuses=\['complete'\] is not valid: run statuses among 'queued', "),
    (lambda sim: invariants.every_event_handled(sim, statuses=3), r"^statuses=3 is not valid: run statuses"),
    (lambda sim: invariants.every_event_handled(sim, function=3), r"^function=3 is not valid: one of the simulated"),
    (lambda sim: invariants.every_event_handled(sim, once="yes"), r"^once='yes' is not valid: True or False"),
    (lambda sim: invariants.exactly_once(sim.events, "data.orderId", expected=3),
     r"^expected=3 is not valid: a list \(or set\) of the keys that must occur"),
    (lambda sim: invariants.at_least_once(sim.events, "data.orderId", expected="o1"),
     r"^expected='o1' is not valid: a list"),
    (lambda sim: invariants.at_most_once(sim.events, lambda: 1), r"^key=<function .* is not valid: a callable taking"),
    (lambda sim: invariants.no_email_after_event(sim, "go", key="data.orderId", email_key=None),
     r"^email_key=None is not valid: a callable taking an Email"),
])  # fmt: skip
def test_invariants_name_a_bad_argument_instead_of_failing_inside(check, message):
    # each raised AttributeError/TypeError from inside the check; expected='o1' was read as 'o' and '1',
    # and statuses=['complete'] matched no run
    with pytest.raises(jobsim.InvalidArgument, match=message):
        check(_one_run_sim())


def test_every_event_handled_names_an_event_filter_that_is_not_names():
    # event=3 raised "'int' object is not iterable"
    with pytest.raises(jobsim.InvalidArgument, match=r"^event=3 is not valid: an event name or a list of them"):
        invariants.every_event_handled(_one_run_sim(), event=3)


def test_keys_and_names_that_cannot_be_hashed_are_named():
    # expected=[[]] and event=[[]] raised "TypeError: unhashable type: 'list'" from inside
    with pytest.raises(jobsim.InvalidArgument, match=r"^expected=\[\[\]\] is not valid: a list of hashable keys$"):
        invariants.exactly_once(ROWS, key="order", expected=[[]])
    with pytest.raises(jobsim.InvalidArgument, match=r"^expected=\[\(\[\],\)\] is not valid: a list of hashable keys"):
        invariants.at_least_once(ROWS, key="order", expected=[([],)])
    app = jobsim.App("a")
    app.function("f", on="go")(lambda ctx: None)
    with jobsim.Simulation(app) as sim, pytest.raises(
            jobsim.InvalidArgument, match=r"^event=\[\[\]\] is not valid: an event name or a list of them$"):
        invariants.every_event_handled(sim, event=[[]])


@pytest.mark.parametrize("name", ["order/plaecd", "Order/placed", "order/*"])
def test_a_misspelt_event_name_is_refused_not_checked_vacuously(name):
    """A near miss of an event the simulation had (or that a function triggers on) named no event at all: the
    invariant found nothing to check and passed, while the real event's run had failed."""
    app = jobsim.App("typo")

    @app.function("checkout", on="order/placed", retries=0)
    def checkout(ctx):
        raise RuntimeError("payment service down")

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("order/placed", {"orderId": "o1"})
        sim.run_until_idle()
        with pytest.raises(AssertionError):
            invariants.every_event_handled(sim, event="order/placed")
        with pytest.raises(jobsim.InvalidArgument, match=r"did you mean 'order/placed'\?\): no event had this name"):
            invariants.every_event_handled(sim, event=name)
        with pytest.raises(jobsim.InvalidArgument, match=r"did you mean 'order/placed'\?"):
            invariants.no_email_after_event(sim, name, key="data.orderId", email_key=lambda email: None)
        invariants.every_event_handled(sim, event="user/deleted")  # unlike any: a history may not have sent it


def test_no_email_after_event_checks_names_on_a_stand_in_without_functions():
    """A stand-in holding only what the invariant reads (``trace``, ``events``, ``mail``) is still checked: the name
    check must not need ``sim.functions``."""
    app = jobsim.App("stand-in")
    app.function("noop", on="cart/completed")(lambda ctx: None)
    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("cart/completed", {"cartId": "c1"})
        sim.run_until_idle()

    class StandIn:
        trace, events, mail = sim.trace, sim.events, sim.mail

    invariants.no_email_after_event(StandIn(), "cart/completed", key="data.cartId", email_key=lambda email: None)
    with pytest.raises(jobsim.InvalidArgument, match=r"did you mean 'cart/completed'\?"):
        invariants.no_email_after_event(StandIn(), "cart/complete", key="data.cartId", email_key=lambda email: None)

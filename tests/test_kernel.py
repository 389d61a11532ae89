import pytest

from jobsim import BudgetExceeded, InvalidArgument
from jobsim._kernel import Kernel


def test_equal_times_keep_insertion_order_and_priority_first():
    kernel, seen = Kernel(0), []
    for name in "abc":
        kernel.schedule(10, seen.append, name)
    kernel.schedule(10, seen.append, "urgent", priority=0)
    kernel.schedule(5, seen.append, "early")
    kernel.run(10)
    assert seen == ["early", "urgent", "a", "b", "c"]
    assert kernel.now == 10


def test_cancelled_timers_do_not_fire_and_do_not_count_as_pending():
    kernel, seen = Kernel(0), []
    timer = kernel.schedule(5, seen.append, "x")
    kernel.cancel(timer)
    assert kernel.idle
    kernel.run(10)
    assert seen == []


def test_cancelling_a_timer_that_already_ran_changes_nothing():
    # a parallel group dropped its sleeps' timers, one of which had fired: the pending count went to -1,
    # so run_until_idle ran on past the real end and stopped at the next cron run, leaving it queued
    k = Kernel(0)
    fired = k.schedule(5, lambda: None)
    later = k.schedule(10, lambda: None)
    k.run(7)
    k.cancel(fired)
    assert not k.idle
    k.cancel(later)
    assert k.idle and k._one_off == 0
    k.schedule(20, lambda: None)
    assert not k.idle


def test_time_cannot_go_backwards():
    kernel = Kernel(100)
    with pytest.raises(InvalidArgument, match="time can't go backwards"):
        kernel.run(50)


def test_stop_when_idle_ignores_recurring_work():
    kernel, seen = Kernel(0), []

    def tick():
        seen.append(kernel.now)
        kernel.schedule(kernel.now + 10, tick, recurring=True)

    kernel.schedule(10, tick, recurring=True)
    kernel.schedule(25, seen.append, "one-off")
    kernel.run(1000, stop_when_idle=True)
    assert seen == [10, 20, "one-off"]
    assert kernel.now == 25


def test_runaway_at_one_instant_is_reported_with_owner():
    kernel = Kernel(0)

    def again():
        kernel.schedule(kernel.now, again, owner="ping")

    kernel.schedule(0, again, owner="ping")
    with pytest.raises(BudgetExceeded) as info:
        kernel.run(10, max_chain=1000)
    message = str(info.value)
    assert "a chain of 1,000 items, each scheduled by the one before, at 1970-01-01T00:00:00.000Z" in message
    assert "  ping: 1 item(s) pending, next at 1970-01-01T00:00:00.000Z" in message


def test_wide_work_at_one_instant_is_not_a_runaway():
    kernel, seen = Kernel(0), []

    def job(i):
        kernel.schedule(kernel.now, seen.append, i)  # a follow-up at the same instant

    for i in range(5000):
        kernel.schedule(7, job, i)
    kernel.run(10, max_chain=3)
    assert len(seen) == 5000


def test_work_due_at_one_instant_shares_one_heap_entry_and_keeps_its_order():
    # the heap orders distinct (due, priority) keys only: 10,000 jobs retried at the same instants made
    # the heap compare (due, priority, seq) tuples ~14 times per item (bench_core: 7% of its instructions)
    kernel, seen = Kernel(0), []
    for i in range(1000):
        kernel.schedule(10, seen.append, i)
    kernel.schedule(10, seen.append, "urgent", priority=0)
    kernel.schedule(20, seen.append, "later")
    assert len(kernel._heap) == 3
    kernel.schedule(10, lambda: kernel.schedule(10, seen.append, "appended"))  # joins the bucket being run
    kernel.cancel(kernel.schedule(10, seen.append, "cancelled"))
    assert kernel.next_due() == 10 and len(kernel._heap) == 3
    assert [t.args for t in kernel.pending()][:2] == [("urgent",), (0,)]
    kernel.run(15)
    assert seen == ["urgent", *range(1000), "appended"]
    assert kernel.next_due() == 20 and len(kernel._heap) == 1
    assert {(p, due) for p, by_due in kernel._buckets.items() for due in by_due} == {(1, 20)}


def test_urgent_work_scheduled_while_a_bucket_runs_goes_first():
    kernel, seen = Kernel(0), []

    def first() -> None:
        seen.append("first")
        kernel.schedule(5, seen.append, "urgent", priority=0)
        kernel.schedule(5, seen.append, "normal again")

    kernel.schedule(5, first)
    kernel.schedule(5, seen.append, "second")
    kernel.schedule(5, seen.append, "last", priority=3)
    kernel.run(5)
    assert seen == ["first", "urgent", "second", "normal again", "last"]


def test_processed_counts_the_timers_run_not_the_cancelled_nor_the_one_a_budget_refused():
    # counted once when `run` returns or raises (not per item): a refused timer stays queued and is not counted
    kernel, seen = Kernel(0), []
    for i in range(5):
        kernel.schedule(i, seen.append, i)
    kernel.cancel(kernel.schedule(2, seen.append, "cancelled"))
    kernel.run(10)
    assert (seen, kernel.processed) == ([0, 1, 2, 3, 4], 5)

    def again() -> None:
        kernel.schedule(kernel.now + 1, again)

    kernel.schedule(11, again)
    with pytest.raises(BudgetExceeded):
        kernel.run(1_000, max_items=7)
    assert kernel.processed == 5 + 7  # the 8th was refused, left queued
    with pytest.raises(BudgetExceeded):
        kernel.run(1_000, max_items=3, max_chain=10)
    assert kernel.processed == 12 + 3

    looping = Kernel(0)

    def chain() -> None:
        looping.schedule(looping.now, chain)

    looping.schedule(0, chain)
    with pytest.raises(BudgetExceeded, match="chain"):
        looping.run(10, max_chain=4)
    assert looping.processed == 5  # depths 0..4 ran; depth 5 was refused


def test_work_that_multiplies_at_one_instant_is_stopped_long_before_memory_runs_out():
    # each run sends its own event twice: the chain grows a few links a generation while the work doubles, so
    # max_chain never came and the process reached 3.8 GB in 20 s (user trial G, session 38)
    import jobsim
    from jobsim.errors import BudgetExceeded

    app = jobsim.App("t")

    @app.function("loop", on="ping")
    def loop(ctx):
        ctx.step.send_event("again", {"name": "ping", "data": {}})
        ctx.step.send_event("again2", {"name": "ping", "data": {}})

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("ping")
        with pytest.raises(BudgetExceeded, match=r"^run-away simulation: work multiplying at 2025-03-01T00:00:00\.000Z "
                           r"without virtual time moving: .*\n  loop: \d+ item\(s\) pending.*\nA function that "
                           r"triggers itself more than once per run"):  # fmt: skip
            sim.run_until_idle()
        assert len(sim.runs("loop")) < 200_000


def test_a_wide_fan_out_at_one_instant_is_not_taken_for_multiplying_work():
    # 20,000 events, each run three steps at the same instant, one fan-out step sending 30,000 more: the pending
    # work jumps once and then drains
    import jobsim

    app = jobsim.App("t")

    @app.function("fan", on="fan")
    def fan(ctx):
        ctx.step.send_event("many", [{"name": "job", "data": {"n": n}} for n in range(30_000)])

    @app.function("job", on="job")
    def job(ctx):
        for step in range(3):
            ctx.step.run(f"s{step}", lambda: None)

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        for n in range(20_000):
            sim.send("job", {"n": n})
        sim.send("fan")
        sim.run_until_idle()
    assert len(sim.runs("job")) == 50_000

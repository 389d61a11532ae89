"""``Simulation(app, functions=[...])`` / ``exclude_functions=[...]``: only some of the targets' functions run."""

from __future__ import annotations

import datetime as dt

import pytest

import jobsim
from jobsim import _plugins
from jobsim.hooks import Adapted, hookimpl

START = "2025-03-03T08:00:00Z"  # a Monday, an hour before the daily report


def make_app() -> jobsim.App:
    app = jobsim.App("acme")

    @app.function("send-welcome-email", on="user/created")
    def welcome(ctx):
        return ctx.step.run("send", lambda: f"welcome {ctx.event.data['email']}")

    @app.function("daily-report", cron="0 9 * * *")
    def report(ctx):
        return ctx.step.run("build", lambda: "report")

    @app.function("checkout", on="cart/checkout", retries=jobsim.Retries(attempts=3, min="1s"))
    def checkout(ctx):
        receipt = ctx.step.invoke("charge", function="charge-card", data={"amount": 5})
        return {"receipt": receipt}

    @app.function("charge-card", on="card/charge")
    def charge(ctx):
        return ctx.step.run("charge", lambda: f"charged {ctx.event.data['amount']}")

    return app


def ran(sim: jobsim.Simulation) -> list[tuple[str, str, str]]:
    return [(r.function_id, r.status, r.started_at.strftime("%d %H:%M")) for r in sim.runs()]


def test_without_a_selection_every_function_runs_the_cron_job_included() -> None:
    app = make_app()
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("user/created", {"email": "ada@example.com"})
        sim.advance("1d")
    assert ran(sim) == [("send-welcome-email", "completed", "03 08:00"), ("daily-report", "completed", "03 09:00")]


def test_functions_simulates_only_those_and_events_to_others_stay_on_the_bus() -> None:
    app = make_app()
    with jobsim.Simulation(app, start=START, functions=["send-welcome-email"]) as sim:
        sim.send("user/created", {"email": "ada@example.com"})
        sim.send("card/charge", {"amount": 3})  # charge-card is not simulated: no run
        sim.advance("2d")
    assert list(sim.functions) == ["send-welcome-email"]
    assert ran(sim) == [("send-welcome-email", "completed", "03 08:00")]
    assert [(e.name, e.data) for e in sim.events] == [
        ("user/created", {"email": "ada@example.com"}), ("card/charge", {"amount": 3})
    ]  # fmt: skip
    assert not sim.trace.of("cron")  # no tick of the report was even scheduled


@pytest.mark.parametrize(
    "selection",
    [
        {"functions": ["send-welcome-email", "checkout", "charge-card"]},
        {"functions": ("checkout", "send-welcome-email", "charge-card", "checkout")},  # order, repeats: no matter
        {"exclude_functions": ["daily-report"]},
        {"exclude_functions": "daily-report"},  # one id on its own
        {"exclude_functions": {"daily-report"}},
    ],
)  # fmt: skip
def test_everything_but_the_cron_job(selection: dict) -> None:
    app = make_app()
    with jobsim.Simulation(app, start=START, **selection) as sim:
        sim.send("user/created", {"email": "ada@example.com"})
        sim.send("cart/checkout")
        sim.advance("1d")
    assert sorted(sim.functions) == ["charge-card", "checkout", "send-welcome-email"]
    assert ran(sim) == [("send-welcome-email", "completed", "03 08:00"), ("checkout", "completed", "03 08:00"),
                        ("charge-card", "completed", "03 08:00")]  # fmt: skip
    assert sim.runs("checkout")[0].output == {"receipt": "charged 5"}


def test_functions_are_also_named_by_the_objects_app_function_returned() -> None:
    app = make_app()
    welcome, report = app.functions["send-welcome-email"], app.functions["daily-report"]
    with jobsim.Simulation(app, start=START, functions=[welcome]) as sim:
        sim.advance("1d")
        assert list(sim.functions) == ["send-welcome-email"]
    with jobsim.Simulation(app, start=START, exclude_functions=report) as sim:
        sim.advance("1d")
        assert "daily-report" not in sim.functions and sim.runs() == []


def test_an_invoke_of_a_left_out_function_fails_the_caller_at_once_saying_how_to_select_it() -> None:
    app = make_app()
    with jobsim.Simulation(app, start=START, functions=["checkout"]) as sim:
        sim.send("cart/checkout")
        sim.advance("1h")
    [run] = sim.runs("checkout")
    message = (
        "function='charge-card': function 'charge-card' is not simulated, functions=['checkout'] left it out; "
        "add 'charge-card' to functions= to simulate it (in jobsim.Simulation(...) or @pytest.mark.jobsim(...))"
    )
    assert run.status == "failed" and str(run.error) == message
    assert isinstance(run.error, jobsim.InvalidArgument) and isinstance(run.error, jobsim.NonRetriableError)
    assert [(a.number, a.started_at.strftime("%H:%M:%S")) for a in run.attempts] == [(0, "08:00:00")]  # no retry
    assert not sim.trace.of("retry")


def test_an_invoke_of_an_excluded_function_says_to_take_it_out_of_exclude_functions() -> None:
    app = make_app()
    with jobsim.Simulation(app, start=START, exclude_functions=["charge-card", "daily-report"]) as sim:
        sim.send("cart/checkout")
        sim.advance("1h")
    assert str(sim.runs("checkout")[0].error) == (
        "function='charge-card': function 'charge-card' is not simulated, exclude_functions=['charge-card', "
        "'daily-report'] left it out; take 'charge-card' out of exclude_functions= to simulate it "
        "(in jobsim.Simulation(...) or @pytest.mark.jobsim(...))"
    )


def test_the_failure_handler_of_a_left_out_function_is_named_as_left_out() -> None:
    app = jobsim.App("hooks")
    app.function("deliver", on="hook/queued", on_failure=lambda ctx: None)(lambda ctx: None)
    app.function("audit", on="hook/audited")(lambda ctx: None)
    with jobsim.Simulation(app, start=START, functions=["audit"]) as sim:
        with pytest.raises(jobsim.InvalidArgument) as caught:  # it said: one of the simulated ids: 'audit'
            sim.runs("deliver-failure")
        assert str(caught.value) == (
            "function_id='deliver-failure': function 'deliver' is not simulated, functions=['audit'] left it out; "
            "add 'deliver' to functions= to simulate it (in jobsim.Simulation(...) or @pytest.mark.jobsim(...))")
        with pytest.raises(jobsim.InvalidArgument, match="one of the simulated function ids: 'audit'"):
            sim.runs("audit-failure")  # audit has no on_failure: no such function at all


def test_naming_a_left_out_function_from_the_test_is_the_same_error() -> None:
    app = make_app()
    report = app.functions["daily-report"]
    with jobsim.Simulation(app, start=START, exclude_functions=[report]) as sim:
        with pytest.raises(jobsim.InvalidArgument) as caught:
            sim.runs("daily-report")
        assert str(caught.value) == (
            "function_id='daily-report': function 'daily-report' is not simulated, exclude_functions="
            "['daily-report'] left it out; take 'daily-report' out of exclude_functions= to simulate it "
            "(in jobsim.Simulation(...) or @pytest.mark.jobsim(...))"
        )
        with pytest.raises(jobsim.InvalidArgument, match=r"^function_id=<jobsim function 'daily-report' of app "):
            sim.fail(report)
        with pytest.raises(jobsim.InvalidArgument, match=r"^function_id='nope' is not valid: one of the simulated "
                           r"function ids: 'send-welcome-email', 'checkout', 'charge-card'$"):  # fmt: skip
            sim.runs("nope")  # an id that exists nowhere keeps its own message


def test_a_left_out_function_is_not_checked_against_the_profile() -> None:
    app = make_app()

    @app.function("digest", on="note", batch=jobsim.Batch(max_size=10, timeout="1m"))
    def digest(ctx):
        return len(ctx.events)

    with pytest.raises(jobsim.UnsupportedFeature, match="digest"):
        jobsim.Simulation(app, profile="bullmq")  # BullMQ has no event batching
    with jobsim.Simulation(app, profile="bullmq", exclude_functions=["digest"], start=START) as sim:
        sim.send("user/created", {"email": "ada@example.com"})
        sim.advance("1m")
    assert [r.function_id for r in sim.runs()] == ["send-welcome-email"]


BAD = [
    ({"functions": ["nope"]},
     "functions=['nope'] is not valid: 'nope' is not among the targets' functions (name them by id, or by the "
     "object @app.function returned); known function ids: 'send-welcome-email', 'daily-report', 'checkout', "
     "'charge-card'"),
    ({"exclude_functions": ["daily-reprot", 3, "send-welcome-email"]},
     "exclude_functions=['daily-reprot', 3, 'send-welcome-email'] is not valid: 'daily-reprot', 3 are not among "
     "the targets' functions (name them by id, or by the object @app.function returned); known function ids: "
     "'send-welcome-email', 'daily-report', 'checkout', 'charge-card'"),
    ({"functions": []},
     "functions=[] is not valid: a list of function ids (str) or functions (what @app.function returns), at least "
     "one (leave functions= out, or None, to simulate every function: 'send-welcome-email', 'daily-report', "
     "'checkout', 'charge-card')"),
    ({"exclude_functions": ["send-welcome-email", "daily-report", "checkout", "charge-card"]},
     "exclude_functions=['send-welcome-email', 'daily-report', 'checkout', 'charge-card'] is not valid: it leaves "
     "out every function ('send-welcome-email', 'daily-report', 'checkout', 'charge-card'): leave at least one to "
     "simulate"),
    ({"functions": ["checkout"], "exclude_functions": ["daily-report"]},
     "Simulation() got both functions=['checkout'] and exclude_functions=['daily-report']: give functions= (the "
     "ones to simulate) or exclude_functions= (the ones to leave out), not both"),
    ({"functions": {"checkout": True}},
     "functions={'checkout': True} is not valid: a list of function ids (str) or functions (what @app.function "
     "returns)"),
    ({"functions": 42},
     "functions=42 is not valid: a list of function ids (str) or functions (what @app.function returns)"),
    ({"exclude_functions": ["daily-report", ""]},
     "exclude_functions=['daily-report', ''] is not valid: a list of function ids (str) or functions (what "
     "@app.function returns); '' is not a function id"),
]  # fmt: skip


@pytest.mark.parametrize(("selection", "message"), BAD)
def test_bad_selections_are_invalid_arguments_naming_the_value_and_the_known_ids(selection: dict, message: str) -> None:
    with pytest.raises(jobsim.InvalidArgument) as caught:
        jobsim.Simulation(make_app(), **selection)
    assert str(caught.value) == message


def test_a_function_of_another_app_or_a_second_copy_is_refused_with_a_hint() -> None:
    app, other = make_app(), make_app()  # the same ids, other objects: a module imported twice
    with pytest.raises(jobsim.InvalidArgument) as caught:
        jobsim.Simulation(app, functions=[other.functions["checkout"]])
    assert str(caught.value) == (
        "functions=[<jobsim function 'checkout' of app 'acme'>] is not valid: <jobsim function 'checkout' of app "
        "'acme'> is not among the targets' functions (name them by id, or by the object @app.function returned); "
        "known function ids: 'send-welcome-email', 'daily-report', 'checkout', 'charge-card'; <jobsim function "
        "'checkout' of app 'acme'> is not the function of that id the targets hold (a second copy of it: was its "
        "module imported twice, or the app rebuilt?)"
    )


def test_the_selection_spans_every_target() -> None:
    app, billing = make_app(), jobsim.App("billing")

    @billing.function("invoice", cron="0 0 1 * *")
    def invoice(ctx):
        return "sent"

    with jobsim.Simulation([app, billing], start="2025-03-31T23:00:00Z", functions=[invoice]) as sim:
        sim.advance("2h")
        app.send("user/created", {"email": "x@example.com"})  # the app still sends onto the bus
    assert ran(sim) == [("invoice", "completed", "01 00:00")]
    assert [e.name for e in sim.events] == ["user/created"]


def test_a_saved_trace_names_what_was_left_out_and_replay_leaves_it_out_too(tmp_path) -> None:
    app = make_app()
    with jobsim.Simulation(app, start=START, exclude_functions=["daily-report"]) as sim:
        sim.send("user/created", {"email": "ada@example.com"})
        sim.advance("1d")
    path = tmp_path / "t.jobsim.jsonl"
    sim.trace.save(path, redact=False)
    loaded = jobsim.Trace.load(path)
    assert loaded.header["functions"] == ["send-welcome-email", "checkout", "charge-card"]
    assert loaded.header["left_out"] == ["daily-report"]
    result = jobsim.Simulation.replay(path, make_app())
    assert result.same, result.report()
    assert [r.function_id for r in result.simulation.runs()] == ["send-welcome-email"]
    assert result.notes[0] == ("the recording left out 'daily-report' (functions=/exclude_functions=): "
                               "so does the replay")  # fmt: skip


def test_a_trace_without_a_selection_has_no_left_out_field(tmp_path) -> None:
    with jobsim.Simulation(make_app()) as sim:
        pass
    sim.trace.save(tmp_path / "t.jobsim.jsonl")
    assert "left_out" not in jobsim.Trace.load(tmp_path / "t.jobsim.jsonl").header


class OwnWorker:
    """A target whose plugin runs its functions on the backend's own worker (as jobsim-celery does)."""


class OwnWorkerPlugin:
    @hookimpl
    def jobsim_adapt(self, sim, target):
        if not isinstance(target, OwnWorker):
            return None
        app = jobsim.App("own")
        app.function("beat", cron="* * * * *")(lambda ctx: None)
        app.function("task", on="task")(lambda ctx: None)
        return Adapted(backend="own", functions=list(app.functions.values()), own_worker=True)


def test_functions_a_plugins_own_worker_runs_cannot_be_left_out() -> None:
    plugin = OwnWorkerPlugin()
    _plugins.register(plugin, name="own-worker-test")
    try:
        with pytest.raises(jobsim.UnsupportedFeature) as caught:
            jobsim.Simulation(make_app(), OwnWorker(), exclude_functions=["beat", "daily-report"])
        assert str(caught.value) == (
            "exclude_functions=['beat', 'daily-report'] leaves out 'beat', which a backend plugin's own worker runs "
            "(it would still run them); leave out only functions jobsim's engine runs, or leave that target out"
        )
        with pytest.raises(jobsim.UnsupportedFeature) as caught:
            jobsim.Simulation(make_app(), OwnWorker(), functions=["checkout"])
        assert str(caught.value) == (
            "functions=['checkout'] leaves out 'beat', 'task', which a backend plugin's own worker runs (it would "
            "still run them); use exclude_functions= to leave out only functions jobsim's engine runs, or leave "
            "that target out"
        )
        sim = jobsim.Simulation(make_app(), OwnWorker(), exclude_functions=["daily-report"])
        assert sorted(sim.functions) == ["beat", "charge-card", "checkout", "send-welcome-email", "task"]
    finally:
        _plugins.unregister(plugin)


def test_the_selection_is_in_the_repr_through_functions() -> None:
    sim = jobsim.Simulation(make_app(), start=dt.datetime(2025, 3, 3, tzinfo=dt.timezone.utc),
                            functions=["checkout", "charge-card"])  # fmt: skip
    assert repr(sim) == ("<Simulation at 2025-03-03T00:00:00.000Z seed=0 profile='inngest' "
                         "functions=['checkout', 'charge-card'] new>")  # fmt: skip


def test_an_async_handler_invoking_a_left_out_function_fails_the_same_way() -> None:
    app = make_app()

    @app.function("async-checkout", on="cart/checkout-async")
    async def async_checkout(ctx):
        return await ctx.step.invoke("charge", function="charge-card", data={"amount": 1})

    with jobsim.Simulation(app, start=START, functions=[async_checkout]) as sim:
        sim.send("cart/checkout-async")
        sim.advance("1m")
    [run] = sim.runs("async-checkout")
    assert (run.status, type(run.error).__name__, len(run.attempts)) == ("failed", "FunctionNotSimulated", 1)
    assert str(run.error).startswith("function='charge-card': function 'charge-card' is not simulated, "
                                     "functions=['async-checkout'] left it out;")  # fmt: skip

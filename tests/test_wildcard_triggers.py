"""Inngest's wildcard event triggers: ``app/*`` and ``app/user.*`` match every event under the prefix.

Inngest's docs (guides/multiple-triggers, "Wildcard event triggers"): a wildcard may follow a
``/`` or a ``.`` and end the name; mid-word and mid-pattern wildcards are not supported.
"""

import dataclasses

import pytest

import jobsim
from jobsim import InvalidArgument
from jobsim.invariants import every_event_handled


def _app(**triggers):
    app = jobsim.App("shop")
    for fn_id, on in triggers.items():

        @app.function(fn_id.replace("_", "-"), on=on)
        def handler(ctx):
            return ctx.event.name

    return app


def _names(sim, fn_id):
    return [run.output for run in sim.runs(fn_id)]


def test_a_slash_wildcard_matches_every_event_under_the_prefix():
    with jobsim.Simulation(_app(etl="app/*")) as sim:
        for name in ("app/user.created", "app/blog.post.published", "billing/invoice.paid", "app", "apps/x"):
            sim.send(name, {})
        sim.run_until_idle()
    assert _names(sim, "etl") == ["app/user.created", "app/blog.post.published"]


def test_a_dot_wildcard_matches_the_names_under_its_dotted_prefix_at_any_depth():
    with jobsim.Simulation(_app(users="app/user.*")) as sim:
        for name in ("app/user.created", "app/user.profile.updated", "app/users.created", "app/user", "app/blog.x"):
            sim.send(name, {})
        sim.run_until_idle()
    assert _names(sim, "users") == ["app/user.created", "app/user.profile.updated"]


def test_an_event_matching_several_triggers_of_one_function_starts_one_run():
    with jobsim.Simulation(_app(sync=["app/*", "app/user.*", "app/user.created"])) as sim:
        sim.send("app/user.created", {})
        sim.run_until_idle()
    assert _names(sim, "sync") == ["app/user.created"]


def test_wildcard_and_exact_subscribers_fan_out_in_the_order_they_were_declared():
    app = _app(etl="app/*", welcome="app/user.created", audit="app/user.*")
    with jobsim.Simulation(app) as sim:
        sim.send("app/user.created", {})
        sim.run_until_idle()
    started = [record.data["function"] for record in sim.trace.of("run.start")]
    assert started == ["etl", "welcome", "audit"]
    assert every_event_handled(sim)


def test_every_event_handled_counts_the_events_a_wildcard_function_missed():
    app = jobsim.App("shop")

    @app.function("etl", on="app/*", retries=jobsim.Retries(attempts=1))
    def etl(ctx):
        if ctx.event.data.get("bad"):
            raise RuntimeError("cannot forward")

    with jobsim.Simulation(app) as sim:
        sim.send("app/user.created", {"bad": True})
        sim.run_until_idle()
    with pytest.raises(AssertionError, match="not handled by 'etl'"):
        every_event_handled(sim)


@pytest.mark.parametrize("pattern", ["*", "app*", "app/user.update*", "app/*.published", "app/**", "*/created",
                                     "app/*/x"])
def test_wildcards_inngest_does_not_support_are_refused(pattern):
    with pytest.raises(InvalidArgument, match=r"after a '/' or '\.'.*e\.g\. on='app/\*'"):
        _app(etl=pattern)


@pytest.mark.parametrize("profile", ["bullmq", "trigger.dev", "quirrel", "agenda"])
def test_profiles_whose_jobs_are_named_refuse_wildcard_triggers(profile):
    with pytest.raises(jobsim.UnsupportedFeature, match="wildcard event triggers"):
        jobsim.Simulation(_app(etl="app/*"), profile=profile)


def test_a_duplicated_delivery_to_a_wildcard_subscriber_is_deduplicated_by_inngest():
    with jobsim.Simulation(_app(etl="app/*")) as sim:
        sim.duplicate_delivery("etl", times=2)
        sim.send("app/user.created", {})
        sim.run_until_idle()
    assert len(sim.runs("etl")) == 1
    (fault,) = sim.trace.of("fault")
    assert (fault.data["function"], fault.data["event"], fault.data["outcome"]) == \
        ("etl", "app/user.created", sim.profile.dedupe)


def test_a_wildcard_triggers_condition_is_keyed_by_the_pattern():
    """``Function.event_if`` (a backend plugin's trigger expression) holds per trigger, wildcard or not."""
    app = jobsim.App("shop")
    etl = app.function("etl", on=["app/*", "billing/paid"])(lambda ctx: ctx.event.name)
    app.functions["etl"] = dataclasses.replace(etl, event_if={"app/*": lambda event: event.data.get("plan") == "pro"})
    with jobsim.Simulation(app) as sim:
        for name, plan in [("app/user.created", "pro"), ("app/user.updated", "free"), ("billing/paid", "free")]:
            sim.send(name, {"plan": plan})
        sim.run_until_idle()
    assert _names(sim, "etl") == ["app/user.created", "billing/paid"]


def test_a_wait_or_a_cancellation_on_a_pattern_is_refused_rather_than_never_matching():
    with pytest.raises(InvalidArgument, match=r"event='order/\*' is not valid: the exact name of the event"):
        jobsim.Cancel("order/*")
    app = jobsim.App("shop")

    @app.function("wait", on="cart/abandoned", retries=jobsim.Retries(attempts=1))
    def wait(ctx):
        return ctx.step.wait_for_event("paid", event="order/*", timeout="1h")

    with jobsim.Simulation(app) as sim:
        sim.send("cart/abandoned", {})
        sim.run_until_idle()
    (run,) = sim.runs("wait")
    assert run.status == "failed"
    assert "event='order/*' is not valid: the exact name of one event to wait for" in str(run.error)

"""Found building an e-commerce job layer from the README alone: each now behaves as a new user expects."""

import dataclasses
import ssl

import httpx
import pytest

import jobsim
from jobsim import InvalidArgument, traces

START = "2025-03-01T00:00:00Z"


def _app() -> jobsim.App:
    app = jobsim.App("shop")

    @app.function("charge", on="order/placed")
    def charge(ctx):
        return ctx.step.run("charge", lambda: "charged")

    return app


# -- a misspelt keyword of an entry point names the one meant -------------------------------------
# Python's own "TypeError: Batch.__init__() got an unexpected keyword argument 'timout'" named neither
# what Batch takes nor the word meant, and was no jobsim error (InvalidArgument is also a ValueError).

MISSPELT = [
    (lambda: jobsim.App("shop", nam="x"), "App() got an unknown keyword argument nam='x'; accepted: id"),
    (lambda: jobsim.Retries(attempts=3, backof="linear"),
     "Retries() got an unknown keyword argument backof='linear' (did you mean backoff=?); "
     "accepted: attempts, backoff, min, max, jitter"),
    (lambda: jobsim.Retries(attempts=3, min_delay="1s"),
     "Retries() got an unknown keyword argument min_delay='1s' (did you mean min=?); "
     "accepted: attempts, backoff, min, max, jitter"),
    (lambda: jobsim.Retries(retries=3),
     "Retries() got an unknown keyword argument retries=3 (did you mean attempts=?); "
     "accepted: attempts, backoff, min, max, jitter"),
    (lambda: jobsim.Event("order/placed", {}, idd="o1"),
     "Event() got an unknown keyword argument idd='o1' (did you mean id=?); accepted: name, data, id, user, ts, v"),
    (lambda: jobsim.Event("order/placed", timestamp=1),
     "Event() got an unknown keyword argument timestamp=1 (did you mean ts=?); accepted: name, data, id, user, ts, v"),
    (lambda: jobsim.Simulation(_app(), strat=START),
     f"Simulation() got an unknown keyword argument strat='{START}' (did you mean start=?); "
     "accepted: start, seed, profile, tz, max_chain, functions, exclude_functions, random_streams"),
    (lambda: jobsim.Simulation(_app(), timezone="UTC"),
     "Simulation() got an unknown keyword argument timezone='UTC' (did you mean tz=?); "
     "accepted: start, seed, profile, tz, max_chain, functions, exclude_functions, random_streams"),
    (lambda: jobsim.Batch(maxSize=3, timeout="1s"),  # Inngest's spelling
     "Batch() got an unknown keyword argument maxSize=3 (did you mean max_size=?); "
     "accepted: max_size, timeout, key, if_"),
    (lambda: jobsim.Batch(max_size=3, timeout="1s", if_exp="event.data.x"),
     "Batch() got an unknown keyword argument if_exp='event.data.x' (did you mean if_=?); "
     "accepted: max_size, timeout, key, if_"),
    (lambda: jobsim.Debounce(perod="1m"),
     "Debounce() got an unknown keyword argument perod='1m' (did you mean period=?); "
     "accepted: period, key, timeout, mode"),
    (lambda: jobsim.Throttle(limit=1, period="1s", brust=2),
     "Throttle() got an unknown keyword argument brust=2 (did you mean burst=?); accepted: limit, period, key, burst"),
    (lambda: jobsim.RateLimit(limit=1, perid="1h"),
     "RateLimit() got an unknown keyword argument perid='1h' (did you mean period=?); accepted: limit, period, key"),
    (lambda: jobsim.Concurrency(limt=1),
     "Concurrency() got an unknown keyword argument limt=1 (did you mean limit=?); accepted: limit, key, scope"),
    (lambda: jobsim.Cancel("order/placed", if_="event.data.x == async.data.x"),
     "Cancel() got an unknown keyword argument if_='event.data.x == async.data.x' (did you mean if_exp=?); "
     "accepted: event, match, timeout, if_exp"),
    (lambda: jobsim.Timeouts(strat="1m"),
     "Timeouts() got an unknown keyword argument strat='1m' (did you mean start=?); accepted: start, finish"),
    (lambda: jobsim.Every("5m", ofset="1m"),
     "Every() got an unknown keyword argument ofset='1m' (did you mean offset=?); "
     "accepted: interval, offset, start, end, limit"),
]


@pytest.mark.parametrize("call, message", MISSPELT, ids=[m.split("(")[0] + "-" + str(i) for i, (_, m) in
                                                         enumerate(MISSPELT)])
def test_a_misspelt_keyword_of_a_constructor_names_the_one_meant(call, message):
    with pytest.raises(InvalidArgument) as info:
        call()
    assert str(info.value) == message
    assert info.value.__context__ is None or info.value.__suppress_context__  # no TypeError shown under it


def test_a_misspelt_keyword_of_sims_fault_methods_names_the_one_meant():
    with jobsim.Simulation(_app(), start=START) as sim:
        with pytest.raises(InvalidArgument, match=r"^sim\.fail\(\) got an unknown keyword argument time=2 \(did "
                                                  r"you mean times=\?\); accepted: function_id, step, times, error$"):
            sim.fail("charge", step="charge", time=2)
        with pytest.raises(InvalidArgument, match=r"^sim\.mail\.smtp_fail\(\) got an unknown keyword argument "
                                                  r"cod=550 \(did you mean code=\?\)"):
            sim.mail.smtp_fail(cod=550)
        with pytest.raises(InvalidArgument, match=r"^sim\.duplicate_delivery\(\) got an unknown keyword argument "
                                                  r"function_id='charge' \(did you mean function=\?\)"):
            sim.duplicate_delivery(function_id="charge")
        with pytest.raises(InvalidArgument, match=r"^replay\(\) got an unknown keyword argument compar=\['runs'\] "
                                                  r"\(did you mean compare=\?\)"):
            jobsim.Simulation.replay(sim.trace, _app(), compar=["runs"])


def test_the_checked_entry_points_still_work_and_raise_their_own_type_errors():
    """The check wraps only the binding: right calls work as before, and a TypeError raised inside is not renamed."""
    event = jobsim.Event("order/placed", {"orderId": "o1"}, id="pay-o1", ts=1_740_787_200_000, v="1", user={"a": 1})
    assert dataclasses.replace(event, id="other").id == "other"
    assert jobsim.Event("x").data == {}
    assert jobsim.Retries(attempts=3, backoff="linear", min="1s").backoff == "linear"
    with pytest.raises(TypeError, match=r"^Batch\(\) needs max_size=: "):
        jobsim.Batch(timeout="1s")  # a missing argument is named with an example, and still a TypeError
    with pytest.raises(TypeError, match="takes 2 positional arguments but 3 were given"):
        jobsim.App("shop", "extra")


# -- httpx.post(...) in job code: one TLS context, not one per call ---------------------------------
# The quick start's httpx.post makes a client per call, and httpx loads certifi's CA bundle for each
# (22 ms): a daily report that posted once took 7 s to simulate for eight months.

def _tls_context(client: httpx.Client) -> ssl.SSLContext:
    return client._transport._pool._ssl_context


@pytest.mark.skipif(not hasattr(httpx._transports.default, "create_ssl_context"), reason="httpx < 0.28")
def test_clients_made_while_a_simulation_runs_share_one_tls_context():
    app = jobsim.App("shop")
    contexts = []

    @app.function("report", on="report/due")
    def report(ctx):
        for _ in range(3):
            with httpx.Client() as client:  # what httpx.post(...) does on every call
                contexts.append(_tls_context(client))
                client.get("https://reports.example.com/daily")

    with jobsim.Simulation(app, start=START) as sim:
        sim.http.get("https://reports.example.com/daily").respond(200)
        sim.send("report/due")
        sim.run_until_idle()
        with httpx.Client(verify=False) as own:  # any other verify= is httpx's own, made for that client
            assert _tls_context(own) is not contexts[0] and _tls_context(own).verify_mode == ssl.CERT_NONE
    assert [c is contexts[0] for c in contexts] == [True, True, True]
    assert [call.response.status_code for call in sim.http.calls] == [200, 200, 200]
    with httpx.Client() as after:  # httpx is restored when the simulation closes
        assert _tls_context(after) is not contexts[0]


# -- a jittered retry on the timeline ---------------------------------------------------------------

def test_a_jittered_retry_shows_its_due_time_and_delay_to_the_millisecond():
    """Retries(jitter=) draws nanoseconds: the line read "attempt 1 at 12:00:36 (+36s888ms784125ns)" for a retry
    stamped 12:00:36.888 two lines down."""
    app = jobsim.App("hooks")

    @app.function("deliver", on="webhook/queued",
                  retries=jobsim.Retries(attempts=2, backoff="exponential", min="30s", jitter="10s"))
    def deliver(ctx):
        ctx.step.run("post", lambda: 1 / 0)

    with jobsim.Simulation(app, start="2025-03-03T12:00:00Z", seed=3) as sim:
        sim.send("webhook/queued")
        sim.run_until_idle()
    [retry] = sim.trace.of("retry")
    assert retry.data["delay"] % 1_000_000  # the drawn jitter has nanoseconds: the case this is about
    due = sim.runs("deliver")[0].attempts[1].started_at
    line = next(line for line in sim.timeline().splitlines() if "  retry  " in line)
    shown = line.split(" at ")[1]
    delay_ms = retry.data["delay"] // 1_000_000
    assert shown == f"{due:%H:%M:%S}.{due.microsecond // 1000:03d} (+{delay_ms // 1000}s{delay_ms % 1000}ms)"
    assert f"{due:%H:%M:%S}.{due.microsecond // 1000:03d}" in sim.timeline().splitlines()[-3]


def test_a_sleep_of_a_debounced_run_shows_its_end_to_the_millisecond():
    """A debounced run starts 1.05 s after its quiet period (Inngest's job): its sleep's line read "until ... 13:00:01"
    and the run woke at 13:00:01.050."""
    app = jobsim.App("shop")

    @app.function("remind", on="cart/updated", debounce=jobsim.Debounce(period="1h", key="event.data.cartId"))
    def remind(ctx):
        ctx.step.sleep("later", "23h")
        ctx.step.wait_for_event("paid", event="order/placed", timeout="1h")

    with jobsim.Simulation(app, start="2025-03-03T12:00:00Z") as sim:
        sim.send("cart/updated", {"cartId": "c1"})
        sim.run_until_idle()
    lines = sim.timeline().splitlines()
    assert any(line.endswith("sleep     remind#1 step 'later' until 2025-03-04 12:00:01.050 UTC") for line in lines)
    assert any(line.endswith("for order/placed until 2025-03-04 13:00:01.050 UTC") for line in lines)


# -- cancel_on and debounce: the run, and its cancellation, exist once the debounce fires --------------

def test_cancel_on_listens_from_when_a_debounced_run_is_created_as_the_readme_says():
    app = jobsim.App("shop")

    @app.function("remind", on="cart/updated", debounce=jobsim.Debounce(period="24h", key="event.data.cartId"),
                  cancel_on=[jobsim.Cancel("order/placed", match="data.cartId")])
    def remind(ctx):
        ctx.step.sleep("later", "1h")

    with jobsim.Simulation(app, start="2025-03-03T12:00:00Z") as sim:
        sim.send("cart/updated", {"cartId": "c1"})
        sim.send("cart/updated", {"cartId": "c2"})
        sim.advance("1h")
        sim.send("order/placed", {"cartId": "c1"})  # in the debounce period: no run yet, nothing to cancel
        sim.advance("23h30m")
        sim.send("order/placed", {"cartId": "c2"})  # the run sleeps: cancelled
        sim.run_until_idle()
    assert {run.event.data["cartId"]: run.status for run in sim.runs("remind")} == {"c1": "completed",
                                                                                   "c2": "cancelled"}


# -- functions= naming an on_failure handler ----------------------------------------------------------

def test_selecting_an_on_failure_handler_by_id_says_it_comes_with_its_function():
    """sim.runs('deliver-failure') lists the handler's runs, so a user selects it by that id too; the error listed the
    known ids, which do not hold it, and said nothing of why."""
    app = jobsim.App("hooks")

    @app.function("deliver", on="webhook/queued", on_failure=lambda ctx: None)
    def deliver(ctx):
        return 1

    with pytest.raises(InvalidArgument) as info:
        jobsim.Simulation(app, functions=["deliver", "deliver-failure"])
    assert str(info.value).endswith("known function ids: 'deliver'; 'deliver-failure' is the on_failure handler of "
                                    "'deliver', simulated with it: select 'deliver'")


# -- delayed(duration, status, json=...) --------------------------------------------------------------

def test_delayed_takes_a_body_beside_its_status_as_respond_does():
    """``route.respond(200, json=...)`` takes a body; ``delayed("3s", 200, json=...)`` raised Python's TypeError inside
    the side effect, which failed every attempt of the job with "unexpected keyword argument 'json'"."""
    app = jobsim.App("shop")

    @app.function("charge", on="order/placed")
    def charge(ctx):
        return ctx.step.run("charge", lambda: httpx.post("https://pay.example.com/charges").json()["id"])

    with jobsim.Simulation(app, start=START) as sim:
        sim.http.post("https://pay.example.com/charges").mock(
            side_effect=lambda request: jobsim.delayed("3s", 201, json={"id": "ch_1"}, headers={"X-Req": "1"}))
        sim.send("order/placed")
        sim.run_until_idle()
    [run] = sim.runs("charge")
    assert (run.output, (run.finished_at - run.started_at).total_seconds()) == ("ch_1", 3)
    [call] = sim.http.calls
    assert (call.response.status_code, call.response.headers["X-Req"]) == (201, "1")
    with pytest.raises(InvalidArgument, match=r"^delayed\(\) got an unknown keyword argument jsn=\{\} \(did you mean "
                                              r"json=\?\); accepted: duration, response, json, text, html, content"):
        jobsim.delayed("1s", 200, jsn={})
    with pytest.raises(InvalidArgument, match=r"^delayed\(\) got json= beside response=<Response \[200 OK\]>: a body"):
        jobsim.delayed("1s", httpx.Response(200), json={})


# -- replaying imported events: a failed run says why ------------------------------------------------

def test_the_replay_of_imported_events_says_why_a_run_failed(tmp_path):
    """The report listed 'daily-sales-report: 1 failed' and nothing more: the reason (no route for the reports API)
    took a `jobsim show` of the saved replay."""
    app = jobsim.App("shop")

    @app.function("report", on="order/placed", retries=0)
    def report(ctx):
        ctx.step.run("fetch", lambda: httpx.get("https://reports.example.com/daily").json())

    @app.function("ack", on="order/placed")
    def ack(ctx):
        return "ok"

    events = tmp_path / "export.jsonl"
    events.write_text('{"name": "order/placed", "data": {"orderId": "o1"}, "id": "e1", "ts": 1741003200000}\n')
    report_text = jobsim.Simulation.replay(events, app).report()
    assert report_text.splitlines()[-5:-2] == [
        "  report: 1 failed",
        "      the first failed at 2025-03-03T12:00:00.000Z: UnmatchedRequest: jobsim: no route matches GET "
        "https://reports.example.com/daily; the trace records no HTTP answers; add a route in the --app module's "
        "jobsim_s…",  # a replay's advice, not the test's sim.http.get(...) (test_ux37h_replay_unmatched.py)
        "  ack: 1 completed",
    ]


# -- a ctx.step call Python cannot bind fails at once, naming the keyword meant --------------------------

def test_a_step_call_with_a_misspelt_keyword_fails_at_once_naming_the_keyword_meant():
    """``timeot=`` raised Python's TypeError, which failed the attempt and was retried five times over five minutes of
    Inngest's backoff, each failing the same way; the message named neither the keyword meant nor the signature."""
    app = jobsim.App("shop")

    @app.function("onboarding", on="user/signed-up")
    def onboarding(ctx):
        ctx.step.wait_for_event("activated", event="user/activated", timeot="3d")

    @app.function("review", on="user/signed-up")
    async def review(ctx):
        await ctx.step.invoke("score", fn="onboarding")

    @app.function("positional", on="user/signed-up")
    def positional(ctx):
        ctx.step.wait_for_event("activated", "user/activated", timeout="3d")

    @app.function("own-type-error", on="user/signed-up", retries=1)
    def own_type_error(ctx):
        raise TypeError("Step.run() got an unexpected keyword argument, said the job")  # not Python's whole message

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("user/signed-up")
        sim.run_until_idle()
    errors = {run.function_id: (len(run.attempts), type(run.error).__name__, str(run.error)) for run in sim.runs()}
    assert errors == {
        "onboarding": (1, "StepMisuse", "ctx.step.wait_for_event() got an unknown keyword argument timeot= (did you "
                       "mean timeout=?); it takes ctx.step.wait_for_event(step_id, *, event, timeout, match=None, "
                       "if_exp=None)"),
        "review": (1, "StepMisuse", "ctx.step.invoke() got an unknown keyword argument fn= (did you mean function=?); "
                   "it takes ctx.step.invoke(step_id, *, function, data=None, timeout=None, v=None)"),
        "positional": (1, "StepMisuse", "ctx.step.wait_for_event() takes 2 positional arguments but 3 positional "
                       "arguments (and 1 keyword-only argument) were given; it takes ctx.step.wait_for_event(step_id, "
                       "*, event, timeout, match=None, if_exp=None)"),
        "own-type-error": (2, "TypeError", "Step.run() got an unexpected keyword argument, said the job"),
    }
    assert isinstance(sim.runs("onboarding")[0].error.__cause__, TypeError)  # Python's own error, under it


def test_a_backend_plugins_step_call_python_cannot_bind_stays_its_type_error():
    """A plugin's own ``ctx.step`` (inngest-py's class is called ``Step`` too) has its own signature, and on the real
    system that TypeError is retried: only jobsim's own functions get the StepMisuse."""
    app = jobsim.App("shop")

    class Step:  # what an adapted inngest-py handler calls
        def wait_for_event(self, step_id, *, event, if_exp=None, timeout):
            return None

    @app.function("native", on="user/signed-up", retries=1)
    def native(ctx):
        Step().wait_for_event("activated", event="user/activated", timeot="3d")

    app.functions["native"] = dataclasses.replace(app.functions["native"],
                                                  options={**app.functions["native"].options, "native": Step})
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("user/signed-up")
        sim.run_until_idle()
    [run] = sim.runs("native")
    assert (len(run.attempts), type(run.error)) == (2, TypeError)


def test_a_timing_divergence_of_a_jittered_retry_reads_to_the_millisecond():
    """The report said "979ms509296ns later in the replay" beside instants shown as .780 and .760."""
    def build(minimum: str) -> jobsim.App:
        app = jobsim.App("hooks")

        @app.function("deliver", on="webhook/queued",
                      retries=jobsim.Retries(attempts=2, backoff="exponential", min=minimum, jitter="10s"))
        def deliver(ctx):
            ctx.step.run("post", lambda: 1 / 0)

        return app

    with jobsim.Simulation(build("30s"), start="2025-03-03T12:00:00Z", seed=3) as sim:
        sim.send("webhook/queued")
        sim.run_until_idle()
    result = jobsim.Simulation.replay(sim.trace, build("30.5s"), compare=["timing"])
    assert not result.same
    assert "retry 1 due step 'post' of run #1: 500ms later in the replay" in result.report()
    with jobsim.Simulation(build("30s"), start="2025-03-03T12:00:00Z", seed=3) as other:
        other.fail("deliver", step="post", times=1, error=jobsim.RetryAfterError("45s"))  # 45 s flat, no jitter
        other.send("webhook/queued")
        other.run_until_idle()
    [retry] = sim.trace.of("retry")
    apart = 45_000_000_000 - retry.data["delay"]
    assert apart % 1_000_000  # nanoseconds apart: the case this is about
    rounded = (apart + 500_000) // 1_000_000
    report = traces.compare(sim.trace, other.trace, compare=["timing"]).report()
    assert f"retry 1 due step 'post' of run #1: {rounded // 1000}s{rounded % 1000}ms later in B" in report


# -- run.steps with a mistyped step id ----------------------------------------------------------------

def test_a_missing_step_id_names_the_steps_the_run_has():
    """``run.steps["chrage"]`` in a test's assertion raised ``KeyError: 'chrage'``, naming neither the run's steps nor
    the one meant."""
    with jobsim.Simulation(_app(), start=START) as sim:
        sim.send("order/placed")
        sim.run_until_idle()
    [run] = sim.runs("charge")
    assert run.steps["charge"].output == "charged" and list(run.steps) == ["charge"]
    with pytest.raises(KeyError) as info:
        run.steps["chrage"]
    assert isinstance(info.value, jobsim.JobsimError)
    assert str(info.value) == (f"run {run.id} of 'charge' has no step 'chrage' (did you mean 'charge'?); "
                               "its steps: 'charge'")
    assert run.steps.get("chrage") is None and "chrage" not in run.steps  # the rest of the dict is a dict's


# -- a cron tick on a timeline of another zone names its own ----------------------------------------------

def test_a_cron_tick_names_its_zone_on_a_timeline_in_another():
    """``jobsim run`` prints in UTC: "daily-sales-report fires (0 9 * * *)" at 14:00 read as a schedule gone wrong."""
    app = jobsim.App("shop")

    @app.function("daily-sales-report", cron="0 9 * * *", tz="America/New_York")
    def report(ctx):
        return 1

    @app.function("hourly", cron="0 * * * *")
    def hourly(ctx):
        return 1

    with jobsim.Simulation(app, start="2025-03-03T13:30:00Z") as sim:
        sim.advance("1h")
    utc = [line.split("  ", 1)[1] for line in sim.timeline().splitlines() if "  cron  " in line]
    assert utc == ["cron      daily-sales-report fires (0 9 * * * in America/New_York)",
                   "cron      hourly fires (0 * * * *)"]
    local = [line for line in sim.timeline(tz="America/New_York").splitlines() if "  cron  " in line]
    assert local[0].endswith("EST  cron      daily-sales-report fires (0 9 * * *)")
    assert [r.data.get("tz") for r in sim.trace.of("cron")] == ["America/New_York", None]  # UTC: no field


@pytest.mark.parametrize("python_says", [
    "Step.wait_for_event() got an unexpected keyword argument 'timeot'",  # 3.10 to 3.12
    "Step.wait_for_event() got an unexpected keyword argument 'timeot'. Did you mean 'timeout'?",  # 3.13
])
def test_the_step_misuse_reads_pythons_message_of_each_version(python_says):
    from jobsim._steps import misused_step

    misuse = misused_step(TypeError(python_says))
    assert isinstance(misuse, jobsim.StepMisuse)
    assert str(misuse).startswith("ctx.step.wait_for_event() got an unknown keyword argument timeot= (did you mean "
                                  "timeout=?); it takes")


@pytest.mark.parametrize("call, message", [
    (lambda sim: sim.advance("1s", max_item=3), "sim.advance() got an unknown keyword argument max_item=3 (did you "
                                                "mean max_items=?); accepted: by, max_items"),
    (lambda sim: sim.advance_to("2025-03-02", max_itmes=1), "sim.advance_to() got an unknown keyword argument "
                                                            "max_itmes=1 (did you mean max_items=?); accepted: at, "
                                                            "max_items"),
    (lambda sim: sim.run_until_idle(max_tme="1d"), "sim.run_until_idle() got an unknown keyword argument "
                                                    "max_tme='1d' (did you mean max_time=?); accepted: max_time, "
                                                    "max_items"),
])
def test_a_misspelt_keyword_of_a_driving_call_names_the_one_meant(call, message):
    with jobsim.Simulation(_app(), start=START) as sim:
        with pytest.raises(InvalidArgument) as info:
            call(sim)
        assert str(info.value) == message
        assert sim.now == jobsim.Simulation(_app(), start=START).now  # nothing ran

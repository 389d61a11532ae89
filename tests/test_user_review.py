"""Mistakes a new user makes, from a review written as one: each now gets a jobsim error naming it and the fix."""

import pytest

import jobsim
from jobsim import InvalidArgument, Retries, StepMisuse
from jobsim._joberrors import failed_run_tracebacks

pytest_plugins = ["pytester"]

START = "2025-03-01T00:00:00Z"
ONCE = Retries(attempts=3, backoff="constant", min="1s")


# -- an event's ts given in seconds ------------------------------------------------------------


def _reminders() -> jobsim.App:
    app = jobsim.App("shop")

    @app.function("remind", on="reminder/scheduled")
    def remind(ctx):
        return ctx.event.data["user"]

    @app.function("sync-doc", on="doc/edited", debounce=jobsim.Debounce(period="5m", key="event.data.docId"))
    def sync_doc(ctx):
        return ctx.event.data["rev"]

    return app


def test_a_ts_in_seconds_is_refused_naming_the_milliseconds_to_give():
    """``ts=int(time.time())`` is a day of 1971 in milliseconds: the future-ts run started at once, in silence."""
    with jobsim.Simulation(_reminders(), start=START) as sim:
        in_5_minutes = sim.now_ns() // 1_000_000_000 + 300  # seconds: the mistake
        with pytest.raises(InvalidArgument) as info:
            sim.send(jobsim.Event("reminder/scheduled", {"user": "u1"}, ts=in_5_minutes))
        assert str(info.value) == (
            "ts=1740787500 is not valid: an event's ts is milliseconds since the epoch, as on Inngest; 1740787500 "
            "reads as seconds (2025-03-01T00:05:00.000Z), while as milliseconds it is 1970-01-21T03:33:07.500Z and "
            "the simulation is at 2025-03-01T00:00:00.000Z: give ts=1740787500000 (e.g. sim.now_ns() // 1_000_000 "
            "for now)"
        )
        assert sim.events == []
        sim.send("reminder/scheduled", {"user": "u1"}, ts=in_5_minutes * 1000)  # the fix it names
        sim.run_until_idle()
        assert [r.start_ns - sim.runs("remind")[0].event.ts * 1_000_000 for r in sim.runs("remind")] == [0]


def test_a_ts_in_seconds_is_refused_from_job_code_and_in_a_delayed_send():
    """A debounce drops an event older than the one it holds: one stamped in seconds was lost in silence."""
    app = _reminders()

    @app.function("edit", on="doc/save", retries=1)
    def edit(ctx):
        app.send("doc/edited", {"docId": "d1", "rev": 2}, ts=1_740_787_200)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("doc/save")
        sim.run_until_idle()
        [run] = sim.runs("edit")
        assert run.status == "failed" and "reads as seconds" in str(run.error)
    with jobsim.Simulation(_reminders(), start=START, profile="bullmq") as sim, \
            pytest.raises(InvalidArgument, match=r"give ts=1740787200000 "):
        sim.send("doc/edited", {"docId": "d1"}, delay="1m", ts=1_740_787_200)


def test_a_ts_in_the_early_1970s_is_taken_as_is_while_the_clock_is_there_too():
    """An import of events stamped in seconds replays at those 1970s times: not refused then."""
    with jobsim.Simulation(_reminders(), start=100_000) as sim:  # 1970-01-02
        sim.send(jobsim.Event("reminder/scheduled", {"user": "u1"}, ts=200_000_000))
        sim.run_until_idle()
        assert sim.runs("remind")[0].start_ns == 200_000_000 * 1_000_000
    with jobsim.Simulation(_reminders(), start=START) as sim:  # milliseconds outside that range: as given
        sim.send(jobsim.Event("reminder/scheduled", {"user": "u1"}, ts=99_999_999))
        sim.run_until_idle()
        assert sim.runs("remind")[0].status == "completed"


# -- an async step called without await names the method to await ------------------------------


def test_an_unawaited_parallel_group_or_sleep_names_that_method():
    app = jobsim.App("shop")

    @app.function("group", on="go", retries=ONCE)
    async def group(ctx):
        ctx.step.parallel([lambda: ctx.step.run("a", lambda: 1), lambda: ctx.step.run("b", lambda: 2)])

    @app.function("nap", on="go", retries=ONCE)
    async def nap(ctx):
        ctx.step.sleep("cool-off", "1h")
        ctx.step.run("charge", lambda: 1)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    assert [str(a.error) for a in sim.runs("group")[0].attempts] == [
        "ctx.step.parallel([...]) was called without `await` in async function 'group', so its code never ran: "
        "write `await ctx.step.parallel(...)` (every ctx.step method of an async handler is awaited)"
    ]
    assert [str(a.error) for a in sim.runs("nap")[0].attempts] == [
        "step 'cool-off', step 'charge' was called without `await` in async function 'nap', so its code never "
        "ran: write `await ctx.step.sleep(...)` and `await ctx.step.run(...)` (every ctx.step method of an async "
        "handler is awaited)"
    ]


def test_parallel_given_step_results_instead_of_callables_says_to_wrap_them_and_is_not_retried():
    app = jobsim.App("shop")

    @app.function("checkout", on="go", retries=ONCE)
    def checkout(ctx):
        return ctx.step.parallel([ctx.step.run("reserve", lambda: "r"), ctx.step.run("quote", lambda: "q")])

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    run = sim.runs("checkout")[0]
    assert run.status == "failed" and isinstance(run.error, StepMisuse)
    assert [a.step for a in run.attempts].count(None) == 1  # the body failed once: a retry would fail again
    assert str(run.error).startswith(
        "callables=['r', 'q'] is not valid: every item must be callable; 'r' is not: wrap each step in a lambda, "
        "[lambda: ctx.step.run('a', a), lambda: ctx.step.run('b', b)], so that parallel calls it"
    )


# -- a route whose URL lacks its scheme ---------------------------------------------------------


@pytest.mark.parametrize("url", ["api.example.com/v1/charge", "localhost:8000/hook", "api.example.com"])
def test_a_route_url_without_a_scheme_is_refused_where_declared(url):
    """respx read it as a path no request has: every call failed as unmatched beside a route made for it."""
    app = jobsim.App("shop")
    app.function("noop", on="go")(lambda ctx: None)
    with jobsim.Simulation(app, start=START) as sim:
        with pytest.raises(InvalidArgument) as info:
            sim.http.post(url)
        assert str(info.value) == (
            f"url={url!r} is not valid: it has no scheme, so respx reads it as the path '/{url}', which no request "
            f"has; write 'https://{url}' (or http://), or a path starting with '/' to match it on any host"
        )
        with pytest.raises(InvalidArgument, match="it has no scheme"):
            sim.http.route(url__startswith=url)
        sim.http.post("/v1/charge").respond(200)  # a path alone still matches on any host
        sim.http.post("https://" + url).respond(201)
        assert len(sim.http.router.routes) == 2


# -- a misspelt marker option ------------------------------------------------------------------


def test_a_misspelt_marker_option_names_the_option_meant(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "import jobsim, pytest\n"
        "app = jobsim.App('a')\n"
        "app.function('f', on='x')(lambda ctx: None)\n"
        "@pytest.fixture\n"
        "def jobsim_app():\n"
        "    return app\n"
    )
    pytester.makepyfile(
        "import pytest\n"
        "@pytest.mark.jobsim(strat='2025-03-01T00:00:00Z', timezone='UTC', colour=1)\n"
        "def test_x(jobsim):\n"
        "    pass\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "jobsim: @pytest.mark.jobsim got unknown option(s) colour, strat (did you mean start=?), timezone (did you "
        "mean tz=?); it accepts start, tz, seed, profile, functions, exclude_functions, max_chain, random_streams, "
        "allow_unmatched_http"
    ])


# -- the report's traceback of an error jobsim raised under job code ----------------------------


def test_the_report_cuts_the_library_frames_below_the_jobs_own_call():
    """An unmatched request's traceback ran 13 frames through httpx, respx and jobsim past the job's line."""
    import httpx

    app = jobsim.App("shop")

    @app.function("webhook", on="order/paid", retries=1)
    def webhook(ctx):
        return ctx.step.run("deliver", lambda: httpx.post("https://hooks.partner.test/orders").status_code)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/paid")
        sim.run_until_idle()
    lines = failed_run_tracebacks(sim)
    assert lines[0] == "webhook#1 failed in step 'deliver', attempt 1:"
    assert 'httpx.post("https://hooks.partner.test/orders")' in lines[3]
    assert lines[4:] == [
        f"      ... {_frames_below(sim)} frame(s) of httpx, respx and jobsim below, where jobsim "
        "raised it",
        "    jobsim._http.UnmatchedRequest: jobsim: no route matches POST https://hooks.partner.test/orders; add one "
        "with sim.http.post('https://hooks.partner.test/orders').respond(200)",
    ]
    full = sim.runs("webhook")[0].attempts[1].traceback  # the attempt keeps it whole
    assert "httpx/_client.py" in full and "respx" in full


def test_the_report_keeps_a_traceback_whole_when_job_code_raised_it():
    app = jobsim.App("shop")

    @app.function("charge", on="go", retries=1)
    def charge(ctx):
        return ctx.step.run("charge", lambda: {}["card"])

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("go")
        sim.run_until_idle()
    lines = failed_run_tracebacks(sim)
    assert lines[-1] == "    KeyError: 'card'" and not any("frame(s) of" in line for line in lines)


def _frames_below(sim):
    """Frames between the job's own last frame and where UnmatchedRequest was raised."""
    import traceback

    error = sim.runs("webhook")[0].attempts[1].error
    frames = [frame.f_code.co_filename for frame, _ in traceback.walk_tb(error.__traceback__)]
    own = max(index for index, name in enumerate(frames) if name == __file__)
    return len(frames) - own - 1


# -- a target no plugin adapts ----------------------------------------------------------------


def test_an_unadapted_target_lists_backend_plugins_only_not_the_pytest_plugins_note_taker():
    """Under pytest the list read 'installed plugins: 140182148030864, apscheduler, ...'."""
    import re

    from jobsim import _plugins
    from jobsim._started import Started

    started = Started()
    _plugins.register(started)  # as the pytest plugin registers it: without a name
    try:
        with pytest.raises(InvalidArgument) as info:
            jobsim.Simulation(object())  # a str is named as an import path now
    finally:
        _plugins.unregister(started)
    listed = re.search(r"(installed plugins: [^;]*|no backend plugin is installed)", str(info.value))
    assert listed and not re.search(r"\b\d+\b", listed[1]), listed


def test_a_job_function_passed_as_a_target_is_named_so_without_install_notes_for_installed_plugins():
    """``jobsim.Simulation(sync_account)`` (the RQ job function, not its queue): the refusal listed every plugin's
    ``pip install -e plugins/jobsim-rq for RQ queues`` though all were installed, and said nothing about the function
    (the trial32 user trial's)."""
    from jobsim import _plugins

    def sync_account(account_id):
        return account_id

    with pytest.raises(InvalidArgument) as info:
        jobsim.Simulation(sync_account)
    said = str(info.value)
    assert "a job function is no target: pass what runs it" in said
    for name in _plugins.plugin_names():
        assert f"pip install -e plugins/jobsim-{name} " not in said, name
    assert "plugins/jobsim-" not in said or "from a jobsim checkout" in said


# -- a test that sends and never drives the clock ---------------------------------------------


def _welcome() -> jobsim.App:
    app = jobsim.App("acme")

    @app.function("send-welcome-email", on="user/created")
    def welcome(ctx):
        return ctx.event.data["email"]

    return app


def test_closing_with_sent_work_never_run_warns_naming_the_driving_calls():
    """``assert sim.mail.outbox == []`` right after a send passed because nothing had run yet."""
    with pytest.warns(jobsim.PendingWorkWarning) as caught, jobsim.Simulation(_welcome(), start=START) as sim:
        sim.send("user/created", {"email": "ada@example.com"})
        assert sim.mail.outbox == []  # the mistake: no advance, so the job never ran
    assert [str(w.message) for w in caught] == [
        "the simulation closed at 2025-03-01T00:00:00.000Z with 1 item(s) of work due that never ran "
        "(send-welcome-email), queued by the test (sim.send, or a backend's enqueue: actor.send, queue.enqueue, "
        "scheduler.add_job, ...) after the last driving call: sending only queues, and runs start "
        "at the next sim.advance(...) or sim.run_until_idle(); call one before asserting (advance(0) runs what is "
        "due now)"
    ]
    assert caught[0].filename == __file__  # at the test's `with` line
    assert [r.status for r in sim.runs("send-welcome-email")] == ["queued"]
    app = _welcome()
    with pytest.warns(jobsim.PendingWorkWarning), jobsim.Simulation(app, start=START):
        app.send("user/created", {"email": "ada@example.com"})  # the app's own send, from the test


def test_no_pending_work_warning_once_driven_for_later_work_or_when_the_block_failed(recwarn):
    with jobsim.Simulation(_welcome(), start=START) as sim:
        sim.send("user/created", {"email": "ada@example.com"})
        sim.advance(0)
    with jobsim.Simulation(_welcome(), start=START, profile="bullmq") as sim:
        sim.advance("1m")
        sim.send("user/created", {"email": "ada@example.com"}, delay="1h")  # due later: the test's business
    with pytest.raises(KeyError), jobsim.Simulation(_welcome(), start=START) as sim:
        sim.send("user/created", {"email": "ada@example.com"})
        raise KeyError("the test's own failure is the news")
    with jobsim.Simulation(_welcome(), start=START) as sim:
        sim.send("nobody/listens")
    assert [w.message for w in recwarn if issubclass(w.category, jobsim.PendingWorkWarning)] == []


# -- an invoke of a function id the simulation does not have ------------------------------------


def test_an_invoke_of_an_unknown_function_id_fails_the_run_at_once_listing_the_ids():
    """A typo in the id went through the whole backoff (Inngest's: 5 attempts over minutes) to the same error."""
    app = jobsim.App("shop")

    @app.function("checkout", on="cart/checkout", retries=ONCE)
    def checkout(ctx):
        return ctx.step.invoke("total", function="compute-totl", data={"prices": [1, 2]})

    @app.function("compute-total", on="cart/total")
    def compute_total(ctx):
        return sum(ctx.event.data["prices"])

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("cart/checkout")
        sim.run_until_idle()
    run = sim.runs("checkout")[0]
    assert (run.status, len(run.attempts), type(run.error)) == ("failed", 1, StepMisuse)
    assert str(run.error) == (
        "function='compute-totl' is not valid: one of the simulated function ids: 'checkout', 'compute-total'"
    )


# -- an ignore pattern whose kind is in neither trace -----------------------------------------


def test_an_ignore_pattern_with_a_misspelt_kind_names_the_kind_meant(tmp_path):
    """``ignore=["emails:subject"]`` matched nothing, and the note did not say that no record is of that kind."""
    import smtplib
    from email.message import EmailMessage

    from jobsim import traces

    app = jobsim.App("acme")

    @app.function("welcome", on="user/created")
    def welcome(ctx):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "hi@acme.test", ctx.event.data["email"], "Welcome!"
        message.set_content("Hello")
        with smtplib.SMTP("smtp.acme.test") as smtp:
            smtp.send_message(message)

    with jobsim.Simulation(app, start=START) as sim:
        sim.send("user/created", {"email": "ada@example.com"})
        sim.run_until_idle()
    path = sim.trace.save(tmp_path / "welcome.jobsim.jsonl")
    result = traces.compare(path, path, ignore=["emails:subject", "email:subject", "e*:nothing"])
    assert result.notes == [
        "--ignore 'emails:subject' matched nothing: no record of kind 'emails' is in either trace; did you mean "
        "'email'?",
        "--ignore 'e*:nothing' matched nothing",
    ]


# -- a side-effect function that returns jobsim.delayed(...) or jobsim.timeout() ----------------


def test_a_side_effect_function_may_return_a_scripted_delay_or_timeout_chosen_per_request():
    """It was refused as 'not an httpx.Response', though side_effect=jobsim.delayed(...) itself works."""
    import asyncio

    import httpx

    app = jobsim.App("quotes")

    def latency(request):  # a slow carrier, a fast one, and one that never answers
        carrier = request.url.path.strip("/")
        if carrier == "never":
            return jobsim.timeout(after="10s")
        return jobsim.delayed("5s" if carrier == "slow" else "1s", httpx.Response(200, json={"carrier": carrier}))

    @app.function("quote-sync", on="go", retries=1)
    def quote_sync(ctx):
        return ctx.step.run("ask", lambda: [httpx.get(f"https://rates.test/{c}").json()["carrier"]
                                            for c in ("slow", "fast")])

    @app.function("quote-async", on="go", retries=1)
    async def quote_async(ctx):
        async def ask():
            async with httpx.AsyncClient() as client:
                answers = await asyncio.gather(*(client.get(f"https://rates.test/{c}") for c in ("slow", "fast")),
                                               return_exceptions=False)
                return [a.json()["carrier"] for a in answers]
        return await ctx.step.run("ask", ask)

    @app.function("quote-never", on="go", retries=1)
    def quote_never(ctx):
        return ctx.step.run("ask", lambda: httpx.get("https://rates.test/never").status_code)

    with jobsim.Simulation(app, start=START) as sim:
        sim.http.get(url__regex=r"https://rates\.test/\w+").mock(side_effect=latency)
        sim.send("go")
        sim.run_until_idle()
    spent = {fn: (run.finished_at - run.started_at).total_seconds()
             for fn in ("quote-sync", "quote-async") for run in sim.runs(fn)}  # fmt: skip
    assert [sim.runs(fn)[0].output for fn in ("quote-sync", "quote-async")] == [["slow", "fast"]] * 2
    assert spent == {"quote-sync": 6.0, "quote-async": 5.0}  # one after the other; side by side on the loop
    never = sim.runs("quote-never")[0]
    assert never.status == "failed" and isinstance(never.attempts[0].error, httpx.ReadTimeout)
    assert (never.attempts[0].finished_at - never.attempts[0].started_at).total_seconds() == 10


# -- the module instead of its app, or a fixture without its return ----------------------------


def test_a_module_or_none_as_the_target_is_named_for_what_it_is():
    """Both got the backend plugins' install notes, which do not help with either."""
    import types

    jobs = types.ModuleType("jobs")
    jobs.app = _welcome()
    with pytest.raises(InvalidArgument) as info:
        jobsim.Simulation(jobs)
    assert str(info.value) == ("targets=<module 'jobs'> is not valid: a jobsim.App, not the module holding it: "
                               "pass jobs.app")
    with pytest.raises(InvalidArgument) as info:
        jobsim.Simulation(None)
    assert str(info.value) == ("targets=None is not valid: a jobsim.App; None is what a jobsim_app fixture or a "
                               "factory without `return app` gives")
    empty = types.ModuleType("empty")
    with pytest.raises(InvalidArgument, match="a target a backend plugin adapts"):  # no app in it: as before
        jobsim.Simulation(empty)


def test_a_class_as_the_target_is_named_as_a_class():
    """``Simulation(Celery)`` got the install note of a plugin that is installed: the class is not the app."""
    with pytest.raises(InvalidArgument) as info:
        jobsim.Simulation(jobsim.App)
    assert str(info.value) == ("targets=<class 'jobsim._app.App'> is not valid: an instance, not the class: pass "
                               "the jobsim.App your code uses (the x of `x = App(...)`)")

    class Broker:
        pass

    with pytest.raises(InvalidArgument, match=r"an instance, not the class: pass the .*Broker your code uses"):
        jobsim.Simulation(Broker)
    with pytest.raises(InvalidArgument, match="a target a backend plugin adapts"):  # an instance: as before
        jobsim.Simulation(Broker())


def test_a_factory_or_an_import_path_as_the_target_is_named_for_what_it_is():
    """A jobsim_app fixture returning make_app (js.simulations takes one) or "jobs:app" got the install notes."""
    def make_app():
        return _welcome()

    with pytest.raises(InvalidArgument) as info:
        jobsim.Simulation(make_app)
    assert str(info.value).endswith(" is not valid: a jobsim.App, not a function that builds one: call make_app() "
                                    "and pass what it returns (js.simulations takes such a function)")
    with pytest.raises(InvalidArgument) as info:
        jobsim.Simulation("jobs:app")
    assert str(info.value) == ("targets='jobs:app' is not valid: a jobsim.App itself, not its name or import path: "
                               "import it (from jobs import app) and pass app")
    with pytest.raises(InvalidArgument, match="a target a backend plugin adapts"):  # it takes an argument: as before
        jobsim.Simulation(lambda ctx: None)


# -- Inngest's wildcard triggers ----------------------------------------------------------------


def test_a_wildcard_where_inngest_has_none_is_refused_where_declared_not_left_to_match_nothing():
    """``on="user*"`` would be taken as an event name no event has: the function would never run, in silence."""
    app = jobsim.App("etl")
    with pytest.raises(InvalidArgument) as info:
        app.function("forward", on=["billing/paid", "user*"])(lambda ctx: None)
    assert str(info.value) == (
        "on=['billing/paid', 'user*'] is not valid: 'user*' puts a '*' where Inngest has no wildcard: a wildcard "
        "ends the name, right after a '/' or '.', e.g. on='app/*' (every app/... event) or on='app/user.*'; "
        "mid-word and mid-pattern wildcards ('app/user.update*', 'app/*.published') are not supported"
    )
    assert app.functions == {}


def test_a_backend_plugins_misplaced_wildcard_is_refused_when_the_simulation_is_built():
    import dataclasses

    app = jobsim.App("etl")
    forward = app.function("forward", on="user/created")(lambda ctx: None)
    app.functions["forward"] = dataclasses.replace(forward, events=("app/*.created",))  # as a plugin may build it
    message = r"events=\['app/\*\.created'\] is not valid: 'app/\*\.created' puts a '\*'"
    with pytest.raises(InvalidArgument, match=message):
        jobsim.Simulation(app)


# -- a duration that does not parse says what it was probably meant as -------------------------


@pytest.mark.parametrize(("given", "why"), [
    ("5 Mins", "units are lower case, as vercel/ms reads them: '5 mins'"),
    ("5 minuets", "'minuets' is not a unit (did you mean 'minutes'?)"),
    ("PT5M", "an ISO 8601 duration is not read: write its parts with units, e.g. 'PT1H30M' as '1h30m'"),
    ("00:05:00", "a clock reading is not read as a duration: write it with units, e.g. '00:05:00' as '5m'"),
    ("3 months", "a month has no fixed length, so it is not a unit: give days, e.g. '30d'"),
    ("1h30", "every number needs its unit: '1h30' ends in a bare number ('1h30m'?)"),
    ("1,5h", "a decimal is written with a point, not a comma: '1.5h'"),  # the trial32 user trial's
    ("2,5 days", "a decimal is written with a point, not a comma: '2.5 days'"),
    ("1d-2h", "a duration does not subtract: write the total, '22h'"),
    ("1d - 2h", "a duration does not subtract: write the total, '22h'"),
    ("-1h-5m", "a duration does not subtract, and '-1h-5m' would come to -1h5m, not a length"),
    ("+5m", "parts are written side by side, with no '+': '5m'"),
    ("1h+30m", "parts are written side by side, with no '+': '1h30m'"),
    ("-5m", "a length of time is never negative: '5m', if that length was meant"),
    (-90, "a length of time is never negative: 90, if that length was meant"),
])
def test_a_duration_that_does_not_parse_says_what_it_was_probably_meant_as(given, why):
    with pytest.raises(InvalidArgument) as info:
        Retries(attempts=3, min=given)
    assert str(info.value) == (
        f"min={given!r} is not valid: expected a duration such as '500ms', '30s', '5m', '1h30m', '7d', '2 weeks', a "
        f"timedelta, or a number of seconds, not negative; {why}"
    )


def test_a_duration_nothing_resembles_keeps_the_plain_message():
    with pytest.raises(InvalidArgument) as info:
        Retries(attempts=3, min="3 fortnights")
    assert str(info.value).endswith("or a number of seconds, not negative")


# -- NaN and Infinity in event data -----------------------------------------------------------


def test_nan_or_infinity_in_event_data_is_refused_at_the_send_not_turned_into_null():
    """orjson wrote them as null: the job read None where the test sent a number; inngest-py refuses them."""
    app = _welcome()

    @app.function("app-send", on="go", retries=1)
    def app_send(ctx):
        app.send("metrics/recorded", {"latency": [0.2, float("inf")]})

    with jobsim.Simulation(app, start=START) as sim:
        with pytest.raises(InvalidArgument) as info:
            sim.send("user/created", {"email": "ada@example.com", "score": float("nan")})
        assert str(info.value) == (
            "data={'email': 'ada@example.com', 'score': nan} is not valid: event data must be JSON, and NaN and "
            "Infinity are not: inngest-py's client (httpx) refuses them when it sends the event; send None (or a "
            "string) for a missing number"
        )
        with pytest.raises(InvalidArgument, match="NaN and Infinity are not"):
            sim.send(jobsim.Event("user/created", {"email": "ada@example.com", "nested": {"x": float("-inf")}}))
        sim.send("user/created", {"email": "ada@example.com", "score": None})  # a null of its own is fine
        sim.send("go")
        sim.run_until_idle()
        assert [(e.name, e.data.get("score", "-")) for e in sim.events][:2] == [("user/created", None), ("go", "-")]
        assert "metrics/recorded" not in [e.name for e in sim.events]
        assert "NaN and Infinity are not" in str(sim.runs("app-send")[0].error)


# -- an assert in a route's side effect --------------------------------------------------------


@pytest.mark.parametrize("client", ["httpx", "httpx-async", "requests"])
def test_an_assert_in_a_side_effect_fails_the_test_instead_of_the_attempt(client):
    """The test's check of the request became a failed attempt, retried, and the test passed."""
    import httpx
    import requests

    app = jobsim.App("hooks")

    async def send_async():
        async with httpx.AsyncClient() as http:
            return (await http.post("https://hooks.test/x", headers={"Authorization": "Bearer old"})).status_code

    if client == "httpx-async":
        @app.function("notify", on="go")
        async def notify_async(ctx):
            return await ctx.step.run("post", send_async)
    else:
        post = httpx.post if client == "httpx" else requests.post

        @app.function("notify", on="go")
        def notify(ctx):
            return ctx.step.run("post", lambda: post("https://hooks.test/x",
                                                     headers={"Authorization": "Bearer old"}).status_code)

    def check(request):
        assert request.headers["Authorization"] == "Bearer new", "the job sent the old token"
        return httpx.Response(200)

    with pytest.raises(AssertionError, match="the job sent the old token"), \
            jobsim.Simulation(app, start=START) as sim:
        sim.http.post("https://hooks.test/x").mock(side_effect=check)
        sim.send("go")
        sim.run_until_idle()
    assert [len(run.attempts) for run in sim.runs("notify")] == [0]  # stopped there: never retried


def test_an_exception_a_side_effect_raises_still_reaches_the_job():
    import httpx

    app = jobsim.App("hooks")

    @app.function("notify", on="go", retries=ONCE)
    def notify(ctx):
        return ctx.step.run("post", lambda: httpx.post("https://hooks.test/x").status_code)

    def outage(request):
        raise httpx.ConnectError("scripted outage", request=request)

    with jobsim.Simulation(app, start=START) as sim:
        sim.http.post("https://hooks.test/x").mock(side_effect=outage)
        sim.send("go")
        sim.run_until_idle()
    assert [type(a.error) for a in sim.runs("notify")[0].steps["post"].attempts] == [httpx.ConnectError] * 3


# -- the jobsim fixture and a Simulation of the same app ----------------------------------------


def test_a_simulation_of_the_fixtures_app_says_the_fixture_runs_it(pytester: pytest.Pytester) -> None:
    """'close that one first' could not be followed: the test does not hold the fixture's simulation to close."""
    pytester.makeconftest(
        "import jobsim, pytest\n"
        "app = jobsim.App('acme')\n"
        "app.function('f', on='x')(lambda ctx: None)\n"
        "@pytest.fixture\n"
        "def jobsim_app():\n"
        "    return app\n"
    )
    pytester.makepyfile(
        "import jobsim as js\n"
        "from conftest import app\n"
        "def test_x(jobsim):\n"
        "    with js.Simulation(app, seed=3):\n"
        "        pass\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["E * jobsim.errors.JobsimError: app 'acme' is already running in the `jobsim` "
                                 "fixture's simulation (<Simulation at *>): a test that takes the `jobsim` fixture "
                                 "uses that simulation (options by @pytest.mark.jobsim(...)); to build your own "
                                 "jobsim.Simulation of the app, leave the fixture out of the test's arguments"])


# -- a batch's if_ as a one-argument predicate --------------------------------------------------


def test_a_batch_condition_may_be_a_callable_of_the_event():
    """``if_=lambda event: ...`` was refused as '(event, candidate) -> bool (too many positional arguments)'."""
    app = jobsim.App("digest")

    @app.function("digest", on="note", batch=jobsim.Batch(max_size=3, timeout="10s", if_=lambda e: e.data["bulk"]))
    def digest(ctx):
        return [e.data["n"] for e in ctx.events]

    with jobsim.Simulation(app, start=START) as sim:
        for n, bulk in enumerate((True, False, True, True)):
            sim.send("note", {"n": n, "bulk": bulk})
        sim.run_until_idle()
    assert sorted(r.output for r in sim.runs("digest")) == [[0, 2, 3], [1]]  # the urgent one at once, alone
    with pytest.raises(InvalidArgument, match=r"if_=.* is not valid: a callable event -> bool \(or \(event, "
                                              r"candidate\) -> bool\)"):
        jobsim.Batch(max_size=2, timeout="1s", if_=lambda: True)
    assert jobsim.Batch(max_size=2, timeout="1s", if_=lambda e, c: True).if_fn is not None  # both forms


# -- a plain value where a strategy goes --------------------------------------------------------


def test_a_plain_value_where_a_strategy_goes_names_st_just():
    from jobsim import strategies as js

    with pytest.raises(InvalidArgument) as info:
        js.event_streams({"order/placed": {"orderId": "o1"}})
    assert str(info.value) == ("events['order/placed']={'orderId': 'o1'} is not valid: a Hypothesis strategy; for "
                               "this one value every time, st.just({'orderId': 'o1'})")
    with pytest.raises(InvalidArgument, match=r"gaps=<function .*> is not valid: a Hypothesis strategy$"):
        js.event_streams(["order/placed"], gaps=lambda: 1)  # a callable is no one value: no st.just hint

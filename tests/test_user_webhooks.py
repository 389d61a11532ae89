"""User trial: a webhook-delivery service tested with Hypothesis properties and replayed traces.

Written from README.md alone, as a new user would: jobsim's own App API, no backend plugin.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import jobsim
from jobsim import invariants, traces
from jobsim import strategies as js

pytest_plugins = ["pytester"]
START = "2025-03-01T09:00:00Z"
ENDPOINT = "https://hooks.customer-{c}.example.com/in"
CUSTOMERS = ("a", "b", "c")
ATTEMPTS = 4
THROTTLE = 3  # deliveries started per customer per minute

FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                phases=[p for p in Phase if p is not Phase.explain],
                suppress_health_check=[HealthCheck.too_slow])


def post_webhook(url, delivery_id, payload):
    response = httpx.post(url, json=payload, timeout=10,
                          headers={"Authorization": "Bearer whsec_live_5fd8a7c2e91b4e0d",
                                   "Idempotency-Key": delivery_id})
    if response.status_code == 429:
        raise jobsim.RetryAfterError(response.headers.get("Retry-After", "30"))
    if response.status_code == 410:
        raise jobsim.NonRetriableError(f"endpoint gone: {url}")
    response.raise_for_status()
    return response.status_code


def build_app(variant="base"):
    """The service; variant 'nodlq' forgets the dead letter (a regression), 'fixed' changes the payload."""
    app = jobsim.App("hooks")

    def dead_letter(ctx):
        original = ctx.event.data["event"]["data"]
        if variant != "nodlq":
            ctx.step.run("dead-letter", lambda: httpx.post(
                "https://dlq.internal.example.com/dead", json={"delivery": original["id"]}).status_code)

    @app.function(
        "deliver", on="webhook/queued",
        retries=jobsim.Retries(attempts=ATTEMPTS, backoff="exponential", min="10s", max="5m"),
        concurrency=jobsim.Concurrency(limit=2, key="event.data.customer"),
        throttle=jobsim.Throttle(limit=THROTTLE, period="1m", key="event.data.customer"),
        on_failure=dead_letter,
    )
    def deliver(ctx):
        d = ctx.event.data
        body = d["payload"] if variant != "fixed" else {**d["payload"], "v": 2}
        return ctx.step.run("post", post_webhook, ENDPOINT.format(c=d["customer"]), d["id"], body)

    @app.function("cleanup", cron="0 3 * * *", tz="Europe/Berlin")
    def cleanup(ctx):
        return ctx.step.run("purge", lambda: "purged")

    return app


app = build_app()


def route_endpoints(sim, statuses=None):
    """Every customer endpoint answers 200, after the scripted statuses; the DLQ answers 202."""
    for c in CUSTOMERS:
        script = [httpx.Response(s, headers={"Retry-After": "20"} if s == 429 else {})
                  for s in (statuses or {}).get(c, [])]
        route = sim.http.post(ENDPOINT.format(c=c))
        route.mock(side_effect=script + [httpx.Response(200)] * 100)
    sim.http.post("https://dlq.internal.example.com/dead").respond(202)


deliveries = st.builds(
    lambda c, n: {"id": f"d-{c}-{n}", "customer": c, "payload": {"order": n}},
    st.sampled_from(CUSTOMERS), st.integers(1, 50))


def check_delivery_invariants(sim):
    dead = {r.event.data["event"]["data"]["id"] for r in sim.runs("deliver-failure")}
    for run in sim.runs("deliver"):
        did = run.event.data["id"]
        # every delivery either succeeds or is dead-lettered, never both
        assert (run.status == "completed") != (did in dead), (did, run.status)
    dlq = [c for c in sim.http.calls if "dlq" in str(c.request.url)]
    invariants.exactly_once(dlq, key=lambda c: json.loads(c.request.content)["delivery"],
                            expected=dead, what="dead letter")
    invariants.retries_respect_policy(sim)
    # the throttle (GCRA, README): THROTTLE starts at once from rest, then one every 60 s / THROTTLE
    interval = dt.timedelta(seconds=60) / THROTTLE
    starts = {}
    for run in sim.runs("deliver"):
        if run.started_at is not None:
            starts.setdefault(run.event.data["customer"], []).append(run.started_at)
    for times in starts.values():
        times.sort()
        for i, first in enumerate(times):
            for j in range(i + 1, len(times)):
                assert j - i + 1 <= THROTTLE + (times[j] - first) // interval, (i, j, times)


@FAST
@given(
    sim=js.simulations(app, start=START),
    history=js.histories(
        events=js.event_streams({"webhook/queued": deliveries}, max_size=8, gaps=js.durations(0, "20s")),
        failures=js.failure_patterns({"deliver": ["post"]}),
    ),
    statuses=st.dictionaries(st.sampled_from(CUSTOMERS), st.lists(st.sampled_from([200, 429, 500, 410]), max_size=4)),
)
def test_every_delivery_succeeds_or_is_dead_lettered_once(sim, history, statuses):
    with sim:
        route_endpoints(sim, statuses)
        history.apply(sim)
        check_delivery_invariants(sim)


broken_app = build_app("nodlq")  # a regression: the dead letter is never posted


def test_broken_app_fails_with_a_reproduction_that_pastes_and_runs():
    @FAST
    @given(sim=js.simulations(broken_app, start=START),
           history=js.histories(
               events=js.event_streams({"webhook/queued": deliveries}, min_size=1, max_size=4),
               failures=js.failure_patterns({"deliver": ["post"]})))
    def prop(sim, history):
        with sim:
            route_endpoints(sim)
            history.apply(sim)
            check_delivery_invariants(sim)

    with pytest.raises(invariants.Violation) as info:
        prop()
    assert "dead letter" in str(info.value) and "missing" in str(info.value)
    # jobsim's note, not Hypothesis's: under CI (print_blob) Hypothesis adds a @reproduce_failure note after it
    notes = next(note for note in info.value.__notes__ if "with jobsim.Simulation(" in note)
    code = notes[notes.index("with jobsim.Simulation("):]
    assert code.startswith("with jobsim.Simulation(broken_app, start='2025-03-01T09:00:00.000Z', seed=0) as sim:")
    # pasted as the README says: the test's own setup (routes) goes at the top of the with block
    lines = code.splitlines()
    pasted = "\n".join([lines[0], "    route_endpoints(sim)", *lines[1:], "check_delivery_invariants(sim)"])
    with pytest.raises(invariants.Violation):
        exec(pasted, {**globals()})


def test_runs_of_an_on_failure_handler_before_any_run_failed_is_empty():
    # README: the handler is the function '<id>-failure'; no run failed yet, so no runs -- not an error
    with jobsim.Simulation(app, start=START) as sim:
        assert sim.runs("deliver-failure") == []
        with pytest.raises(jobsim.InvalidArgument, match=r"did you mean|simulated function ids"):
            sim.runs("cleanup-failure")  # cleanup has no on_failure


def test_a_target_reached_through_its_module_prints_as_module_attribute():
    import types

    hooks = types.ModuleType("hooks")
    hooks.app, hooks.broken = app, build_app("nodlq")  # no bare name holds hooks.broken
    @FAST
    @given(sim=js.simulations(hooks.broken, start=START, seed=0))
    def prop(sim):
        with sim:
            js.apply(sim)
            raise AssertionError("boom")

    with pytest.raises(AssertionError) as info:
        prop()
    notes = "\n".join(info.value.__notes__)
    assert "sim=jobsim.Simulation(hooks.broken, " in notes, notes  # was 'app': another app
    assert "with jobsim.Simulation(hooks.broken, " in notes, notes


def test_a_target_in_a_submodule_prints_as_its_dotted_path():
    import os
    import types

    shop = types.ModuleType("shop")  # `import shop.jobs`: the caller's name is shop alone
    shop.jobs, shop.os = types.ModuleType("shop.jobs"), os  # a submodule, and a module shop imported (not searched)
    shop.jobs.app = build_app("nodlq")
    @FAST
    @given(sim=js.simulations(shop.jobs.app, start=START, seed=0))
    def prop(sim):
        with sim:
            js.apply(sim)
            raise AssertionError("boom")

    with pytest.raises(AssertionError) as info:
        prop()
    notes = "\n".join(info.value.__notes__)
    assert "with jobsim.Simulation(shop.jobs.app, " in notes, notes  # was 'app': one level only


def test_looking_for_a_targets_module_runs_no_lazily_imported_module(tmp_path, monkeypatch):
    """The caller's modules are searched for the target (``hooks.broken``): a lazy one's attributes would run it."""
    import importlib.util
    import sys

    (tmp_path / "r28e_lazyhooks.py").write_text("import os\n\nos.environ['R28E_LAZY_RAN'] = '1'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("R28E_LAZY_RAN", raising=False)
    spec = importlib.util.find_spec("r28e_lazyhooks")
    assert spec is not None and spec.loader is not None
    spec.loader = importlib.util.LazyLoader(spec.loader)
    lazyhooks = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "r28e_lazyhooks", lazyhooks)
    spec.loader.exec_module(lazyhooks)
    js.simulations(build_app("nodlq"), start=START, seed=0)  # held by no name: the modules are searched
    assert "R28E_LAZY_RAN" not in os.environ


# -- replaying a recorded day in CI ------------------------------------------------------------------
TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
DAY_STATUSES = {"a": [500, 429], "b": [410], "c": [500, 500, 500, 500]}


def record_day(path, seed=7):
    """A day of traffic: 30 deliveries over 24 h, customer b's endpoint gone, c's down for good."""
    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z", seed=seed) as sim:
        route_endpoints(sim, DAY_STATUSES)
        for n in range(30):
            c = CUSTOMERS[n % 3]
            sim.send("webhook/queued", {"id": f"d-{c}-{n}", "customer": c, "payload": {"order": n}})
            sim.advance("45m")
        sim.advance_to("2025-03-02T00:00:00Z")
    return sim, sim.trace.save(path)


def cli(*args, cwd):
    """``jobsim ARGS`` in this process (a subprocess took ~2 s each under load): run from ``cwd``, its exit code and
    output as ``subprocess.run`` gives them; ``sys.path`` and the modules it imported from ``cwd`` (``hooks_app``)
    put back, as each test's folder has a ``hooks_app.py`` of its own (jobsim's own stay: a second copy of a
    module would hold other classes)."""
    from jobsim._cli import main

    out, err, path, modules = io.StringIO(), io.StringIO(), list(sys.path), set(sys.modules)
    folder = str(Path(cwd).resolve())
    here = os.getcwd()
    try:
        os.chdir(cwd)  # contextlib.chdir is Python 3.11's
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exit_:  # argparse's refusals
                code = exit_.code if isinstance(exit_.code, int) else 2
    finally:
        os.chdir(here)
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if str(Path(getattr(sys.modules[name], "__file__", None) or "/").resolve()).startswith(folder):
                del sys.modules[name]
    return subprocess.CompletedProcess(["jobsim", *args], code, out.getvalue(), err.getvalue())


def cli_process(*args, cwd):
    """``python -m jobsim ARGS`` as a user runs it: what a failing test's report says to paste."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{TESTS}"}
    return subprocess.run([sys.executable, "-m", "jobsim", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    folder = tmp_path_factory.mktemp("day")
    (folder / "hooks_app.py").write_text(textwrap.dedent("""\
        from test_user_webhooks import build_app
        app = build_app()
        fixed = build_app("fixed")      # today's payload adds "v": 2
        nodlq = build_app("nodlq")      # a regression: dead letters are never posted
    """))
    sim, path = record_day(folder / "day.jobsim.jsonl.gz")
    return folder, sim, path


def test_the_recorded_day_has_what_the_scenario_needs(day):
    _folder, sim, _path = day
    failed = [r for r in sim.runs("deliver") if r.status == "failed"]
    assert {r.event.data["customer"] for r in failed} == {"b", "c"}
    assert len(sim.runs("deliver-failure")) == len(failed) == 2
    cleanup = sim.runs("cleanup")
    assert [r.started_at.isoformat() for r in cleanup] == ["2025-03-01T02:00:00+00:00"]  # 03:00 CET
    check_delivery_invariants(sim)


def test_scan_finds_no_secret_in_the_saved_day(day):
    folder, _sim, path = day
    text = traces.load(path).save(folder / "plain.jobsim.jsonl", redact=False).read_text()
    assert "whsec_live_" not in text
    assert traces.scan(path) == []
    result = cli("scan", path, cwd=folder)
    assert result.returncode == 0, result.stderr + result.stdout


def test_replay_unchanged_code_is_the_same(day):
    folder, _sim, path = day
    assert jobsim.Simulation.replay(jobsim.Trace.load(path), app).same
    result = cli("replay", path, "--app", "hooks_app:app", cwd=folder)
    assert result.returncode == 0, result.stderr + result.stdout


# each comparison mode: which ones see the payload change ('fixed') and the lost dead letter ('nodlq')
MODES = {"runs": (True, True), "outputs": (True, True), "emails": (True, True), "http": (False, False),
         "events": (True, True), "timing": (True, False)}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_each_comparison_mode_through_the_api(day, mode):
    _folder, _sim, path = day
    trace = jobsim.Trace.load(path)
    for variant, same in zip(("fixed", "nodlq"), MODES[mode], strict=True):
        assert jobsim.Simulation.replay(trace, build_app(variant), compare=[mode]).same is same, (variant, mode)


def test_a_field_only_one_side_has_reads_as_the_call_differing(day):
    _folder, _sim, path = day
    result = jobsim.Simulation.replay(jobsim.Trace.load(path), build_app("fixed"))
    report = result.report()
    # the call is in both: it was headed "only in the replay", as if the replay had made a call more
    assert "http: http call #1 of run #1 at 2025-03-01T00:00:00.000Z: differs\n" in report, report
    assert "request.body.json.v: recorded (absent)" in report
    first = result.first("deliver")
    assert (first.mode, first.path, first.note) == ("http", "request.body.json.v", "only in the replay")
    relaxed = jobsim.Simulation.replay(jobsim.Trace.load(path), build_app("fixed"),
                                       ignore=["http:request.body.json.v"])
    assert relaxed.same


def test_bug_fix_and_regression_through_the_cli(day):
    folder, _sim, path = day
    fixed = cli("replay", path, "--app", "hooks_app:fixed", cwd=folder)
    assert fixed.returncode == 1 and "DIFFERS  deliver" in fixed.stdout, fixed.stderr + fixed.stdout
    assert "app: hooks_app:fixed from " in fixed.stdout
    ok = cli("replay", path, "--app", "hooks_app:fixed", "--ignore", "http:request.body.json.v", cwd=folder)
    assert ok.returncode == 0, ok.stdout
    refused = cli("replay", path, "--app", "hooks_app:fixed", "--ignore", "http:request.body.json.v,email:subject",
                  cwd=folder)
    assert refused.returncode == 2 and "--ignore" in refused.stderr
    regression = cli("replay", path, "--app", "hooks_app:nodlq", "--format", "json",
                     "--out", folder / "nodlq.jobsim.jsonl", cwd=folder)
    assert regression.returncode == 1, regression.stderr
    report = json.loads(regression.stdout)
    assert report["same"] is False
    one = cli("replay", path, "--app", "hooks_app:nodlq", "--compare", "runs,outputs", "--tolerance", "1s", cwd=folder)
    assert one.returncode == 0, (one.stdout, one.stderr)  # each mode alone: through the API above
    # diff the recording with the regression's replay, saved with --out
    diff = cli("diff", path, folder / "nodlq.jobsim.jsonl", cwd=folder)
    assert diff.returncode == 1 and "deliver-failure" in diff.stdout, diff.stdout + diff.stderr
    assert cli("diff", path, folder / "nodlq.jobsim.jsonl", "--compare", "runs,outputs", cwd=folder).returncode == 0
    api = traces.compare(path, folder / "nodlq.jobsim.jsonl")
    assert not api.same and api.first("deliver-failure").mode == "http"
    assert traces.compare(path, folder / "nodlq.jobsim.jsonl", compare=["runs", "outputs", "events"]).same


def test_ignoring_every_field_of_a_kind_keeps_each_record_in_its_run(day):
    folder, _sim, path = day
    replayed = jobsim.Simulation.replay(jobsim.Trace.load(path), build_app("nodlq"))
    replayed.save(folder / "nodlq-api.jobsim.jsonl")
    result = traces.compare(path, folder / "nodlq-api.jobsim.jsonl", ignore=["http:**", "timing:**"])
    report = result.report()
    # the dead letter's call is still deliver-failure's: it was shown as a call '#36' made outside jobs
    assert "(outside jobs)" not in report, report
    assert result.first("deliver-failure").label == "http call #1 of run #1"
    assert "leave 'timing' out of --compare" in report  # 'timing' is a comparison, not a kind of record
    assert traces.compare(path, folder / "nodlq-api.jobsim.jsonl", compare=["runs", "outputs", "emails"]).same


def test_trace_dir_saves_a_failing_tests_trace_and_it_replays(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}{os.pathsep}{TESTS}")
    pytester.makepyfile(hooks_app="from test_user_webhooks import build_app\napp = build_app()\n")
    pytester.makeconftest("import pytest\nfrom hooks_app import app\n\n"
                          "@pytest.fixture\ndef jobsim_app():\n    return app\n")
    # a name of its own: the inner run is in-process, where tests/test_hooks.py may be imported already
    pytester.makepyfile(test_dlq_hooks=textwrap.dedent("""\
        import httpx
        import pytest

        @pytest.mark.jobsim(start="2025-03-01T09:00:00Z", functions=["deliver"])
        def test_gone_endpoint_is_dead_lettered(jobsim):
            jobsim.http.post("https://hooks.customer-b.example.com/in").respond(410)
            jobsim.http.post("https://dlq.internal.example.com/dead").respond(202)
            jobsim.send("webhook/queued", {"id": "d-b-1", "customer": "b", "payload": {"order": 1}})
            jobsim.run_until_idle()
            assert jobsim.runs("deliver")[0].status == "completed"   # wrong on purpose: it failed
    """))
    result = pytester.runpytest("-q", "-p", "no:cacheprovider", "--jobsim-trace-dir=traces")
    result.assert_outcomes(failed=1)
    saved = pytester.path / "traces" / "test_dlq_hooks.py--test_gone_endpoint_is_dead_lettered.jobsim.jsonl"
    assert saved.is_file(), result.stdout.str()
    name = "traces/test_dlq_hooks.py--test_gone_endpoint_is_dead_lettered.jobsim.jsonl"
    result.stdout.fnmatch_lines([f"*trace saved to {name}*",
                                 f"*replay it: jobsim replay {name} --app hooks_app.py:app"])  # was MODULE:APP
    line = next(s for s in result.stdout.lines if "replay it:" in s)
    command = line.split("replay it: ", 1)[1].split()
    replayed = cli_process(*command[1:], cwd=pytester.path)  # pasted into a shell: a process of its own
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert traces.scan(saved) == []


IMPORTED = [
    {"name": "webhook/queued", "id": "evt-1", "ts": 1740819600000,
     "data": {"id": "d-a-1", "customer": "a", "payload": {"order": 1}}},
    {"name": "inngest/function.failed", "id": "evt-x", "ts": 1740819601000, "data": {}},
    {"specversion": "1.0", "id": "ce-2", "source": "/shop", "type": "webhook/queued",
     "time": "2025-03-01T09:00:05Z", "datacontenttype": "application/json",
     "data": {"id": "d-b-2", "customer": "b", "payload": {"order": 2}}},
]


@pytest.mark.parametrize("kind", ["inngest", "cloudevents", "mixed"])
def test_import_exported_events_then_replay(tmp_path, kind):
    rows = {"inngest": IMPORTED[:2], "cloudevents": IMPORTED[2:], "mixed": IMPORTED}[kind]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "hooks_app.py").write_text("from test_user_webhooks import build_app\napp = build_app()\n"
                                           "def jobsim_setup(sim):\n"
                                           "    from test_user_webhooks import route_endpoints\n"
                                           "    route_endpoints(sim)\n")
    if kind != "mixed":  # the Python API
        with pytest.warns(jobsim.TraceWarning) if kind == "inngest" else contextlib.nullcontext():
            trace = traces.import_events(tmp_path / "events.jsonl")
        assert [r.data["name"] for r in trace.of("event")] == ["webhook/queued"]  # in memory: Inngest-shaped
        result = jobsim.Simulation.replay(trace, app, setup=route_endpoints)
        assert result.same and [r.status for r in result.simulation.runs("deliver")] == ["completed"]
        return
    done = cli("import", "events.jsonl", "-o", "week.jobsim.jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "left out 1 event(s) Inngest makes itself" in done.stderr
    trace = jobsim.Trace.load(tmp_path / "week.jobsim.jsonl")
    assert [r.data["name"] for r in trace.of("event")] == ["webhook/queued"] * 2
    replay = cli("replay", "week.jobsim.jsonl", "--app", "hooks_app:app", "--http", "routes", cwd=tmp_path)
    assert replay.returncode == 0 and "deliver: 2 completed" in replay.stdout, replay.stdout + replay.stderr


def test_retry_after_from_the_header_and_gone_is_not_retried():
    with jobsim.Simulation(app, start=START, seed=1) as sim:
        route_endpoints(sim, {"a": [429, 500], "b": [410]})
        sim.send("webhook/queued", {"id": "d-a-1", "customer": "a", "payload": {}})
        sim.send("webhook/queued", {"id": "d-b-1", "customer": "b", "payload": {}})
        sim.run_until_idle()
        a, b = sim.runs("deliver")
        t0 = a.started_at
        # 429 with Retry-After: 20 -> +20 s; then the backoff's second retry, 10 s * 2
        assert [(x.started_at - t0).total_seconds() for x in a.steps["post"].attempts] == [0, 20, 40]
        assert b.status == "failed" and len(b.steps["post"].attempts) == 1
        assert [r.event.data["event"]["data"]["id"] for r in sim.runs("deliver-failure")] == ["d-b-1"]
        invariants.retries_respect_policy(sim)


def test_cleanup_follows_berlin_wall_time_across_dst():
    with jobsim.Simulation(app, start="2025-03-29T00:00:00Z", functions=["cleanup"]) as sim:
        sim.advance("3d")
    assert [r.started_at.strftime("%d %H:%M") for r in sim.runs("cleanup")] == ["29 02:00", "30 01:00", "31 01:00"]

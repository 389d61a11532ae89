"""A replay's unmatched request says what the recording lacks and where a route goes (not the test's
``sim.http.post``), and jobsim's own advice in such an error is no difference between two traces (trial 37)."""

from __future__ import annotations

import pickle
import subprocess
import sys

import httpx
import requests

import jobsim
from jobsim._http import UnmatchedRequest
from jobsim._httpadvice import advice_free, jobsim_first

START = "2025-03-03T12:00:00Z"
OLD = "https://hooks.example.com/signup"
NEW = "https://hooks.example.com/v2/signup"


def _app(url, client="httpx"):
    app = jobsim.App("hooks")

    @app.function("notify", on="user/signup", retries=0)
    def notify(ctx):
        post = httpx.post if client == "httpx" else lambda u, json: requests.post(u, json=json, timeout=5)
        return post(url, json=ctx.event.data).status_code

    return app


def _recorded(route=OLD, client="httpx"):
    with jobsim.Simulation(_app(OLD, client), start=START) as sim:
        sim.http.post(route).respond(200)
        sim.send("user/signup", {"id": 1})
        sim.run_until_idle()
        sim.http.unmatched.clear()
    return sim.trace


def test_the_replays_error_names_the_closest_recorded_request_and_jobsim_setup():
    result = jobsim.Simulation.replay(_recorded(), _app(NEW))
    assert str(result.simulation.runs("notify")[0].error) == (
        f"jobsim: no route matches POST {NEW}; the recording has no response for this request (closest recorded: "
        f"POST {OLD}); add a route in the --app module's jobsim_setup(sim) (setup= of Simulation.replay): "
        f"sim.http.post({NEW!r}).respond(200)")
    assert (f"note: 1 request(s) the replay had no answer for (POST {NEW}: the recording has no response for this "
            f"request (closest recorded: POST {OLD})): add routes in the --app module's jobsim_setup(sim)"
            in result.report())


def test_with_http_routes_it_says_only_setups_routes_answer():
    result = jobsim.Simulation.replay(_recorded(), _app(OLD), http="routes")
    assert str(result.simulation.runs("notify")[0].error).startswith(
        f"jobsim: no route matches POST {OLD}; the replay answers from the routes of jobsim_setup(sim) alone "
        "(--http routes); add a route in the --app module's jobsim_setup(sim)")


def test_a_request_answered_fewer_times_in_the_recording_says_so():
    app = jobsim.App("hooks")

    @app.function("notify", on="user/signup", retries=0)
    def notify(ctx):
        return [httpx.post(OLD).status_code for _ in range(2)]

    result = jobsim.Simulation.replay(_recorded(), app)
    assert "; the recording answered this request 1 time(s), all used up; add a route" in str(
        result.simulation.runs("notify")[0].error)


def test_with_requests_the_report_line_starts_with_jobsims_reason():
    result = jobsim.Simulation.replay(_recorded(client="requests"), _app(NEW, "requests"))
    line = next(line for line in result.report().splitlines() if "replayed \"ConnectionError" in line)
    assert line.strip() == f'replayed "ConnectionError: jobsim: no route matches POST {NEW}; the recording …'


def test_a_failing_tests_trace_replays_the_same_into_unchanged_code():
    """Recorded with the test's route missing by a slash (``closest: ... wants path='/signup/'``); the replay's
    error gives a replay's advice instead, which is no difference."""
    recorded = _recorded(route=OLD + "/")
    assert any("closest: the route" in str(record.data) for record in recorded)
    result = jobsim.Simulation.replay(recorded, _app(OLD))
    assert result.same, result.report()


def test_jobsim_diff_reads_the_advice_as_no_difference(tmp_path):
    a, b = tmp_path / "a.jobsim.jsonl", tmp_path / "b.jobsim.jsonl"
    _recorded(route=OLD + "/").save(a)
    text = a.read_text()
    assert "closest: the route" in text
    b.write_text(text.replace("closest: the route", "closest: a route"))
    same = subprocess.run([sys.executable, "-m", "jobsim", "diff", str(a), str(b)], capture_output=True, text=True)
    assert same.returncode == 0, same.stdout + same.stderr
    b.write_text(text.replace("no route matches POST https://hooks.example.com/signup;",
                              "no route matches POST https://hooks.example.com/other;"))
    differs = subprocess.run([sys.executable, "-m", "jobsim", "diff", str(a), str(b)], capture_output=True, text=True)
    assert differs.returncode == 1, differs.stdout + differs.stderr


def test_advice_free_keeps_what_the_request_was():
    said = f"UnmatchedRequest: jobsim: no route matches POST {OLD}"
    for advice in [f"add one with sim.http.post({OLD!r}).respond(200)",
                   f"closest: the route (path='/signup/') wants path='/signup/'; fix that route, or add one with "
                   f"sim.http.post({OLD!r}).respond(200)",
                   f"add one with sim.http.post({OLD!r}).respond(200) (sent by the test itself, between driving "
                   "calls: ... sim.http.route(host=...).pass_through())",
                   f"the recording has no response for this request; add a route in the --app module's "
                   f"jobsim_setup(sim) (setup= of Simulation.replay): sim.http.post({OLD!r}).respond(200)"]:
        assert advice_free(f"{said}; {advice}") == said
    assert advice_free("KeyError: 'card'") == "KeyError: 'card'"
    quoted = (f"ConnectionError: Pool: Max retries exceeded (Caused by NewConnectionError(\"x: jobsim: no route "
              f"matches POST {OLD}; add one with sim.http.post({OLD!r}).respond(200)\"))")
    assert advice_free(quoted) == f"ConnectionError: Pool: Max retries exceeded (Caused by NewConnectionError(\"x: " \
                                  f"jobsim: no route matches POST {OLD}\"))"
    assert jobsim_first(quoted).startswith(f"ConnectionError: jobsim: no route matches POST {OLD}; add one with ")


def test_an_unmatched_request_with_a_replays_advice_pickles():
    error = UnmatchedRequest(httpx.Request("POST", NEW), advice="the recording has no response; do X.respond(200)")
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) and again.advice == error.advice


def test_a_route_of_jobsim_setup_that_misses_is_named_with_where_to_fix_it():
    def setup(sim):
        sim.http.post(NEW + "/").respond(200)

    result = jobsim.Simulation.replay(_recorded(), _app(NEW), setup=setup)
    assert str(result.simulation.runs("notify")[0].error) == (
        f"jobsim: no route matches POST {NEW}; the recording has no response for this request (closest recorded: "
        f"POST {OLD}); closest: the route (scheme='https', host='hooks.example.com', path='/v2/signup/', "
        "method='POST') wants path='/v2/signup/'; fix that route in the --app module's jobsim_setup(sim) "
        f"(setup= of Simulation.replay), or add one there: sim.http.post({NEW!r}).respond(200)")

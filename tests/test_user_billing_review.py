"""Review of the billing user trial's fixes (usertrial27): what they refused that worked, what they suggested that
did not run, and two leftovers the trial found (the ``(jobsim)`` row counted as a function in a replay's report)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import jobsim
from jobsim import Retries, traces


@pytest.mark.parametrize(("args", "after"), [
    (("120", 429), "120"),  # a Retry-After header first, a status code as the message: jobsim's own order
    (("30s", 5), "30s"),
    (("Wed, 21 Oct 2025 07:28:00 GMT", 503), "Wed, 21 Oct 2025 07:28:00 GMT"),
])  # fmt: skip
def test_a_valid_delay_first_is_jobsims_order_whatever_the_message(args, after):
    # usertrial27 refused these as "inngest-py's order" and told to write RetryAfterError('429ms', '120')
    assert jobsim.RetryAfterError(*args).after == after


def test_the_retry_after_keyword_names_the_whole_call_to_write():
    # it said "write after='30s'": RetryAfterError("busy", after="30s") gives after twice (a bare TypeError)
    with pytest.raises(jobsim.errors.MisspeltKeyword, match=r"write RetryAfterError\('30s', 'busy'\)$"):
        jobsim.RetryAfterError("busy", retry_after=30_000)
    with pytest.raises(jobsim.errors.MisspeltKeyword, match=r"write RetryAfterError\('30s', 'busy'\)$"):
        jobsim.RetryAfterError(message="busy", retry_after=30_000)
    with pytest.raises(jobsim.errors.MisspeltKeyword, match=r"write RetryAfterError\('30s'\)$"):
        jobsim.RetryAfterError(retry_after=30_000)
    # a timedelta was told to be after='30s', whatever it was
    with pytest.raises(jobsim.errors.MisspeltKeyword, match=r"write RetryAfterError\('2s', 'busy'\)$"):
        jobsim.RetryAfterError("busy", retry_after=dt.timedelta(seconds=2))
    with pytest.raises(jobsim.errors.MisspeltKeyword, match=r"quiet= \(no log line\) has no jobsim counterpart"):
        jobsim.RetryAfterError("30s", "busy", quiet=True)


@pytest.mark.parametrize("delay", [float("inf"), -5, dt.timedelta(seconds=-3)])
def test_an_inngest_py_delay_that_is_no_delay_is_a_placeholder_not_a_crash(delay):
    # float("inf") was an OverflowError; -5 was told to be written RetryAfterError(-5, 'busy'), refused again
    with pytest.raises(jobsim.InvalidArgument, match=r"write RetryAfterError\(DELAY, 'busy'\) \(DELAY a duration"):
        jobsim.RetryAfterError("busy", delay)
    with pytest.raises(jobsim.errors.MisspeltKeyword, match=r"write RetryAfterError\(DELAY, 'busy'\) \(DELAY a"):
        jobsim.RetryAfterError("busy", retry_after=delay)


PAGE = {"data": [{"name": "invoice/created", "data": {}, "id": "e1", "ts": 1772355600000}], "cursor": "x"}


def test_an_api_page_is_refused_even_with_skip_invalid_and_when_pretty_printed(tmp_path):
    page = tmp_path / "page.json"
    page.write_text(json.dumps(PAGE))
    # --skip-invalid imported nothing from it, listing the page as a skipped line; and the error said to use it
    with pytest.raises(jobsim.errors.TraceError, match=r"page.json:1: .*jq -c '\.data\[\]' PAGE.json > events.jsonl$"):
        traces.import_events(page)
    with pytest.raises(jobsim.errors.TraceError, match=r"'data' is a list of 1 item\(s\)"):
        traces.import_events(page, skip_invalid=True)
    # as `curl ... | jq .` saves it: it was "malformed line: ...: '{'"
    page.write_text("\n" + json.dumps(PAGE, indent=2) + "\n")
    with pytest.raises(jobsim.errors.TraceError, match=r"page.json:2: .*'data' is a list of 1 item\(s\)"):
        traces.import_events(page)


def _failing_app(fails: bool) -> jobsim.App:
    app = jobsim.App("billing")

    @app.function("charge", on="invoice/created", retries=Retries(attempts=1))
    def charge(ctx):
        if fails:
            raise RuntimeError("card declined")
        return "charged"

    @app.function("audit", on="invoice/created")
    def audit(ctx):
        return "logged"

    return app


def test_the_jobsim_row_of_a_replay_is_not_counted_as_a_function(tmp_path):
    with jobsim.Simulation(_failing_app(True), start="2026-01-05T10:00:00Z", profile="inngest") as sim:
        sim.send("invoice/created", {})
        sim.run_until_idle()
    assert any(e.name == "inngest/function.failed" for e in sim.events)
    result = jobsim.Simulation.replay(sim.trace, _failing_app(False))
    report = result.report()
    assert "(jobsim)" in report  # the row of inngest/function.failed is kept
    # it said "DIFFERS: 2 of 3 function(s)" for the two functions and the (jobsim) row
    assert report.splitlines()[-1].startswith("DIFFERS: 1 of 2 function(s), and what no function did, (jobsim), (")
    same = jobsim.Simulation.replay(sim.trace, _failing_app(True)).report()
    assert same.splitlines()[-1].startswith("same: 2 function(s), ")

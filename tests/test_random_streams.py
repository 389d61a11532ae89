"""Each function draws from its own random stream derived from the seed (``Simulation.rng_for``).

An extra retry or email in one function moves no other function's jitter or ids, so a
replay of a trace against changed code shows no noise in the functions nobody changed.
Traces of format minor < 2 were recorded with one stream for every draw: they replay
with ``random_streams="shared"``.
"""

from __future__ import annotations

import itertools
import random
import smtplib
import uuid
from email.message import EmailMessage
from typing import Any
from uuid import uuid4

import httpx
import pytest

import jobsim
from jobsim import InvalidArgument, Retries

START = "2025-03-03T09:00:00Z"
JITTERED = Retries(attempts=4, backoff="exponential", min="1s", max="1m", jitter="10s")


def _smtp(subject: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "jobs@acme.test", "ada@example.com", subject
    msg.set_content("hello")
    with smtplib.SMTP("smtp.example.com", 587) as smtp:
        smtp.send_message(msg)


def _resend(subject: str) -> str:
    response = httpx.post("https://api.resend.com/emails", json={
        "from": "jobs@acme.test", "to": ["ada@example.com"], "subject": subject, "text": "x"},
        headers={"Authorization": "Bearer re_test_0123456789"})  # fmt: skip
    return str(response.raise_for_status().json()["id"])


def shop(*, noisy: bool = False, a_retries: int = 2) -> jobsim.App:
    """Function ``b`` fails twice, retried with jitter, then mails by SMTP and by Resend; ``a`` fails
    ``a_retries`` times and mails each attempt; ``noisy`` adds a third function that retries and mails."""
    app = jobsim.App("shop")

    if noisy:
        @app.function("noisy", on="go", retries=JITTERED)
        def extra(ctx: Any) -> None:
            _resend(f"noise {ctx.attempt}")
            _smtp(f"noise {ctx.attempt}")
            raise RuntimeError("always down")

    @app.function("a", on="go", retries=JITTERED)
    def a(ctx: Any) -> str:
        _resend(f"a {ctx.attempt}")
        if ctx.attempt < a_retries:
            raise RuntimeError("a is flaky")
        return "a done"

    @app.function("b", on="go", retries=JITTERED)
    def b(ctx: Any) -> str:
        if ctx.attempt < 2:
            raise RuntimeError("b is flaky")
        _smtp("b")
        return _resend("b")

    return app


def run(app: jobsim.App, seed: int = 3, **options: Any) -> jobsim.Simulation:
    with jobsim.Simulation(app, start=START, seed=seed, **options) as sim:
        sim.send("go", {})
        sim.advance("1m")
        sim.send("go", {})
        sim.run_until_idle()
    return sim


def of_b(sim: jobsim.Simulation) -> tuple[list[list[int]], list[str]]:
    """``b``'s attempt times per run and the ids of the emails its job code sent."""
    times = [[attempt.start_ns for attempt in r.attempts] for r in sim.runs("b")]
    return times, [email.message_id for email in sim.mail.outbox if email.subject == "b"]


def test_another_function_drawing_more_moves_none_of_bs_jitter_or_email_ids():
    plain, noisy = run(shop()), run(shop(noisy=True))
    assert len(noisy.runs("noisy")) == 2 and len(noisy.mail.outbox) > len(plain.mail.outbox)
    times, ids = of_b(plain)
    assert of_b(noisy) == (times, ids)
    assert len(ids) == 4 and len(set(ids)) == 4  # two runs, SMTP and Resend each: all different
    delays = {later - earlier for run_times in times for earlier, later in itertools.pairwise(run_times)}
    assert len(delays) == 4  # jittered: no two retry waits alike
    shared = run(shop(), random_streams="shared"), run(shop(noisy=True), random_streams="shared")
    assert of_b(shared[0]) != of_b(shared[1])  # one stream for everything: the noise moved b's draws


def test_the_same_seed_gives_the_same_history_and_another_seed_other_jitter(tmp_path):
    first, again, other = run(shop()), run(shop()), run(shop(), seed=4)
    assert of_b(first) == of_b(again)
    saved = [sim.trace.save(tmp_path / f"{n}.jobsim.jsonl").read_bytes() for n, sim in enumerate((first, again))]
    assert saved[0] == saved[1]
    assert of_b(first)[0] != of_b(other)[0] and of_b(first)[1] != of_b(other)[1]


def test_a_functions_stream_is_its_own_and_draws_outside_functions_keep_sim_rng():
    sim = run(shop())
    assert sim.rng_for("a") is sim.rng_for("a") and sim.rng_for("a") is not sim.rng_for("b")
    assert sim.rng.random() == random.Random(3).random()  # no function drew from it
    shared = run(shop(), random_streams="shared")
    assert shared.rng_for("a") is shared.rng_for("b") is shared.rng


def test_rng_for_takes_a_simulated_function_and_refuses_another_id_naming_the_known_ones():
    """``sim.rng_for("bb")`` (a typo) gave a fresh stream that nothing draws from: a test predicting b's jitter
    from it compared against noise."""
    sim = run(shop())
    assert sim.rng_for(sim.functions["b"]) is sim.rng_for("b")  # the object @app.function returned names it too
    for unknown in ("bb", "shop-b", 3):
        with pytest.raises(InvalidArgument) as info:
            sim.rng_for(unknown)
        assert str(info.value) == f"function_id={unknown!r} is not valid: one of the simulated function ids: 'a', 'b'"
    assert "bb" not in sim._streams


def test_a_refusal_lists_at_most_twenty_function_ids_and_counts_the_rest():
    app = jobsim.App("many")
    for n in range(25):
        app.function(f"f{n:02}", on="go")(lambda ctx: None)
    with jobsim.Simulation(app, start=START) as sim, pytest.raises(InvalidArgument) as info:
        sim.rng_for("f25")
    listed = ", ".join(repr(f"f{n:02}") for n in range(20))
    said = f"function_id='f25' is not valid: one of the simulated function ids: {listed}, ... and 5 more"
    assert str(info.value) == said


def test_a_plugins_stream_for_a_name_no_function_has_is_seeded_from_it_as_a_functions_is():
    """A Celery task sent by a name the app has no task of, a BullMQ queue no worker serves: ``hooks.target_rng``
    (``sim.rng_for`` refuses such a name)."""
    from jobsim.hooks import target_rng

    sim = run(shop())
    assert target_rng(sim, "reports.nightly").random() == random.Random("jobsim:3:reports.nightly").random()
    shared = run(shop(), random_streams="shared")
    assert target_rng(shared, "reports.nightly") is shared.rng


def test_a_plugins_stream_for_the_id_of_a_function_of_the_tests_app_is_not_that_functions():
    """``hooks.target_rng(sim, "b")`` with ``b`` an ``@app.function`` of the test (a Celery task sent by that name,
    which no Celery app has): the plugin drew from b's own stream, so its draws moved b's jitter and ids."""
    from jobsim.hooks import target_rng

    sim = run(shop())
    b = sim.rng_for("b")
    state = b.getstate()
    target = target_rng(sim, "b")
    assert target is not b and target is target_rng(sim, "b")
    assert target.random() == random.Random("jobsim-target:3:b").random()
    assert b.getstate() == state  # the target's draw moved nothing of b's


class _Queue:
    """A pretend backend target, adapted into one function named as it is."""


@pytest.fixture
def celery_like():
    from jobsim import _plugins
    from jobsim.hooks import Adapted, hookimpl

    backend = jobsim.App("backend:queue")
    task = backend.function("emails", on="queue/emails")(lambda ctx: None)

    class Plugin:
        @hookimpl
        def jobsim_adapt(self, sim, target):
            return Adapted(backend="queue", functions=[task]) if isinstance(target, _Queue) else None

    plugin = Plugin()
    _plugins.register(plugin, name="target-rng-test")
    try:
        with jobsim.Simulation(_Queue(), start=START, seed=3) as sim:
            yield sim, "emails"
    finally:
        _plugins.unregister(plugin)


def test_a_plugins_stream_for_its_own_function_is_that_functions(celery_like):
    """A plugin's target that is its own function (a task of the Celery app, a job of the scheduler) draws from
    the function's stream, as before: its ids and the function's jitter come from one stream."""
    from jobsim.hooks import target_rng

    sim, fn_id = celery_like
    assert target_rng(sim, fn_id) is sim.rng_for(fn_id)


def test_a_replay_after_changing_a_reports_no_divergence_in_b():
    recorded = run(shop())
    result = jobsim.Simulation.replay(recorded.trace, shop(a_retries=3))  # a: one more retry, one more email
    assert not result.same
    assert {d.function for d in result.comparison.divergences} == {"a"}, result.report()
    assert of_b(result.simulation) == of_b(recorded)


def test_a_trace_of_an_older_minor_replays_with_one_stream_as_it_was_recorded(tmp_path):
    # as jobsim wrote it before per-function streams: minor 1, every draw from one generator
    text = run(shop(), random_streams="shared").trace.save(tmp_path / "shared.jobsim.jsonl").read_text()
    assert text.count('"minor":2,') == 1 and text.count(',"random_streams":"shared"') == 1
    old = tmp_path / "old.jobsim.jsonl"
    old.write_text(text.replace('"minor":2,', '"minor":1,').replace(',"random_streams":"shared"', ""))
    result = jobsim.Simulation.replay(jobsim.Trace.load(old), shop())
    assert result.same, result.report()
    assert result.simulation.random_streams == "shared"
    assert "the recording drew every random number from one stream (random_streams='shared'" in result.report()
    # saved again (redacted, say), it still says how it was recorded
    again = jobsim.Trace.load(jobsim.Trace.load(old).save(tmp_path / "again.jobsim.jsonl"))
    assert again.header["minor"] == 2 and again.header["random_streams"] == "shared"
    assert jobsim.Simulation.replay(again, shop()).same
    # replayed with a stream per function, the same recording diverges: the switch is what keeps it clean
    new = tmp_path / "new.jobsim.jsonl"
    new.write_text(text.replace(',"random_streams":"shared"', ""))
    assert not jobsim.Simulation.replay(jobsim.Trace.load(new), shop()).same


def test_a_trace_of_this_minor_replays_clean_with_a_stream_per_function(tmp_path):
    path = run(shop()).trace.save(tmp_path / "new.jobsim.jsonl")
    assert '"random_streams"' not in path.read_text().splitlines()[0]
    result = jobsim.Simulation.replay(jobsim.Trace.load(path), shop())
    assert result.same, result.report()
    assert result.simulation.random_streams == "function" and "random_streams" not in result.report()


@pytest.mark.parametrize("value", ["per-function", None, 1, "Function"])
def test_random_streams_takes_function_or_shared(value):
    with pytest.raises(InvalidArgument) as caught:
        jobsim.Simulation(shop(), random_streams=value)
    assert str(caught.value).startswith(f"random_streams={value!r}")
    assert "'function' (each function draws from its own stream derived from the seed" in str(caught.value)


def _keyed_app() -> jobsim.App:
    """``charge`` posts with an idempotency key from ``uuid.uuid4()`` (by attribute and imported by name)."""
    app = jobsim.App("keyed")

    @app.function("charge", on="go")
    def charge(ctx: Any) -> list[str]:
        key = ctx.step.run("key", lambda: str(uuid.uuid4()))
        other = str(uuid4())  # outside a step: drawn again on every request, as Inngest runs it
        httpx.post("https://pay.example.com/charges", json={"amount": 5}, headers={"Idempotency-Key": key})
        return [key, other]

    return app


def test_uuid4_in_job_code_follows_the_seed_and_the_test_keeps_the_real_one():
    def keys(seed: int) -> tuple[list[str], list[str]]:
        with jobsim.Simulation(_keyed_app(), start=START, seed=seed) as sim:
            sim.http.post("https://pay.example.com/charges").respond(200)
            sim.send("go")
            sim.run_until_idle()
            sent = [call.request.headers["Idempotency-Key"] for call in sim.http.calls]
            return sim.runs("charge")[0].output, sent

    first, again, other = keys(3), keys(3), keys(4)
    assert first == again  # it drew from os.urandom: another key on every run of the test
    assert first[0][0] != other[0][0]
    assert first[1] == [first[0][0]]
    assert all(uuid.UUID(k).version == 4 for k in first[0])
    assert uuid.uuid4 is uuid.UUID.__init__.__globals__["uuid4"]  # the module's own is back after the calls
    assert uuid.uuid4() != uuid.uuid4()  # test code draws real ones


def test_a_replay_of_a_job_sending_a_uuid4_idempotency_key_is_the_same():
    with jobsim.Simulation(_keyed_app(), start=START, seed=5) as sim:
        sim.http.post("https://pay.example.com/charges").respond(200)
        sim.send("go")
        sim.run_until_idle()
    result = jobsim.Simulation.replay(sim.trace, _keyed_app())
    assert result.same, result.report()

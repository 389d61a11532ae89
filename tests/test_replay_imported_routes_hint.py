"""The replay of a file of events (no HTTP answers recorded) whose job code calls an API says where routes go.

The run's error advised ``sim.http.post(...).respond(200)``, but a ``jobsim replay`` user holds no ``sim``: the
place for routes is the ``--app`` module's ``jobsim_setup(sim)`` (``setup=`` of ``Simulation.replay``)."""

import httpx
import pytest

import jobsim

HINT = "note: a file of events records no HTTP answers"


def _app():
    app = jobsim.App("shop")

    @app.function("charge", on="order/placed", retries=0)
    def charge(ctx):
        def pay():
            try:
                return httpx.post("https://pay.example.com/charge", json={"amount": 5}).json()
            except httpx.HTTPError as exc:  # job code that wraps the error keeps its cause
                raise RuntimeError("payment failed") from exc

        ctx.step.run("pay", pay)

    @app.function("ack", on="order/placed")
    def ack(ctx):
        return "ok"

    return app


@pytest.fixture
def events(tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_text('{"name": "order/placed", "data": {"orderId": "o1"}, "id": "e1", "ts": 1741003200000}\n')
    return path


def test_an_unanswered_request_points_at_jobsim_setup(events):
    lines = jobsim.Simulation.replay(events, _app()).report().splitlines()
    assert lines[-5:-2] == [
        "  charge: 1 failed",
        "      the first failed at 2025-03-03T12:00:00.000Z: RuntimeError: payment failed",
        "  ack: 1 completed",
    ]
    assert lines[-2] == ""
    assert lines[-1].startswith(HINT)
    assert "--app module's jobsim_setup(sim)" in lines[-1] and "setup= of Simulation.replay" in lines[-1]


def test_no_hint_when_setup_answers_the_request(events):
    def setup(sim):
        sim.http.post("https://pay.example.com/charge").respond(200, json={"id": "ch_1"})

    report = jobsim.Simulation.replay(events, _app(), setup=setup).report()
    assert report.splitlines()[-2:] == ["  charge: 1 completed", "  ack: 1 completed"]
    assert HINT not in report


def test_no_hint_for_a_run_that_failed_otherwise(tmp_path):
    app = jobsim.App("shop")

    @app.function("boom", on="order/placed", retries=0)
    def boom(ctx):
        raise KeyError("amount")

    path = tmp_path / "export.jsonl"
    path.write_text('{"name": "order/placed", "data": {}, "id": "e1", "ts": 1741003200000}\n')
    report = jobsim.Simulation.replay(path, app).report()
    assert "boom: 1 failed" in report and HINT not in report

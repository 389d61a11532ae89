"""A week of the shop's traffic as a trace file: byte for byte per seed, replayed, diffed.

Record -> save -> load -> replay -> diff, end to end, on the examples: the shop the
other example tests exercise and the traffic of ``examples/traffic.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import jobsim
from examples.shop import Shop, build_shop
from examples.support import START, at
from examples.traffic import open_shop, play_week
from jobsim import traces

ROOT = Path(__file__).resolve().parent.parent


def week(seed: int) -> jobsim.Simulation:
    """The shop's week for ``seed``, and until its last reminder (as ``test_traffic`` plays it)."""
    shop = build_shop()
    with jobsim.Simulation(shop.app, start=START, seed=seed, tz="America/New_York") as sim:
        play_week(sim, shop, seed=seed)
        sim.advance_to(at(days=7))
        sim.run_until_idle(max_time="30d")
    return sim


def hooks(shop: Shop) -> dict[str, Any]:
    """What ``examples.jobsim_setup``/``jobsim_deliver`` do, for a shop of the test's own."""

    def setup(sim: jobsim.Simulation) -> None:
        open_shop(shop, sim.now)

    def deliver(sim: jobsim.Simulation, event: jobsim.Event) -> None:
        shop.db.apply(event.name, dict(event.data), sim.now)
        sim.send(event)

    return {"setup": setup, "deliver": deliver}


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 5, 8, 13, 21, 34, 55])
def test_the_same_seed_writes_the_same_bytes(seed: int, tmp_path: Path) -> None:
    first, second = week(seed), week(seed)
    a = first.trace.save(tmp_path / "a.jobsim.jsonl").read_bytes()
    b = second.trace.save(tmp_path / "b.jobsim.jsonl").read_bytes()
    assert a == b and len(a.splitlines()) > 2_000
    raw_a = first.trace.save(tmp_path / "raw-a.jobsim.jsonl", redact=False).read_bytes()
    assert raw_a == second.trace.save(tmp_path / "raw-b.jobsim.jsonl", redact=False).read_bytes()
    if seed == 0:  # what does not depend on the seed, once (a week is a third of this test's time)
        assert first.trace.save(tmp_path / "a.gz", compress=True).read_bytes() == \
            second.trace.save(tmp_path / "b.gz", compress=True).read_bytes()  # fmt: skip
        other = week(seed + 100).trace.save(tmp_path / "c.jobsim.jsonl").read_bytes()
        assert other != a  # the seed is what made the two equal


def test_record_save_load_replay_diff(tmp_path: Path) -> None:
    recorded = week(11)
    path = recorded.trace.save(tmp_path / "week.jobsim.jsonl.gz")
    assert traces.scan(path) == []
    trace = jobsim.Trace.load(path)
    assert len(trace) == len(recorded.trace) and trace.complete

    shop = build_shop()
    result = jobsim.Simulation.replay(trace, shop.app, **hooks(shop))
    assert result.same, result.report()
    assert result.inputs == len([r for r in trace.of("event") if r.data["origin"] == "input"]) + len(
        [r for r in trace.of("event.dropped") if r.data["origin"] == "input"]
    )
    replayed = result.save(tmp_path / "replayed.jobsim.jsonl")
    comparison = traces.compare(path, replayed)
    assert comparison.same, comparison.report()
    body = lambda p: jobsim.Trace.load(p).save(tmp_path / "x.jsonl", redact=False).read_bytes().split(b"\n", 1)[1]  # noqa: E731
    assert body(replayed) == body(path)  # the replay's own trace is the recording again


def test_a_code_change_is_the_first_divergence_of_its_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = week(11).trace.save(tmp_path / "week.jobsim.jsonl")
    orders = sys.modules["examples.shop.orders"]  # (``examples.shop`` is also the default Shop's name)
    monkeypatch.setattr(orders, "is_digital", lambda item: False)  # e-books now get shipped
    shop = build_shop()
    result = jobsim.Simulation.replay(path, shop.app, **hooks(shop))
    assert not result.same
    first = result.first("process-order")  # its first order with an e-book asks to ship it
    # the event's items reach job code with their keys sorted (Inngest's JCS pass): price comes first
    assert (first.mode, first.label, first.path) == ("events", "event #2 of run #1", "data.items[0].price")
    assert (first.recorded, first.replayed) == (18.5, 12)  # the mug's price, then the e-book's
    assert result.first("daily-report").path == "metrics.orders"  # more orders complete
    unaffected = ["send-welcome-email", "send-email", "send-trial-expiration-reminder"]
    assert all(result.first(fn) is None for fn in unaffected), result.report()


def test_the_command_line_end_to_end(tmp_path: Path) -> None:
    a = week(11).trace.save(tmp_path / "a.jobsim.jsonl")
    b = week(12).trace.save(tmp_path / "b.jobsim.jsonl")

    def jobsim_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "jobsim", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=120)  # fmt: skip

    replay = jobsim_cli("replay", str(a), "--app", "examples", "--compare", "runs,emails")
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert replay.stdout.splitlines()[-1] == "same: 14 function(s), recorded and replayed agree on runs, emails"
    diff = jobsim_cli("diff", str(a), str(b), "--compare", "runs")
    assert diff.returncode == 1 and "DIFFERS" in diff.stdout
    scan = jobsim_cli("scan", str(a), str(b))
    assert scan.returncode == 0, scan.stdout


def test_jobsim_run_saves_the_trace_that_replay_reads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`jobsim run examples --save FILE`: the main job's own week as a file, redacted, and it replays the same."""
    from jobsim._cli import main

    path = tmp_path / "week.jobsim.jsonl.gz"
    assert main(["run", str(ROOT / "examples"), "--days", "2", "--no-timeline", "--save", str(path)]) == 0
    out = capsys.readouterr().out
    trace = jobsim.Trace.load(path)
    assert out.rstrip().endswith(f"trace saved to {path} ({len(trace)} records, redacted)")
    assert trace.header is not None and trace.header["seed"] == 0
    assert trace.header["redaction"]["pii"] == "pseudonymized"
    assert traces.scan(path) == []
    assert main(["replay", str(path), "--app", str(ROOT / "examples"), "--compare", "runs,emails"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("recorded and replayed agree on runs, emails")


def test_jobsim_run_refuses_no_redact_without_a_file_before_running(capsys: pytest.CaptureFixture[str]) -> None:
    from jobsim._cli import main

    assert main(["run", str(ROOT / "examples"), "--no-redact"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--no-redact applies to the trace --save FILE writes" in err


def test_jobsim_run_refuses_a_save_path_in_a_missing_folder_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from jobsim._cli import main

    target = tmp_path / "no" / "such" / "week.jobsim.jsonl"
    assert main(["run", str(ROOT / "examples"), "--save", str(target)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "does not exist; create it or save elsewhere" in err and not target.parent.exists()

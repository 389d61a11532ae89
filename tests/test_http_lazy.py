"""Client bridges applied only once their library is imported (``jobsim._bridges``): a simulation's start
imports neither aiohttp nor urllib3, and one job code imports mid-run is intercepted from its import on.

Each test runs a clean interpreter: in this one, pytest's plugins have imported both libraries already.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _imports import import_from

import jobsim
from jobsim import _bridges

ROOT = Path(__file__).resolve().parent.parent
PRELUDE = """
import json, sys
import jobsim

app = jobsim.App("lazy")
START = "2026-03-02T00:00:00Z"
"""


def run_clean(script: str) -> dict:
    """Run ``script`` in a fresh interpreter that imports this checkout's jobsim; it prints one JSON line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(PRELUDE) + textwrap.dedent(script)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_simulation_imports_no_client_library_it_does_not_need():
    result = run_clean("""
        @app.function("job", on="go")
        def job(ctx):
            return "done"

        finders = list(sys.meta_path)
        with jobsim.Simulation(app, start=START) as sim:
            watching = len(sys.meta_path) - len(finders)
            sim.send("go", {})
            sim.run_until_idle()
        print(json.dumps({"loaded": sorted(name for name in ("aiohttp", "urllib3", "requests") if name in sys.modules),
                          "output": sim.runs("job")[0].output, "watching": watching,
                          "restored": sys.meta_path == finders}))
    """)
    assert result == {"loaded": [], "output": "done", "watching": 1, "restored": True}


def test_libraries_imported_by_job_code_mid_run_go_through_the_sink_and_are_restored():
    pytest.importorskip("requests")
    pytest.importorskip("aiohttp")
    result = run_clean("""
        import importlib.machinery

        @app.function("job", on="go")
        def job(ctx):
            import asyncio
            import requests  # first imported here, while the simulation runs
            import aiohttp

            async def fetch():
                async with aiohttp.ClientSession() as session:
                    async with session.get("https://api.example.com/aio") as response:
                        return await response.text()

            return [requests.get("https://api.example.com/req", timeout=5).text, asyncio.run(fetch())]

        finders = list(sys.meta_path)
        with jobsim.Simulation(app, start=START) as sim:
            sim.http.get("https://api.example.com/req").respond(200, text="via urllib3")
            sim.http.get("https://api.example.com/aio").respond(200, text="via aiohttp")
            sim.send("go", {})
            sim.run_until_idle()
        import aiohttp, urllib3
        from urllib3.connectionpool import HTTPConnectionPool
        original = [HTTPConnectionPool._make_request.__module__, aiohttp.TCPConnector._create_connection.__module__,
                    urllib3.util.retry.random.__name__]
        loaders = {type(module.__loader__).__name__ for module in (aiohttp, urllib3)}
        loaders |= {type(module.__spec__.loader).__name__ for module in (aiohttp, urllib3)}
        print(json.dumps({"output": sim.runs("job")[0].output,
                          "calls": [(c.request.extensions["jobsim_client"], c.response.status_code)
                                    for c in sim.http.calls],
                          "original": original, "loaders": sorted(loaders), "restored": sys.meta_path == finders}))
    """)
    assert result == {
        "output": ["via urllib3", "via aiohttp"],
        "calls": [["urllib3", 200], ["aiohttp", 200]],
        "original": ["urllib3.connectionpool", "aiohttp.connector", "random"],
        "loaders": ["SourceFileLoader"],  # the libraries keep their own loader
        "restored": True,
    }


def test_a_library_imported_mid_run_answers_the_last_of_nested_simulations():
    pytest.importorskip("urllib3")
    result = run_clean("""
        outer_app, inner_app = jobsim.App("outer"), jobsim.App("inner")

        def job(ctx):
            import urllib3
            return urllib3.PoolManager().request("GET", "http://api.example.com/who").data.decode()

        for each in (outer_app, inner_app):
            each.function("job", on="go")(job)
        with jobsim.Simulation(outer_app, start=START) as outer:
            outer.http.get("http://api.example.com/who").respond(200, text="outer")
            with jobsim.Simulation(inner_app, start=START) as inner:
                inner.http.get("http://api.example.com/who").respond(200, text="inner")
                inner.send("go", {})
                inner.run_until_idle()  # urllib3 is imported here, with both sinks installed
            outer.send("go", {})
            outer.run_until_idle()
        print(json.dumps([inner.runs("job")[0].output, outer.runs("job")[0].output]))
    """)
    assert result == ["inner", "outer"]


def _fake_library(folder: Path, monkeypatch: pytest.MonkeyPatch, *, failing: bool) -> list:
    """A library ``fakelib`` bridged by ``fakebridge``, which logs what it is asked (or fails to install)."""
    import_from(folder, monkeypatch)
    sys.path.insert(0, str(folder))
    (folder / "fakelib.py").write_text("VALUE = 42\n")
    (folder / "fakebridge.py").write_text(textwrap.dedent(f"""
        LOG = []

        def install(sink):
            if {failing}:
                raise RuntimeError("cannot patch this release")
            LOG.append(("install", sink))

        def uninstall(sink):
            LOG.append(("uninstall", sink))
    """))
    monkeypatch.setitem(_bridges.BRIDGES, "fakelib", "fakebridge")
    import fakebridge

    return fakebridge.LOG


def _simulation() -> jobsim.Simulation:
    app = jobsim.App("lazy")
    app.function("job", on="go")(lambda ctx: None)
    return jobsim.Simulation(app, start="2026-03-02T00:00:00Z")


def test_the_watch_bridges_a_library_at_its_import_and_leaves_no_trace(tmp_path, monkeypatch):
    log = _fake_library(tmp_path, monkeypatch, failing=False)
    finders = list(sys.meta_path)
    with _simulation() as sim:
        assert len(sys.meta_path) == len(finders) + 1 and log == []
        import fakelib  # the watch finds it; the bridge is applied before the import returns

        assert (fakelib.VALUE, log) == (42, [("install", sim.http)])
        assert type(fakelib.__loader__).__name__ == type(fakelib.__spec__.loader).__name__ == "SourceFileLoader"
    assert log == [("install", sim.http), ("uninstall", sim.http)]
    assert sys.meta_path == finders
    with _simulation() as again:  # imported now: bridged at the start, no watch needed for it
        assert log[-1] == ("install", again.http)


def test_a_bridge_that_fails_warns_and_the_librarys_import_still_succeeds(tmp_path, monkeypatch):
    _fake_library(tmp_path, monkeypatch, failing=True)
    with _simulation(), pytest.warns(RuntimeWarning) as warned:
        import fakelib
    assert fakelib.VALUE == 42 and "fakelib" in sys.modules
    assert str(warned[0].message) == ("jobsim: fakelib was imported while a simulation runs, but its bridge to "
                                      "sim.http failed (RuntimeError: cannot patch this release); its requests are "
                                      "not simulated")


def test_every_bridge_has_its_refused_connection_described_for_the_unmatched_report():
    from jobsim import _http

    clients = {importlib.import_module(bridge).CLIENT for bridge in _bridges.BRIDGES.values()}
    assert clients == {"http.client", "urllib3", "aiohttp"} and clients < set(_http._REFUSED)

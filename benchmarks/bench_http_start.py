"""What the first simulation of a process pays for the HTTP client bridges.

The sink bridges urllib3 (requests), aiohttp and ``http.client`` by patching them. It used to import
aiohttp and urllib3 at the first simulation's start just to patch them, whether job code used them or
not; now a library is patched only once it is imported (``jobsim._bridges``). Each sample is a fresh
interpreter (a process imports a library once), which imports jobsim untimed, then times:

  start       ``Simulation(app).start()`` and ``close()``, the first of the process (this checkout);
  old path    the same after ``import aiohttp, urllib3``: what the start did before, the bridges
              applied at once because both libraries are there;

and, for the cost of the import watch a running simulation keeps in ``sys.meta_path``:

  import      ``import requests, aiohttp`` with no simulation running;
  import mid-run  the same while a simulation runs (the watch finds them and applies the bridges).

Ratios are against ``old path`` and ``import``, medians of interleaved rounds.

    python benchmarks/bench_http_start.py
    python benchmarks/bench_http_start.py --repeat 9
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import _common
from _common import REPO_ROOT, fmt_ratio, fmt_time

PRELUDE = """
import time
import jobsim

app = jobsim.App("bench")
app.function("job", on="go")(lambda ctx: None)
clock = time.perf_counter
"""
SCRIPTS = {
    "start": """
        began = clock()
        jobsim.Simulation(app, start="2026-01-01T00:00:00Z").start().close()
        print(clock() - began)
    """,
    "old path": """
        began = clock()
        import aiohttp, urllib3
        jobsim.Simulation(app, start="2026-01-01T00:00:00Z").start().close()
        print(clock() - began)
    """,
    "import": """
        began = clock()
        import requests, aiohttp
        print(clock() - began)
    """,
    "import mid-run": """
        sim = jobsim.Simulation(app, start="2026-01-01T00:00:00Z").start()
        began = clock()
        import requests, aiohttp
        elapsed = clock() - began
        from urllib3.connectionpool import HTTPConnectionPool
        assert HTTPConnectionPool._make_request.__module__ == "jobsim._urllib3", "the bridge was not applied"
        sim.close()
        print(elapsed)
    """,
}


def sample(name: str) -> float:
    """Seconds the script ``name`` timed in a fresh interpreter importing this checkout's jobsim."""
    code = textwrap.dedent(PRELUDE) + textwrap.dedent(SCRIPTS[name])
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          check=True)  # fmt: skip
    return float(done.stdout.split()[-1])


def main() -> None:
    args = _common.parse(_common.parser(__doc__.splitlines()[0]))
    _common.banner("aiohttp", "urllib3", "requests", "httpx")
    rows = []
    for names, baseline in ((("start", "old path"), "old path"), (("import", "import mid-run"), "import")):
        samples = _common.interleaved({name: (lambda name=name: sample(name)) for name in names}, repeat=args.repeat)
        medians = {name: _common.median(values) for name, values in samples.items()}
        rows += [[name, fmt_time(medians[name]), fmt_ratio(medians[name] / medians[baseline])] for name in names]
    _common.print_table(["variant", "median", "ratio"], rows)


if __name__ == "__main__":
    main()

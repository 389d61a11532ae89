"""Regenerate ``tests/data/node_cron_tasks_golden.json``: what the real node-cron does with ``noOverlap`` and
``maxExecutions``.

Needs node (20.11 or later: ``node:test`` mock timers with ``Date``) and npm (and the npm registry once);
``tests/test_node_cron_tasks.py`` reads the file and runs offline, without node::

    python tests/gen_node_cron_tasks_golden.py         # installs node-cron into a temporary directory
    python tests/gen_node_cron_tasks_golden.py DIR     # or uses DIR/node_modules if it has it

Each case schedules one task (``cron.schedule(expr, fn, options)``) under mocked ``setTimeout`` and ``Date``
from 2026-03-02T00:00:00Z, and moves the clock 1 ms at a time, letting promises settle after each step (as the
event loop would). Execution ``k`` (0-based) sleeps ``sleep[k % len]`` ms and then throws if ``fail[k % len]``.
With ``maxRandomDelay``, ``Math.random`` is replaced so that the i-th random delay ``runTask`` draws is
``delays[i]`` (node-cron calls it nowhere else); the test gives jobsim the same draws. The driver logs every
``execution:*`` and ``task:*`` event with the slot (``context.date``) and the clock, and ``call`` as the task
function is called (``execution:started`` comes before the random delay, the call after it).

A case with ``tasks`` schedules each of them in one process, in order, each with its own ``expr``, ``options``,
``sleep`` and ``fail`` (and execution count); its events name the task last. ``runTask`` calls ``Math.random``
whatever ``maxRandomDelay`` is, so there a draw is chosen by the instant, not the order: ``delays_at`` maps a
tick's seconds from the start to the delay of the task that has ``maxRandomDelay`` (at most one task ticking at
an instant may have it; the others multiply the draw by 0).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).with_name("data") / "node_cron_tasks_golden.json"
PACKAGE = "node-cron@4.6.0"
START = "2026-03-02T00:00:00Z"

CASES: list[dict[str, object]] = [
    {"name": "overlap-tie", "expr": "* * * * *", "options": {"noOverlap": True}, "sleep": [120_000],
     "fail": [False], "minutes": 10},
    {"name": "overlap-150s", "expr": "* * * * *", "options": {"noOverlap": True}, "sleep": [150_000],
     "fail": [False], "minutes": 10},
    {"name": "no-option-150s", "expr": "* * * * *", "options": {}, "sleep": [150_000], "fail": [False],
     "minutes": 6},
    {"name": "max1-overlapping", "expr": "* * * * *", "options": {"maxExecutions": 1}, "sleep": [150_000],
     "fail": [False], "minutes": 8},
    {"name": "max3-overlapping", "expr": "* * * * *", "options": {"maxExecutions": 3}, "sleep": [150_000],
     "fail": [False], "minutes": 8},
    {"name": "max2-tie", "expr": "* * * * *", "options": {"maxExecutions": 2}, "sleep": [60_000],
     "fail": [False], "minutes": 6},
    {"name": "overlap-max2", "expr": "* * * * *", "options": {"noOverlap": True, "maxExecutions": 2},
     "sleep": [120_000], "fail": [False], "minutes": 12},
    {"name": "max2-failures", "expr": "* * * * *", "options": {"maxExecutions": 2}, "sleep": [10_000],
     "fail": [True, True, False], "minutes": 8},
    {"name": "overlap-mixed-seconds", "expr": "*/20 * * * * *", "options": {"noOverlap": True},
     "sleep": [45_000, 5_000, 20_000, 61_000], "fail": [False, True], "minutes": 5},
    {"name": "delay-overlap", "expr": "* * * * *", "options": {"noOverlap": True, "maxRandomDelay": 90_000},
     "sleep": [10_000], "fail": [False], "delays": [70_000, 5_000, 80_000, 49_999, 0, 89_999, 1_000, 60_000],
     "minutes": 9},
    {"name": "delay-max-cancel", "expr": "* * * * *", "options": {"maxExecutions": 1, "maxRandomDelay": 50_000},
     "sleep": [65_000], "fail": [False], "delays": [8_000, 30_000], "minutes": 5},
    {"name": "delay-max-started-first", "expr": "* * * * *",
     "options": {"maxExecutions": 1, "maxRandomDelay": 50_000}, "sleep": [65_000], "fail": [False],
     "delays": [40_000, 20_000], "minutes": 5},
    {"name": "delay-earlier-wait-survives", "expr": "* * * * *",
     "options": {"maxExecutions": 1, "maxRandomDelay": 150_000}, "sleep": [150_000], "fail": [False],
     "delays": [0, 100_000, 80_000], "minutes": 7},
    {"name": "delay-overlap-max2", "expr": "* * * * *",
     "options": {"noOverlap": True, "maxExecutions": 2, "maxRandomDelay": 60_000}, "sleep": [30_000],
     "fail": [True, False], "delays": [59_999, 0, 30_000, 45_000, 10_000], "minutes": 8},
    {"name": "two-tasks", "minutes": 10, "tasks": [
        {"name": "report", "expr": "* * * * *", "options": {"noOverlap": True}, "sleep": [150_000], "fail": [False]},
        {"name": "sync", "expr": "* * * * *", "options": {"maxExecutions": 2}, "sleep": [150_000], "fail": [False]},
    ]},
    {"name": "three-tasks-delay", "minutes": 9, "tasks": [
        {"name": "report", "expr": "* * * * *", "options": {"noOverlap": True, "maxRandomDelay": 90_000},
         "sleep": [10_000], "fail": [False], "delays_at": {"60": 70_000, "120": 5_000, "180": 80_000,
                                                          "240": 49_999, "300": 0, "360": 89_999, "420": 1_000,
                                                          "480": 60_000}},
        {"name": "sync", "expr": "* * * * *", "options": {}, "sleep": [150_000], "fail": [False]},
        {"name": "prune", "expr": "*/2 * * * *", "options": {"noOverlap": True, "maxExecutions": 1},
         "sleep": [150_000], "fail": [False]},
    ]},
]  # fmt: skip

DRIVER = r"""
import { mock } from 'node:test';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const c = JSON.parse(readFileSync(0, 'utf8'));
mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: Date.parse(c.start) });
const cron = (await import(pathToFileURL(process.argv[1] + '/node_modules/node-cron/dist/node-cron.js'))).default;
cron.setLogger({ info() {}, warn() {}, error() {}, debug() {} });
const log = [];
let draw = 0;  // maxRandomDelay: Math.random answers so that runTask's Math.floor(...) is the case's next delay
if (c.delays) Math.random = () => (c.delays[draw++] + 0.5) / c.options.maxRandomDelay;
const start = Date.parse(c.start);
if (c.tasks) Math.random = () => {  // several tasks: the delay of the one with maxRandomDelay ticking now
  const at = String((Date.now() - start) / 1000);
  const t = c.tasks.find((t) => t.delays_at && at in t.delays_at);
  return t ? (t.delays_at[at] + 0.5) / t.options.maxRandomDelay : 0;
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
for (const t of c.tasks ?? [c]) {
  const named = (entry) => (c.tasks ? [...entry, t.name] : entry);
  let n = 0;
  const task = cron.schedule(t.expr, async (ctx) => {
    log.push(named(['call', ctx.date.getTime(), Date.now()]));  // the function itself starts (after any delay)
    const k = n++;
    await sleep(t.sleep[k % t.sleep.length]);
    if (t.fail[k % t.fail.length]) throw new Error('boom');
  }, t.options);
  for (const ev of ['execution:started', 'execution:finished', 'execution:failed', 'execution:overlap',
                    'execution:maxReached', 'task:destroyed']) {
    task.on(ev, (ctx) => log.push(named([ev, ctx.date.getTime(), Date.now()])));
  }
}
for (let i = 0; i < c.minutes * 60000; i++) {
  mock.timers.tick(1);
  await new Promise((resolve) => setImmediate(resolve));
}
process.stdout.write(JSON.stringify(log));
process.exit(0);
"""


def install(directory: Path) -> None:
    if (directory / "node_modules" / "node-cron").exists():
        return
    subprocess.run(["npm", "install", "--no-save", "--prefix", str(directory), PACKAGE], check=True)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(scratch)
        install(directory)
        version = json.loads((directory / "node_modules" / "node-cron" / "package.json").read_text())["version"]
        node = subprocess.run(["node", "--version"], check=True, capture_output=True, text=True).stdout.strip()
        cases = []
        for case in CASES:
            answer = subprocess.run(["node", "--no-warnings", "--input-type=module", "-e", DRIVER, str(directory)],
                                    input=json.dumps({**case, "start": START}), check=True, capture_output=True,
                                    text=True).stdout  # fmt: skip
            cases.append({**case, "events": json.loads(answer)})
    document = {"generator": "tests/gen_node_cron_tasks_golden.py", "node-cron": version, "node": node,
                "start": START, "cases": cases}  # fmt: skip
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(document, indent=1) + "\n")
    print(f"{OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()

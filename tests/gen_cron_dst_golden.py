"""Regenerate ``tests/data/cron_dst_golden.json``: next-fire instants from the real JavaScript parsers.

Needs node and npm (and the npm registry once); ``tests/test_cron_dst_golden.py`` reads the file and
runs offline, without node::

    python tests/gen_cron_dst_golden.py            # installs the parsers into a temporary directory
    python tests/gen_cron_dst_golden.py DIR        # or uses DIR/node_modules if it has them

The parsers are the ones jobsim's profiles run (``jobsim/_dialects.py``): cron-parser 5.10.6 (BullMQ,
Agenda), cron-parser 4.9.0 (Trigger.dev, Quirrel) and node-cron 4.6.0. Each is asked as its scheduler asks:
BullMQ and Agenda parse the expression again from the last run (``currentDate``), node-cron calls
``TimeMatcher.getNextMatch`` on the last slot. The zones are the unusual ones (a 30-minute change on Lord
Howe, midnight changes in Santiago and Havana, Casablanca's Ramadan change, Dublin's negative DST in
tzdata, Chatham's +12:45 and Kathmandu's +05:45) and four common ones, over 2025:

* ``chain``: every fire from the previous one, stored as run-lengths of the gaps between fires: all of
  2025 for the daily and weekly expressions, 36 hours either side of each change of offset for the others;
* ``next``: one fire after each half hour from 3 hours before to 3 hours after each change of offset
  (a first query that starts inside a repeated hour, or inside a gap).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

OUT = Path(__file__).with_name("data") / "cron_dst_golden.json"
PACKAGES = {"cp5": "cron-parser@5.10.6", "cp4": "cron-parser@4.9.0", "node-cron": "node-cron@4.6.0"}
EXOTIC = ("Australia/Lord_Howe", "America/Santiago", "America/Havana", "Africa/Casablanca", "Pacific/Chatham",
          "Asia/Kathmandu", "Europe/Dublin")  # fmt: skip
COMMON = ("America/New_York", "Europe/London", "Europe/Berlin", "Australia/Sydney")
DAILY = ("0 0 * * *", "30 0 * * *", "0 1 * * *", "30 1 * * *", "0 2 * * *", "30 2 * * *", "0 3 * * *",
         "0 2 * * 0")  # fmt: skip
OFTEN = ("*/30 * * * *", "0 * * * *", "*/20 1 * * *")
YEAR = 2025

DRIVER = r"""
const path = require('path');
const base = process.argv[1];
const cp5 = require(path.join(base, 'node_modules/cp5'));
const cp4 = require(path.join(base, 'node_modules/cp4'));
const { TimeMatcher } = require(path.join(base, 'node_modules/node-cron/dist/_shared.cjs'));
function next(parser, expr, tz, ms) {
  if (parser === 'node-cron') return new TimeMatcher(expr, tz).getNextMatch(new Date(ms)).getTime();
  const options = { currentDate: new Date(ms), tz };
  const it = parser === 'cp5' ? cp5.CronExpressionParser.parse(expr, options) : cp4.parseExpression(expr, options);
  return it.next().getTime();
}
const out = [];
for (const c of JSON.parse(require('fs').readFileSync(0, 'utf8'))) {
  if (c.kind === 'chain') {
    const fires = []; let t = c.start * 1000;
    while (true) {
      try { t = next(c.parser, c.expr, c.zone, t); }
      catch (e) { fires.push(`${e.message} (asked at ${t / 1000})`); break; }
      if (t > c.end * 1000) break;
      fires.push(t / 1000);
    }
    out.push(fires);
  } else {
    out.push(c.starts.map((s) => {
      try { return next(c.parser, c.expr, c.zone, s * 1000) / 1000; } catch (e) { return e.message; }
    }));
  }
}
process.stdout.write(JSON.stringify(out));
"""


def transitions(zone: str) -> list[int]:
    """The instants (epoch seconds) in YEAR at which the zone's UTC offset changes."""
    tz = ZoneInfo(zone)
    start = int(dt.datetime(YEAR, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    end = int(dt.datetime(YEAR + 1, 1, 1, tzinfo=dt.timezone.utc).timestamp())

    def offset(t: int) -> dt.timedelta | None:
        return dt.datetime.fromtimestamp(t, tz).utcoffset()

    out, t = [], start
    while t < end:
        if offset(t + 3600) != offset(t):
            low, high = t, t + 3600
            while high - low > 1:
                mid = (low + high) // 2
                low, high = (mid, high) if offset(mid) == offset(t) else (low, mid)
            out.append(high)
        t += 3600
    return out


def run_lengths(start: int, fires: list[int | str]) -> list[list[int] | str]:
    """``[[gap, times], ...]`` between the fires; an error the parser threw ends the chain, as its message."""
    out: list[list[int] | str] = []
    previous = start
    for fire in fires:
        if isinstance(fire, str):
            out.append(fire)
            break
        gap, previous = fire - previous, fire
        if out and isinstance(out[-1], list) and out[-1][0] == gap:
            out[-1][1] += 1
        else:
            out.append([gap, 1])
    return out


def cases() -> list[dict[str, object]]:
    start = int(dt.datetime(YEAR - 1, 12, 31, tzinfo=dt.timezone.utc).timestamp())
    end = int(dt.datetime(YEAR + 1, 1, 2, tzinfo=dt.timezone.utc).timestamp())
    out: list[dict[str, object]] = []
    for parser in PACKAGES:
        for zone in EXOTIC:
            for expr in DAILY:
                out.append({"kind": "chain", "parser": parser, "zone": zone, "expr": expr, "start": start,
                            "end": end})  # fmt: skip
            for change in transitions(zone) or [start + 86_400]:
                for expr in OFTEN:
                    out.append({"kind": "chain", "parser": parser, "zone": zone, "expr": expr,
                                "start": change - 36 * 3600, "end": change + 36 * 3600})  # fmt: skip
        for zone in EXOTIC + COMMON:
            for change in transitions(zone):
                starts = list(range(change - 3 * 3600, change + 3 * 3600 + 1, 1800))
                for expr in DAILY + OFTEN:
                    out.append({"kind": "next", "parser": parser, "zone": zone, "expr": expr, "starts": starts})
    return out


def install(directory: Path) -> None:
    if all((directory / "node_modules" / name).exists() for name in PACKAGES):
        return
    aliases = [f"{name}@npm:{spec}" if name != "node-cron" else spec for name, spec in PACKAGES.items()]
    subprocess.run(["npm", "install", "--no-save", "--prefix", str(directory), *aliases], check=True)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(scratch)
        install(directory)
        todo = cases()
        answer = subprocess.run(["node", "-e", DRIVER, str(directory)], input=json.dumps(todo), check=True,
                                capture_output=True, text=True).stdout  # fmt: skip
        versions = {name: json.loads((directory / "node_modules" / name / "package.json").read_text())["version"]
                    for name in PACKAGES}  # fmt: skip
        tz = subprocess.run(["node", "-p", "process.versions.tz"], check=True, capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    for case, fires in zip(todo, json.loads(answer), strict=True):
        if case["kind"] == "chain":
            case["fires"] = run_lengths(int(case["start"]), fires)  # type: ignore[call-overload]
        else:
            case["fires"] = fires
    document = {"generator": "tests/gen_cron_dst_golden.py", "versions": versions, "node_tzdata": tz,
                "cases": todo}  # fmt: skip
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    print(f"{OUT}: {len(todo)} cases")


if __name__ == "__main__":
    main()

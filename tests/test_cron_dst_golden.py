"""jobsim's next-fire instants across DST against the real parsers' (``tests/data/cron_dst_golden.json``).

The golden file holds what cron-parser 5.10.6 (BullMQ, Agenda), cron-parser 4.9.0 (Trigger.dev,
Quirrel) and node-cron 4.6.0 answered for daily, weekly and sub-hourly expressions in zones with
unusual changes (Lord Howe's 30 minutes, Santiago's and Havana's at midnight, Casablanca's Ramadan,
Dublin's negative DST, Chatham's +12:45, Kathmandu's +05:45) and in New York, London, Berlin and
Sydney, over 2025: whole chains of fires (each asked from the previous one, as the schedulers ask),
and single queries from every quarter hour around each change (inside a gap or a repeated hour).
``tests/gen_cron_dst_golden.py`` wrote it (it needs node and npm); this test runs offline.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobsim._cron import CronSchedule
from jobsim._dialects import CRON_PARSER, NODE_CRON, TRIGGER_DEV_CRON, CronDialect
from jobsim._time import SECOND

GOLDEN = json.loads((Path(__file__).with_name("data") / "cron_dst_golden.json").read_text())
DIALECTS: dict[str, tuple[str, CronDialect]] = {
    "cp5": ("bullmq", CRON_PARSER), "cp4": ("trigger.dev", TRIGGER_DEV_CRON), "node-cron": ("node-cron", NODE_CRON)}


def schedule(case: dict[str, object]) -> CronSchedule:
    system, dialect = DIALECTS[str(case["parser"])]
    return dialect.bind(CronSchedule.parse(str(case["expr"]), str(case["zone"]), seconds=True), system=system,
                        function="golden")  # fmt: skip


def expanded(start: int, runs: list[list[int] | str]) -> list[int | str]:
    out: list[int | str] = []
    t = start
    for run in runs:
        if isinstance(run, str):
            out.append("error")
            break
        for _ in range(run[1]):
            t += run[0]
            out.append(t)
    return out


def jobsim_chain(case: dict[str, object], count: int) -> list[int | str]:
    bound, t, out = schedule(case), int(case["start"]) * SECOND, []  # type: ignore[call-overload]
    for _ in range(count):
        t = bound.next_after(t)
        if t > int(case["end"]) * SECOND:  # type: ignore[call-overload]
            break
        out.append(t // SECOND)
    return out


NOT_SIMULATED = ("Australia/Lord_Howe", "Pacific/Chatham")
"""Zones where jobsim does not follow cron-parser (4.9.0 and 5.10.6 alike), which goes wrong there: across Lord
Howe's 30-minute changes it skips times that exist (``*/30`` asked at 01:30 on 2025-10-05 answers 03:00, not
02:30) and 5.10.6 throws "loop limit exceeded" for ``0 1 * * *``; around Chatham's change at 02:45 it answers
04:00 for ``0 2 * * *`` asked at 01:45. jobsim runs the wall times that exist there, once each."""


def mismatches(parser: str) -> list[str]:
    out = []
    for case in GOLDEN["cases"]:
        if case["parser"] != parser or (parser != "node-cron" and case["zone"] in NOT_SIMULATED):
            continue
        label = f"{case['parser']} {case['zone']} {case['expr']!r}"
        if case["kind"] == "chain":
            real = expanded(case["start"], case["fires"])
            ours: list[int | str] = jobsim_chain(case, len(real) + 1)
            if "error" in real:
                ours = [*ours[: len(real) - 1], "error"]
            if ours != real:
                pairs = enumerate(zip(ours, real, strict=False))
                at = next((i for i, (a, b) in pairs if a != b), min(len(ours), len(real)))
                out.append(f"{label} chain: fire {at}: jobsim {ours[at:at + 2]}, real {real[at:at + 2]}")
        else:
            bound = schedule(case)
            for start, fire in zip(case["starts"], case["fires"], strict=True):
                if isinstance(fire, str):
                    continue  # the parser threw; nothing to compare
                ours_one = bound.next_after(start * SECOND) // SECOND
                if ours_one != fire:
                    out.append(f"{label} asked at {start}: jobsim {ours_one}, real {fire}")
    return out


@pytest.mark.parametrize("parser", sorted(DIALECTS))
def test_next_fires_match_the_real_parser_across_dst(parser):
    assert mismatches(parser) == []

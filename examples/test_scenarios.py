"""The shipped scenarios, compared across the seven systems: the tables are pinned.

Each table is the seed's comparison, measured. If a profile's semantics change,
the table changes here first — read the diff against the profile's docstring.
"""

from __future__ import annotations

import pytest

import jobsim
from examples.scenarios import crash_mid_step, dst_weekend, duplicate_tick, flaky_email, outage
from jobsim._cli import main

FLAKY_EMAIL = """\
flaky-email: the digest's email provider answers 503 twice each morning (3 days, no retry settings)
(times in UTC, seed 0)
profile      runs  done  failed  lost  dupes  emails  first done          last done
-----------  ----  ----  ------  ----  -----  ------  ------------------  ------------------
inngest         3     3       0     0      0       3  03-03 09:01:01.906  03-05 09:01:10.595
bullmq          3     0       3     0      0       0  -                   -
trigger.dev     3     0       3     0      0       0  -                   -
quirrel         3     0       3     0      0       0  -                   -
agenda          3     0       3     0      0       0  -                   -
node-cron       3     0       3     0      0       0  -                   -
vercel-cron     3     0       3     0      0       0  -                   -
"""

OUTAGE = """\
outage-0900: the system is down 08:00-10:00 UTC, across the 09:00 report and four 30-minute syncs
(times in UTC, seed 0)
profile      function        runs  done  failed  lost  dupes  emails  first done          last done
-----------  --------------  ----  ----  ------  ----  -----  ------  ------------------  ------------------
inngest      daily-report       1     1       0     0      0       1  03-03 10:00:00.000  03-03 10:00:00.000
inngest      sync-inventory    48    48       0     0      0       0  03-03 00:30:00.000  03-04 00:00:00.000
bullmq       daily-report       1     1       0     0      0       1  03-03 10:00:00.000  03-03 10:00:00.000
bullmq       sync-inventory    44    44       0     4      0       0  03-03 00:30:00.000  03-04 00:00:00.000
trigger.dev  daily-report       1     1       0     0      0       1  03-03 10:00:00.000  03-03 10:00:00.000
trigger.dev  sync-inventory    45    45       0     3      0       0  03-03 00:30:00.000  03-04 00:00:00.000
quirrel      daily-report       1     1       0     0      0       1  03-03 10:00:00.000  03-03 10:00:00.000
quirrel      sync-inventory    48    48       0     0      0       0  03-03 00:30:00.000  03-04 00:00:00.000
agenda       daily-report       1     1       0     0      0       1  03-03 10:00:00.000  03-03 10:00:00.000
agenda       sync-inventory    44    44       0     4      0       0  03-03 00:30:00.000  03-04 00:00:00.000
node-cron    daily-report       0     0       0     1      0       0  -                   -
node-cron    sync-inventory    44    44       0     4      0       0  03-03 00:30:00.000  03-04 00:00:00.000
vercel-cron  daily-report       0     0       0     1      0       0  -                   -
vercel-cron  sync-inventory    43    43       0     4      0       0  03-03 00:30:53.117  03-03 23:30:08.873
"""

CRASH_MID_STEP = """\
crash-mid-step: the billing worker dies at 09:00:10, 10 s into 'send-receipts' (after 'charge-cards')
(times in UTC, seed 0)
profile      runs  done  failed  lost  dupes  emails  charges  first done          last done
-----------  ----  ----  ------  ----  -----  ------  -------  ------------------  ------------------
inngest         1     1       0     0      0       2        1  03-03 09:00:54.310  03-03 09:00:54.310
bullmq          1     1       0     0      0       2        2  03-03 09:00:50.000  03-03 09:00:50.000
trigger.dev     1     0       1     0      0       1        1  -                   -
quirrel         1     0       1     0      0       1        1  -                   -
agenda          1     1       0     0      0       2        2  03-03 09:10:15.000  03-03 09:10:15.000
node-cron       1     0       0     1      0       1        1  -                   -
vercel-cron     1     0       0     1      0       0        0  -                   -
"""

DST_WEEKEND = """\
dst-weekends: 01:30 and 02:30 New York, 2025-10-31 to 2026-03-09 (fall back 11-02, spring forward 03-08)
(times in America/New_York, seed 0)
profile      function         runs  done  failed  lost  dupes  emails  skipped  doubled  first done      last done
-----------  ---------------  ----  ----  ------  ----  -----  ------  -------  -------  --------------  --------------
inngest      nightly-billing   131   131       0     0      0       0        0        1  10-31 01:30:00  03-09 01:30:00
inngest      nightly-backup    129   129       0     0      0       0        1        0  10-31 02:30:00  03-09 02:30:00
bullmq       nightly-billing   130   130       0     0      0       0        0        0  10-31 01:30:00  03-09 01:30:00
bullmq       nightly-backup    130   130       0     0      0       0        0        0  10-31 02:30:00  03-09 02:30:00
trigger.dev  nightly-billing   130   130       0     0      0       0        0        0  10-31 01:30:00  03-09 01:30:00
trigger.dev  nightly-backup    130   130       0     0      0       0        0        0  10-31 02:30:00  03-09 02:30:00
quirrel      nightly-billing   130   130       0     0      0       0        0        0  10-31 01:30:00  03-09 01:30:00
quirrel      nightly-backup    130   130       0     0      0       0        0        0  10-31 02:30:00  03-09 02:30:00
agenda       nightly-billing   130   130       0     0      0       0        0        0  10-31 01:30:00  03-09 01:30:00
agenda       nightly-backup    130   130       0     0      0       0        0        0  10-31 02:30:00  03-09 02:30:00
node-cron    nightly-billing   130   130       0     0      0       0        0        0  10-31 01:30:00  03-09 01:30:00
node-cron    nightly-backup    129   129       0     0      0       0        1        0  10-31 02:30:00  03-09 02:30:00
vercel-cron  nightly-billing  unsupported: tz='America/New_York': schedules are always UTC; write the schedule in UTC
vercel-cron  nightly-backup   unsupported: tz='America/New_York': schedules are always UTC; write the schedule in UTC
"""

DUPLICATE_TICK = """\
duplicate-tick: the 03-03 09:00 tick of the daily digest is delivered twice (2 days)
(times in UTC, seed 0)
profile      runs  done  failed  lost  dupes  emails  first done          last done
-----------  ----  ----  ------  ----  -----  ------  ------------------  ------------------
inngest         2     2       0     0      0       2  03-03 09:00:00.000  03-04 09:00:00.000
bullmq          2     2       0     0      0       2  03-03 09:00:00.000  03-04 09:00:00.000
trigger.dev     2     2       0     0      0       2  03-03 09:00:00.000  03-04 09:00:00.000
quirrel         2     2       0     0      0       2  03-03 09:00:00.000  03-04 09:00:00.000
agenda          2     2       0     0      0       2  03-03 09:00:00.000  03-04 09:00:00.000
node-cron       2     2       0     0      0       2  03-03 09:00:00.000  03-04 09:00:00.000
vercel-cron     3     3       0     0      1       3  03-03 09:00:02.652  03-04 09:00:29.098
"""


@pytest.mark.parametrize(
    ("module", "table"),
    [
        (flaky_email, FLAKY_EMAIL),
        (outage, OUTAGE),
        (crash_mid_step, CRASH_MID_STEP),
        (dst_weekend, DST_WEEKEND),
        (duplicate_tick, DUPLICATE_TICK),
    ],
    ids=lambda value: getattr(value, "__name__", "table").rsplit(".", 1)[-1],
)
def test_comparison_table(module, table):
    assert jobsim.compare(module.scenario).table() + "\n" == table


@pytest.mark.usefixtures("from_the_root")
def test_the_command_prints_the_same_table(capsys):
    assert main(["compare", "examples/scenarios/duplicate_tick.py"]) == 0
    assert capsys.readouterr().out == DUPLICATE_TICK


@pytest.mark.usefixtures("from_the_root")
def test_the_command_runs_every_scenario_of_a_package_with_the_profiles_asked_for(capsys):
    assert main(["compare", "examples/scenarios", "--profiles", "vercel-cron"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("\nvercel-cron ") == 7 and printed.count("\n\n") == 4  # 5 tables; 2 measure 2 functions

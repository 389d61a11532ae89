"""Profiles checked against the source rules of ``reference/semantics.md``, exact virtual instants.

Each test names the rule it pins and the source line it comes from.
"""

import pytest

import jobsim


def _schedule_runs(profile, down, until, cron="*/10 * * * *"):
    app = jobsim.App("audit")

    @app.function("sync", cron=cron)
    def sync(ctx):
        return ctx.event.data["scheduledAt"]

    with jobsim.Simulation(app, start="2026-03-02T00:00:00Z", profile=profile) as sim:
        sim.downtime(*down)
        sim.advance_to(until)
    return [f"{r.output[11:16]}@{r.started_at:%H:%M}" for r in sim.runs("sync")]


@pytest.mark.parametrize(
    ("down", "runs"),
    [
        # back between ticks: the pending 00:10 job fires late; 00:20 and 00:30 have expired, so the next
        # occurrence is the first future one (00:40)
        (("00:05", "00:35"), ["00:10@00:35", "00:40@00:40", "00:50@00:50"]),
        # back on a tick: prev(now + 1 ms) = 00:30 is still eligible (effectiveAt >= now): it runs too
        (("00:05", "00:30"), ["00:10@00:30", "00:30@00:30", "00:40@00:40", "00:50@00:50"]),
        (("00:15", "00:30"), ["00:10@00:10", "00:20@00:30", "00:30@00:30", "00:40@00:40", "00:50@00:50"]),
        # nothing missed but the tick at the very end: it runs once, on time
        (("00:25", "00:30"), ["00:10@00:10", "00:20@00:20", "00:30@00:30", "00:40@00:40", "00:50@00:50"]),
    ],
)
def test_trigger_dev_missed_schedule_runs_its_pending_tick_late(down, runs):
    """Trigger.dev's schedule engine keeps one worker job per schedule instance, for the next nominal tick.
    After a downtime that job runs late and triggers *its own* tick (triggerScheduledTask has no lateness
    check; payload.timestamp = exactScheduleTime); then calculateNextSchedulableOccurrence
    (schedule-engine scheduleCalculation.ts) finds the next tick after it expired and jumps to
    prev(now + 1 ms) if its effectiveAt >= now — without a window only a tick due exactly now — else to the
    first tick after now. So the "one late catch-up" is the first missed tick, not the latest: jobsim ran
    the latest missed tick (00:30 at 00:35) and never the first."""
    day = "2026-03-02T"
    got = _schedule_runs("trigger.dev", (f"{day}{down[0]}:00Z", f"{day}{down[1]}:00Z"), f"{day}00:50:00Z")
    assert got == runs


def test_trigger_dev_profile_text_names_the_pending_catch_up():
    doc = " ".join(jobsim.profile("trigger.dev").doc.split())
    assert "the first missed tick" in doc and "latest missed tick" not in doc

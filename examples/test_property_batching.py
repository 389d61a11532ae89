"""§3.6 batched notifications, as a rule-based state machine: no notification is ever lost silently.

``jobsim.strategies.machine`` turns plain functions into a Hypothesis state machine:
each example opens a fresh shop, then runs a random program of *send a notification*,
*advance time*, *inject a fault* (failed attempts of the batch function's body or of a
user's ``get-user-*`` step, retried or not) and *a burst of 100+ notifications for one
user* (a full batch). After every step no notification sits in two batches; at the end,
once everything has run:

* every ``notification/send`` event was in exactly one run of ``send-batch-notifications``;
* each one is in the digest email that run sent its user — or that run reported the
  digest as failed in its output, or the run itself failed and said so with an
  ``inngest/function.failed`` event. Nothing disappears without a trace;
* every retry waited what the policy says.
"""

from __future__ import annotations

from typing import Any

import httpx
from hypothesis import settings
from hypothesis import strategies as st

import jobsim
from examples.shop import Shop, build_shop
from examples.support import START
from examples.traffic import third_parties
from jobsim import invariants
from jobsim import strategies as js

HTTP = httpx.Client(timeout=30)
BATCH = "send-batch-notifications"
USERS = ("u1", "u2", "u3")

notifications = st.builds(
    lambda user, n: {"userId": user, "title": f"Note {n}", "body": f"body of note {n}"},
    st.sampled_from(USERS), st.integers(0, 10**6),
)  # fmt: skip


def open_shop() -> Shop:
    return build_shop(http=HTTP)


def burst(sim: Any, shop: Shop, draw: Any) -> None:
    """A full batch at once: 100 or more notifications for one user."""
    user, size = draw(st.sampled_from(USERS)), draw(st.integers(100, 105))
    sim.send([jobsim.Event("notification/send", {"userId": user, "title": f"Burst {k}", "body": f"burst {k}"})
              for k in range(size)])  # fmt: skip


def no_event_in_two_batches(sim: jobsim.Simulation, shop: Shop) -> None:
    ids = [event.id for run in sim.runs(BATCH) for event in run.events]
    invariants.at_most_once(ids, key=lambda event_id: event_id, what="notification in a batch")


def no_notification_lost(sim: jobsim.Simulation, shop: Shop) -> None:
    invariants.every_event_handled(sim, BATCH, statuses=None, once=True)
    announced = {e.data["run_id"] for e in sim.events if e.name == "inngest/function.failed"}
    sent_by = {r.data["message_id"]: r.data.get("run") for r in sim.trace.of("email")}
    lost = []
    for run in sim.runs(BATCH):
        if run.status == "failed":
            assert run.id in announced, f"{run} failed without inngest/function.failed"
            continue
        assert run.status == "completed", run
        reported = {r["userId"] for r in run.output["results"] if not r["success"]}
        digests = [m for m in sim.mail.outbox if sent_by.get(m.message_id) == run.id]
        for event in run.events:
            note = event.data
            mailed = any(m.to == [f"{note['userId']}@example.com"] and f"• {note['title']}: {note['body']}" in m.text
                         for m in digests)  # fmt: skip
            if not mailed and note["userId"] not in reported:
                lost.append((run.id, note))
    assert not lost, f"notifications in no digest and in no reported failure: {lost}"
    invariants.retries_respect_policy(sim, BATCH)


def connect(sim: jobsim.Simulation, shop: Shop) -> None:
    third_parties(sim)


NotificationMachine = js.machine(
    open_shop,
    targets="app",
    events={"notification/send": notifications},
    advance=js.durations("1s", "2m", near=["30s"], spread="2s"),
    faults=js.faults(functions={BATCH: [None, *(f"get-user-{u}" for u in USERS)]}, kinds="fail"),
    rules={"burst": burst},
    invariants=[no_event_in_two_batches],
    at_end=[no_notification_lost],
    on_start=connect,
    start=START,
    name="NotificationMachine",
    settings=settings(deadline=None, stateful_step_count=20),
)
TestNotificationMachine = NotificationMachine.TestCase

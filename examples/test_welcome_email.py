"""§3.1 ``send-welcome-email``: Resend over HTTP, 3 attempts, backoff 1 s, 2 s (max 1 h)."""

from __future__ import annotations

import httpx
import pytest

import jobsim
from examples.shop.mailer import RESEND_EMAILS
from examples.support import SEED, START, T0, at, events, mail, only, resend_outage
from examples.traffic import third_parties

ADA = {"userId": "user_ada", "email": "ada@example.com", "name": "Ada Lovelace", "source": "web"}
SUBJECT = "Welcome to Acme, Ada Lovelace!"


def welcome_calls(sim: jobsim.Simulation) -> list[object]:
    return [
        c
        for c in sim.http.calls
        if str(c.request.url) == RESEND_EMAILS and b"welcome_email" in c.request.content
    ]


def test_welcome_email_goes_out_at_signup(sim: jobsim.Simulation) -> None:
    sim.send("user/created", ADA)
    sim.advance("1m")

    run = only(sim.runs("send-welcome-email"))
    assert (run.status, run.started_at, run.finished_at) == ("completed", T0, T0)
    email = only(mail(sim, SUBJECT))
    assert email.provider == "resend"
    assert email.sender == "welcome@acme.com"
    assert email.to == ["ada@example.com"]
    assert email.sent_at == T0
    assert "Your account has been created with email: ada@example.com" in email.text
    assert "<h1>Welcome to Acme!</h1>" in email.html
    assert run.output == {
        "success": True,
        "messageId": email.message_id,
        "userId": "user_ada",
        "email": "ada@example.com",
    }
    sent = only([e for e in events(sim, "email/sent") if e.data["messageId"] == email.message_id])
    assert sent.data == {
        "to": "ada@example.com",
        "template": "welcome",
        "messageId": email.message_id,
        "sentAt": "2025-03-03T00:00:00.000Z",
    }


def test_name_is_optional_in_the_subject(sim: jobsim.Simulation) -> None:
    sim.send("user/created", {"userId": "user_x", "email": "x@example.com"})
    sim.advance("1m")
    assert only(mail(sim, "Welcome to Acme")).subject == "Welcome to Acme!"


def test_a_reply_without_id_reports_unknown_in_the_event_and_no_id_in_the_output(
    sim: jobsim.Simulation,
) -> None:
    """The seed's event falls back to ``'unknown'`` (``data?.id || 'unknown'``); its output has no ``messageId``."""
    sim.http.post(RESEND_EMAILS).mock(return_value=httpx.Response(200, json={}))
    sim.send("user/created", ADA)
    sim.advance("1m")

    run = only(sim.runs("send-welcome-email"))
    assert (run.status, run.finished_at) == ("completed", T0)
    # `messageId: data?.id` is undefined, which the run's JSON output leaves out.
    assert run.output == {"success": True, "userId": "user_ada", "email": "ada@example.com"}
    # Two: this function's, and the fan-out's `send-email` (its welcome), which uses the same fallback.
    sent = [e for e in events(sim, "email/sent") if e.data["template"] == "welcome"]
    assert [e.data["messageId"] for e in sent] == ["unknown", "unknown"]


def test_provider_down_twice_retries_after_1s_then_2s(sim: jobsim.Simulation) -> None:
    resend_outage(sim, failures=2, subject=SUBJECT)
    sim.send("user/created", ADA)
    sim.advance("1m")

    run = only(sim.runs("send-welcome-email"))
    assert [(a.number, a.started_at) for a in run.attempts] == [(0, at(0)), (1, at(1)), (2, at(3))]
    assert [type(a.error) for a in run.attempts] == [RuntimeError, RuntimeError, type(None)]
    assert str(run.attempts[0].error).startswith("Email sending failed: ")
    assert [c.at for c in welcome_calls(sim)] == [at(0), at(1), at(3)]
    assert [c.response.status_code for c in welcome_calls(sim)] == [500, 500, 200]
    assert (run.status, run.finished_at) == ("completed", at(3))
    email = only(mail(sim, SUBJECT))
    assert email.sent_at == at(3)
    assert (
        only([e for e in events(sim, "email/sent") if e.data["messageId"] == email.message_id]).ts
        == 1740960003000
    )


def test_provider_down_for_good_fails_after_the_third_attempt(sim: jobsim.Simulation) -> None:
    resend_outage(sim, failures=10, subject=SUBJECT)
    sim.send("user/created", ADA)
    sim.advance("2h")

    run = only(sim.runs("send-welcome-email"))
    assert [a.started_at for a in run.attempts] == [at(0), at(1), at(3)]
    assert (run.status, run.finished_at) == ("failed", at(3))
    assert str(run.error).startswith("Email sending failed: ")
    assert mail(sim, SUBJECT) == []
    # The only email/sent is the other welcome's (process-user-signup -> email/send), not affected.
    other = only(mail(sim, "Welcome to Our Platform!"))
    assert [e.data["messageId"] for e in events(sim, "email/sent")] == [other.message_id]
    assert other.sent_at == T0
    failed = only(
        [
            e
            for e in events(sim, "inngest/function.failed")
            if e.data["function_id"] == "send-welcome-email"
        ]
    )
    assert failed.ts == 1740960003000


@pytest.mark.jobsim(start=START, seed=SEED)
def test_the_plugins_jobsim_fixture_simulates_the_same_shop(jobsim: jobsim.Simulation) -> None:
    """``conftest.py`` overrides ``jobsim_app``, so the plugin's fixture runs this shop too."""
    third_parties(jobsim)
    jobsim.send("user/created", ADA)
    jobsim.advance("1m")

    email = jobsim.mail.assert_sent(subject=SUBJECT, to="ada@example.com", provider="resend")
    assert email.sent_at == T0

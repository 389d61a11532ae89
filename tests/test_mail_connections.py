"""A connection the mail sink takes must be one a real worker could open: a bad port or socket is named in the job.

The in-memory SMTP server answered any port, so ``smtplib.SMTP(host, "garbage")`` (a port read from a
misspelt setting) delivered in the simulation what a worker's socket refuses (``socket.gaierror``,
``OverflowError``): the test passed and production failed. A ``sock=`` that is no socket was kept, and
failed only when the connection closed, inside an asyncio callback that logged it and went on.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest

import jobsim

START = "2025-03-01T00:00:00Z"


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "shop@x.test", "ada@x.test", "Your order"
    message.set_content("Thanks!")
    return message


def _run(handler: Any) -> jobsim.Simulation:
    app = jobsim.App("shop")
    app.function("mail", on="order/placed", retries=0)(handler)
    with jobsim.Simulation(app, start=START) as sim:
        sim.send("order/placed")
        sim.run_until_idle()
    return sim


def _refused(port: Any) -> str:
    return (f"an SMTP connection to port={port!r}: a TCP port is an int from 1 to 65535 (25, 465 or 587 for SMTP; "
            "leave it out for the default), and a real worker's socket refuses any other; check where the port is "
            "read (an env var, a config field)")


@pytest.mark.parametrize("port", ["garbage", 70000, -1, 587.5, True])  # True: a socket reads it as port 1
def test_smtplib_to_a_port_no_socket_takes_fails_the_attempt_naming_it(port: Any) -> None:
    def mail(ctx: Any) -> None:
        with smtplib.SMTP("smtp.x.test", port) as client:
            client.send_message(_message())

    sim = _run(mail)
    run = sim.runs("mail")[0]
    assert isinstance(run.error, jobsim.InvalidArgument) and str(run.error) == _refused(port)
    assert sim.mail.outbox == []  # delivered before


@pytest.mark.parametrize("port", ["garbage", 70000, 0, -25])
def test_aiosmtplib_to_a_port_no_socket_takes_fails_the_attempt_naming_it(port: Any) -> None:
    async def mail(ctx: Any) -> None:
        await aiosmtplib.send(_message(), hostname="smtp.x.test", port=port)

    sim = _run(mail)
    run = sim.runs("mail")[0]
    assert isinstance(run.error, jobsim.InvalidArgument) and str(run.error) == _refused(port)
    assert sim.mail.outbox == []


@pytest.mark.parametrize("port", [25, 587, "587", None])
def test_ports_a_socket_takes_still_deliver(port: Any) -> None:
    def sync(ctx: Any) -> None:
        with smtplib.SMTP("smtp.x.test", port or 0) as client:
            client.send_message(_message())

    async def asynchronous(ctx: Any) -> None:
        await aiosmtplib.send(_message(), hostname="smtp.x.test", port=port)

    for handler in (sync, asynchronous):
        sim = _run(handler)
        assert sim.runs("mail")[0].status == "completed" and len(sim.mail.outbox) == 1


def test_aiosmtplib_with_a_sock_that_is_no_socket_fails_in_the_job_not_in_a_logged_callback(
        caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    async def mail(ctx: Any) -> None:
        await aiosmtplib.send(_message(), sock="/var/run/smtp.sock")

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        sim = _run(mail)
    run = sim.runs("mail")[0]
    assert isinstance(run.error, ValueError)  # asyncio's own check of sock=, as a real loop makes it
    assert str(run.error) in (
        "A Stream Socket was expected, got '/var/run/smtp.sock'",
        # aiosmtplib before 4.0 refuses it first (send()'s default hostname "localhost" comes with sock=)
        "The socket option is not compatible with hostname, port or socket_path",
    )
    assert not [record for record in caplog.records if "Exception in callback" in record.getMessage()]


def test_an_smtplib_imported_afresh_after_jobsim_is_the_one_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tool that restores ``sys.modules`` (pytester's in-process runs) gave job code a new ``smtplib``.

    The sink patched the module jobsim imported, so the job's ``SMTP`` reached for real DNS
    (``gaierror``) and the outbox stayed empty; it patches the ``smtplib`` the process has when a
    simulation starts, and leaves it as it found it.
    """
    import importlib
    import sys

    import jobsim._smtppatch  # noqa: F401  (holds the smtplib of its import)

    monkeypatch.delitem(sys.modules, "smtplib")
    fresh = importlib.import_module("smtplib")
    assert fresh is not smtplib
    original = vars(fresh.SMTP)["_get_socket"]

    def handler(ctx: jobsim.Context) -> None:
        with fresh.SMTP("smtp.x.test") as smtp:
            smtp.starttls()
            smtp.send_message(_message())

    sim = _run(handler)
    assert [run.status for run in sim.runs()] == ["completed"]
    assert [email.subject for email in sim.mail.outbox] == ["Your order"]
    assert vars(fresh.SMTP)["_get_socket"] is original

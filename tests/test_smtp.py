"""The in-memory SMTP server's timing and failures in virtual time (``smtp_delay``, ``smtp_drop``, a 421
closing the connection), and the EHLO name ``smtplib`` finds without a DNS lookup."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from _fakehost import START_NS, FakeHost

from jobsim._mail import MailSink
from jobsim._smtp import LOCAL_HOSTNAME

SECOND = 1_000_000_000


@pytest.fixture
def host() -> FakeHost:
    return FakeHost()


@pytest.fixture
def mail(host: FakeHost) -> Iterator[MailSink]:
    sink = MailSink(host)
    sink.install()
    yield sink
    sink.uninstall()


def receipt(number: int = 1) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "billing@acme.test"
    msg["To"] = "ada@example.com"
    msg["Subject"] = f"Receipt #{number}"
    msg.set_content("Thanks for your order.\n")
    return msg


def elapsed(host: FakeHost) -> float:
    return (host.now - START_NS) / SECOND


# -- the EHLO name: no DNS lookup -----------------------------------------------------------


def test_smtp_without_local_hostname_greets_with_a_fixed_name_and_asks_no_dns(
        mail: MailSink, monkeypatch: pytest.MonkeyPatch) -> None:
    """``SMTP()`` asked ``socket.getfqdn()`` (a reverse DNS lookup, seconds on a closed network) for every
    connection; the answer, and so the EHLO line, differed from machine to machine."""
    asked: list[str] = []

    def lookup(name: str = "") -> str:
        asked.append(f"getfqdn({name!r})")
        return "build-42"  # no dot: smtplib would go on to gethostbyname(gethostname())

    monkeypatch.setattr(socket, "getfqdn", lookup)
    monkeypatch.setattr(socket, "gethostbyname", lambda name: asked.append(f"gethostbyname({name!r})") or "10.0.0.7")
    with smtplib.SMTP("smtp.example.com", 587) as smtp:
        assert smtp.local_hostname == LOCAL_HOSTNAME == "worker.jobsim.test"
        assert smtp.ehlo()[1].splitlines()[0] == b"smtp.jobsim.test greets worker.jobsim.test"
        smtp.send_message(receipt())
    with smtplib.SMTP_SSL("smtp.example.com") as smtp:
        assert smtp.local_hostname == "worker.jobsim.test"
    assert asked == []
    assert len(mail.outbox) == 1


def test_a_local_hostname_the_job_gives_is_kept(mail: MailSink) -> None:
    with smtplib.SMTP("smtp.example.com", local_hostname="mailer.acme.test") as smtp:
        assert smtp.ehlo()[1].splitlines()[0] == b"smtp.jobsim.test greets mailer.acme.test"


def test_only_smtplibs_view_of_socket_changes_and_uninstall_puts_it_back(host: FakeHost) -> None:
    sink = MailSink(host)
    sink.install()
    try:
        assert socket.getfqdn is socket.getfqdn and vars(smtplib)["socket"] is not socket
        assert smtplib.socket.getfqdn("localhost") == socket.getfqdn("localhost")  # other names: the real answer
        assert smtplib.socket.create_connection is socket.create_connection
    finally:
        sink.uninstall()
    assert vars(smtplib)["socket"] is socket

"""aiosmtplib through the mail sink: the real client (``aiosmtplib.send``, ``aiosmtplib.SMTP``) talks to the
in-memory SMTP server that ``smtplib``'s connections reach, with the same faults, in virtual time."""

from __future__ import annotations

import asyncio
import importlib
import smtplib
import socket
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from email.message import EmailMessage
from typing import Any

import pytest

import jobsim
from jobsim import _aiosmtp
from jobsim._aio import VirtualLoop
from jobsim._mail import MailSink
from jobsim._smtp import SmtpServer, SmtpSession
from jobsim.errors import JobsimError

from ._fakehost import START_NS, FakeHost

aiosmtplib = pytest.importorskip("aiosmtplib")
from aiosmtplib import SMTP  # noqa: E402 (after the skip)

SECOND = 1_000_000_000
ORIGINAL = dict(vars(SMTP))
ORIGINAL_SOCKET = vars(aiosmtplib.smtp)["socket"]
Drive = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture
def drive(host: FakeHost) -> Iterator[Drive]:
    """Run a coroutine on a loop whose clock is the host's (as job code's is the simulation's)."""
    loop = VirtualLoop(host.now_ns, host.consume)
    yield loop.drive
    loop.close()


def receipt(number: int = 1, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "billing@acme.test"
    message["To"] = "ada@example.com"
    message["Subject"] = f"Receipt #{number}"
    for name, value in headers.items():
        del message[name.replace("_", "-")]
        message[name.replace("_", "-")] = value
    message.set_content("Thanks for your order.\n.\nA line that was a lone dot.\n")
    return message


def elapsed(host: FakeHost) -> float:
    return (host.now - START_NS) / SECOND


def send(**options: Any) -> Coroutine[Any, Any, Any]:
    options = {"hostname": "smtp.example.com", "port": 587, **options}
    return aiosmtplib.send(options.pop("message", None) or receipt(), **options)


async def send_and_close(message: EmailMessage, timeout: float) -> None:
    """Send, then close without QUIT: after a read timeout, aiosmtplib before 5.1 on Python 3.10 (where its
    timeout is not the builtin ``TimeoutError``) has ``send`` wait for QUIT's reply too, as it would on a real
    server; this waits the same on every release."""
    smtp = SMTP(hostname="smtp.example.com", port=587, timeout=timeout)
    try:
        await smtp.connect()
        await smtp.send_message(message)
    finally:
        smtp.close()


# -- sending -------------------------------------------------------------------------------------


def test_send_and_the_client_class_land_in_the_outbox_as_smtplib_mail_does(mail: MailSink, drive: Drive) -> None:
    errors, reply = drive(send(username="billing", password="secret"))  # the automatic STARTTLS, then AUTH
    assert errors == {} and reply.startswith("2.0.0 Ok: queued as <")

    async def with_the_class() -> str:
        async with SMTP(hostname="smtp.example.com", port=25, start_tls=False) as smtp:
            ehlo = await smtp.ehlo()
            await smtp.sendmail("billing@acme.test", ["ada@example.com"],
                                "From: billing@acme.test\r\nTo: ada@example.com\r\nSubject: Receipt #2\r\n\r\nhi\r\n")
            return ehlo.message.splitlines()[0]

    assert drive(with_the_class()) == "smtp.jobsim.test greets worker.jobsim.test"  # no DNS lookup for the name
    with smtplib.SMTP("smtp.example.com", 587) as smtp:
        smtp.send_message(receipt(3))
    first, second, third = mail.outbox
    assert (first.provider, first.sender, first.to, first.subject) == ("smtp", "billing@acme.test",
                                                                       ["ada@example.com"], "Receipt #1")
    assert first.text == third.text == "Thanks for your order.\n.\nA line that was a lone dot.\n"  # dot-stuffed
    assert (second.subject, second.text) == ("Receipt #2", "hi\n")
    assert {name: value for name, value in first.headers.items()} == {
        name: value.replace("#3", "#1") for name, value in third.headers.items()}  # smtplib sent the same headers


def test_the_connect_send_quit_sequence_and_the_sync_helpers(mail: MailSink, drive: Drive) -> None:
    async def by_hand() -> tuple[int, int]:
        smtp = SMTP(hostname="smtp.example.com", port=465, use_tls=True, username="u", password="p")
        await smtp.connect()
        await smtp.send_message(receipt(1))
        quit_code = (await smtp.quit()).code
        return quit_code, int(smtp.is_connected)

    assert drive(by_hand()) == (221, 0)
    SMTP(hostname="smtp.example.com").send_message_sync(receipt(2))  # asyncio.run inside
    assert [email.subject for email in mail.outbox] == ["Receipt #1", "Receipt #2"]


def test_several_recipients_the_envelope_decides_who_got_it(mail: MailSink, drive: Drive) -> None:
    message = receipt(To="ada@example.com, Bob <bob@example.com>", Cc="carol@example.com",
                      Bcc="audit@acme.test")
    drive(send(message=message))
    email = mail.assert_sent(subject="Receipt #1")
    assert (email.to, email.cc, email.bcc) == (["ada@example.com", "bob@example.com"], ["carol@example.com"],
                                               ["audit@acme.test"])
    assert "Bcc" not in email.headers  # send_message does not transmit it
    mail.smtp_fail(code=550, message="5.1.1 No such user", on="RCPT")  # the first RCPT only
    errors, _ = drive(send(message=receipt(2), recipients=["gone@example.com", "ada@example.com"]))
    assert {address: (error.code, error.message) for address, error in errors.items()} == {
        "gone@example.com": (550, "5.1.1 No such user")}
    assert mail.assert_sent(subject="Receipt #2").recipients == ["ada@example.com"]


def test_unix_sockets_and_a_socket_the_job_passes_reach_the_sink_and_nothing_else(
        mail: MailSink, drive: Drive) -> None:
    drive(send(hostname=None, port=None, socket_path="/var/spool/postfix/public/submission", start_tls=False))
    ours, theirs = socket.socketpair()
    try:
        drive(send(hostname=None, port=None, sock=ours, start_tls=False))
        assert ours.fileno() == -1  # closed with the connection, as aiosmtplib's docs say; nothing was sent on it
        theirs.setblocking(False)
        assert theirs.recv(10) == b""
    finally:
        ours.close()
        theirs.close()
    assert len(mail.outbox) == 2


def test_auth_is_offered_over_tls_only_as_on_port_587_in_production(mail: MailSink, drive: Drive) -> None:
    with pytest.raises(aiosmtplib.SMTPException, match="AUTH extension is not supported"):
        drive(send(start_tls=False, username="u", password="p"))
    drive(send(start_tls=True, username="u", password="p"))
    with pytest.raises(FileNotFoundError):  # aiosmtplib's own TLS context, with the job's settings
        drive(send(cert_bundle="/nonexistent/ca.pem"))
    assert len(mail.outbox) == 1


# -- faults: each command, as the real client meets them --------------------------------------


@pytest.mark.parametrize(("on", "code", "error", "sent"), [
    ("CONNECT", 554, "SMTPConnectError", 0),  # SMTPConnectResponseError since 2.0.2
    ("EHLO", 421, "SMTPHeloError", 0),  # closes the connection: no HELO to fall back to
    ("STARTTLS", 454, "SMTPResponseException", 0),
    ("AUTH", 535, "SMTPAuthenticationError", 0),  # PLAIN and LOGIN both refused
    ("MAIL", 451, "SMTPSenderRefused", 0),
    ("RCPT", 550, "SMTPRecipientsRefused", 0),
    ("DATA", 451, "SMTPDataError", 0),
    ("QUIT", 451, None, 1),  # the message went out; send() ignores what QUIT answers
])
def test_a_refusal_at_each_command_raises_aiosmtplibs_own_exception(
        mail: MailSink, drive: Drive, on: str, code: int, error: str | None, sent: int) -> None:
    mail.smtp_fail(code=code, on=on)  # type: ignore[arg-type]
    if error is None:
        drive(send(username="u", password="p"))
    else:
        with pytest.raises(aiosmtplib.SMTPException) as caught:
            drive(send(username="u", password="p"))
        assert isinstance(caught.value, getattr(aiosmtplib, error))
        assert type(caught.value).__module__ == "aiosmtplib.errors"
        assert getattr(caught.value, "code", None) in (code, None)
    assert len(mail.outbox) == sent


def test_a_refused_ehlo_falls_back_to_helo_and_twice_is_a_helo_error(mail: MailSink, drive: Drive) -> None:
    mail.smtp_fail(code=502, message="5.5.2 EHLO not recognized", on="EHLO")
    drive(send(start_tls=False))  # HELO: no ESMTP, no STARTTLS
    mail.smtp_fail(2, code=550, on="EHLO")
    with pytest.raises(aiosmtplib.SMTPHeloError) as caught:
        drive(send())
    assert (caught.value.code, caught.value.message) == (550, "5.0.0 Permanent failure, message not accepted")
    assert len(mail.outbox) == 1


def test_rset_and_quit_refusals_reach_the_job_that_sends_them(mail: MailSink, drive: Drive) -> None:
    mail.smtp_fail(code=451, on="RSET")
    mail.smtp_fail(code=500, message="5.5.1 Bye yourself", on="QUIT")

    async def job() -> list[str]:
        smtp = SMTP(hostname="smtp.example.com", start_tls=False)
        await smtp.connect()
        seen = []
        for command in (smtp.rset, smtp.quit):
            try:
                await command()
            except aiosmtplib.SMTPResponseException as error:
                seen.append(f"{command.__name__}: {error.code} {error.message}")
        smtp.close()
        return seen

    assert drive(job()) == ["rset: 451 4.3.0 Temporary failure, please try again later",
                            "quit: 500 5.5.1 Bye yourself"]
    mail.smtp_fail(code=550, on="MAIL")
    mail.smtp_fail(code=451, on="RSET")
    with pytest.raises(aiosmtplib.SMTPSenderRefused):  # the RSET aiosmtplib sends after it fails quietly
        drive(send())
    assert mail._smtp.faults == [] and mail.outbox == []


def test_a_421_and_a_drop_close_the_connection(mail: MailSink, drive: Drive) -> None:
    mail.smtp_fail(code=421, message="4.4.2 Closing connection", on="MAIL")

    async def job() -> tuple[str, bool]:
        smtp = SMTP(hostname="smtp.example.com", start_tls=False)
        await smtp.connect()
        try:
            await smtp.send_message(receipt())
        except aiosmtplib.SMTPSenderRefused as error:
            return f"{error.code} {error.message}", smtp.is_connected
        raise AssertionError("sent")

    assert drive(job()) == ("421 4.4.2 Closing connection", False)
    for delivered, outbox in ((True, 1), (False, 1)):
        mail.smtp_drop(on="DATA", delivered=delivered)
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            drive(send())
        assert len(mail.outbox) == outbox
    mail.smtp_drop(on="CONNECT")
    with pytest.raises(aiosmtplib.SMTPConnectError):
        drive(send())
    drive(send())  # all used up
    assert len(mail.outbox) == 2


# -- time: virtual, on the job's loop ----------------------------------------------------------------


def test_a_slow_reply_waits_in_virtual_time_and_past_the_timeout_fails_with_the_message_queued(
        mail: MailSink, drive: Drive, host: FakeHost) -> None:
    started = time.perf_counter()
    mail.smtp_delay("10m", on="DATA")
    drive(send(timeout=None))
    assert elapsed(host) == 600
    mail.smtp_delay("30s", on="DATA")
    with pytest.raises(aiosmtplib.SMTPReadTimeoutError, match=r"^Timed out waiting for server response$"):
        drive(send_and_close(receipt(), timeout=10))
    assert elapsed(host) == 610
    mail.smtp_delay("2m", on="CONNECT")
    with pytest.raises(aiosmtplib.SMTPConnectTimeoutError, match=r"^Timed out waiting for server ready message$"):
        drive(send_and_close(receipt(), timeout=30))
    assert elapsed(host) == 640
    assert time.perf_counter() - started < 30  # real time: no sleeping (11 min of it); generous: 2 shared CI cores
    assert len(mail.outbox) == 2  # queued before the late reply


def test_concurrent_sends_wait_at_once(mail: MailSink, drive: Drive, host: FakeHost) -> None:
    mail.smtp_delay("4s", on="RCPT", times=3)

    async def three() -> None:
        await asyncio.gather(*(send(message=receipt(n)) for n in range(3)))

    drive(three())
    assert elapsed(host) == 4
    assert sorted(email.subject for email in mail.outbox) == ["Receipt #0", "Receipt #1", "Receipt #2"]


def test_on_a_loop_of_the_tests_own_a_late_reply_is_spent_on_the_hosts_clock(mail: MailSink, host: FakeHost) -> None:
    """Not jobsim's loop (a pytest-asyncio test's body): the wait goes to the host's clock, as smtplib's does
    (in a simulation that is refused outside job code), never to a real hour."""
    mail.smtp_delay("1h", on="DATA")
    started = time.perf_counter()
    asyncio.run(send(timeout=None))
    assert elapsed(host) == 3600
    assert time.perf_counter() - started < 30  # not the real hour; generous: 2 shared CI cores
    assert len(mail.outbox) == 1


# -- in a simulation -----------------------------------------------------------------------------------


def retrying_app() -> jobsim.App:
    app = jobsim.App("mailer")

    @app.function("send-receipt", on="order/paid", retries=3)
    async def send_receipt(ctx: Any) -> None:
        await send_and_close(receipt(ctx.event.data["order"]), timeout=20)

    return app


def test_a_job_retrying_after_faults_sends_twice_and_a_replay_tells_the_same_story(tmp_path: Any) -> None:
    started = time.perf_counter()
    with jobsim.Simulation(retrying_app(), start="2026-03-02T00:00:00Z", seed=7) as sim:
        sim.mail.smtp_delay("1m", on="DATA")  # queued, but the 250 comes after the client gave up
        sim.mail.smtp_fail(code=454, message="4.7.0 TLS not available", on="STARTTLS")
        sim.mail.smtp_fail(code=421, on="EHLO")
        sim.send("order/paid", {"order": 7})
        sim.run_until_idle()
    assert time.perf_counter() - started < 30  # not the real minute; generous: 2 shared CI cores
    run = sim.runs("send-receipt")[0]
    assert [type(attempt.error).__name__ for attempt in run.attempts] == [  # in the order of the commands
        "SMTPHeloError", "SMTPResponseException", "SMTPReadTimeoutError", "NoneType"]
    assert (run.attempts[2].finished_at - run.attempts[2].started_at).seconds == 20
    assert len(sim.mail.assert_sent(subject="Receipt #7", count=2)) == 2
    assert [record.data["to"] for record in sim.trace.of("email")] == [["ada@example.com"]] * 2
    path = sim.trace.save(tmp_path / "mailer.jobsim.jsonl")
    result = jobsim.Simulation.replay(path, retrying_app())
    assert result.same, result.report()
    with jobsim.Simulation(retrying_app(), start="2026-03-02T00:00:00Z", seed=7) as again:
        again.mail.smtp_delay("1m", on="DATA")
        again.mail.smtp_fail(code=454, message="4.7.0 TLS not available", on="STARTTLS")
        again.mail.smtp_fail(code=421, on="EHLO")
        again.send("order/paid", {"order": 7})
        again.run_until_idle()
    assert again.trace.save(tmp_path / "again.jobsim.jsonl").read_bytes() == path.read_bytes()


def test_the_trace_records_the_email_as_it_records_smtplibs(tmp_path: Any) -> None:
    def app_sending(client: str) -> jobsim.App:
        app = jobsim.App("mailer")

        @app.function("send-receipt", on="order/paid")
        async def send_receipt(ctx: Any) -> None:
            message = receipt(1, Message_ID="<r1@acme.test>")
            if client == "smtplib":
                with smtplib.SMTP("smtp.example.com", 587) as smtp:
                    smtp.send_message(message)
            else:
                await aiosmtplib.send(message, hostname="smtp.example.com", port=587)

        return app

    lines = {}
    for client in ("smtplib", "aiosmtplib"):
        with jobsim.Simulation(app_sending(client), start="2026-03-02T00:00:00Z") as sim:
            sim.send("order/paid", {})
            sim.run_until_idle()
        saved = sim.trace.save(tmp_path / f"{client}.jobsim.jsonl").read_text().splitlines()
        lines[client] = [line for line in saved if '"k":"email"' in line]
    assert len(lines["aiosmtplib"]) == 1
    assert lines["aiosmtplib"] == lines["smtplib"]


def test_a_sync_handler_running_its_own_loop_is_intercepted_in_virtual_time() -> None:
    app = jobsim.App("mailer")

    @app.function("send", on="go")
    def handler(ctx: Any) -> None:
        asyncio.run(aiosmtplib.send(receipt(), hostname="smtp.example.com"))

    with jobsim.Simulation(app, start="2026-03-02T00:00:00Z") as sim:
        sim.mail.smtp_delay("45s", on="MAIL")
        sim.send("go", {})
        sim.run_until_idle()
    run = sim.runs("send")[0]
    assert run.error is None and (run.finished_at - run.started_at).seconds == 45
    assert sim.mail.assert_sent().sent_at == run.finished_at  # DATA came after the late MAIL reply


# -- outside a simulation: untouched ---------------------------------------------------------------


class _LoopbackServer(asyncio.Protocol):
    """A real SMTP server on 127.0.0.1, answering with ``SmtpSession`` (what the sink's server speaks)."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        self._session = SmtpSession(self._server, tls=True)  # no STARTTLS offered: plaintext on loopback
        transport.write(self._session.take_replies())

    def data_received(self, data: bytes) -> None:
        self._session.feed(data)
        self._transport.write(self._session.take_replies())
        if self._session.closed:
            self._transport.close()


def test_outside_a_simulation_aiosmtplib_reaches_the_real_server_and_inside_it_does_not(host: FakeHost) -> None:
    received: list[str] = []
    real = SmtpServer(lambda sender, rcpts, data: received.append(sender) or "<real@loopback>")

    async def exchange(sink: MailSink | None) -> None:
        listener = await asyncio.get_running_loop().create_server(lambda: _LoopbackServer(real), "127.0.0.1", 0)
        port = listener.sockets[0].getsockname()[1]
        if sink is not None:
            sink.install()
        try:
            await aiosmtplib.send(receipt(), hostname="127.0.0.1", port=port, start_tls=False,
                                  local_hostname="test.local", timeout=5)
        finally:
            if sink is not None:
                sink.uninstall()
            listener.close()
            await listener.wait_closed()

    asyncio.run(exchange(None))
    assert received == ["billing@acme.test"]
    sink = MailSink(host)
    asyncio.run(exchange(sink))
    assert received == ["billing@acme.test"] and len(sink.outbox) == 1
    assert dict(vars(SMTP)) == ORIGINAL and vars(aiosmtplib.smtp)["socket"] is ORIGINAL_SOCKET
    asyncio.run(exchange(None))
    assert len(received) == 2


def test_installs_nest_and_uninstall_restores_every_attribute(host: FakeHost, drive: Drive) -> None:
    outer, inner = MailSink(host), MailSink(host)
    outer.install()
    inner.install()
    try:
        drive(send())
        inner.uninstall()
        drive(send())
    finally:
        inner.uninstall()
        outer.uninstall()
    assert (len(outer.outbox), len(inner.outbox)) == (1, 1)
    assert dict(vars(SMTP)) == ORIGINAL and vars(aiosmtplib.smtp)["socket"] is ORIGINAL_SOCKET


def test_an_aiosmtplib_the_bridge_was_not_verified_with_fails_loudly(
        monkeypatch: pytest.MonkeyPatch, host: FakeHost, drive: Drive) -> None:
    for version in ("1.1.7", "5.2.0"):
        monkeypatch.setattr(aiosmtplib, "__version__", version)
        sink = MailSink(host)
        sink.install()
        try:
            with pytest.raises(JobsimError) as caught:
                drive(send())
        finally:
            sink.uninstall()
        assert str(caught.value) == (
            f"jobsim: aiosmtplib {version} is not a version jobsim's mail sink was verified with (2.0 to 5.1), so it "
            "cannot take this connection into sim.mail, and will not let it reach a real SMTP server either; install "
            "a verified aiosmtplib (pip install 'aiosmtplib>=2.0,<5.2') or a jobsim release that supports this one")
        assert sink.outbox == []
        assert dict(vars(SMTP)) == ORIGINAL


def test_an_aiosmtplib_imported_again_is_the_one_patched(monkeypatch: pytest.MonkeyPatch, host: FakeHost) -> None:
    """pytester's in-process runs put ``sys.modules`` back as it was, so a library first imported inside one is
    imported afresh after it: the bridge patched the first copy's ``SMTP`` and job code's mail reached the network
    (a connect timeout instead of the outbox)."""
    for name in [name for name in sys.modules if name == "aiosmtplib" or name.startswith("aiosmtplib.")]:
        monkeypatch.delitem(sys.modules, name)  # put back, the first copy, at teardown
    fresh = importlib.import_module("aiosmtplib")
    assert fresh is not aiosmtplib
    sink = MailSink(host)
    sink.install()
    loop = VirtualLoop(host.now_ns, host.consume)
    try:
        loop.drive(fresh.send(receipt(), hostname="smtp.example.com", port=587, timeout=20))
    finally:
        loop.close()
        sink.uninstall()
    assert [email.subject for email in sink.outbox] == ["Receipt #1"]
    assert elapsed(host) < 20  # not the timeout of a real connection attempt
    assert fresh.SMTP._create_connection is vars(fresh.SMTP)["_create_connection"]  # restored, not wrapped
    assert "__wrapped__" not in vars(vars(fresh.SMTP)["_create_connection"])


def test_the_bridge_is_verified_with_the_installed_aiosmtplib() -> None:
    assert _aiosmtp.unsupported() is None, f"aiosmtplib {aiosmtplib.__version__}: extend VERIFIED after checking it"


def test_a_message_over_the_size_limit_is_refused_as_aiosmtplib_sees_a_real_server_do(mail: MailSink,
                                                                                      drive: Drive) -> None:
    mail.smtp_size_limit(200)
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:  # it declares SIZE= at MAIL FROM, as smtplib does
        drive(aiosmtplib.send(receipt(), hostname="smtp.example.com", port=25, start_tls=False))
    assert refused.value.code == 552
    assert mail.outbox == []

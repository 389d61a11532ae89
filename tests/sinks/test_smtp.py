"""The in-memory SMTP server's timing and failures in virtual time (``smtp_delay``, ``smtp_drop``, a 421
closing the connection), and the EHLO name ``smtplib`` finds without a DNS lookup."""

from __future__ import annotations

import email.utils
import smtplib
import socket
import sys
from email.message import EmailMessage

import pytest

from jobsim._mail import MailSink
from jobsim._smtppatch import LOCAL_HOSTNAME
from jobsim.errors import InvalidArgument

from ._fakehost import START_NS, FakeHost

email_make_msgid = email.utils.make_msgid

SECOND = 1_000_000_000


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


def test_make_msgid_without_a_domain_asks_no_dns_either(mail: MailSink, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    monkeypatch.setattr(socket, "getfqdn", lambda name="": asked.append(name) or "build-42.corp")
    assert email.utils.make_msgid().endswith("@worker.jobsim.test>")
    assert email.utils.make_msgid(domain="acme.test").endswith("@acme.test>")
    assert asked == []


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
    if sys.version_info < (3, 13):
        assert vars(email.utils)["socket"] is socket
    assert email.utils.make_msgid is email_make_msgid  # 3.13 imports socket inside it: the function is wrapped


# -- a slow server: replies late, in virtual time --------------------------------------------


def test_a_reply_later_than_the_timeout_fails_at_the_timeout_after_the_message_was_queued(
        mail: MailSink, host: FakeHost) -> None:
    """The SMTP duplicate: the server queued the message and was slow to say so; the client gave up and will
    send it again."""
    mail.smtp_delay("30s", on="DATA")
    with smtplib.SMTP("smtp.example.com", 587, timeout=10) as smtp, \
            pytest.raises(smtplib.SMTPServerDisconnected) as caught:
        smtp.send_message(receipt())
    assert str(caught.value) == "Connection unexpectedly closed: timed out"
    assert elapsed(host) == 10
    mail.assert_sent(subject="Receipt #1")  # queued before the reply that never came in time
    with smtplib.SMTP("smtp.example.com", 587, timeout=10) as smtp:  # the delay was used up: the retry is quick
        smtp.send_message(receipt())
    assert elapsed(host) == 10
    assert len(mail.assert_sent(subject="Receipt #1", count=2)) == 2


def test_a_reply_within_the_timeout_arrives_late_and_without_a_timeout_the_client_waits(
        mail: MailSink, host: FakeHost) -> None:
    mail.smtp_delay("4s", on="RCPT", times=2)
    with smtplib.SMTP("smtp.example.com", timeout=5) as smtp:
        assert smtp.sendmail("a@acme.test", ["ada@example.com", "bob@example.com"], "Subject: hi\r\n\r\nhi\r\n") == {}
    assert elapsed(host) == 8  # two late RCPT replies
    mail.smtp_delay("1h", on="MAIL")
    with smtplib.SMTP("smtp.example.com") as smtp:  # no timeout: it waits as long as it takes
        smtp.send_message(receipt())
    assert elapsed(host) == 8 + 3600
    assert len(mail.outbox) == 2


def test_a_slow_greeting_fails_the_constructor_and_a_slow_refusal_still_refuses(
        mail: MailSink, host: FakeHost) -> None:
    mail.smtp_delay("2m", on="CONNECT")
    with pytest.raises(smtplib.SMTPServerDisconnected, match=r"^Connection unexpectedly closed: timed out$"):
        smtplib.SMTP("smtp.example.com", timeout=30)
    assert elapsed(host) == 30
    mail.smtp_delay("3s", on="MAIL")
    mail.smtp_fail(code=451, message="4.7.1 Greylisted", on="MAIL")
    with smtplib.SMTP("smtp.example.com", timeout=30) as smtp, pytest.raises(smtplib.SMTPSenderRefused) as caught:
        smtp.send_message(receipt())
    assert (caught.value.smtp_code, elapsed(host)) == (451, 33)


# -- a dropped connection ------------------------------------------------------------------------


@pytest.mark.parametrize(("delivered", "outbox"), [(None, 1), (True, 1), (False, 0)])
def test_a_connection_dropped_after_data_is_an_error_with_the_message_delivered_or_not(
        mail: MailSink, delivered: bool | None, outbox: int) -> None:
    mail.smtp_drop(on="DATA", delivered=delivered)
    with smtplib.SMTP("smtp.example.com") as smtp, pytest.raises(smtplib.SMTPServerDisconnected) as caught:
        smtp.send_message(receipt())
    assert str(caught.value) == "Connection unexpectedly closed"
    assert len(mail.outbox) == outbox


@pytest.mark.parametrize("address", ["ada@", "@example.com", "ada lovelace@example.com", "not an address"])
def test_a_recipient_that_is_no_address_is_refused_as_a_real_server_refuses_it(mail: MailSink, address: str) -> None:
    """It was delivered (as a Bcc, not being in the To header): a test asserting the email passed, while
    production's server answers 501 and smtplib raises. ('not an address' is '<not>' once smtplib quotes it.)"""
    with smtplib.SMTP("smtp.example.com") as smtp, pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        smtp.sendmail("billing@acme.test", [address], b"Subject: hi\r\n\r\nbody")
    assert caught.value.recipients == {address: (501, b"5.1.3 Bad recipient address syntax")}
    with smtplib.SMTP("smtp.example.com") as smtp:  # one bad address among good ones: the rest get it
        assert smtp.sendmail("billing@acme.test", ["ada@example.com", address, "postmaster"], b"Subject: hi\r\n\r\n"
                             ) == {address: (501, b"5.1.3 Bad recipient address syntax")}
    assert [email.bcc for email in mail.outbox] == [["ada@example.com", "postmaster"]]


@pytest.mark.parametrize("address", ['"ada\\"l"@example.com', '"ada lovelace"@example.com', '"a@b"@example.com',
                                     '"a>b"@example.com', '"<ada>"@example.com', "ada@[192.0.2.1]", "ada@localhost"])
def test_an_address_a_real_server_accepts_is_delivered(mail: MailSink, address: str) -> None:
    """RFC 5321: a quoted local part may hold a quoted pair (``\\"``), which smtplib sends as it is; a domain may
    be an address literal or have no dot. Postfix takes each of these."""
    with smtplib.SMTP("smtp.example.com") as smtp:
        assert smtp.sendmail(address, [address], b"Subject: hi\r\n\r\nbody") == {}
    assert [(email.sender, email.bcc) for email in mail.outbox] == [(address, [address])]


def test_a_quote_left_open_is_a_bad_address_and_a_line_of_quotes_is_answered_at_once(mail: MailSink) -> None:
    """A quoted local part may hold ``>``, so the path's end is found outside quotes; one regular expression
    allowing both readings of a quote backtracked exponentially on a line of them (60 quotes: hours)."""
    with smtplib.SMTP("smtp.example.com") as smtp:
        smtp.ehlo()
        assert smtp.docmd("MAIL", "FROM:<billing@acme.test>")[0] == 250
        assert smtp.docmd("RCPT", 'TO:<ada"@example.com>') == (501, b"5.1.3 Bad recipient address syntax")
        assert smtp.docmd("RCPT", 'TO:<"ada@example.com>') == (501, b"5.1.3 Bad recipient address syntax")
        assert smtp.docmd("RCPT", "TO:<" + '"' * 60) == (501, b"5.5.4 Syntax: RCPT TO:<address>")
        assert smtp.docmd("RCPT", "TO:<" + '"' * 100_000 + ">") == (501, b"5.1.3 Bad recipient address syntax")
        assert smtp.docmd("RCPT", 'TO:<"a>b"@example.com> NOTIFY=NEVER')[0] == 250
    assert mail.outbox == []


def test_a_sender_that_is_no_address_is_refused_and_the_null_sender_is_not(mail: MailSink) -> None:
    with smtplib.SMTP("smtp.example.com") as smtp, pytest.raises(smtplib.SMTPSenderRefused) as caught:
        smtp.sendmail("billing@", ["ada@example.com"], b"Subject: hi\r\n\r\nbody")
    assert (caught.value.smtp_code, caught.value.smtp_error) == (501, b"5.1.7 Bad sender address syntax")
    with smtplib.SMTP("smtp.example.com") as smtp:
        smtp.sendmail("", ["ada@example.com"], b"Subject: bounce\r\n\r\nbody")  # MAIL FROM:<>, a bounce's
    assert [email.subject for email in mail.outbox] == ["bounce"]


def test_a_connection_dropped_at_another_command_delivers_nothing(mail: MailSink) -> None:
    mail.smtp_drop(on="RCPT")
    with smtplib.SMTP("smtp.example.com") as smtp, pytest.raises(smtplib.SMTPServerDisconnected):
        smtp.send_message(receipt())
    mail.smtp_drop(on="CONNECT")
    with pytest.raises(smtplib.SMTPServerDisconnected, match=r"^Connection unexpectedly closed$"):
        smtplib.SMTP("smtp.example.com")
    assert mail.outbox == []
    with smtplib.SMTP("smtp.example.com") as smtp:  # both used up
        smtp.send_message(receipt())
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("on", ["MAIL", "RCPT", "DATA"])
def test_a_421_closes_the_connection_after_its_reply(mail: MailSink, on: str) -> None:
    """RFC 5321 §3.8: a server replying 421 closes the connection; smtplib closes its side only inside
    sendmail, so a job that goes on (RSET and try again on the same connection) meets the closed one."""
    mail.smtp_fail(code=421, message="4.4.2 Closing connection", on=on)  # type: ignore[arg-type]
    commands = {"MAIL": lambda smtp: smtp.docmd("MAIL", "FROM:<a@acme.test>"),
                "RCPT": lambda smtp: smtp.docmd("RCPT", "TO:<ada@example.com>"),
                "DATA": lambda smtp: smtp.data(b"Subject: hi\r\n\r\nhi\r\n")}
    with smtplib.SMTP("smtp.example.com") as smtp:
        smtp.ehlo()
        replies = [command(smtp) for command in list(commands.values())[:list(commands).index(on) + 1]]
        assert replies[-1] == (421, b"4.4.2 Closing connection")
        with pytest.raises(smtplib.SMTPServerDisconnected):
            smtp.noop()
    assert mail.outbox == []


# -- the other commands real servers refuse: the greeting, STARTTLS, RSET, QUIT ---------------------


def test_a_refused_ehlo_falls_back_to_helo_and_a_refused_helo_is_a_helo_error(mail: MailSink, host: FakeHost) -> None:
    mail.smtp_fail(code=502, message="5.5.2 EHLO not recognized", on="EHLO")
    mail.smtp_delay("5s", on="EHLO", times=2)  # both greetings come late
    with smtplib.SMTP("smtp.example.com", timeout=10) as smtp:
        smtp.sendmail("a@acme.test", ["ada@example.com"], "Subject: hi\r\n\r\nhi\r\n")
        assert (smtp.does_esmtp, smtp.helo_resp) == (False, b"smtp.jobsim.test")
    assert elapsed(host) == 10
    mail.smtp_fail(2, code=554, on="EHLO")
    with smtplib.SMTP("smtp.example.com") as smtp, pytest.raises(smtplib.SMTPHeloError) as caught:
        smtp.send_message(receipt())
    assert caught.value.smtp_code == 554
    assert len(mail.outbox) == 1


def test_a_refused_starttls_raises_and_sends_nothing(mail: MailSink) -> None:
    mail.smtp_fail(code=454, message="4.7.0 TLS not available due to temporary reason", on="STARTTLS")
    with smtplib.SMTP("smtp.example.com", 587) as smtp, pytest.raises(smtplib.SMTPResponseException) as caught:
        smtp.starttls()
    assert (caught.value.smtp_code, caught.value.smtp_error) == (454, b"4.7.0 TLS not available due to temporary "
                                                                      b"reason")
    with smtplib.SMTP("smtp.example.com", 587) as smtp:  # used up
        smtp.starttls()
        smtp.login("billing", "secret")
        smtp.send_message(receipt())
    assert len(mail.outbox) == 1


def test_a_refused_rset_is_answered_and_a_refused_quit_fails_the_with_block_after_delivery(mail: MailSink) -> None:
    """smtplib ignores what the RSET it sends after a refusal is answered; its ``with`` block raises when QUIT is
    not answered 221, after the message went out: a job that retries on that error sends it twice."""
    mail.smtp_fail(code=451, on="RSET", times=2)
    mail.smtp_fail(code=550, on="MAIL")
    with smtplib.SMTP("smtp.example.com") as smtp:
        with pytest.raises(smtplib.SMTPSenderRefused):
            smtp.send_message(receipt())  # then RSET: refused, quietly
        assert smtp.rset() == (451, b"4.3.0 Temporary failure, please try again later")
    mail.smtp_fail(code=451, on="QUIT")
    with pytest.raises(smtplib.SMTPResponseException) as caught, smtplib.SMTP("smtp.example.com") as smtp:
        smtp.send_message(receipt())
    assert caught.value.smtp_code == 451
    assert len(mail.outbox) == 1
    mail.smtp_drop(on="QUIT")
    with smtplib.SMTP("smtp.example.com") as smtp:  # a hang-up instead of "221 Bye": the with block lets it go
        smtp.send_message(receipt(2))
    assert len(mail.outbox) == 2 and mail._smtp.faults == []


@pytest.mark.parametrize(("call", "message"), [
    (lambda mail: mail.smtp_delay("soon"), "after='soon' is not valid"),
    (lambda mail: mail.smtp_delay("1s", on="NOOP"),
     "on='NOOP' is not valid: one of 'CONNECT', 'EHLO', 'STARTTLS', 'AUTH', 'MAIL', 'RCPT', 'DATA', 'RSET', 'QUIT'"),
    (lambda mail: mail.smtp_delay("1s", times=0), "times=0 is not valid: an int >= 1"),
    (lambda mail: mail.smtp_fail(on="data"),
     "on='data' is not valid: one of 'CONNECT', 'EHLO', 'STARTTLS', 'AUTH', 'MAIL', 'RCPT', 'DATA', 'RSET', 'QUIT' "
     "(did you mean 'DATA'?)"),
    (lambda mail: mail.smtp_drop(on="MAIL", delivered=True),
     "delivered=True is not valid: only a drop at 'DATA' can follow a delivery; at 'MAIL' no message was sent "
     "yet: leave delivered out"),
    (lambda mail: mail.smtp_drop(delivered="yes"), "delivered='yes' is not valid: True or False"),
    (lambda mail: mail.smtp_drop(deliverd=True), "deliverd"),
])
def test_bad_arguments_are_refused(mail: MailSink, call, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        call(mail)
    assert message in str(caught.value)
    assert mail._smtp.faults == [] and mail._smtp.delays == []


# -- in a simulation: job code waits in virtual time, and a replay arms the same faults -----------


def test_a_job_retrying_after_a_slow_data_reply_sends_twice_and_a_replay_tells_the_same_story(tmp_path) -> None:
    import jobsim

    app = jobsim.App("mailer")

    @app.function("send-receipt", on="order/paid", retries=2)
    def send_receipt(ctx):
        with smtplib.SMTP("smtp.example.com", 587, timeout=20) as smtp:
            smtp.send_message(receipt(ctx.event.data["order"]))

    with jobsim.Simulation(app, start="2026-03-02T00:00:00Z") as sim:
        sim.mail.smtp_delay("1m", on="DATA")  # the first DATA: slow, then dropped; the client gave up first
        sim.mail.smtp_drop(2, on="DATA")  # the second: dropped at once
        sim.send("order/paid", {"order": 7})
        sim.run_until_idle()
    run = sim.runs("send-receipt")[0]
    assert [str(attempt.error or "") for attempt in run.attempts] == [
        "Connection unexpectedly closed: timed out", "Connection unexpectedly closed", ""]
    assert (run.attempts[0].finished_at - run.started_at).seconds == 20
    assert len(sim.mail.assert_sent(subject="Receipt #7", count=3)) == 3  # each attempt's message was queued
    result = jobsim.Simulation.replay(sim.trace.save(tmp_path / "mailer.jobsim.jsonl"), app)
    assert result.same, result.report()
    assert len(result.simulation.mail.outbox) == 3


# -- the size limit: SIZE advertised, 552 for a larger message ---------------------------------------


def sized(size: int) -> EmailMessage:
    msg = receipt()
    msg.set_content("x" * size)
    return msg


def test_a_message_over_the_size_limit_is_refused_with_552_as_a_real_server_does(mail: MailSink) -> None:
    """The server advertised SIZE 36700160 and took any message: a job's attachment too large for the real server
    passed every test."""
    with smtplib.SMTP("smtp.example.com") as smtp:
        assert smtp.ehlo()[1].splitlines()[1] == b"SIZE 36700160"  # the default, 35 MiB
    mail.smtp_size_limit(2_000)
    with smtplib.SMTP("smtp.example.com") as smtp:
        smtp.ehlo()
        assert smtp.esmtp_features["size"] == "2000"
        smtp.send_message(sized(1_000))
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # smtplib declares SIZE=<len> at MAIL FROM
            smtp.send_message(sized(3_000))
        assert (refused.value.smtp_code, refused.value.smtp_error) == (
            552, b"5.3.4 Message size exceeds fixed maximum message size")
        del smtp.esmtp_features["size"]  # a client that declares nothing: refused once DATA has read it
        with pytest.raises(smtplib.SMTPDataError) as too_big:
            smtp.send_message(sized(3_000))
        assert too_big.value.smtp_code == 552
        smtp.send_message(sized(1_500))  # the connection goes on
    assert [len(email.text) for email in mail.outbox] == [1_001, 1_501]
    mail.smtp_size_limit(None)
    with smtplib.SMTP("smtp.example.com") as smtp:
        assert b"SIZE" in smtp.ehlo()[1].splitlines()  # no limit: a bare SIZE (RFC 1870)
        smtp.send_message(sized(40_000_000))
    assert len(mail.outbox) == 3


def test_a_malformed_declared_size_is_a_syntax_error(mail: MailSink) -> None:
    with smtplib.SMTP("smtp.example.com") as smtp:
        smtp.ehlo()
        assert smtp.mail("billing@acme.test", ["SIZE=lots"]) == (501, b"5.5.4 Bad message size syntax")


@pytest.mark.parametrize("limit", [0, -1, True, "10MB", 1.5])
def test_a_size_limit_that_is_not_a_number_of_bytes_is_refused(mail: MailSink, limit: object) -> None:
    with pytest.raises(InvalidArgument, match=r"^limit=.* is not valid: a number of bytes >= 1 .*, or None"):
        mail.smtp_size_limit(limit)  # type: ignore[arg-type]


@pytest.mark.parametrize("param", ["SIZE=\u00b2", "SIZE=\u0661\u0662", "SIZE=+5", "SIZE=1_000"])
def test_a_declared_size_not_in_ascii_digits_is_a_syntax_error_not_a_crash(mail: MailSink, param: str) -> None:
    """RFC 1870: size-value ::= 1*20DIGIT (ASCII). str.isdigit took '²' (int() then raised ValueError inside the
    server) and Arabic-Indic digits (read as a number)."""
    with smtplib.SMTP("smtp.example.com") as smtp:
        smtp.ehlo()
        smtp.send(f"MAIL FROM:<billing@acme.test> {param}\r\n".encode())  # smtplib sends ASCII only
        assert smtp.getreply() == (501, b"5.5.4 Bad message size syntax")


def test_a_parameter_that_only_ends_in_size_is_not_the_size(mail: MailSink) -> None:
    """Only the SIZE= parameter itself declares a size: another (an extension's XSIZE=, a value holding 'SIZE=')
    was read as a malformed SIZE and refused with 501."""
    mail.smtp_size_limit(2_000)
    with smtplib.SMTP("smtp.example.com") as smtp:
        smtp.ehlo()
        assert smtp.mail("billing@acme.test", ["XSIZE=lots"])[0] == 250
        smtp.rset()
        assert smtp.mail("billing@acme.test", ["ENVID=SIZE=9"])[0] == 250
        smtp.rset()
        assert smtp.mail("billing@acme.test", ["BODY=8BITMIME", "size=3000"])[0] == 552

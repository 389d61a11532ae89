"""The mail sink: real smtplib against the in-memory server, provider APIs, assertions."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import re
import smtplib
import uuid
from email.message import EmailMessage
from smtplib import SMTP  # the import style that defeats module-attribute patching

import httpx
import pytest
from _loopback import refused_port
from hypothesis import given, settings
from hypothesis import strategies as st

from jobsim._email import Email
from jobsim._http import HttpSink
from jobsim._mail import MailSink
from jobsim.errors import InvalidArgument

from ._fakehost import START_NS, FakeHost

SECOND = 1_000_000_000
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)


def welcome(**extra: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Acme <noreply@acme.test>"
    msg["To"] = "Ada Lovelace <ada@example.com>"
    msg["Subject"] = "Welcome, Ada"
    for name, value in extra.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Hi Ada,\nwelcome aboard.\n")
    msg.add_alternative("<p>Hi Ada, welcome aboard.</p>", subtype="html")
    return msg


# -- SMTP: the real smtplib client ----------------------------------------------------------


def test_send_message_after_starttls_and_login(mail: MailSink, host: FakeHost) -> None:
    host.now += 90 * SECOND
    with smtplib.SMTP("smtp.example.com", 587) as smtp:
        smtp.starttls()
        smtp.login("mailer", "s3cret")
        refused = smtp.send_message(welcome(Cc="Bob <bob@example.com>",
                                            Message_ID="<w1@acme.test>"))
    assert refused == {}
    [email] = mail.outbox
    assert email.provider == "smtp"
    assert email.sender == "noreply@acme.test"
    assert email.to == ["ada@example.com"]
    assert email.cc == ["bob@example.com"]
    assert email.bcc == []
    assert email.subject == "Welcome, Ada"
    assert email.text == "Hi Ada,\nwelcome aboard.\n"
    assert email.html == "<p>Hi Ada, welcome aboard.</p>\n"
    assert email.message_id == "<w1@acme.test>"
    assert email.sent_at == T0 + dt.timedelta(seconds=90)
    assert email.headers["Cc"] == "Bob <bob@example.com>"
    assert host.kinds("email") == [{"provider": "smtp", "to": ["ada@example.com"],
                                    "subject": "Welcome, Ada", "message_id": "<w1@acme.test>"}]


def test_from_import_style_is_captured_too(mail: MailSink) -> None:
    with SMTP("smtp.example.com") as smtp:
        smtp.send_message(welcome())
    assert [email.subject for email in mail.outbox] == ["Welcome, Ada"]


def test_smtp_ssl_sendmail_unstuffs_dots_and_takes_bcc_from_the_envelope(mail: MailSink) -> None:
    raw = ("From: billing@acme.test\r\nTo: ada@example.com\r\nSubject: Invoice\r\n\r\n"
           "Total: 10 EUR\r\n.\r\n..two dots\r\n.leading dot\r\n")
    with smtplib.SMTP_SSL("smtp.example.com", 465) as smtp:
        smtp.login("mailer", "s3cret")
        smtp.sendmail("bounces@acme.test", ["ada@example.com", "ledger@acme.test"], raw)
    [email] = mail.outbox
    assert email.text == "Total: 10 EUR\n.\n..two dots\n.leading dot\n"
    assert email.to == ["ada@example.com"]
    assert email.bcc == ["ledger@acme.test"]
    assert email.sender == "billing@acme.test"
    assert re.fullmatch(r"<[0-9a-f]{32}@jobsim>", email.message_id)


def test_smtp_ssl_does_not_offer_starttls(mail: MailSink) -> None:
    with smtplib.SMTP_SSL("smtp.example.com") as smtp, \
            pytest.raises(smtplib.SMTPNotSupportedError, match="STARTTLS extension not supported"):
        smtp.starttls()


def test_starttls_makes_the_client_forget_the_first_ehlo(mail: MailSink) -> None:
    with smtplib.SMTP("smtp.example.com", 587) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls")
        code, _ = smtp.starttls()
        assert code == 220
        assert smtp.ehlo_resp is None
        smtp.ehlo()
        assert not smtp.has_extn("starttls")
        assert smtp.has_extn("auth")


def test_auth_is_offered_over_tls_only_so_a_login_without_starttls_fails_as_in_production(mail: MailSink) -> None:
    """A job that forgot ``starttls()`` on port 587 logged in and sent here; Gmail, Office 365 and SES offer AUTH
    only once TLS is on, so smtplib raises SMTPNotSupportedError there (RFC 4954 §4)."""
    with smtplib.SMTP("smtp.example.com", 587) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls") and not smtp.has_extn("auth")
        with pytest.raises(smtplib.SMTPNotSupportedError, match="SMTP AUTH extension not supported by server"):
            smtp.login("mailer", "s3cret")
        assert smtp.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0a\0b").decode()) == (
            530, b"5.7.0 Must issue a STARTTLS command first")
        smtp.starttls()
        smtp.ehlo()
        assert smtp.has_extn("auth")
        assert smtp.login("mailer", "s3cret")[0] == 235
    with smtplib.SMTP_SSL("smtp.example.com") as smtp:
        assert smtp.login("mailer", "s3cret")[0] == 235
    assert mail.outbox == []


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
@pytest.mark.parametrize("initial_response_ok", [True, False])
def test_login_with_each_mechanism(mail: MailSink, mechanism: str,
                                   initial_response_ok: bool) -> None:
    with smtplib.SMTP("smtp.example.com", 587) as smtp:
        smtp.starttls()
        smtp.ehlo()
        smtp.esmtp_features["auth"] = mechanism  # make smtplib pick this mechanism
        code, reply = smtp.login("mailer", "s3cret", initial_response_ok=initial_response_ok)
        assert (code, reply) == (235, b"2.7.0 Authentication successful")
        assert smtp.sock.session.user == "mailer"
        again = "PLAIN " + base64.b64encode(b"\0a\0b").decode()
        assert smtp.docmd("AUTH", again) == (503, b"5.5.1 Error: already authenticated")


def test_multipart_with_attachment(mail: MailSink) -> None:
    msg = welcome()
    pdf = b"%PDF-1.4\r\n\x00\xff binary\n"
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="invoice.pdf")
    with smtplib.SMTP("smtp.example.com") as smtp:
        smtp.send_message(msg)
    [email] = mail.outbox
    assert email.text == "Hi Ada,\nwelcome aboard.\n"
    [attachment] = email.attachments
    assert (attachment.filename, attachment.content_type, attachment.content) == (
        "invoice.pdf", "application/pdf", pdf)


def test_protocol_errors_are_answered_like_a_real_server(mail: MailSink) -> None:
    with smtplib.SMTP("smtp.example.com") as smtp:
        assert smtp.docmd("RCPT", "TO:<ada@example.com>") == (
            503, b"5.5.1 Error: need MAIL command")
        assert smtp.docmd("MAIL", "FROM:<a@acme.test>") == (
            503, b"5.5.1 Error: send HELO/EHLO first")
        smtp.ehlo()
        assert smtp.docmd("DATA") == (503, b"5.5.1 Error: need RCPT command")
        assert smtp.docmd("XYZZY") == (502, b"5.5.2 Error: command not recognized")
        assert smtp.mail("a@acme.test") == (250, b"2.1.0 Ok")
        assert smtp.docmd("MAIL", "FROM:<a@acme.test>") == (
            503, b"5.5.1 Error: nested MAIL command")
        assert smtp.rset() == (250, b"2.0.0 Ok")
        assert smtp.noop() == (250, b"2.0.0 Ok")
        assert smtp.verify("ada@example.com")[0] == 252
    assert mail.outbox == []


def test_zero_timeout_is_refused_like_smtplib(mail: MailSink) -> None:
    with pytest.raises(ValueError, match=r"Non-blocking socket \(timeout=0\) is not supported"):
        smtplib.SMTP("smtp.example.com", timeout=0)


# -- SMTP fault injection ------------------------------------------------------------------


def test_data_fault_raises_smtp_data_error_then_the_retry_succeeds(mail: MailSink) -> None:
    mail.smtp_fail(times=2, code=451, message="4.3.0 Try again later")
    outcomes = []
    for _attempt in range(3):
        try:
            with smtplib.SMTP("smtp.example.com") as smtp:
                smtp.send_message(welcome())
            outcomes.append("sent")
        except smtplib.SMTPDataError as error:
            outcomes.append((error.smtp_code, error.smtp_error))
    assert outcomes == [(451, b"4.3.0 Try again later"), (451, b"4.3.0 Try again later"), "sent"]
    assert len(mail.outbox) == 1


def test_mail_fault_raises_sender_refused(mail: MailSink) -> None:
    mail.smtp_fail(code=550, message="5.7.1 Sender rejected", on="MAIL")
    with smtplib.SMTP("smtp.example.com") as smtp, \
            pytest.raises(smtplib.SMTPSenderRefused) as caught:
        smtp.send_message(welcome())
    assert (caught.value.smtp_code, caught.value.sender) == (550, "noreply@acme.test")
    assert mail.outbox == []


def test_rcpt_fault_refuses_one_recipient_and_delivers_to_the_rest(mail: MailSink) -> None:
    mail.smtp_fail(code=550, message="5.1.1 No such user", on="RCPT")
    with smtplib.SMTP("smtp.example.com") as smtp:
        refused = smtp.sendmail("a@acme.test", ["gone@example.com", "ada@example.com"],
                                "Subject: hi\r\n\r\nhello\r\n")
    assert refused == {"gone@example.com": (550, b"5.1.1 No such user")}
    assert mail.outbox[0].bcc == ["ada@example.com"]


def test_rcpt_fault_for_every_recipient_raises_recipients_refused(mail: MailSink) -> None:
    mail.smtp_fail(code=550, on="RCPT")
    with smtplib.SMTP("smtp.example.com") as smtp, pytest.raises(smtplib.SMTPRecipientsRefused):
        smtp.send_message(welcome())


@pytest.mark.parametrize(("code", "text"), [(451, b"4.3.0 Temporary failure, please try again later"),
                                           (550, b"5.0.0 Permanent failure, message not accepted")])
def test_without_a_message_the_reply_text_matches_the_codes_class(mail: MailSink, code: int, text: bytes) -> None:
    # a 550 answered "4.3.0 Temporary failure, please try again later": the job's error said temporary
    mail.smtp_fail(code=code, on="MAIL")
    with smtplib.SMTP("smtp.example.com") as smtp, pytest.raises(smtplib.SMTPSenderRefused) as caught:
        smtp.send_message(welcome())
    assert (caught.value.smtp_code, caught.value.smtp_error) == (code, text)


def test_auth_fault_raises_authentication_error(mail: MailSink) -> None:
    mail.smtp_fail(code=535, message="5.7.8 Authentication credentials invalid", on="AUTH")
    with smtplib.SMTP_SSL("smtp.example.com") as smtp, \
            pytest.raises(smtplib.SMTPAuthenticationError) as caught:
        smtp.login("mailer", "wrong")
    assert caught.value.smtp_code == 535


def test_connect_fault_raises_connect_error(mail: MailSink) -> None:
    mail.smtp_fail(code=421, message="4.7.0 Too many connections", on="CONNECT")
    with pytest.raises(smtplib.SMTPConnectError) as caught:
        smtplib.SMTP("smtp.example.com")
    assert (caught.value.smtp_code, caught.value.smtp_error) == (421, b"4.7.0 Too many connections")
    with smtplib.SMTP("smtp.example.com") as smtp:  # the fault was used up
        assert smtp.noop()[0] == 250


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"times": 0}, "times=0 is not valid: an int >= 1"),
    ({"code": 250}, "code=250 is not valid: an SMTP error code from 400 to 599"),
    ({"on": "VRFY"}, "on='VRFY' is not valid: one of 'CONNECT', 'EHLO', 'STARTTLS', 'AUTH', 'MAIL', 'RCPT', "
                     "'DATA', 'RSET', 'QUIT'"),
    ({"on": "HELO"}, "on='HELO' is not valid: one of 'CONNECT', 'EHLO', 'STARTTLS', 'AUTH', 'MAIL', 'RCPT', "
                     "'DATA', 'RSET', 'QUIT' ('EHLO' is the greeting, EHLO or the HELO a client falls back to)"),
    ({"message": 451}, "message=451 is not valid: a str (several lines make a multi-line reply)"),
    ({"message": b"4.3.0 busy"}, "message=b'4.3.0 busy' is not valid: a str (several lines make a "
                                 "multi-line reply)"),
])
def test_smtp_fail_rejects_bad_arguments(mail: MailSink, kwargs: dict[str, object],
                                         message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        mail.smtp_fail(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_a_multi_line_fault_message_is_one_multi_line_reply(mail: MailSink) -> None:
    """A message with line breaks must not put stray reply lines on the wire: smtplib
    would read them as the answers to its next commands (here QUIT answered "250")."""
    mail.smtp_fail(message="4.3.0 Greylisted\r\n250 fake", on="DATA")
    with smtplib.SMTP("smtp.example.com") as smtp:
        with pytest.raises(smtplib.SMTPDataError) as caught:
            smtp.send_message(welcome())
        assert smtp.noop() == (250, b"2.0.0 Ok")
    assert (caught.value.smtp_code, caught.value.smtp_error) == (451, b"4.3.0 Greylisted\n250 fake")
    assert mail.outbox == []


# -- install / uninstall -------------------------------------------------------------------


def test_uninstall_restores_smtplib_exactly_and_real_sockets_come_back(host: FakeHost) -> None:
    before = {cls: dict(vars(cls)) for cls in (smtplib.SMTP, smtplib.SMTP_SSL, smtplib.LMTP)}
    sink = MailSink(host)
    sink.install()
    sink.install()  # idempotent
    assert smtplib.SMTP.__dict__["_get_socket"] is not before[smtplib.SMTP]["_get_socket"]
    assert "starttls" not in vars(smtplib.SMTP_SSL)
    sink.uninstall()
    sink.uninstall()  # idempotent
    assert {cls: dict(vars(cls)) for cls in before} == before
    with refused_port() as port, pytest.raises(ConnectionRefusedError):
        smtplib.SMTP("127.0.0.1", port, timeout=5)


def test_outbox_survives_uninstall_and_reinstall(host: FakeHost) -> None:
    sink = MailSink(host)
    sink.install()
    with smtplib.SMTP("smtp.example.com") as smtp:
        smtp.send_message(welcome())
    sink.uninstall()
    sink.install()
    with smtplib.SMTP("smtp.example.com") as smtp:
        smtp.send_message(welcome())
    sink.uninstall()
    assert len(sink.outbox) == 2


def test_ids_are_deterministic_per_seed() -> None:
    def run(seed: int) -> list[str]:
        sink = MailSink(FakeHost(seed=seed))
        with sink_installed(sink), smtplib.SMTP("smtp.example.com") as smtp:
            smtp.send_message(welcome())
            smtp.send_message(welcome())
        return [email.message_id for email in sink.outbox]

    assert run(7) == run(7)
    assert run(7) != run(8)


class sink_installed:
    def __init__(self, *sinks: MailSink | HttpSink) -> None:
        self.sinks = sinks

    def __enter__(self) -> None:
        for sink in self.sinks:
            sink.install()

    def __exit__(self, *exc: object) -> None:
        for sink in reversed(self.sinks):
            sink.uninstall()


# -- Resend --------------------------------------------------------------------------------

RESEND = "https://api.resend.com/emails"
RESEND_AUTH = {"Authorization": "Bearer re_123"}


def test_resend_decodes_the_request_and_answers_with_an_id(http: HttpSink, mail: MailSink) -> None:
    payload = {
        "from": "Acme <onboarding@acme.test>", "to": ["ada@example.com", "Bob <bob@example.com>"],
        "cc": "carol@example.com", "bcc": ["audit@acme.test"], "reply_to": "support@acme.test",
        "subject": "Your order", "html": "<b>Thanks</b>", "text": "Thanks",
        "headers": {"X-Entity-Ref-ID": "order-1"},
        "attachments": [{"filename": "receipt.txt",
                         "content": base64.b64encode(b"paid").decode()}],
    }
    response = httpx.post(RESEND, json=payload, headers=RESEND_AUTH)
    assert response.status_code == 200
    [email] = mail.outbox
    assert response.json() == {"id": email.message_id}
    assert uuid.UUID(email.message_id).version == 4
    assert (email.provider, email.sender, email.to, email.cc, email.bcc, email.reply_to) == (
        "resend", "onboarding@acme.test", ["ada@example.com", "bob@example.com"],
        ["carol@example.com"], ["audit@acme.test"], ["support@acme.test"])
    assert (email.subject, email.text, email.html) == ("Your order", "Thanks", "<b>Thanks</b>")
    assert email.headers == {"X-Entity-Ref-ID": "order-1"}
    assert [(a.filename, a.content) for a in email.attachments] == [("receipt.txt", b"paid")]


def test_resend_batch(http: HttpSink, mail: MailSink) -> None:
    batch = [{"from": "a@acme.test", "to": f"user{n}@example.com", "subject": f"Hi {n}",
              "text": "x"} for n in range(2)]
    response = httpx.post(RESEND + "/batch", json=batch, headers=RESEND_AUTH)
    assert response.status_code == 200
    assert response.json() == {"data": [{"id": email.message_id} for email in mail.outbox]}
    assert [email.to for email in mail.outbox] == [["user0@example.com"], ["user1@example.com"]]


@pytest.mark.parametrize(("change", "status", "body"), [
    ({"to": None}, 422, {"statusCode": 422, "name": "missing_required_field",
                         "message": "Missing `to` field."}),
    ({"subject": None}, 422, {"statusCode": 422, "name": "missing_required_field",
                              "message": "Missing `subject` field."}),
    ({"to": "not-an-address"}, 422, {
        "statusCode": 422, "name": "validation_error",
        "message": "Invalid `to` field. The email address needs to follow the "
                   "`email@example.com` or `Name <email@example.com>` format."}),
])
def test_resend_validation_errors(http: HttpSink, mail: MailSink, change: dict[str, object],
                                  status: int, body: dict[str, object]) -> None:
    payload = {"from": "a@acme.test", "to": "ada@example.com", "subject": "s", "text": "t"}
    payload.update(change)
    payload = {key: value for key, value in payload.items() if value is not None}
    response = httpx.post(RESEND, json=payload, headers=RESEND_AUTH)
    assert (response.status_code, response.json()) == (status, body)
    assert mail.outbox == []


def test_resend_without_a_key_is_unauthorized(http: HttpSink, mail: MailSink) -> None:
    response = httpx.post(RESEND, json={"from": "a@acme.test", "to": "b@example.com",
                                        "subject": "s", "text": "t"})
    assert response.status_code == 401
    assert response.json() == {
        "statusCode": 401, "name": "missing_api_key",
        "message": "Missing API key in the authorization header. Include the following header "
                   "Authorization: Bearer YOUR_API_KEY in the request."}
    assert mail.outbox == []


def test_resend_idempotency_key_sends_once_per_24_hours(http: HttpSink, mail: MailSink,
                                                         host: FakeHost) -> None:
    payload = {"from": "a@acme.test", "to": "ada@example.com", "subject": "Receipt", "text": "t"}
    headers = {**RESEND_AUTH, "Idempotency-Key": "receipt/order-1"}
    first = httpx.post(RESEND, json=payload, headers=headers)
    host.now += 23 * 3600 * SECOND
    retry = httpx.post(RESEND, json=payload, headers=headers)
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert len(mail.outbox) == 1

    changed = httpx.post(RESEND, json={**payload, "subject": "Other"}, headers=headers)
    assert (changed.status_code, changed.json()) == (409, {
        "statusCode": 409, "name": "invalid_idempotent_request",
        "message": "Same idempotency key used with a different request payload."})

    host.now += 3600 * SECOND  # 24 h after the first request the key is forgotten
    later = httpx.post(RESEND, json=payload, headers=headers)
    assert later.json() != first.json()
    assert len(mail.outbox) == 2

    too_long = httpx.post(RESEND, json=payload,
                          headers={**RESEND_AUTH, "Idempotency-Key": "k" * 257})
    assert (too_long.status_code, too_long.json()["name"]) == (400, "invalid_idempotency_key")


# -- SendGrid ------------------------------------------------------------------------------

SENDGRID = "https://api.sendgrid.com/v3/mail/send"
SENDGRID_AUTH = {"Authorization": "Bearer SG.key"}


def test_sendgrid_sends_one_email_per_personalization(http: HttpSink, mail: MailSink) -> None:
    payload = {
        "personalizations": [
            {"to": [{"email": "ada@example.com", "name": "Ada"}],
             "cc": [{"email": "bob@example.com"}], "headers": {"X-Tenant": "t1"}},
            {"to": [{"email": "carol@example.com"}], "bcc": [{"email": "audit@acme.test"}],
             "subject": "Carol, your order"},
        ],
        "from": {"email": "orders@acme.test", "name": "Acme"},
        "reply_to": {"email": "help@acme.test"},
        "subject": "Your order",
        "content": [{"type": "text/plain", "value": "Thanks!"},
                    {"type": "text/html", "value": "<p>Thanks!</p>"}],
        "headers": {"X-Campaign": "orders"},
    }
    response = httpx.post(SENDGRID, json=payload, headers=SENDGRID_AUTH)
    assert response.status_code == 202
    assert response.content == b""
    message_id = response.headers["X-Message-Id"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", message_id)
    first, second = mail.outbox
    assert (first.to, first.cc, first.subject, first.message_id) == (
        ["ada@example.com"], ["bob@example.com"], "Your order", message_id)
    assert first.headers == {"X-Campaign": "orders", "X-Tenant": "t1"}
    assert (second.to, second.bcc, second.subject) == (
        ["carol@example.com"], ["audit@acme.test"], "Carol, your order")
    assert (first.sender, first.reply_to, first.text, first.html) == (
        "orders@acme.test", ["help@acme.test"], "Thanks!", "<p>Thanks!</p>")


def test_sendgrid_dynamic_template(http: HttpSink, mail: MailSink) -> None:
    payload = {"personalizations": [{"to": [{"email": "ada@example.com"}],
                                     "dynamic_template_data": {"name": "Ada"}}],
               "from": {"email": "a@acme.test"}, "template_id": "d-welcome"}
    assert httpx.post(SENDGRID, json=payload, headers=SENDGRID_AUTH).status_code == 202
    email = mail.assert_sent(to="ada@example.com")
    assert (email.template, email.template_data, email.text) == ("d-welcome", {"name": "Ada"}, None)


def test_sendgrid_lists_every_validation_error(http: HttpSink, mail: MailSink) -> None:
    payload = {"personalizations": [{"to": [{"email": "ada@example.com"}],
                                     "bcc": [{"email": "ADA@example.com"}]}]}
    response = httpx.post(SENDGRID, json=payload, headers=SENDGRID_AUTH)
    assert response.status_code == 400
    help_ = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message."
    assert response.json() == {"errors": [
        {"field": "from", "help": help_ + "from", "message": (
            "The from object must be provided for every email send. It is an object that "
            'requires the email parameter, but may also contain a name parameter.  e.g. '
            '{"email" : "example@example.com"}  or {"email" : "example@example.com", "name" : '
            '"Example Recipient"}.')},
        {"field": "content", "help": help_ + "content", "message": (
            "Unless a valid template_id is provided, the content parameter is required. There "
            "must be at least one defined content block. We typically suggest both text/plain "
            "and text/html blocks are included, but only one block is required.")},
        {"field": "personalizations.0", "help": help_ + "personalizations", "message": (
            "Each email address in the personalization block should be unique between to, cc, "
            "and bcc. We found the first duplicate instance of [ADA@example.com] in the "
            "personalizations.0.bcc field.")},
        {"field": "subject", "help": help_ + "subject", "message": (
            "The subject is required. You can get around this requirement if you use a "
            "template with a subject defined or if every personalization has a subject "
            "defined.")},
    ]}
    assert mail.outbox == []


@pytest.mark.parametrize(("headers", "message"), [
    ({}, "authorization required"),
    ({"Authorization": "Token abc"},
     "The provided authorization grant is invalid, expired, or revoked"),
])
def test_sendgrid_auth_errors(http: HttpSink, headers: dict[str, str], message: str) -> None:
    response = httpx.post(SENDGRID, json={}, headers=headers)
    assert (response.status_code, response.json()) == (
        401, {"errors": [{"field": None, "message": message, "help": None}]})


def test_sendgrid_sandbox_mode_validates_but_does_not_send(http: HttpSink, mail: MailSink) -> None:
    payload = {"personalizations": [{"to": [{"email": "ada@example.com"}]}],
               "from": {"email": "a@acme.test"}, "subject": "s",
               "content": [{"type": "text/plain", "value": "x"}],
               "mail_settings": {"sandbox_mode": {"enable": True}}}
    response = httpx.post(SENDGRID, json=payload, headers=SENDGRID_AUTH)
    assert (response.status_code, response.content) == (200, b"")
    assert mail.outbox == []


# -- Postmark ------------------------------------------------------------------------------

POSTMARK = "https://api.postmarkapp.com/email"
POSTMARK_AUTH = {"X-Postmark-Server-Token": "server-token", "Accept": "application/json"}


def test_postmark_single_email(http: HttpSink, mail: MailSink) -> None:
    payload = {"From": "Acme <billing@acme.test>", "To": "ada@example.com, Bob <bob@example.com>",
               "Cc": "carol@example.com", "Bcc": "audit@acme.test", "Subject": "Invoice",
               "TextBody": "Due soon", "HtmlBody": "<p>Due soon</p>", "ReplyTo": "help@acme.test",
               "Headers": [{"Name": "X-Invoice", "Value": "42"}],
               "Attachments": [{"Name": "invoice.pdf", "ContentType": "application/pdf",
                                "Content": base64.b64encode(b"%PDF").decode()}],
               "MessageStream": "outbound"}
    response = httpx.post(POSTMARK, json=payload, headers=POSTMARK_AUTH)
    [email] = mail.outbox
    assert (response.status_code, response.json()) == (200, {
        "To": "ada@example.com, Bob <bob@example.com>",
        "SubmittedAt": "2025-02-28T19:00:00.0000000-05:00",
        "MessageID": email.message_id, "ErrorCode": 0, "Message": "OK"})
    assert (email.to, email.cc, email.bcc, email.reply_to) == (
        ["ada@example.com", "bob@example.com"], ["carol@example.com"], ["audit@acme.test"],
        ["help@acme.test"])
    assert (email.subject, email.text, email.html, email.headers) == (
        "Invoice", "Due soon", "<p>Due soon</p>", {"X-Invoice": "42"})
    assert [(a.filename, a.content_type, a.content) for a in email.attachments] == [
        ("invoice.pdf", "application/pdf", b"%PDF")]


def test_postmark_batch_answers_per_message(http: HttpSink, mail: MailSink) -> None:
    batch = [{"From": "a@acme.test", "To": "ada@example.com", "TextBody": "1"},
             {"From": "a@acme.test", "TextBody": "2"}]
    response = httpx.post(POSTMARK + "/batch", json=batch, headers=POSTMARK_AUTH)
    assert response.status_code == 200
    ok, failed = response.json()
    assert (ok["ErrorCode"], ok["MessageID"]) == (0, mail.outbox[0].message_id)
    assert failed == {"ErrorCode": 300, "Message": "Zero recipients specified"}
    assert len(mail.outbox) == 1


def test_postmark_with_template(http: HttpSink, mail: MailSink) -> None:
    payload = {"From": "a@acme.test", "To": "ada@example.com", "TemplateAlias": "welcome",
               "TemplateModel": {"name": "Ada"}}
    assert httpx.post(POSTMARK + "/withTemplate", json=payload,
                      headers=POSTMARK_AUTH).status_code == 200
    email = mail.assert_sent(provider="postmark")
    assert (email.template, email.template_data) == ("welcome", {"name": "Ada"})


@pytest.mark.parametrize(("payload", "headers", "status", "body"), [
    ({"From": "a@acme.test", "To": "b@example.com", "TextBody": "x"}, {}, 401,
     {"ErrorCode": 10, "Message": "No Account or Server API tokens were supplied in the HTTP "
      "headers. Please add a header for either X-Postmark-Server-Token or "
      "X-Postmark-Account-Token."}),
    ({"To": "b@example.com", "TextBody": "x"}, POSTMARK_AUTH, 422,
     {"ErrorCode": 300, "Message": "Invalid 'From' value."}),
    ({"From": "a@acme.test", "TextBody": "x"}, POSTMARK_AUTH, 422,
     {"ErrorCode": 300, "Message": "Zero recipients specified"}),
    ({"From": "a@acme.test", "To": "b@example.com"}, POSTMARK_AUTH, 422,
     {"ErrorCode": 300, "Message": "Provide either email TextBody or HtmlBody or both."}),
    ({"From": "a@acme.test", "To": "b@example.com, nobody", "TextBody": "x"}, POSTMARK_AUTH, 422,
     {"ErrorCode": 300, "Message": "Error parsing 'To': Illegal email address 'nobody'. It "
      "must contain the '@' symbol."}),
])
def test_postmark_errors(http: HttpSink, mail: MailSink, payload: dict[str, str],
                         headers: dict[str, str], status: int, body: dict[str, object]) -> None:
    response = httpx.post(POSTMARK, json=payload, headers=headers)
    assert (response.status_code, response.json()) == (status, body)
    assert mail.outbox == []


_SENDGRID_OK = {"personalizations": [{"to": [{"email": "b@example.com"}]}],
                "from": {"email": "a@acme.test"}, "subject": "s",
                "content": [{"type": "text/plain", "value": "x"}]}
_POSTMARK_OK = {"From": "a@acme.test", "To": "b@example.com", "TextBody": "x"}
_MALFORMED_SENDGRID = (400, {"errors": [{"message": "Bad Request", "field": None, "help": None}]})
_MALFORMED_POSTMARK = (422, {"ErrorCode": 403, "Message": "Received valid, but incompatible JSON input."})
_MALFORMED_RESEND = (422, {"statusCode": 422, "name": "validation_error",
                           "message": "Invalid JSON body."})


@pytest.mark.parametrize(("url", "headers", "payload", "answer"), [
    (POSTMARK, POSTMARK_AUTH, {**_POSTMARK_OK, "Headers": 5}, _MALFORMED_POSTMARK),
    (POSTMARK, POSTMARK_AUTH, {**_POSTMARK_OK, "Attachments": 5}, _MALFORMED_POSTMARK),
    (POSTMARK + "/withTemplate", POSTMARK_AUTH,
     {"From": "a@acme.test", "To": "b@example.com", "TemplateAlias": "welcome", "TemplateModel": [1]},
     _MALFORMED_POSTMARK),
    (SENDGRID, {"Authorization": "Bearer SG.key"},
     {**_SENDGRID_OK, "mail_settings": {"sandbox_mode": True}}, _MALFORMED_SENDGRID),
    (SENDGRID, {"Authorization": "Bearer SG.key"},
     {**_SENDGRID_OK, "template_id": "d-1",
      "personalizations": [{"to": [{"email": "b@example.com"}], "dynamic_template_data": "x"}]},
     _MALFORMED_SENDGRID),
    (RESEND, {"Authorization": "Bearer re_key"},
     {"from": "a@acme.test", "to": "b@example.com", "template": {"id": "t", "variables": [1]}},
     _MALFORMED_RESEND),
])
def test_a_field_of_the_wrong_json_type_is_refused_like_the_provider_would(
        http: HttpSink, mail: MailSink, url: str, headers: dict[str, str],
        payload: dict[str, object], answer: tuple[int, object]) -> None:
    """Not a TypeError raised into job code, and never an email the outbox cannot print."""
    assert_refused(mail, url, headers, payload, answer)


@pytest.mark.parametrize(("url", "headers", "answer"), [
    (POSTMARK, POSTMARK_AUTH, (422, {"ErrorCode": 402, "Message": "Received invalid JSON input."})),
    (SENDGRID, {"Authorization": "Bearer SG.key"}, _MALFORMED_SENDGRID),
    (RESEND, {"Authorization": "Bearer re_key"}, _MALFORMED_RESEND),
])
def test_json_nested_past_the_recursion_limit_is_refused_as_invalid_json(
        http: HttpSink, mail: MailSink, url: str, headers: dict[str, str], answer: tuple[int, object]) -> None:
    """json.loads raised RecursionError, which reached job code from inside the mail sink."""
    response = httpx.post(url, content=b"[" * 100_000, headers={**headers, "Content-Type": "application/json"})
    assert (response.status_code, response.json()) == answer
    assert mail.outbox == []


def test_mailgun_variables_nested_past_the_recursion_limit_are_refused(http: HttpSink, mail: MailSink) -> None:
    response = httpx.post(MAILGUN, auth=MAILGUN_AUTH, data={
        "from": "a@acme.test", "to": "b@example.com", "text": "x", "t:variables": "[" * 100_000})
    assert (response.status_code, response.json()) == (400, {"message": "'t:variables' parameter is not a valid JSON"})
    assert mail.outbox == []


def assert_refused(mail: MailSink, url: str, headers: dict[str, str], payload: dict[str, object],
                   answer: tuple[int, object]) -> None:
    """The provider answers ``answer`` and nothing reaches the outbox."""
    response = httpx.post(url, json=payload, headers=headers)
    assert (response.status_code, response.json()) == answer
    assert mail.outbox == []
    assert mail.format_outbox() == "Outbox: empty (no email was sent)"


_RESEND_OK = {"from": "a@acme.test", "to": "b@example.com", "subject": "s", "text": "t"}
_SENDGRID_HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message."


def _resend_refusal(name: str, message: str) -> tuple[int, object]:
    return 422, {"statusCode": 422, "name": name, "message": message}


def _sendgrid_refusal(field: str, expected: str, given: str,
                      anchor: str | None) -> tuple[int, object]:
    return 400, {"errors": [{"field": field, "message": f"Invalid type. Expected: {expected}, "
                             f"given: {given}.", "help": anchor and _SENDGRID_HELP + anchor}]}


def _personalized(**fields: object) -> dict[str, object]:
    return {**_SENDGRID_OK, "personalizations": [{"to": [{"email": "b@example.com"}], **fields}]}


_ATTACHMENT = {"filename": "a.txt", "content": "cGFpZA=="}
_INVALID_RESEND_ATTACHMENTS = _resend_refusal("validation_error", "Invalid `attachments` field.")


@pytest.mark.parametrize(("url", "headers", "payload", "answer"), [
    # Resend: recipients are a string or an array of strings, attachments an array of objects
    (RESEND, RESEND_AUTH, {**_RESEND_OK, "attachments": "receipt.pdf"}, _INVALID_RESEND_ATTACHMENTS),
    (RESEND, RESEND_AUTH, {**_RESEND_OK, "attachments": _ATTACHMENT}, _INVALID_RESEND_ATTACHMENTS),
    (RESEND, RESEND_AUTH, {**_RESEND_OK, "attachments": ["receipt.pdf"]},
     _INVALID_RESEND_ATTACHMENTS),
    (RESEND, RESEND_AUTH, {**_RESEND_OK, "attachments": [{"filename": "a.txt", "content": 5}]},
     _INVALID_RESEND_ATTACHMENTS),
    (RESEND, RESEND_AUTH, {**_RESEND_OK, "attachments": [{"filename": "a.txt"}]},
     _resend_refusal("invalid_attachment", "Attachment must have either a `content` or `path`.")),
    (RESEND, RESEND_AUTH, {**_RESEND_OK, "to": {"b@example.com": "Bob"}},
     _resend_refusal("validation_error", "Invalid `to` field. The email address needs to follow "
                     "the `email@example.com` or `Name <email@example.com>` format.")),
    (RESEND, RESEND_AUTH, {**_RESEND_OK, "bcc": 5},
     _resend_refusal("validation_error", "Invalid `bcc` field. The email address needs to follow "
                     "the `email@example.com` or `Name <email@example.com>` format.")),
    # SendGrid: JSON-schema type errors, one per field, with the field's help anchor
    (SENDGRID, SENDGRID_AUTH, _personalized(to={"email": "b@example.com"}),
     _sendgrid_refusal("personalizations.0.to", "array", "object", "personalizations.to")),
    (SENDGRID, SENDGRID_AUTH, _personalized(to="b@example.com"),
     _sendgrid_refusal("personalizations.0.to", "array", "string", "personalizations.to")),
    (SENDGRID, SENDGRID_AUTH, _personalized(to=["b@example.com"]),
     _sendgrid_refusal("personalizations.0.to.0", "object", "string", "personalizations.to")),
    (SENDGRID, SENDGRID_AUTH, _personalized(to=[{"email": ["b@example.com"]}]),
     _sendgrid_refusal("personalizations.0.to.0.email", "string", "array", "personalizations.to")),
    (SENDGRID, SENDGRID_AUTH, _personalized(cc={"email": "c@example.com"}),
     _sendgrid_refusal("personalizations.0.cc", "array", "object", "personalizations.cc")),
    (SENDGRID, SENDGRID_AUTH, _personalized(bcc=[7]),
     _sendgrid_refusal("personalizations.0.bcc.0", "object", "integer", "personalizations.bcc")),
    (SENDGRID, SENDGRID_AUTH, {**_SENDGRID_OK, "personalizations": [None]},
     _sendgrid_refusal("personalizations.0", "object", "null", None)),
    (SENDGRID, SENDGRID_AUTH, {**_SENDGRID_OK, "reply_to_list": {"email": "r@acme.test"}},
     _sendgrid_refusal("reply_to_list", "array", "object", "reply_to_list")),
    (SENDGRID, SENDGRID_AUTH, {**_SENDGRID_OK, "reply_to": [{"email": "r@acme.test"}]},
     _sendgrid_refusal("reply_to", "object", "array", "reply_to")),
    (SENDGRID, SENDGRID_AUTH, {**_SENDGRID_OK, "attachments": {"content": "cGFpZA==",
                                                               "filename": "a.txt"}},
     _sendgrid_refusal("attachments", "array", "object", "attachments")),
    (SENDGRID, SENDGRID_AUTH, {**_SENDGRID_OK, "attachments": ["a.txt"]},
     _sendgrid_refusal("attachments.0", "object", "string", "attachments")),
    (SENDGRID, SENDGRID_AUTH, {**_SENDGRID_OK, "attachments": [{"content": [1, 2],
                                                                "filename": "a.txt"}]},
     _sendgrid_refusal("attachments.0.content", "string", "array", "attachments")),
    # Postmark: recipients are comma-separated strings; arrays/objects do not deserialize
    (POSTMARK, POSTMARK_AUTH, {**_POSTMARK_OK, "To": ["b@example.com"]}, _MALFORMED_POSTMARK),
    (POSTMARK, POSTMARK_AUTH, {**_POSTMARK_OK, "Bcc": ["x@example.com", "y@example.com"]},
     _MALFORMED_POSTMARK),
    (POSTMARK, POSTMARK_AUTH, {**_POSTMARK_OK, "ReplyTo": {"Email": "r@acme.test"}},
     _MALFORMED_POSTMARK),
    (POSTMARK, POSTMARK_AUTH, {**_POSTMARK_OK, "Attachments": "a.txt"}, _MALFORMED_POSTMARK),
    (POSTMARK, POSTMARK_AUTH, {**_POSTMARK_OK, "Attachments": {"Name": "a.txt", "Content": "eA=="}},
     _MALFORMED_POSTMARK),
    (POSTMARK, POSTMARK_AUTH, {**_POSTMARK_OK, "Attachments": [{"Name": "a.txt", "Content": 5}]},
     _MALFORMED_POSTMARK),
    (POSTMARK, POSTMARK_AUTH, {**_POSTMARK_OK, "To": 42},
     (422, {"ErrorCode": 300, "Message": "Error parsing 'To': Illegal email address '42'. It "
                                         "must contain the '@' symbol."})),
])
def test_recipients_and_attachments_of_the_wrong_json_type_are_refused(
        http: HttpSink, mail: MailSink, url: str, headers: dict[str, str],
        payload: dict[str, object], answer: tuple[int, object]) -> None:
    """The real APIs refuse these; a lenient fake would send mail production never sends."""
    assert_refused(mail, url, headers, payload, answer)


def test_postmark_batch_refuses_only_the_message_with_wrong_types(http: HttpSink,
                                                                  mail: MailSink) -> None:
    batch = [_POSTMARK_OK, {**_POSTMARK_OK, "Cc": ["c@example.com"]}]
    response = httpx.post(POSTMARK + "/batch", json=batch, headers=POSTMARK_AUTH)
    assert response.status_code == 200
    assert [answer["ErrorCode"] for answer in response.json()] == [0, 403]
    assert response.json()[1]["Message"] == "Received valid, but incompatible JSON input."
    assert [email.to for email in mail.outbox] == [["b@example.com"]]


def test_attachments_of_the_right_types_still_arrive(http: HttpSink, mail: MailSink) -> None:
    httpx.post(RESEND, headers=RESEND_AUTH, json={**_RESEND_OK, "attachments": [
        _ATTACHMENT, {"filename": "remote.pdf", "path": "https://cdn.acme.test/remote.pdf"}]})
    httpx.post(SENDGRID, headers=SENDGRID_AUTH, json={
        **_SENDGRID_OK, "reply_to_list": [{"email": "r@acme.test"}],
        "attachments": [{"content": "cGFpZA==", "filename": "a.txt", "type": "text/plain"}]})
    httpx.post(POSTMARK, headers=POSTMARK_AUTH, json={
        **_POSTMARK_OK, "Attachments": [{"Name": "a.txt", "Content": "cGFpZA==",
                                         "ContentType": "text/plain"}]})
    assert [[(a.filename, a.content) for a in email.attachments] for email in mail.outbox] == [
        [("a.txt", b"paid"), ("remote.pdf", b"")], [("a.txt", b"paid")], [("a.txt", b"paid")]]
    assert mail.outbox[1].reply_to == ["r@acme.test"]


# -- Mailgun -------------------------------------------------------------------------------

MAILGUN = "https://api.mailgun.net/v3/mg.acme.test/messages"
MAILGUN_AUTH = ("api", "key-123")


def test_mailgun_form_with_repeated_and_comma_separated_recipients(http: HttpSink,
                                                                   mail: MailSink) -> None:
    data = {"from": "Acme <hello@mg.acme.test>", "to": ["ada@example.com, bob@example.com",
                                                        "carol@example.com"],
            "cc": "dan@example.com", "bcc": "audit@acme.test", "subject": "Weekly digest",
            "text": "3 new posts", "html": "<p>3 new posts</p>", "h:X-Digest": "weekly",
            "h:Reply-To": "editor@acme.test"}
    response = httpx.post(MAILGUN, data=data, auth=MAILGUN_AUTH)
    [email] = mail.outbox
    assert (response.status_code, response.json()) == (
        200, {"id": email.message_id, "message": "Queued. Thank you."})
    assert re.fullmatch(r"<20250301000000\.[0-9a-f]{16}@mg\.acme\.test>", email.message_id)
    assert email.to == ["ada@example.com", "bob@example.com", "carol@example.com"]
    assert (email.cc, email.bcc, email.reply_to) == (
        ["dan@example.com"], ["audit@acme.test"], ["editor@acme.test"])
    assert (email.sender, email.subject, email.text, email.html) == (
        "hello@mg.acme.test", "Weekly digest", "3 new posts", "<p>3 new posts</p>")
    assert email.headers == {"X-Digest": "weekly", "Reply-To": "editor@acme.test"}


def test_mailgun_multipart_with_attachment_on_the_eu_host(http: HttpSink, mail: MailSink) -> None:
    blob = b"\x00\x01\r\n--not-a-boundary\r\n\xff"
    response = httpx.post("https://api.eu.mailgun.net/v3/mg.acme.test/messages",
                          data={"from": "a@mg.acme.test", "to": "ada@example.com",
                                "subject": "Réçu", "text": "ci-joint"},
                          files=[("attachment", ("recu.bin", blob, "application/octet-stream"))],
                          auth=MAILGUN_AUTH)
    assert response.status_code == 200
    [email] = mail.outbox
    assert (email.subject, email.text) == ("Réçu", "ci-joint")
    assert [(a.filename, a.content_type, a.content) for a in email.attachments] == [
        ("recu.bin", "application/octet-stream", blob)]


def test_mailgun_template_and_test_mode(http: HttpSink, mail: MailSink) -> None:
    form = {"from": "a@mg.acme.test", "to": "ada@example.com", "template": "welcome",
            "t:variables": '{"name": "Ada"}'}
    httpx.post(MAILGUN, data=form, auth=MAILGUN_AUTH)
    httpx.post(MAILGUN, data={**form, "o:testmode": "yes"}, auth=MAILGUN_AUTH)
    [email] = mail.outbox
    assert (email.template, email.template_data) == ("welcome", {"name": "Ada"})


@pytest.mark.parametrize(("data", "auth", "status", "body"), [
    ({"from": "a@acme.test", "to": "b@example.com", "text": "x"}, ("user", "key"), 401,
     b"Forbidden"),
    ({"to": "b@example.com", "text": "x"}, MAILGUN_AUTH, 400,
     b"{\"message\":\"'from' parameter is missing\"}"),
    ({"from": "a@acme.test", "text": "x"}, MAILGUN_AUTH, 400,
     b"{\"message\":\"'to' parameter is missing\"}"),
    ({"from": "a@acme.test", "to": "b@example.com"}, MAILGUN_AUTH, 400,
     b"{\"message\":\"Need at least one of 'text' or 'html' parameters specified\"}"),
    ({"from": "a@acme.test", "to": "nobody", "text": "x"}, MAILGUN_AUTH, 400,
     b"{\"message\":\"'to' parameter is not a valid address. please check documentation\"}"),
])
def test_mailgun_errors(http: HttpSink, mail: MailSink, data: dict[str, str],
                        auth: tuple[str, str], status: int, body: bytes) -> None:
    response = httpx.post(MAILGUN, data=data, auth=auth)
    assert (response.status_code, response.content) == (status, body)
    assert mail.outbox == []


def test_providers_through_an_async_client(http: HttpSink, mail: MailSink) -> None:
    async def send_all() -> list[int]:
        async with httpx.AsyncClient() as client:
            responses = [
                await client.post(RESEND, json={"from": "a@acme.test", "to": "r@example.com",
                                                "subject": "s", "text": "t"}, headers=RESEND_AUTH),
                await client.post(MAILGUN, data={"from": "a@acme.test", "to": "m@example.com",
                                                 "text": "t"}, auth=MAILGUN_AUTH),
            ]
        return [response.status_code for response in responses]

    assert asyncio.run(send_all()) == [200, 200]
    assert [(e.provider, e.to) for e in mail.outbox] == [
        ("resend", ["r@example.com"]), ("mailgun", ["m@example.com"])]


def test_unknown_endpoints_of_a_provider_are_not_handled(mail: MailSink) -> None:
    for request in (httpx.Request("GET", RESEND + "/4ef9a417"),
                    httpx.Request("POST", "https://api.resend.com/domains"),
                    httpx.Request("POST", "https://api.mailgun.net/v3/mg.acme.test/events")):
        assert mail.handle_provider_request(request) is None


# -- assertions ----------------------------------------------------------------------------


def outbox_of_three(mail: MailSink, host: FakeHost) -> None:
    with smtplib.SMTP("smtp.example.com") as smtp:
        smtp.send_message(welcome(Message_ID="<w1@acme.test>"))
        host.now += 60 * SECOND
        smtp.sendmail("billing@acme.test", ["ada@example.com", "ledger@acme.test"],
                      "From: billing@acme.test\r\nTo: ada@example.com\r\nMessage-ID: <i1@acme.test>"
                      "\r\nSubject: Invoice 42\r\n\r\nTotal: 10 EUR\r\n")
        smtp.sendmail("billing@acme.test", ["bob@example.com"],
                      "From: billing@acme.test\r\nTo: bob@example.com\r\nMessage-ID: <i2@acme.test>"
                      "\r\nSubject: Invoice 43\r\n\r\nTotal: 12 EUR\r\n")


def test_assert_sent_returns_the_one_match(mail: MailSink, host: FakeHost) -> None:
    outbox_of_three(mail, host)
    assert mail.assert_sent(subject="Welcome, Ada").message_id == "<w1@acme.test>"
    assert mail.assert_sent(to="LEDGER@acme.test").subject == "Invoice 42"  # bcc counts
    assert mail.assert_sent(subject=re.compile(r"43$")).to == ["bob@example.com"]
    assert mail.assert_sent(containing="welcome aboard.</p>").subject == "Welcome, Ada"
    assert mail.assert_sent(to=["ada@example.com", "ledger@acme.test"]).subject == "Invoice 42"
    assert len(mail.assert_sent(sender="billing@acme.test", provider="smtp", count=2)) == 2
    assert mail.assert_sent(where=lambda e: "12 EUR" in e.body).subject == "Invoice 43"
    assert [e.subject for e in mail.sent_to("ada@example.com")] == ["Welcome, Ada", "Invoice 42"]
    mail.assert_not_sent(to="eve@example.com")


def test_assert_sent_failure_prints_the_whole_outbox(mail: MailSink, host: FakeHost) -> None:
    outbox_of_three(mail, host)
    with pytest.raises(AssertionError) as caught:
        mail.assert_sent(to="ada@example.com", subject="Password reset")
    assert str(caught.value) == (
        "jobsim: expected exactly 1 email(s) with to='ada@example.com', "
        "subject='Password reset', found 0.\n"
        "Outbox (3 emails, oldest first):\n"
        "  #1 via smtp at 2025-03-01T00:00:00.000Z  id <w1@acme.test>\n"
        "      from:     noreply@acme.test\n"
        "      to:       ada@example.com\n"
        "      subject:  'Welcome, Ada'\n"
        "      text:     'Hi Ada,\\nwelcome aboard.\\n'\n"
        "      html:     '<p>Hi Ada, welcome aboard.</p>\\n'\n"
        "  #2 via smtp at 2025-03-01T00:01:00.000Z  id <i1@acme.test>\n"
        "      from:     billing@acme.test\n"
        "      to:       ada@example.com\n"
        "      bcc:      ledger@acme.test\n"
        "      subject:  'Invoice 42'\n"
        "      text:     'Total: 10 EUR\\n'\n"
        "  #3 via smtp at 2025-03-01T00:01:00.000Z  id <i2@acme.test>\n"
        "      from:     billing@acme.test\n"
        "      to:       bob@example.com\n"
        "      subject:  'Invoice 43'\n"
        "      text:     'Total: 12 EUR\\n'"
    )


def test_assert_sent_refuses_duplicates_and_marks_them(mail: MailSink, host: FakeHost) -> None:
    outbox_of_three(mail, host)
    with pytest.raises(AssertionError) as caught:
        mail.assert_sent(to="ada@example.com")
    first_line, second_line = str(caught.value).splitlines()[:2]
    assert first_line == (
        "jobsim: expected exactly 1 email(s) with to='ada@example.com', found 2 (pass count=2 "
        "if that many are expected, or narrow the filters).")
    assert second_line == "Outbox (3 emails, oldest first, * = matching):"
    marks = [line[:4] for line in str(caught.value).splitlines() if " via " in line]
    assert marks == ["* #1", "* #2", "  #3"]


def test_assert_sent_short_of_emails_names_work_waiting_on_unread_queues(mail: MailSink, host: FakeHost) -> None:
    """A task routed to a queue no simulated worker reads never sent its email; the test fails on the empty outbox,
    and the UnreadQueueWarning that says why is not shown for a failed test: the assertion says it."""
    host.unread = ["jobsim-celery: 1 message(s) (1 of task 'send_welcome') wait on queue 'emails', ..."]
    with pytest.raises(AssertionError) as caught:
        mail.assert_sent(to="ada@example.com")
    assert str(caught.value) == (
        "jobsim: expected exactly 1 email(s) with to='ada@example.com', found 0.\n"
        "Outbox: empty (no email was sent)\n"
        "Note: work that may send it never ran:\n"
        "- jobsim-celery: 1 message(s) (1 of task 'send_welcome') wait on queue 'emails', ...")
    outbox_of_three(mail, host)
    with pytest.raises(AssertionError) as caught:  # too many: the note is not the news
        mail.assert_sent(to="ada@example.com")
    assert "Note: work" not in str(caught.value)
    with pytest.raises(AssertionError, match=r"Note: work that may send it never ran"):
        mail.assert_sent(to="ada@example.com", count=3)


def test_assert_not_sent_and_empty_outbox_messages(mail: MailSink, host: FakeHost) -> None:
    with pytest.raises(AssertionError) as caught:
        mail.assert_sent(subject=re.compile("Welcome"), provider="resend")
    assert str(caught.value) == (
        "jobsim: expected exactly 1 email(s) with subject=re.compile('Welcome'), "
        "provider='resend', found 0.\nOutbox: empty (no email was sent)")
    mail.assert_not_sent()
    outbox_of_three(mail, host)
    with pytest.raises(AssertionError, match=r"^jobsim: expected no email with "
                                             r"containing='EUR', found 2\.\n"):
        mail.assert_not_sent(containing="EUR")
    mail.clear()
    mail.assert_not_sent()


def test_a_provider_call_a_route_answered_is_named_when_the_email_is_missing(http: HttpSink,
                                                                              mail: MailSink) -> None:
    # the test scripted the provider's answer itself (500, then 200): the provider never saw
    # the request, so no email exists; the failure says why instead of "no email was sent"
    http.post(RESEND).mock(side_effect=[httpx.Response(500), httpx.Response(200, json={"id": "e1"})])
    message = {"from": "hi@acme.test", "to": ["ada@example.com"], "subject": "Hi", "text": "."}
    assert httpx.post(RESEND, json=message, headers=RESEND_AUTH).status_code == 500
    assert httpx.post(RESEND, json=message, headers=RESEND_AUTH).status_code == 200
    with pytest.raises(AssertionError) as caught:
        mail.assert_sent(to="ada@example.com")
    assert str(caught.value) == (
        "jobsim: expected exactly 1 email(s) with to='ada@example.com', found 0.\n"
        "Outbox: empty (no email was sent)\n"
        "Note: a route of the test answered 1 request to a mail provider's sending API with success, "
        "so the provider never saw it and no email was recorded:\n"
        "  POST https://api.resend.com/emails -> 200 at 2025-03-01T00:00:00.000Z\n"
        "To script an outage and then let the provider send, list only the failures: "
        "side_effect=[httpx.Response(500)] * 2")
    mail.clear()
    assert mail.format_outbox() == "Outbox: empty (no email was sent)"
    http.post(RESEND).mock(side_effect=[httpx.Response(500)])  # a failure the provider answers after
    httpx.post(RESEND, json=message, headers=RESEND_AUTH)
    httpx.post(RESEND, json=message, headers=RESEND_AUTH)
    assert mail.assert_sent(to="ada@example.com").provider == "resend"
    assert "Note:" not in mail.format_outbox()


def test_assertion_helpers_hide_their_frames() -> None:
    for helper in (MailSink.assert_sent, MailSink.assert_not_sent):
        assert "__tracebackhide__" in helper.__code__.co_varnames


@pytest.mark.parametrize(("call", "message"), [
    (lambda mail: mail.assert_sent(count=-1), "count=-1 is not valid: an int >= 0"),
    (lambda mail: mail.assert_sent(count="2"), "count='2' is not valid: an int >= 0"),
    (lambda mail: mail.assert_sent(count=True), "count=True is not valid: an int >= 0"),
    (lambda mail: mail.find(to=5), "to=5 is not valid: an address or a list of addresses"),
    (lambda mail: mail.find(to=["a@x.test", None]), "to=['a@x.test', None] is not valid: an "
                                                    "address or a list of addresses"),
    # no address at all was no filter: every email matched (assert_not_sent(to=[]) asserted an empty outbox)
    (lambda mail: mail.find(to=[]), "to=[] is not valid: at least one address (an empty list would match every "
                                    "email; leave to= out for that)"),
    (lambda mail: mail.assert_not_sent(to=()), "to=() is not valid: at least one address (an empty list would "
                                               "match every email; leave to= out for that)"),
    (lambda mail: mail.sent_to(None), "address=None is not valid: an address (str); find() lists every email"),
    # a list worked before audit3 (find(to=[...]): emails to every one of them); say where it goes now
    (lambda mail: mail.sent_to(["a@x.test", "b@x.test"]), "address=['a@x.test', 'b@x.test'] is not valid: an "
     "address (str); for emails sent to every address of a list, find(to=['a@x.test', 'b@x.test'])"),
    # not to find(to=[]) or find(to=[None]), which refuse those as sent_to does
    (lambda mail: mail.sent_to([]), "address=[] is not valid: an address (str); find() lists every email"),
    (lambda mail: mail.sent_to([None]), "address=[None] is not valid: an address (str); find() lists every email"),
    (lambda mail: mail.assert_not_sent(subject=b"Hi"), "subject=b'Hi' is not valid: a str or a "
                                                       "compiled re.Pattern"),
    (lambda mail: mail.find(containing=3), "containing=3 is not valid: a str or a compiled "
                                           "re.Pattern"),
    (lambda mail: mail.find(sender=["a@x.test"]), "sender=['a@x.test'] is not valid: an address (leave sender= "
                                                   "out to match any sender)"),
    # None (an unset ADMIN_EMAIL setting) was no filter: assert_sent(to=None) passed on the customer's email
    (lambda mail: mail.assert_sent(to=None), "to=None is not valid: an address or a list of addresses (None would "
                                             "match every email; leave to= out for that)"),
    (lambda mail: mail.assert_not_sent(to=None), "to=None is not valid: an address or a list of addresses (None "
                                                 "would match every email; leave to= out for that)"),
    (lambda mail: mail.find(sender=None), "sender=None is not valid: an address (leave sender= out to match any "
                                          "sender)"),
    # where=3 matched nothing on an empty outbox (and raised TypeError on a full one)
    (lambda mail: mail.assert_sent(where=3), "where=3 is not valid: a predicate taking the Email, e.g. "
                                             "lambda m: 'PDF' in m.subject"),
    (lambda mail: mail.assert_not_sent(where="PDF"), "where='PDF' is not valid: a predicate taking the "
                                                     "Email, e.g. lambda m: 'PDF' in m.subject"),
])
def test_assertions_reject_filters_they_cannot_match(mail: MailSink, call: object,
                                                     message: str) -> None:
    """A wrong filter type must not silently match nothing (or be compared as a string)."""
    with pytest.raises(InvalidArgument) as caught:
        call(mail)  # type: ignore[operator]
    assert str(caught.value) == message


def test_find_rejects_an_unknown_provider(mail: MailSink) -> None:
    with pytest.raises(InvalidArgument, match=r"^provider='ses' is not valid: one of 'smtp', "):
        mail.find(provider="ses")  # type: ignore[arg-type]


# -- properties ----------------------------------------------------------------------------

_local = st.text("abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=12).filter(
    lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s)
_domain = st.lists(st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8),
                   min_size=2, max_size=3).map(".".join)
addresses = st.builds(lambda local, domain: f"{local}@{domain}", _local, _domain)
subjects = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
                   max_size=60).map(str.strip)
# send_message's generator turns a body line "From ..." into ">From ..." (mbox quoting):
# that is smtplib's doing, faithfully received, so such lines are left out here.
body_lines = st.lists(st.one_of(
    st.sampled_from([".", "..", ".x", "", "From:me", " From"]),
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40),
).filter(lambda line: not line.startswith("From ")), max_size=6)


@settings(max_examples=60, deadline=None)
@given(subject=subjects, lines=body_lines, to=st.lists(addresses, min_size=1, max_size=3,
                                                       unique_by=str.lower))
def test_smtp_round_trips_subject_body_and_recipients(subject: str, lines: list[str],
                                                      to: list[str]) -> None:
    sink = MailSink(FakeHost())
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@acme.test", ", ".join(to), subject
    body = "\n".join(lines) + "\n"
    msg.set_content(body)
    with sink_installed(sink), smtplib.SMTP("smtp.example.com") as smtp:
        smtp.send_message(msg)
    [email] = sink.outbox
    assert (email.subject, email.text, email.to, email.bcc) == (subject, body, to, [])


def send_via(provider: str, to: list[str], subject: str, text: str) -> httpx.Response:
    if provider == "resend":
        return httpx.post(RESEND, headers=RESEND_AUTH, json={
            "from": "a@acme.test", "to": to, "subject": subject, "text": text})
    if provider == "sendgrid":
        return httpx.post(SENDGRID, headers=SENDGRID_AUTH, json={
            "personalizations": [{"to": [{"email": address} for address in to]}],
            "from": {"email": "a@acme.test"}, "subject": subject,
            "content": [{"type": "text/plain", "value": text}]})
    if provider == "postmark":
        return httpx.post(POSTMARK, headers=POSTMARK_AUTH, json={
            "From": "a@acme.test", "To": ", ".join(to), "Subject": subject, "TextBody": text})
    return httpx.post(MAILGUN, auth=MAILGUN_AUTH, data={
        "from": "a@acme.test", "to": to, "subject": subject, "text": text})


@settings(max_examples=40, deadline=None)
@given(provider=st.sampled_from(["resend", "sendgrid", "postmark", "mailgun"]),
       to=st.lists(addresses, min_size=1, max_size=4, unique_by=str.lower),
       subject=subjects.filter(bool), text=st.text(min_size=1, max_size=80).map(
           lambda s: s.replace("\r", "")).filter(bool))
def test_every_provider_decodes_what_it_was_sent(provider: str, to: list[str], subject: str,
                                                 text: str) -> None:
    host = FakeHost()
    mail = MailSink(host)
    http = HttpSink(host, mail)
    with sink_installed(mail, http):
        response = send_via(provider, to, subject, text)
    assert response.is_success
    [email] = mail.outbox
    assert (email.provider, email.sender, email.to, email.subject, email.text) == (
        provider, "a@acme.test", to, subject, text)
    assert email.sent_at == dt.datetime.fromtimestamp(START_NS / 1e9, dt.timezone.utc)


def test_email_is_frozen(mail: MailSink) -> None:
    email = Email(sender="a@x.test", to=["b@x.test"], sent_at=T0, provider="smtp", message_id="1")
    with pytest.raises(AttributeError):
        email.subject = "changed"  # type: ignore[misc]
    assert email.recipients == ["b@x.test"]
    assert email.body == ""


def test_an_email_with_no_to_header_shows_who_got_it() -> None:
    """A newsletter sent to envelope recipients only (no To header) still names them,
    in the timeline and in the invariants' listings, not "to : 'subject'"."""
    import jobsim
    from jobsim import invariants

    app = jobsim.App("news")

    @app.function("letter", on="news/send")
    def letter(ctx):
        with smtplib.SMTP("smtp.example.com") as smtp:
            smtp.sendmail("news@acme.test", ["ada@example.com", "bob@example.com"],
                          "From: news@acme.test\r\nCc: ed@acme.test\r\nSubject: Issue 1\r\n\r\nhi\r\n")

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.send("news/send", {})
        sim.run_until_idle()
        assert sim.timeline().splitlines()[4] == (  # ed, in the Cc header but not the envelope, got nothing
            "2025-03-01 00:00:00.000 UTC  email     letter#1: smtp bcc ada@example.com, bob@example.com: 'Issue 1'")
        assert invariants.describe(sim.mail.outbox[0]) == (
            "email bcc ada@example.com, bob@example.com 'Issue 1' at 2025-03-01T00:00:00.000Z")


@pytest.mark.parametrize("sender", [" ", "\t\n"])
def test_postmark_refuses_a_from_without_an_address_as_postmark_does(http: HttpSink, mail: MailSink,
                                                                     sender: str) -> None:
    # ' ' passed the 'From' check (it is text) and the sink raised IndexError taking its first address
    payload = {"From": sender, "To": "ada@example.com", "Subject": "s", "TextBody": "t"}
    response = httpx.post(POSTMARK, json=payload, headers=POSTMARK_AUTH)
    assert (response.status_code, response.json()) == (422, {"ErrorCode": 300, "Message": "Invalid 'From' value."})
    assert mail.outbox == []


def test_smtp_delivers_to_the_envelope_not_to_the_headers() -> None:
    """``sendmail(sender, [customer, ...], msg)`` with a Bcc (or Cc) header the envelope lacks: smtplib sends it to
    the envelope alone, so the audit copy never leaves, and the Bcc header reaches everyone. The header's addresses
    counted as recipients, so ``assert_sent(to="audit@acme.test")`` passed; so did one for a refused RCPT."""
    import jobsim

    app = jobsim.App("receipts")

    @app.function("receipt", on="billing/paid", retries=0)
    def receipt(ctx):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "billing@acme.test", "ada@example.com", "Receipt"
        message["Cc"], message["Bcc"] = "Ops <ops@acme.test>", "audit@acme.test"
        message.set_content("paid")
        with smtplib.SMTP("smtp.acme.test") as smtp:
            refused = smtp.sendmail("billing@acme.test", ["ada@example.com", "OPS@acme.test", "bob@example.com"],
                                    message.as_bytes())
            smtp.sendmail("billing@acme.test", ["ada@example.com"], message.as_bytes())
        return sorted(refused)

    with jobsim.Simulation(app, start="2025-03-01T00:00:00Z") as sim:
        sim.mail.smtp_fail(times=1, code=550, on="RCPT")  # the first RCPT, ada's, is refused
        sim.send("billing/paid", {})
        sim.run_until_idle()
    assert sim.runs("receipt")[0].output == ["ada@example.com"]
    first, second = sim.mail.outbox
    assert (first.to, first.cc, first.bcc) == ([], ["ops@acme.test"], ["bob@example.com"])
    assert (second.to, second.cc, second.bcc) == (["ada@example.com"], [], [])
    assert first.headers["Bcc"] == second.headers["Bcc"] == "audit@acme.test"  # the leaked header
    sim.mail.assert_not_sent(to="audit@acme.test")
    assert sim.mail.find(to="ada@example.com") == [second]
    assert sim.mail.find(to="ops@acme.test") == [first]


def test_an_emails_links_are_read_as_a_reader_follows_them(mail: MailSink) -> None:
    """``email.links``: the HTML's hrefs, entities decoded (a regex over the HTML gave ``&amp;``), then the text's
    URLs without the sentence's punctuation; each once. The HTML goes out quoted-printable: the links are read
    from the decoded body."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "hi@acme.test", "ada@example.com", "Verify"
    message.set_content("Verify: https://acme.test/verify?u=1&t=2.\nHelp (https://help.acme.test/verify).\n")
    message.add_alternative('<p><a href="https://acme.test/verify?u=1&amp;t=2">Verify</a> ' + "x" * 100
                            + ' <A HREF="mailto:help@acme.test">help</A> <a name="top">top</a></p>',
                            subtype="html", cte="quoted-printable")
    with smtplib.SMTP("smtp.example.com") as smtp:
        smtp.send_message(message)
    [email] = mail.outbox
    assert "=\n" in message.get_body(("html",)).as_string()  # soft line breaks on the wire
    assert email.links == ["https://acme.test/verify?u=1&t=2", "mailto:help@acme.test",
                           "https://help.acme.test/verify"]

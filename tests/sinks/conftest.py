"""The fixtures the sink tests share, for this folder only (a suite-wide ``mail`` would shadow names elsewhere)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jobsim._http import HttpSink
from jobsim._mail import MailSink

from ._fakehost import FakeHost


@pytest.fixture
def host() -> FakeHost:
    return FakeHost()


@pytest.fixture
def mail(host: FakeHost) -> Iterator[MailSink]:
    """An installed mail sink: smtplib and aiosmtplib reach its server, provider URLs its outbox."""
    sink = MailSink(host)
    sink.install()
    yield sink
    sink.uninstall()


@pytest.fixture
def http(host: FakeHost, mail: MailSink) -> Iterator[HttpSink]:
    """An installed HTTP sink beside the mail sink (provider URLs reach its outbox)."""
    sink = HttpSink(host, mail)
    sink.install()
    yield sink
    sink.uninstall()

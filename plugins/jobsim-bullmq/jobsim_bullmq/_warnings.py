"""The warnings jobsim-bullmq gives: what a real bullmq-python worker does too, which a test should hear about."""

from __future__ import annotations


class BullMQCronWarning(UserWarning):
    """bullmq-python put a job scheduler's job at a local time its ``pattern`` does not match (croniter's DST
    error): the simulation runs it there, as a real worker does."""


class BullMQProcessorWarning(UserWarning):
    """A worker's processor returned a value that is not awaitable (a plain ``def``): bullmq-python awaits what the
    processor returns, so every attempt fails with ``TypeError`` after the body ran, in the simulation as on a real
    worker."""


class BullMQJobOptionWarning(UserWarning):
    """A job option bullmq-python ignores though it is spelt right: ``backoff.jitter`` (Node's BullMQ has it,
    bullmq-python's ``Backoffs`` does not): every retry waits the full delay, in the simulation as on a real
    worker."""

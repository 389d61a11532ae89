"""Fixtures for jobsim-celery's tests: a fresh Celery app per test, never the process-wide current app."""

from __future__ import annotations

import pytest

celery = pytest.importorskip("celery", reason="jobsim-celery's tests need Celery: pip install -e plugins/jobsim-celery")

START = "2025-03-01T00:00:00Z"


@pytest.fixture
def app():
    """A Celery app configured like a Redis deployment; nothing connects to the broker in a simulation."""
    app = celery.Celery("tests", broker="redis://127.0.0.1:1/0", backend="redis://127.0.0.1:1/1", set_as_current=False)
    app.conf.update(timezone="UTC", enable_utc=True)
    task = app.task

    def unshared_task(*args, **options):
        """``@app.task`` registers shared tasks into every later app; tests keep theirs to themselves."""
        options.setdefault("shared", False)
        return task(*args, **options)

    app.task = unshared_task
    yield app

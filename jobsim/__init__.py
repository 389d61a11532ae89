"""jobsim: a deterministic, virtual-time testing harness for background jobs."""

from ._app import App, Function
from ._backoffs import AgendaBackoff, BullMQBackoff, QuirrelRetry, TriggerDevRetry
from ._compare import Comparison, Outcome, Scenario, compare
from ._email import Email
from ._events import Event
from ._every import Every
from ._flow import Batch, Cancel, Concurrency, Debounce, RateLimit, Singleton, Throttle, Timeouts
from ._profiles import Profile, profile
from ._records import Attempt, Run, StepRecord
from ._retries import Retries, RetryPolicy, TableBackoff
from ._simulation import Simulation
from ._steps import Context
from ._trace import Record, Trace
from .errors import (
    BudgetExceeded,
    FaultWarning,
    InjectedFault,
    InvalidArgument,
    JobsimError,
    KeyWarning,
    NonRetriableError,
    PendingWorkWarning,
    RequestTimedOut,
    RetryAfterError,
    StepError,
    StepMisuse,
    StepOutputTooLarge,
    TraceWarning,
    TriggerWarning,
    UnreadQueueWarning,
    UnsupportedFeature,
    WorkerCrashed,
)

__version__ = "0.1.0"

# The HTTP sink's names load httpx and respx; they are imported on first use so
# that ``import jobsim`` (and so every pytest start) stays cheap.
_LAZY = {"HttpCall": "_http", "UnmatchedRequest": "_http", "delayed": "_httptime", "timeout": "_httptime",
         "answer_lost": "_httplost", "Redaction": "_redactpolicy", "ReplayResult": "_replay"}


_SUBMODULES = frozenset({"errors", "hooks", "invariants", "strategies", "testing", "traces"})
"""Public modules ``jobsim.<name>`` reaches without their own import (``jobsim.invariants.Violation`` after
``import jobsim``, as the README writes it): imported on first use, since ``strategies`` loads Hypothesis."""


def __getattr__(name: str) -> object:
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"jobsim.{name}")  # which sets it as this module's attribute
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jobsim' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"jobsim.{module}"), name)
    globals()[name] = value
    return value

__all__ = [
    "AgendaBackoff",
    "App",
    "Attempt",
    "Batch",
    "BudgetExceeded",
    "BullMQBackoff",
    "Cancel",
    "Comparison",
    "Concurrency",
    "Context",
    "Debounce",
    "Email",
    "Event",
    "Every",
    "FaultWarning",
    "Function",
    "HttpCall",
    "InjectedFault",
    "InvalidArgument",
    "JobsimError",
    "KeyWarning",
    "NonRetriableError",
    "Outcome",
    "PendingWorkWarning",
    "Profile",
    "QuirrelRetry",
    "RateLimit",
    "Record",
    "Redaction",
    "ReplayResult",
    "RequestTimedOut",
    "Retries",
    "RetryAfterError",
    "RetryPolicy",
    "Run",
    "Scenario",
    "Simulation",
    "Singleton",
    "StepError",
    "StepMisuse",
    "StepOutputTooLarge",
    "StepRecord",
    "TableBackoff",
    "Throttle",
    "Timeouts",
    "Trace",
    "TraceWarning",
    "TriggerDevRetry",
    "TriggerWarning",
    "UnmatchedRequest",
    "UnreadQueueWarning",
    "UnsupportedFeature",
    "WorkerCrashed",
    "__version__",
    "answer_lost",
    "compare",
    "delayed",
    "profile",
    "timeout",
]

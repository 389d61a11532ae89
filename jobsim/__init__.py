"""jobsim: a deterministic, virtual-time testing harness for background jobs."""

from ._app import App, Function
from ._email import Email
from ._events import Event
from ._http import HttpCall, UnmatchedRequest, delayed, timeout
from ._flow import Batch, Cancel, Concurrency, Debounce, RateLimit, Throttle, Timeouts
from ._profiles import Profile
from ._records import Attempt, Run, StepRecord
from ._retries import Retries, RetryPolicy, TableBackoff
from ._simulation import Simulation
from .errors import (
    BudgetExceeded,
    InjectedFault,
    InvalidArgument,
    JobsimError,
    NonRetriableError,
    RetryAfterError,
    StepError,
)

__version__ = "0.1.0"

__all__ = [
    "App",
    "Attempt",
    "Batch",
    "BudgetExceeded",
    "Cancel",
    "Concurrency",
    "Debounce",
    "Email",
    "Event",
    "Function",
    "HttpCall",
    "InjectedFault",
    "InvalidArgument",
    "JobsimError",
    "NonRetriableError",
    "Profile",
    "RateLimit",
    "Retries",
    "RetryAfterError",
    "RetryPolicy",
    "Run",
    "Simulation",
    "StepError",
    "StepRecord",
    "TableBackoff",
    "Throttle",
    "Timeouts",
    "UnmatchedRequest",
    "__version__",
    "delayed",
    "timeout",
]

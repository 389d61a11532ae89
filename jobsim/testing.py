"""Helpers for plugins' live conformance tests: a real server on loopback, started and stopped by pid.

A backend plugin checks its simulation against the real thing (jobsim-celery and jobsim-rq
run a real worker on a real Redis). Both need the same throwaway server, so it lives here:

    from jobsim.pytest_plugin import redis_url_fixture

    redis_url = redis_url_fixture("live RQ tests")  # in the plugin's tests/conftest.py

(``redis_url_fixture`` lives with jobsim's pytest plugin, the one module that imports pytest.)
Nothing here imports a Redis client: readiness is a ``PING`` over a plain socket.

The worker under test runs in a subprocess too: ``worker_process(argv, ready="...")`` starts it,
waits for the line that says it is ready, keeps what it prints, and stops it by pid.

A plugin's profile declares the faults its simulation injects (``Profile(fault_kinds=...)``, so that
``jobsim.strategies.faults(profile=...)`` draws no other): ``check_fault_kinds(simulate, function)`` checks
that a simulation built by ``simulate()`` accepts every kind the declaration names.

A plugin's exceptions follow jobsim's conventions: ``check_exception_conventions(cls, args, kwargs)``
checks one, and ``exception_classes(package)`` lists those a package defines, so that a test can
require a line for each (``plugins/jobsim-*/tests/test_*_exception_conventions.py``).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import math
import pickle
import pkgutil
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any

from .errors import InvalidArgument, JobsimError, MisspeltKeyword


class ServerUnavailable(JobsimError):
    """The server cannot run here: its binary is missing, or it did not answer in time."""


@contextlib.contextmanager
def redis_server(*, start_timeout: float = 10.0) -> Iterator[str]:
    """A ``redis-server`` on 127.0.0.1 and a free port, without persistence, in a temporary folder.

    Yields its URL (``redis://127.0.0.1:PORT/0``) once that server, the one this call started,
    answers; on exit the server is terminated by pid (killed if it does not stop within 10 s),
    reaped, and its folder removed. Raises ``ServerUnavailable`` when ``redis-server`` is not on
    ``PATH`` or does not answer within ``start_timeout`` seconds.

    The port is the OS's pick for a socket closed again before the server binds it, so another
    process can take it in between (another live test's server, under pytest-xdist): the server
    then exits, unable to listen, and another port is tried. A server answering on the port is
    only taken for this one when it reports this one's pid (else two test processes would share,
    and flush, one Redis).
    """
    _check_timeout(start_timeout)
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServerUnavailable("redis-server is not on PATH (apt-get install -y redis-server)")
    workdir = tempfile.mkdtemp(prefix="jobsim-redis-")
    deadline = time.monotonic() + start_timeout
    proc: subprocess.Popen[bytes] | None = None
    try:
        for attempt in range(_PORT_ATTEMPTS):
            port = _free_port()
            proc = subprocess.Popen(
                [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                 "--dir", workdir],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            while _server_pid(port) != proc.pid:
                if proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            else:
                break  # this call's server answers
            if proc.poll() is None or attempt + 1 == _PORT_ATTEMPTS:  # timed out, or no port left to try
                raise ServerUnavailable(f"redis-server did not start on port {port} (exit code {proc.poll()})")
            proc.wait()  # it could not listen there: another port
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        if proc is not None:
            stop_process(proc, timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def stop_process(proc: subprocess.Popen[bytes] | subprocess.Popen[str], *, timeout: float) -> None:
    """Terminate ``proc``, kill it after ``timeout`` seconds, and always reap it (an unreaped
    ``Popen`` warns "subprocess ... is still running" when collected, in whichever test that is)."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class WorkerProcess:
    """A worker started by ``worker_process``: its ``Popen`` and every line it printed so far."""

    def __init__(self, proc: subprocess.Popen[str], lines: list[str], reader: threading.Thread | None = None) -> None:
        self.proc = proc
        self.lines = lines
        self._reader = reader

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def check(self) -> None:
        """Raise ``JobsimError`` with the end of its output if the worker has exited."""
        if self.proc.poll() is not None:
            if self._reader is not None:  # its last lines may still be in the pipe: read to the end (a grandchild
                self._reader.join(timeout=5)  # holding the pipe open stops the wait at 5 s)
            raise JobsimError(f"the worker exited early (code {self.proc.returncode}):\n" + "".join(self.lines[-40:]))


@contextlib.contextmanager
def worker_process(
    argv: Sequence[str],
    *,
    ready: str,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    start_timeout: float = 30.0,
) -> Iterator[WorkerProcess]:
    """Run ``argv`` (a backend's worker) with stdout and stderr merged, yield once it prints a line containing
    ``ready``; on exit terminate it by pid (killed after 15 s) and reap it. A worker that exits or stays silent
    for ``start_timeout`` seconds raises ``JobsimError`` with the end of its output."""
    if isinstance(argv, (str, bytes)) or not isinstance(argv, Sequence) or not argv or \
            not all(isinstance(arg, str) for arg in argv):
        raise InvalidArgument.build("argv", argv, "the worker's command as a non-empty list of str, e.g. "
                                    "[sys.executable, '-m', 'celery', '-A', 'tasks', 'worker'] (not one string)")
    if not isinstance(ready, str) or not ready:  # a line of the worker's output contains it once it is ready
        raise InvalidArgument.build("ready", ready, "a non-empty str the worker prints once it is ready, e.g. 'ready'")
    _check_timeout(start_timeout)
    proc = subprocess.Popen(
        list(argv), cwd=cwd, env=None if env is None else dict(env),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    started = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if ready in line:
                started.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    worker = WorkerProcess(proc, lines, reader)
    try:
        deadline = time.monotonic() + start_timeout
        while not started.wait(0.1):
            worker.check()
            if time.monotonic() > deadline:
                raise JobsimError(f"the worker printed no {ready!r} in {start_timeout:g} s:\n" + "".join(lines[-40:]))
        yield worker
    finally:
        stop_process(proc, timeout=15)
        reader.join(timeout=10)
        if not reader.is_alive() and proc.stdout is not None:
            proc.stdout.close()


def _check_timeout(start_timeout: float) -> None:
    """A number of seconds: NaN would never time out, a str fail inside the wait."""
    if isinstance(start_timeout, bool) or not isinstance(start_timeout, (int, float)) or \
            not 0 < start_timeout < math.inf:
        raise InvalidArgument.build("start_timeout", start_timeout, "a finite number of seconds greater than 0")


_PORT_ATTEMPTS = 5  # ports redis_server tries before it gives up (each one taken between its probe and the start)


def _free_port() -> int:
    """A port of 127.0.0.1 nothing listens on now: the OS's pick for a socket, closed again."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _server_pid(port: int) -> int | None:
    """The pid the Redis on ``port`` reports (``INFO server``'s ``process_id``); None when none answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            reply = b""
            while chunk := conn.recv(65536):
                reply += chunk
                head, _, body = reply.partition(b"\r\n")
                if not head.startswith(b"$") or len(body) >= int(head[1:]) + 2:  # an error, or the whole bulk string
                    break
    except (OSError, ValueError):
        return None
    found = re.search(rb"^process_id:(\d+)\r$", reply, re.M)
    return int(found.group(1)) if found else None


@contextlib.contextmanager
def socket_connects() -> Iterator[list[Any]]:
    """Every address a socket of this process tries to connect to inside the block, in order (each attempt still
    goes ahead). ``== []`` says "no connection attempt", which a bound on the real time taken says only on a calm
    machine (an attempt at 127.0.0.1:1 is refused at once; a client's retries and backoff take seconds)."""
    tried: list[Any] = []
    connect = socket.socket.connect

    def spy(sock: socket.socket, address: Any) -> None:
        tried.append(address)
        return connect(sock, address)

    socket.socket.connect = spy  # type: ignore[method-assign,assignment]
    try:
        yield tried
    finally:
        socket.socket.connect = connect  # type: ignore[method-assign]


# -- exceptions: jobsim's conventions ---------------------------------------------------------------------------

COPIES: dict[str, Callable[[Any], Any]] = {
    "pickle": lambda error: pickle.loads(pickle.dumps(error)),
    "pickle protocol 0": lambda error: pickle.loads(pickle.dumps(error, protocol=0)),
    "copy.copy": copy.copy,
    "copy.deepcopy": copy.deepcopy,
}
"""The ways an exception is copied that it must survive (Celery's result backend and billiard pickle them)."""


def check_exception_conventions(
    cls: type[BaseException], args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, *,
    same: Callable[[Any, Any], bool] | None = None, keywords: bool = True,
) -> None:  # fmt: skip
    """Check that ``cls(*args, **kwargs)`` follows jobsim's conventions for exceptions; ``AssertionError`` if not.

    - Each way in ``COPIES`` gives an exception of the same type, message and ``args``, with the same
      fields (its ``__dict__``, and each keyword by its name), compared with ``same`` (default: exceptions
      by type and message, anything else with ``==``).
    - With ``keywords``, a misspelt keyword (``mesage=``) is a ``jobsim.MisspeltKeyword`` naming it,
      not Python's bare ``TypeError``: see ``jobsim.errors``.
    """
    kwargs = dict(kwargs or {})
    equal = same or _same
    error = cls(*args, **kwargs)
    fields = {key: value for key, value in vars(error).items() if not key.startswith("__")}
    for how, clone_of in COPIES.items():
        try:
            clone = clone_of(error)
        except Exception as failure:
            raise AssertionError(f"{cls.__name__} does not survive {how}: {failure!r}; give it a __reduce__ that "
                                 "rebuilds it from its arguments") from failure  # fmt: skip
        problems = [f"type {type(clone).__name__}"] if type(clone) is not cls else []
        if str(clone) != str(error):
            problems.append(f"message {str(clone)!r} (was {str(error)!r})")
        if len(clone.args) != len(error.args) or not all(map(equal, error.args, clone.args)):
            problems.append(f"args {clone.args!r} (was {error.args!r})")
        found = vars(clone)
        problems += [f"field {key!r}" for key, value in fields.items()
                     if key not in found or not equal(value, found[key])]  # fmt: skip
        problems += [f"keyword {key!r}" for key, value in kwargs.items()
                     if not equal(value, getattr(clone, key, _MISSING))]  # fmt: skip
        if problems:
            raise AssertionError(f"{cls.__name__} after {how} differs: {', '.join(problems)}")
    if not keywords:
        return
    try:
        cls(*args, **{**kwargs, "mesage": "declined"})
    except MisspeltKeyword as refused:
        start = f"{cls.__name__}() got an unknown keyword argument mesage='declined'"
        if not str(refused).startswith(start):
            raise AssertionError(f"{cls.__name__}'s MisspeltKeyword should start {start!r}: {refused}") from None
    except Exception as other:
        raise AssertionError(f"{cls.__name__}(..., mesage='declined') raised {other!r}, not a jobsim.MisspeltKeyword: "
                             "build it with jobsim.errors' keyword helpers") from other  # fmt: skip
    else:
        raise AssertionError(f"{cls.__name__}(..., mesage='declined') took the misspelt keyword")


def accepted_fault_kinds(simulate: Callable[[], Any], function: str) -> tuple[str, ...]:
    """The fault kinds (``FAULT_KINDS`` order) a simulation that ``simulate()`` builds accepts for ``function``.

    Each kind's fault (``Fail``, ``Crash`` and ``Duplicate`` aimed at ``function``, a ``Downtime``) is applied to
    a fresh simulation, inside its ``with`` block, a minute ahead; one refused with ``UnsupportedFeature`` is left
    out. The simulations run nothing: their warnings about faults that never fired are silenced."""
    import warnings

    from ._faults import FAULT_KINDS, Crash, Downtime, Duplicate, Fail
    from .errors import FaultWarning, PendingWorkWarning, UnsupportedFeature

    faults = {"fail": Fail(function=function), "crash": Crash(at="1m", function=function),
              "downtime": Downtime(start="1m", end="2m"), "duplicate": Duplicate(function=function, at="1m")}
    accepted = []
    for kind in FAULT_KINDS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FaultWarning)
            warnings.simplefilter("ignore", PendingWorkWarning)
            with simulate() as sim:
                try:
                    faults[kind].apply(sim)
                except UnsupportedFeature:
                    continue
        accepted.append(kind)
    return tuple(accepted)


def check_fault_kinds(simulate: Callable[[], Any], function: str) -> None:
    """``AssertionError`` if the simulation's profile declares a fault kind (``jobsim.strategies.faults`` draws
    those) that a simulation refuses for ``function`` (``accepted_fault_kinds``). Declaring fewer is allowed: a
    profile says what the system can suffer (node-cron has nothing that redelivers), which jobsim may exceed."""
    from ._faults import fault_kinds

    accepted = accepted_fault_kinds(simulate, function)
    with simulate() as sim:
        profile = sim.profile
    refused = [kind for kind in fault_kinds(profile) if kind not in accepted]
    if refused:
        raise AssertionError(f"profile {profile.name!r} declares fault kind(s) {', '.join(map(repr, refused))}, "
                             f"which a simulation of {function!r} refuses (it accepts {accepted!r}): declare "
                             f"Profile(fault_kinds={accepted!r})")


def exception_classes(package: ModuleType) -> set[type[BaseException]]:
    """Every exception class (warnings included) defined in a module of ``package``, its subpackages too.

    Each module is imported, but ``__main__``: a package's command line would run."""
    found: set[type[BaseException]] = set()
    modules = [package] + [importlib.import_module(info.name)
                           for info in pkgutil.walk_packages(getattr(package, "__path__", []), f"{package.__name__}.")
                           if not info.name.endswith(".__main__")]  # fmt: skip
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == module.__name__:
                found.add(value)
    return found


_MISSING = object()


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, BaseException):
        return type(left) is type(right) and str(left) == str(right)
    return bool(left == right)


__all__ = ["ServerUnavailable", "WorkerProcess", "check_exception_conventions", "exception_classes", "redis_server",
           "socket_connects", "stop_process", "worker_process"]

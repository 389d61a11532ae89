"""The helpers jobsim.hooks gives backend plugins (each plugin had its own copy)."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect

import orjson
import pytest
from _deep import nested

from jobsim._steps import load
from jobsim.errors import JobsimError
from jobsim.hooks import ClassGuard, escapes, output_bytes, refusing_handler

pytest_plugins = ["pytester"]


def test_output_bytes_is_json_with_what_json_cannot_hold_as_text():
    when = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
    assert orjson.loads(output_bytes({1: when, "n": [1, 2.5]})) == {"1": "2025-03-01T00:00:00+00:00", "n": [1, 2.5]}


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("half-built")

    __str__ = __repr__


@pytest.mark.parametrize(("value", "stored"), [
    (10**30, b"1000000000000000000000000000000"),  # past 64 bits: orjson's TypeError, and the run had no output
    ({"n": -(10**20), "at": dt.date(2025, 3, 1)}, b'{"n":-100000000000000000000,"at":"2025-03-01"}'),
    (_Unprintable(), b'"<_Unprintable object (its repr raised RuntimeError)>"'),
    (nested(300), None),  # past orjson's 254 levels
])  # fmt: skip
def test_output_bytes_keeps_an_output_orjson_refuses(value, stored):
    out = output_bytes(value)
    assert out == stored if stored is not None else out.startswith(b'{"a":{"a":{"a":')


@pytest.mark.parametrize("value", [10**30, {"n": -(10**20), "ok": [2**64, 1.5]}])
def test_an_output_past_64_bits_reads_back_exact_not_as_a_float(value):
    # Celery's JSON, RQ's pickle hand a task's 10**30 back as that int; orjson read the stored text as 1e30
    assert load(output_bytes(value)) == value and type(load(output_bytes(value))) is type(value)


def test_a_refusing_handler_raises_its_message_when_an_event_reaches_it():
    with pytest.raises(JobsimError, match=r"^task 'x' runs from beat$"):
        refusing_handler("task 'x' runs from beat")(None)


@pytest.mark.parametrize(
    ("error", "leaves"),
    [
        (JobsimError("a budget"), True), (KeyboardInterrupt(), True), (GeneratorExit(), True),
        (ValueError("job code"), False), (SystemExit(2), False), (None, False),
    ],
)  # fmt: skip
def test_escapes_lets_jobsims_own_errors_and_interrupts_leave_a_plugins_worker(error, leaves):
    assert escapes(error) is leaves


class _Client:
    """A stand-in for a backend class: a method of its own, a coroutine method, and one its base gives it."""

    def send(self, event: str, *, to: str = "server") -> str:
        return f"sent {event} to {to}"

    async def fetch(self, key: str) -> str:
        return f"real {key}"


class _Base:
    def ping(self) -> str:
        return "pong"


class _Pool(_Base):
    pass


def _refusal(obj: object, name: str, *args: object, **kwargs: object) -> JobsimError:
    return JobsimError(f"{type(obj).__name__}.{name}{args}{kwargs} is not part of this simulation")


def _client_guard(calls: list[str] | None = None) -> ClassGuard:
    def install(guard: ClassGuard) -> None:
        if calls is not None:
            calls.append("install")
        guard.wrap(_Client, "send", _refusal, passes=lambda client: getattr(client, "simulated", False))
        guard.wrap(_Client, "fetch", _refusal)
        guard.wrap(_Pool, "ping", _refusal)  # inherited: set on _Pool while guarded, deleted again after

    return ClassGuard(install)


_ORIGINALS = (_Client.__dict__["send"], _Client.__dict__["fetch"], _Base.__dict__["ping"])


def _restored() -> bool:
    return (vars(_Client)["send"], vars(_Client)["fetch"], _Base.__dict__["ping"]) == _ORIGINALS and \
        "ping" not in vars(_Pool)


def test_a_class_guard_installs_on_first_use_and_refuses_while_a_simulation_is_added():
    calls: list[str] = []
    guard = _client_guard(calls)
    assert (calls, guard.active) == ([], False) and _restored()  # nothing wrapped before a simulation is added
    guard.add("sim")
    assert (calls, guard.active, vars(_Client)["send"]._jobsim_guard) == (["install"], True, True)
    with pytest.raises(JobsimError, match=r"^_Client.send\('e',\){'to': 'x'} is not part of this simulation$"):
        _Client().send("e", to="x")
    with pytest.raises(JobsimError, match=r"^_Pool.ping\(\){} is not"):
        _Pool().ping()
    assert _Base().ping() == "pong"  # the base class itself is left alone
    simulated = _Client()
    simulated.simulated = True  # type: ignore[attr-defined]
    assert simulated.send("e") == "sent e to server"  # passes
    coroutine = _Client().fetch("k")  # a coroutine method stays one: the refusal comes when it is awaited
    assert inspect.iscoroutine(coroutine) and inspect.iscoroutinefunction(_Client.fetch)
    with pytest.raises(JobsimError, match=r"^_Client.fetch\('k',\){} is not"):
        asyncio.run(coroutine)
    guard.remove("sim")
    assert not guard.active and _restored()
    assert _Client().send("e") == "sent e to server" and asyncio.run(_Client().fetch("k")) == "real k"


class _Sim:
    """A simulation, as a guard holds it: by weak reference."""


def test_a_class_guard_holds_the_backend_for_an_unstarted_simulation_while_none_runs():
    # a backend call made between building a simulation and starting it reached the real backend, unguarded
    guard, built = _client_guard(), _Sim()
    guard.hold(built, "acme", "at test.py:1 in test")
    message = (r"^_Client.send\(\) was called while a jobsim.Simulation that runs this acme code \(built at test.py:1 "
               r"in test\) has not started: nothing is simulated yet, and the call would reach the real acme backend\. "
               r"Start the simulation first \(`with sim:` or sim.start\(\)\), then call it; or close the simulation "
               r"\(sim.close\(\)\) to use the backend for real$")  # fmt: skip
    with pytest.raises(JobsimError, match=message):
        _Client().send("e")
    running = _Sim()
    guard.started(running)  # another simulation runs: its patches take the calls, over none of the hold's
    assert not guard.active and _restored()
    guard.stopped(running)
    with pytest.raises(JobsimError, match=message):
        _Client().send("e")
    guard.release(built)  # it starts (or closes)
    assert not guard.active and _restored()
    dropped = _Sim()
    guard.hold(dropped, "acme", "at test.py:2 in test")
    del dropped  # never started, and gone: the call goes through, and the methods are given back
    assert _Client().send("e") == "sent e to server" and _restored()


def test_every_class_guard_lets_go_of_its_unstarted_simulations_at_once():
    # what the pytest plugin calls after each test: a failed test's unstarted simulation stays alive in
    # sys.last_traceback and held the backend for every later test in the process (live tests included)
    guard, built = _client_guard(), _Sim()
    guard.hold(built, "acme", "at test.py:1 in test")
    with pytest.raises(JobsimError, match="has not started"):
        _Client().send("e")
    ClassGuard.release_unstarted()
    assert not guard.active and _restored()
    assert _Client().send("e") == "sent e to server"


def test_the_pytest_plugin_lets_go_of_a_failed_tests_unstarted_simulation(pytester):
    pytester.makepyfile(test_held="""
        from jobsim.hooks import ClassGuard

        class Client:
            def send(self):
                return "sent"

        def refuse(obj, name, *args, **kwargs):
            return RuntimeError("refused")

        GUARD = ClassGuard(lambda guard: guard.wrap(Client, "send", refuse))

        class Sim:
            pass

        def test_builds_a_simulation_and_fails_before_starting_it():
            sim = Sim()  # kept alive by the failure's traceback (sys.last_traceback) after the test
            GUARD.hold(sim, "acme", "at test_held.py")
            assert False

        def test_a_later_test_reaches_the_backend():
            assert not GUARD.active and Client().send() == "sent"
    """)
    pytester.runpytest().assert_outcomes(passed=1, failed=1)


def test_a_class_guard_restores_only_once_the_last_simulation_is_removed():
    calls: list[str] = []
    guard = _client_guard(calls)
    guard.add("outer")
    guard.add("inner")
    guard.remove("outer")  # closed first (an unusual order): the inner one still runs
    with pytest.raises(JobsimError):
        _Client().send("e")
    guard.remove("never added")
    assert guard.active and not _restored()
    guard.remove("inner")
    assert calls == ["install"] and _restored()
    guard.remove("never added")  # nothing running, nothing installed: nothing happens
    guard.add("again")  # installs again (the backend may have changed since)
    assert calls == ["install", "install"]
    guard.remove("again")
    assert _restored()


def test_a_class_guard_leaves_a_method_something_else_patched_since():
    guard = _client_guard()
    guard.add("sim")
    wrapper = vars(_Client)["send"]

    def theirs(self: _Client, event: str, **kwargs: object) -> str:
        return "theirs"

    _Client.send = theirs  # type: ignore[method-assign]  # a test's own patch, made while the simulation ran
    try:
        guard.remove("sim")
        assert vars(_Client)["send"] is theirs  # left as it is: undoing it is the patcher's business
        assert vars(_Client)["fetch"] is _ORIGINALS[1] and "ping" not in vars(_Pool)  # the others restored
        _Client.send = wrapper  # type: ignore[method-assign]  # the patcher puts back what it found
        assert _Client().send("e") == "sent e to server"  # a wrapper left in place calls the method it wrapped
    finally:
        _Client.send = _ORIGINALS[0]  # type: ignore[method-assign]


def test_a_class_guard_undoes_an_install_that_fails_halfway():
    def install(guard: ClassGuard) -> None:
        guard.wrap(_Client, "send", _refusal)
        guard.wrap(_Pool, "ping", _refusal)
        guard.wrap(_Client, "missing", _refusal)

    guard = ClassGuard(install)
    with pytest.raises(AttributeError, match="missing"):
        guard.add("sim")
    assert not guard.active and _restored()
    with pytest.raises(AttributeError, match="missing"):  # the next simulation tries again
        guard.add("sim")
    assert _restored()

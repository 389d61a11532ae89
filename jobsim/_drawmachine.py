"""The part of ``jobsim.strategies.machine`` that runs the story, kept free of Hypothesis: the world and
its simulation (``MachineRun``: open, check, settle at teardown) and the bodies of the rules."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from . import _drawspec as spec
from ._drawcode import send_of
from ._faults import Downtime, Fault
from ._history import Recorder, Script, Then, callable_name, deliver, note, play
from ._simulation import Simulation
from ._time import instant_ns


class MachineRun:
    """What every ``machine()`` shares: a world, its running simulation and the script of the story
    (``jobsim.strategies`` mixes it into a Hypothesis ``RuleBasedStateMachine``)."""

    _setup: Callable[[], Any]
    _options: dict[str, Any]
    _invariants: tuple[spec.Check, ...] = ()
    _at_end: tuple[spec.Check, ...] = ()
    _on_start: spec.Check | None = None
    _then: Then = "idle"

    def __init__(self) -> None:
        super().__init__()
        self.world: Any = None
        self.sim: Any = None
        self.recorder: Any = None
        self._broken = False
        self._downtimes: list[tuple[int, int]] = []

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Remember a failing step: teardown then neither settles the simulation nor runs end checks."""
        try:
            yield
        except BaseException:
            self._broken = True
            raise

    def _open(self, seed: int, start: Any) -> None:
        with self._guard():
            self.world = type(self)._setup()
            options = dict(self._options)
            targets_of, targets_code = options.pop("targets")
            self.sim = Simulation(targets_of(self.world), seed=seed, start=start, **options).start()
            preamble = (f"world = {callable_name(type(self)._setup, 'setup')}()",)
            self.recorder = Recorder(self.sim, Script(self.sim, targets=targets_code, preamble=preamble))
            on_start = type(self)._on_start
            if on_start is not None:
                self.recorder.script.add(f"{callable_name(on_start)}(sim, world)")
                on_start(self.sim, self.world)

    def _check(self) -> None:
        with self._guard():
            for check in self._invariants:
                check(self.sim, self.world)

    def teardown(self) -> None:
        """Settle (``then``), note the script — also for a failed program — run the end checks, close."""
        if self.recorder is None:
            return
        try:
            if not self._broken:
                try:
                    play(self.recorder, [], [], send=None, then=self._then)
                finally:
                    note(self.recorder.script.text())
                for check in self._at_end:
                    check(self.sim, self.world)
            else:
                note(self.recorder.script.text())
        finally:
            self.sim.close()

    def _advance_rule(self, by: Any) -> None:
        with self._guard():
            self.recorder.advance(by)

    def _fault_rule(self, fault: Fault) -> None:
        if isinstance(fault, Downtime):  # sim.downtime() refuses a window overlapping one already set
            (start, end), _ = fault.call(self.sim.kernel.now)
            window = (instant_ns(start, "start"), instant_ns(end, "end"))
            if any(window[0] < b and a < window[1] for a, b in self._downtimes):
                return  # a no-op step: Hypothesis shrinks it away
            self._downtimes.append(window)
        with self._guard():
            fault.apply(self.recorder)


def send_rule(send: Callable[..., Any] | None) -> Callable[..., None]:
    def send_event(self: MachineRun, event: tuple[Any, ...]) -> None:
        with self._guard():
            item = send_of(0, event)
            deliver(self.recorder, item, send, *(() if send is None else (self.world,)))

    return send_event


def custom_rule(rule_name: str, fn: Callable[..., Any]) -> Callable[..., None]:
    def run(self: MachineRun, data: Any) -> None:
        with self._guard():
            self.recorder.script.add(f"# rule {rule_name}: {callable_name(fn)}(sim, world, ...)")
            fn(self.recorder, self.world, data.draw)

    run.__name__ = run.__qualname__ = rule_name
    return run

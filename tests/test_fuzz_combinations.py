"""Features in combination: random small apps, random traffic, properties every history must keep.

Each example draws an *app spec* in a tiny language -- 2 to 4 functions, each a list of
actions (``step.run`` that fails N times first or raises ``NonRetriableError`` /
``RetryAfterError``, sleeps, waits with match and timeout, ``send_event`` and ``invoke``
of later functions only, so no cycles, parallel groups, code outside steps that raises
once) with a random retry policy, flow control, cron triggers and a profile -- and a
program of sends and advances with ``sim.fail`` faults. Then it checks what must hold
whatever the combination:

1. determinism: the same spec and seed give byte-identical trace files (raw and
   redacted) and the same ``sim.runs()``;
2. round trip: a saved file loads back to the in-memory trace's lines, and
   ``traces.compare(A, A)`` (``jobsim diff A A``) says same;
3. replay: ``Simulation.replay`` of the trace into the same app reports no difference;
4. only jobsim errors escape a driving call; job errors become failed attempts;
5. bookkeeping: after ``run_until_idle`` every run is final, attempts never start
   before the previous one, a completed durable step's side effect happened exactly
   once, attempts respect the policy, and the timeline (``sim.timeline()``, ``jobsim
   show``) renders.

A profile that lacks a drawn feature must refuse it with ``UnsupportedFeature`` when
the ``Simulation`` is built -- checked too.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, event, example, given, note, settings
from hypothesis import strategies as st

import jobsim
from jobsim import invariants, traces
from jobsim._profiles import builtin_profiles
from jobsim._records import FINAL
from jobsim._timeline import render_trace
from jobsim._tracelines import lines
from jobsim._tracereader import known_kinds_renderers

START = "2025-03-01T00:00:00Z"
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)
PROFILES = {p.name: p for p in builtin_profiles()}
WAKE, CANCEL = "w/x", "c/x"


# -- the spec language -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Action:
    """One thing a handler does, in order. ``kind`` is one of the keys of ``ACTIONS`` below."""

    kind: str
    id: str = ""
    fails: int = 0  # run: raise this many times first
    error: str = "plain"  # run: what it raises ("plain", "final" = NonRetriableError, "after" = RetryAfterError)
    seconds: int = 0  # sleep, sleep_until (from the start), wait timeout, invoke timeout
    match: bool = False  # wait: match on data.k
    target: int = -1  # send/invoke: a later function's index (-1: send the wake-up event)
    children: tuple[Action, ...] = ()  # parallel

    def __repr__(self) -> str:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        shown = ", ".join(f"{k}={v!r}" for k, v in fields.items() if v != Action.__dataclass_fields__[k].default)
        return f"Action({shown})"


@dataclasses.dataclass(frozen=True)
class FnSpec:
    actions: tuple[Action, ...]
    retries: Any = None
    flow: tuple[tuple[str, Any], ...] = ()
    cron: str | None = None
    on_failure: bool = False


@dataclasses.dataclass(frozen=True)
class AppSpec:
    functions: tuple[FnSpec, ...]
    profile: str
    seed: int
    faults: tuple[tuple[int, str | None, int], ...]  # (function index, run step id or None, times)
    program: tuple[tuple[Any, ...], ...]  # ("send", fn, k) | ("wake", k) | ("cancel", k) | ("advance", s)


def fid(i: int) -> str:
    return f"f{i}"


def trigger(i: int) -> str:
    return f"t/f{i}"


def run_steps(spec: FnSpec) -> list[str]:
    out = []
    for a in spec.actions:
        out += [c.id for c in a.children if c.kind == "run"] if a.kind == "parallel" else [a.id] * (a.kind == "run")
    return out


# -- strategies ------------------------------------------------------------------------------------------
def leaf_actions(i: int, n: int, counter: Any, parallel_ok: bool) -> st.SearchStrategy[Action]:
    def new_id(kind: str) -> str:
        counter[0] += 1
        return f"{kind}{counter[0]}"

    later = st.integers(i + 1, n - 1) if i + 1 < n else st.nothing()
    options = [
        st.builds(lambda f, e: Action("run", new_id("r"), fails=f, error=e), st.integers(0, 3),
                  st.sampled_from(["plain", "plain", "final", "after"])),
        st.builds(lambda s: Action("sleep", new_id("s"), seconds=s), st.sampled_from([0, 1, 30, 600])),
        st.builds(lambda s: Action("sleep_until", new_id("u"), seconds=s), st.sampled_from([0, 10, 90, 3600])),
        st.builds(lambda s, m: Action("wait", new_id("w"), seconds=s, match=m), st.sampled_from([5, 60, 3600]),
                  st.booleans()),
        st.builds(lambda t: Action("send", new_id("e"), target=t), st.one_of(st.just(-1), later)),
        st.just(None).map(lambda _: Action("raise_once")),
    ]
    if i + 1 < n:
        options.append(st.builds(lambda t, s: Action("invoke", new_id("i"), target=t, seconds=s), later,
                                 st.sampled_from([0, 0, 30, 3600])))
    leaf = st.one_of(options)
    if not parallel_ok:
        return leaf
    group = st.lists(
        st.one_of(
            st.builds(lambda f: Action("run", new_id("p"), fails=f), st.integers(0, 2)),
            st.builds(lambda s: Action("sleep", new_id("q"), seconds=s), st.sampled_from([1, 60])),
        ),
        min_size=2, max_size=3,
    ).flatmap(lambda kids: st.sampled_from(["wait", "race"]).map(
        lambda mode: Action("parallel", new_id("g"), children=tuple(kids), error=mode)))
    return st.one_of(leaf, leaf, leaf, group)


KEY = st.sampled_from([None, "event.data.k"])
FLOW: dict[str, st.SearchStrategy[Any]] = {
    "throttle": st.builds(jobsim.Throttle, limit=st.integers(1, 3), period=st.sampled_from(["10s", "1m"]), key=KEY,
                          burst=st.sampled_from([None, 1])),
    "rate_limit": st.builds(jobsim.RateLimit, limit=st.integers(1, 12), period=st.sampled_from(["1m", "1h"]),
                            key=KEY),
    "debounce": st.builds(jobsim.Debounce, period=st.sampled_from(["1s", "30s"]), key=KEY,
                          timeout=st.sampled_from([None, "1m"])),
    "batch": st.builds(jobsim.Batch, max_size=st.integers(2, 3), timeout=st.sampled_from(["1s", "30s"]), key=KEY),
    "concurrency": st.one_of(st.integers(1, 2),
                             st.builds(jobsim.Concurrency, limit=st.integers(1, 2), key=KEY)),
    "cancel_on": st.builds(lambda m, t: [jobsim.Cancel(CANCEL, match=m, timeout=t)],
                           st.sampled_from([None, "data.k"]), st.sampled_from([None, "10m"])),
    "idempotency": st.just("event.data.k"),
    "priority": st.sampled_from([5, "int(event.data.k)"]),
    "timeout": st.sampled_from(["30s", "2h"]),
    "singleton": st.builds(jobsim.Singleton, mode=st.sampled_from(["skip", "cancel"]), key=KEY),
}
EXCLUSIVE = [{"batch", "debounce"}, {"idempotency", "rate_limit"}, {"batch", "cancel_on"}, {"batch", "priority"},
             {"batch", "singleton"}]

RETRIES = st.one_of(
    st.none(), st.integers(0, 2), st.builds(jobsim.Retries, attempts=st.integers(1, 3)),
    st.builds(jobsim.Retries, attempts=st.integers(2, 3), backoff=st.sampled_from(["exponential", "constant"]),
              min=st.sampled_from(["1s", "5s"]), max=st.just("30s")),
)


@st.composite
def flows(draw: Any) -> tuple[tuple[str, Any], ...]:
    names = draw(st.lists(st.sampled_from(sorted(FLOW)), max_size=3, unique=True))
    for pair in EXCLUSIVE:
        if pair <= set(names):
            names.remove(sorted(pair)[0])
    return tuple((name, draw(FLOW[name])) for name in sorted(names))


@st.composite
def app_specs(draw: Any) -> AppSpec:
    n = draw(st.integers(2, 4))
    profile = draw(st.sampled_from(["inngest"] * 4 + sorted(PROFILES)))
    counter = [0]
    functions = []
    for i in range(n):
        actions = draw(st.lists(leaf_actions(i, n, counter, parallel_ok=True), min_size=1, max_size=4))
        functions.append(FnSpec(
            actions=tuple(actions),
            retries=draw(RETRIES),
            # other systems lack most flow control: mostly none there, or nearly every example is refused
            flow=draw(st.one_of(st.just(()), flows()) if profile == "inngest" else
                      st.one_of(st.just(()), st.just(()), st.just(()), flows())),
            cron=draw(st.sampled_from([None, None, None, "*/20 * * * *", "0 * * * *"])),
            on_failure=draw(st.booleans()),
        ))
    fault_places = [(i, s) for i, f in enumerate(functions) for s in [None, *run_steps(f)]]
    faults = draw(st.lists(st.tuples(st.sampled_from(fault_places), st.integers(1, 2)), max_size=2))
    op = st.one_of(
        st.tuples(st.just("send"), st.integers(0, n - 1), st.integers(0, 2)),
        st.tuples(st.just("wake"), st.integers(0, 2)),
        st.tuples(st.just("cancel"), st.integers(0, 2)),
        st.tuples(st.just("advance"), st.sampled_from([0, 1, 5, 30, 120, 3600])),
    )
    program = draw(st.lists(op, min_size=1, max_size=8))
    return AppSpec(tuple(functions), profile, draw(st.integers(0, 2**16)),
                   tuple((i, s, t) for (i, s), t in faults), tuple(program))


# -- building and driving -------------------------------------------------------------------------------
class World:
    """What job code does outside the simulation: per-run counters and the side effects of steps."""

    def __init__(self) -> None:
        self.calls: collections.Counter[tuple[str, str]] = collections.Counter()
        self.effects: list[tuple[str, str]] = []


def build(spec: AppSpec) -> tuple[jobsim.App, World]:
    app = jobsim.App("fuzz")
    world = World()
    made: dict[int, jobsim.Function] = {}  # filled below; handlers look invoke targets up when they run
    for i, fs in enumerate(spec.functions):
        flow = dict(fs.flow)
        timeout = flow.pop("timeout", None)
        kwargs: dict[str, Any] = dict(flow)
        if fs.cron:
            kwargs["cron"] = fs.cron
        if fs.on_failure:
            kwargs["on_failure"] = lambda ctx: (ctx.event.data.get("error") or ctx.event.data["err"])["name"]
        made[i] = app.function(fid(i), on=trigger(i), retries=fs.retries, timeout=timeout, **kwargs)(
            handler(fs, world, made))
    return app, world


def step_body(world: World, run_id: str, key: str, fails: int, error: str) -> Any:
    n = world.calls[(run_id, key)]
    world.calls[(run_id, key)] += 1
    if n < fails:
        if error == "final":
            raise jobsim.NonRetriableError(f"{key} gives up")
        if error == "after":
            raise jobsim.RetryAfterError("2s", f"{key} busy")
        raise RuntimeError(f"{key} failed ({n})")
    world.effects.append((run_id, key))
    return {"n": n}


def handler(fs: FnSpec, world: World, targets: dict[int, jobsim.Function]) -> Any:
    def do(ctx: Any, a: Action) -> Any:
        k = (ctx.event.data or {}).get("k", 0)
        if a.kind == "run":
            return ctx.step.run(a.id, step_body, world, ctx.run_id, a.id, a.fails, a.error)
        if a.kind == "sleep":
            return ctx.step.sleep(a.id, f"{a.seconds}s")
        if a.kind == "sleep_until":
            return ctx.step.sleep_until(a.id, T0 + dt.timedelta(seconds=a.seconds))
        if a.kind == "wait":
            return ctx.step.wait_for_event(a.id, event=WAKE, timeout=f"{a.seconds}s",
                                           match="data.k" if a.match else None)
        if a.kind == "send":
            name = WAKE if a.target < 0 else trigger(a.target)
            return ctx.step.send_event(a.id, {"name": name, "data": {"k": k}})
        if a.kind == "invoke":
            return ctx.step.invoke(a.id, function=targets[a.target], data={"k": k},
                                   timeout=f"{a.seconds}s" if a.seconds else None)
        if a.kind == "raise_once":
            if world.calls[(ctx.run_id, "body")] == 0:
                world.calls[(ctx.run_id, "body")] += 1
                raise RuntimeError("outside steps, once")
            return None
        if a.kind == "parallel":
            return ctx.step.parallel([lambda c=c: do(ctx, c) for c in a.children], mode=a.error)
        raise AssertionError(a.kind)

    def fn(ctx: Any) -> Any:
        out = []
        for a in fs.actions:
            try:
                out.append(do(ctx, a))
            except jobsim.StepError as e:  # a step that failed for good; the handler goes on, as job code may
                out.append(f"step error: {e.step_id}")
        return out

    return fn


@dataclasses.dataclass
class Outcome:
    sim: jobsim.Simulation | None
    world: World
    error: jobsim.JobsimError | None = None
    refused: jobsim.UnsupportedFeature | None = None


def simulate(spec: AppSpec) -> Outcome:
    app, world = build(spec)
    try:
        sim = jobsim.Simulation(app, start=START, seed=spec.seed, profile=spec.profile)
    except jobsim.UnsupportedFeature as e:
        return Outcome(None, world, refused=e)
    with sim:
        try:
            for i, step, times in spec.faults:
                sim.fail(fid(i), step=step, times=times)
            for op in spec.program:
                if op[0] == "send":
                    sim.send(trigger(op[1]), {"k": op[2]})
                elif op[0] == "wake":
                    sim.send(WAKE, {"k": op[1]})
                elif op[0] == "cancel":
                    sim.send(CANCEL, {"k": op[1]})
                else:
                    sim.advance(f"{op[1]}s")
            # a cron tick every 20 min whose runs wait an hour keeps work pending for ever: that ends in
            # BudgetExceeded at the horizon (documented), kept short so such examples stay cheap
            sim.run_until_idle(max_time="2d")
        except jobsim.JobsimError as e:  # property 4: nothing else may escape
            return Outcome(sim, world, error=e)
    return Outcome(sim, world)


# -- properties ------------------------------------------------------------------------------------------
def summary(sim: jobsim.Simulation) -> list[Any]:
    return [(r.function_id, r.id, r.status, repr(r.output), repr(r.error),
             [(a.number, a.step, a.started_at, a.finished_at, repr(a.error)) for a in r.attempts])
            for r in sim.runs()]


def lacking(spec: AppSpec) -> set[str]:
    """Features the spec declares that its profile lacks (by the profile's own table)."""
    used = set()
    for fs in spec.functions:
        used.add("events")
        used.update(name for name, _ in fs.flow if name != "timeout")
        if any(name == "timeout" for name, _ in fs.flow):
            used.add("timeouts")
        if fs.on_failure:
            used.add("on_failure")
        for name, value in fs.flow:
            if name == "debounce" and value.timeout_ns is not None:
                used.add("debounce.timeout")
            if name == "concurrency":
                c = value if not isinstance(value, int) else jobsim.Concurrency(limit=value)
                used.update(["concurrency.key"] * (c.key is not None) + ["concurrency.limit"] * (c.limit > 1))
    return used & set(PROFILES[spec.profile].lacks)


def check_refusal(spec: AppSpec, outcome: Outcome) -> None:
    missing = lacking(spec)
    if outcome.refused is None:
        assert not missing, f"{spec.profile} built an app using {missing}, which it lacks"
        return
    e = outcome.refused
    assert e.system == PROFILES[spec.profile].label, (e.system, str(e))
    if missing:
        assert e.feature in missing | {"retries"} or e.feature.startswith("cron"), (e.feature, missing, str(e))
    else:  # refused for something the feature table does not hold: retries or cron syntax
        assert e.feature == "retries" or e.feature.startswith("cron"), (e.feature, str(e))


def check_bookkeeping(spec: AppSpec, outcome: Outcome) -> None:
    sim = outcome.sim
    assert sim is not None
    profile = PROFILES[spec.profile]
    for run in sim.runs():
        if outcome.error is None:
            assert run.status in FINAL, f"{run.function_id} {run.id} left {run.status!r} after run_until_idle"
        starts = [a.start_ns for a in run.attempts]
        by_step: dict[Any, list[int]] = collections.defaultdict(list)
        for a in run.attempts:
            by_step[a.step].append(a.start_ns)
        for step, times in by_step.items():
            assert times == sorted(times), f"{run.id} step {step!r}: attempts go back in time {times}"
        assert all(s >= run.start_ns for s in starts)
    if profile.durable_steps:
        count = collections.Counter(outcome.world.effects)
        for (run_id, key), times in count.items():
            assert times == 1, f"durable step {key} of {run_id} had its effect {times} times"
        for run in sim.runs():
            for key, record in run.steps.items():
                if record.kind == "run" and record.status == "completed":
                    assert count[(run.id, key)] == 1, (run.id, key, record)
    if outcome.error is None:
        # race-mode runs included: their overlapping requests each retry on their own counter, as Inngest's
        # per-finished-step discoveries do (tests/test_parallel.py::test_race_mode_gives_each_request_its_own_...)
        for fn in sim.functions:
            invariants.retries_respect_policy(sim, fn)
    sim.timeline()


# too_slow / data_too_large: one example builds an app and runs it twice plus three replays; drawing a
# 4-function spec is most of the data. No explain phase: it re-runs a failing example hundreds of times.
@settings(max_examples=150, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(app_specs())
@example(AppSpec(  # two race requests each fail r5; one's retry raises outside steps; the other's ends the run
    functions=(FnSpec(actions=(Action(kind="sleep", id="s1"),)),
               FnSpec(actions=(Action(kind="parallel", id="g4", error="race",
                                      children=(Action(kind="run", id="p2"), Action(kind="run", id="p3"))),
                               Action(kind="run", id="r5", fails=2), Action(kind="raise_once"),
                               Action(kind="parallel", id="g8", error="wait",
                                      children=(Action(kind="sleep", id="q6", seconds=1),
                                                Action(kind="sleep", id="q7", seconds=1)))))),
    profile="inngest", seed=1, faults=(), program=(("send", 1, 0),)))  # fmt: skip
@example(AppSpec(  # the second race request's retry meets 'r7' mid-way through the first's RetryAfterError chain
    functions=(FnSpec(actions=(Action(kind="raise_once"),)), FnSpec(actions=(Action(kind="run", id="r1"),)),
               FnSpec(actions=(Action(kind="run", id="r2"),)),
               FnSpec(actions=(Action(kind="parallel", id="g5", error="race",
                                      children=(Action(kind="run", id="p3"), Action(kind="run", id="p4"))),
                               Action(kind="run", id="r6", fails=2),
                               Action(kind="run", id="r7", fails=3, error="after")))),
    profile="inngest", seed=1, faults=(), program=(("send", 3, 0),)))  # fmt: skip
def test_features_in_combination_keep_every_property(spec: AppSpec) -> None:
    note(repr(spec))
    first = simulate(spec)
    check_refusal(spec, first)
    if first.sim is None:
        event(f"refused by {spec.profile}: {first.refused.feature if first.refused else ''}")
        return
    event(f"{spec.profile}: {type(first.error).__name__ if first.error else 'idle'}")
    note(f"ended with: {first.error!r}")
    check_bookkeeping(spec, first)
    second = simulate(spec)
    assert second.sim is not None
    assert repr(first.error) == repr(second.error)
    assert summary(first.sim) == summary(second.sim)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for redact in (False, None):
            a = first.sim.trace.save(d / f"a{redact}.jobsim.jsonl", redact=redact)
            b = second.sim.trace.save(d / f"b{redact}.jobsim.jsonl", redact=redact)
            assert a.read_bytes() == b.read_bytes(), f"redact={redact}: two runs of one spec differ"
            assert traces.compare(a, a).same
            assert traces.compare(a, b).same
        raw = d / "aFalse.jobsim.jsonl"
        loaded = jobsim.Trace.load(raw)
        assert list(lines(loaded)) == list(lines(first.sim.trace))
        header = loaded.header or {}
        render_trace(loaded, dt.timezone.utc, seed=header.get("seed"), profile=header.get("profile"),
                     kinds=known_kinds_renderers())
        if first.error is None:
            for source in (first.sim.trace, raw, d / "aNone.jobsim.jsonl"):
                result = jobsim.Simulation.replay(source, build(spec)[0])
                assert result.same, result.report()


"""``jobsim.compare``: one scenario, simulated under several profiles, measured side by side.

The seed compares seven systems in a table of claims ("Retries: ✅ Auto w/ backoff",
"Persistence: ❌ Memory only"). A ``Scenario`` makes such a claim testable: it
builds fresh targets, plays traffic and faults against a ``Simulation``, and
``compare`` runs it once per profile and counts what happened — runs completed,
failed and lost, duplicate runs, emails sent, first and last completion — plus any
metrics the scenario defines. A profile that cannot run the scenario at all (a
time zone on Vercel Cron, batching on BullMQ) gets a row saying why.

Counting. Every delivery has a key: a cron tick its scheduled time (ticks missed
while the system was down included, and the slots an ``every=`` schedule skipped),
an event-started run its event id. A key's
second and later runs are *duplicates*; a key with no run, or whose runs were all
lost, is *lost*, but for a tick held to run late (Quirrel's ``cron.missed`` outcome ``held``): pending.
Emails are the ``email`` records of the function's runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ._app import Function
from ._checks import check_callable, init_keywords_checked, keywords_checked, listed_ids
from ._profiles import Profiles, resolve_function
from ._profiles import profile as named_profile
from ._profilespec import split_names
from ._simulation import DEFAULT_START, Simulation
from ._time import Instant, instant_ns, iso, to_datetime, zone
from .errors import InvalidArgument, JobsimError, UnsupportedFeature

Metric = Callable[[Simulation, str], Any]
"""``(simulation, function_id) -> value``: an extra column of the table."""


@init_keywords_checked("Scenario()")
@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A story to simulate under several profiles.

    ``build()`` returns fresh targets (a ``jobsim.App``) for one simulation — state
    must not leak from one profile's run to the next. ``play(sim)`` sends traffic,
    arms faults and drives the clock (``sim.advance_to(...)``). ``functions`` are the
    ids the table measures (default: every function of the first build, in order).
    ``metrics`` add columns.
    """

    name: str
    description: str
    build: Callable[[], Any]
    play: Callable[[Simulation], None]
    start: Instant = DEFAULT_START
    tz: str = "UTC"
    seed: int = 0
    functions: Sequence[str] | None = None
    metrics: Mapping[str, Metric] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        """Checked here, where the scenario is written, not inside ``compare``'s loop over profiles."""
        for name in ("name", "description"):
            if not isinstance(getattr(self, name), str):
                raise InvalidArgument.build(name, getattr(self, name), "a str")
        check_callable("build", self.build, 0, "a function of no arguments returning fresh targets (a jobsim.App)")
        check_callable("play", self.play, 1, "a function taking the simulation (sends traffic, drives the clock)")
        zone(self.tz)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidArgument.build("seed", self.seed, "an int")
        if self.functions is not None and (
            isinstance(self.functions, str) or not isinstance(self.functions, Sequence)
            or not all(isinstance(f, str) for f in self.functions)
        ):
            raise InvalidArgument.build("functions", self.functions, "a list of function ids, or None for all")
        if not isinstance(self.metrics, Mapping) or not all(isinstance(k, str) for k in self.metrics):
            raise InvalidArgument.build("metrics", self.metrics, "a dict of column name to metric(sim, function_id)")
        for column, metric in self.metrics.items():
            check_callable(f"metrics[{column!r}]", metric, 2, "a function (sim, function_id) -> value")


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What one profile made of one function of the scenario (one row of the table)."""

    profile: str
    system: str
    function: str | None
    unsupported: str | None = None
    """Why the profile could not run the scenario (then every count is 0)."""
    runs: int = 0
    completed: int = 0
    failed: int = 0
    lost: int = 0
    duplicates: int = 0
    emails: int = 0
    first_done: dt.datetime | None = None
    last_done: dt.datetime | None = None
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    simulation: Simulation | None = dataclasses.field(default=None, repr=False, compare=False)
    """The closed simulation, for its timeline and runs (None when unsupported)."""

    @property
    def supported(self) -> bool:
        return self.unsupported is None


@dataclasses.dataclass(frozen=True, slots=True)
class Comparison:
    """The outcomes of one scenario under each profile, in the order the profiles were given."""

    scenario: Scenario
    outcomes: list[Outcome]
    seed: int

    @keywords_checked("Comparison.of()")
    def of(self, profile: str, function: str | None = None) -> Outcome:
        """The outcome of ``profile`` (for ``function`` when the scenario measures several)."""
        for outcome in self.outcomes:
            if outcome.profile == profile and (function is None or outcome.function == function):
                return outcome
        if isinstance(profile, str) and "(" in profile:  # a variant spelled otherwise: "agenda(process_every=1000ms)"
            try:
                canonical = Profiles.registered().get(profile).name
            except InvalidArgument:
                canonical = profile
            if canonical != profile:
                return self.of(canonical, function)
        compared = sorted({o.profile for o in self.outcomes})
        if profile in compared:  # the profile was compared: it is the function that matched nothing
            measured = list(dict.fromkeys(o.function for o in self.outcomes if o.profile == profile))
            raise InvalidArgument.build("function", function, "one of the measured functions: "
                                        + ", ".join(map(repr, measured)) + ", or None for the first")
        raise InvalidArgument.build("profile", profile, "one of " + ", ".join(map(repr, compared)))

    def table(self) -> str:
        """The comparison as a fixed-width table (times in the scenario's zone)."""
        return render_table(self)

    def __str__(self) -> str:
        return self.table()


def compared_profiles(profiles: Iterable[str] | str | None, argument: str = "profiles") -> list[str]:
    """``compare``'s ``profiles`` checked (a refusal names ``argument``: the CLI's ``--profiles``): the names of
    the profiles to run, a variant's canonical, in order."""
    from ._systems import SEVEN

    given = profiles
    if isinstance(profiles, str):  # "inngest,bullmq", as on the command line
        profiles = split_names(profiles)
    if profiles is not None and (not isinstance(profiles, Iterable) or isinstance(profiles, (bytes, Mapping))):
        raise InvalidArgument.build(argument, given, "a list of profile names, or None for the seven systems")
    names = list(SEVEN if profiles is None else profiles)
    if not all(isinstance(name, str) for name in names):  # [[]]: the lookup below raised "unhashable type"
        raise InvalidArgument.build(argument, given, "a list of profile names (strings), or None for the "
                                    "seven systems")
    registry = Profiles.registered()
    known = set(registry.names())
    unknown = [n for n in names if not isinstance(n, str) or n.partition("(")[0].strip() not in known]
    # a variant, NAME(option=value), by its canonical name; a bad option raises here, before simulating
    names = [n if n in unknown or n in known else registry.get(n, argument).name for n in names]
    if not names or unknown:
        raise InvalidArgument.build(
            argument, given, "profile names among " + ", ".join(map(repr, sorted(known)))
            + (f" (unknown: {', '.join(map(repr, unknown))})" if unknown else "")
        )
    twice = [name for name, count in Counter(names).items() if count > 1]
    if twice:  # two rows of one profile, and result.of() could reach only the first
        raise InvalidArgument.build(argument, given, f"each profile named once ({', '.join(map(repr, twice))} "
                                    f"{'is' if len(twice) == 1 else 'are'} named more than once)")  # fmt: skip
    return names


@keywords_checked("jobsim.compare()")
def compare(scenario: Scenario, profiles: Iterable[str] | None = None, *, seed: int | None = None) -> Comparison:
    """Run ``scenario`` once per profile (default: the seven systems of the seed) and measure each run."""
    if not isinstance(scenario, Scenario):
        raise InvalidArgument.build("scenario", scenario, "a jobsim.Scenario(name=, description=, build=, play=)")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InvalidArgument.build("seed", seed, "an int, or None for the scenario's seed")
    seed = scenario.seed if seed is None else seed
    names = default_profiles(scenario, seed) if profiles is None else compared_profiles(profiles)
    outcomes: list[Outcome] = []
    for name in names:
        outcomes.extend(_run(scenario, name, seed))
    return Comparison(scenario, _each_function(outcomes), seed)


def default_profiles(scenario: Scenario, seed: int) -> list[str]:
    """The seven systems, and the scenario's targets' own profile when it is none of them (a Celery app's
    ``celery``, a plugin's): every profile of the seven refuses a scenario of such targets alone, so a default
    table of seven refusals said nothing of how they run."""
    names = compared_profiles(None)
    targets = _call(scenario, "(their own)", seed, "building its targets", "build()", scenario.build)
    try:
        sim = Simulation(targets, start=scenario.start, seed=seed, tz=scenario.tz)
    except UnsupportedFeature:
        return names
    sim.close()
    own = sim.profile.name
    return names if own in names else [*names, own]


def _each_function(outcomes: list[Outcome]) -> list[Outcome]:
    """A refused profile's row for each function the other profiles measured, when its targets named none (a
    Celery app's tasks are known only to a simulation of it, which a profile that is not Celery's refuses)."""
    measured = list(dict.fromkeys(o.function for o in outcomes if o.supported))
    if not measured:
        return outcomes
    return [dataclasses.replace(o, function=fn) if o.function is None else o
            for o in outcomes for fn in (measured if o.function is None else [o.function])]  # fmt: skip


def _run(scenario: Scenario, profile: str, seed: int) -> list[Outcome]:
    targets = _call(scenario, profile, seed, "building its targets", "build()", scenario.build)
    try:
        sim = Simulation(targets, start=scenario.start, seed=seed, profile=profile, tz=scenario.tz)
    except UnsupportedFeature as exc:
        return _refused(scenario, targets, profile, exc)
    functions = list(scenario.functions or [f for f in sim.functions if not f.endswith("-failure")])
    unknown = [f for f in functions if f not in sim.functions]
    if unknown:  # said before playing, naming the scenario's field (sim.runs would name its own argument, after)
        raise InvalidArgument.build("functions", scenario.functions, "ids of functions the scenario's build() "
                                    f"declares: {listed_ids(sim.functions, unknown[0])} (unknown: "
                                    f"{', '.join(map(repr, unknown))})")
    try:
        with sim:
            scenario.play(sim)
    except UnsupportedFeature as exc:
        return _refused(scenario, targets, profile, exc)
    except JobsimError:
        raise
    except Exception as exc:
        raise JobsimError(
            f"scenario {scenario.name!r} raised {type(exc).__name__}: {exc} while playing under profile "
            f"{profile!r} (seed {seed}); fix its play() or reproduce with "
            f"jobsim.Simulation(..., profile={profile!r}, seed={seed})"
        ) from exc
    outcomes = [_measure(scenario, sim, fn) for fn in functions]
    return [o for fn, o in zip(functions, outcomes, strict=True) if scenario.functions or _listed(sim, fn, o)]


def _listed(sim: Simulation, function: str, outcome: Outcome) -> bool:
    """Whether the table has a row for ``function``, which the scenario did not name: not for a system's own task
    that never ran (``celery.chord_unlock``: ``options["builtin"]``), as in ``jobsim run``'s table."""
    return bool(outcome.runs or outcome.lost or outcome.emails) or not sim.functions[function].options.get("builtin")


def _call(scenario: Scenario, profile: str, seed: int, doing: str, what: str, fn: Any, *args: Any) -> Any:
    """``fn(*args)``, the scenario's own code: what it raises is one ``JobsimError`` naming the scenario."""
    try:
        return fn(*args)
    except JobsimError:
        raise
    except Exception as exc:
        raise JobsimError(f"scenario {scenario.name!r} raised {type(exc).__name__}: {exc} while {doing} under "
                          f"profile {profile!r} (seed {seed}); fix its {what}") from exc  # fmt: skip


def _refused(scenario: Scenario, targets: Any, profile: str, exc: UnsupportedFeature) -> list[Outcome]:
    functions: Sequence[str | None] = (scenario.functions or [getattr(f, "id", "?") for f in getattr(
        targets, "functions", {}).values()] or [None])  # None: the rows of the functions other profiles measure
    system = exc.system or profile
    if exc.function is None or exc.function not in functions:
        return [Outcome(profile, system, fn, unsupported=_reason(exc)) for fn in functions]
    declared = getattr(targets, "functions", {})
    return [Outcome(profile, system, fn, unsupported=_reason(exc) if fn == exc.function else
                    _own_refusal(profile, declared.get(fn)) or f"none of the scenario runs: {system} refuses "
                    f"function {exc.function!r} (its row)") for fn in functions]  # fmt: skip


def _reason(exc: UnsupportedFeature) -> str:
    return str(exc).split(": ", 1)[1] if ": " in str(exc) else str(exc)


def _own_refusal(profile: str, fn: Any) -> str | None:
    """Why ``profile`` refuses the jobsim function ``fn`` too, when it does (the simulation named only the first
    function it refused: each row gives its own function's reason, not that one's)."""
    if not isinstance(fn, Function):
        return None
    try:
        resolve_function(named_profile(profile), fn)
    except UnsupportedFeature as exc:
        return _reason(exc)
    except Exception:  # its other checks are the simulation's to make (and it made the first one fail)
        return None
    return None


def _measure(scenario: Scenario, sim: Simulation, function: str) -> Outcome:
    runs = sim.runs(function)
    status = Counter(r.status for r in runs)
    keys: Counter[str] = Counter()
    landed: set[str] = set()
    skipped = 0  # an every= scheduler's skip record stands for `count` slots (``_every.py``)
    held: set[str] = set()  # ticks held to run late, one after another (Quirrel): pending, not lost
    for record in sim.trace.of("cron", "cron.missed"):
        if record.data["function"] == function:
            keys[record.data["scheduled"]] += 0
            skipped += record.data.get("count", 1) - 1
            if record.data.get("outcome") == "held":
                held.add(record.data["scheduled"])
    for run in runs:
        key = _key(run)
        keys[key] += 1
        if run.status != "lost":
            landed.add(key)
    done = sorted(r.end_ns for r in runs if r.status == "completed" and r.end_ns is not None)
    emails = sum(1 for r in sim.trace.of("email") if r.data.get("function") == function)
    return Outcome(
        profile=sim.profile.name, system=sim.profile.label, function=function,
        runs=len(runs), completed=status["completed"], failed=status["failed"],
        lost=sum(1 for key in keys if key not in landed and key not in held) + skipped,
        duplicates=sum(max(0, n - 1) for n in keys.values()),
        emails=emails, first_done=to_datetime(done[0]) if done else None,
        last_done=to_datetime(done[-1]) if done else None,
        metrics={name: _call(scenario, sim.profile.name, sim.seed, f"measuring {name!r} of {function!r}",
                             f"metrics[{name!r}]", metric, sim, function)
                 for name, metric in scenario.metrics.items()}, simulation=sim,
    )  # fmt: skip


def _key(run: Any) -> str:
    scheduled = run.event.data.get("scheduledAt") if run.event.name == "inngest/scheduled.timer" else None
    if isinstance(scheduled, str):  # the timer event's whole seconds (Inngest's RFC3339) as the records' iso()
        return iso(instant_ns(scheduled))
    return str(scheduled) if scheduled is not None else f"event:{run.event.id}"


# -- the table ------------------------------------------------------------------------------------------


def render_table(comparison: Comparison) -> str:
    scenario = comparison.scenario
    tz = zone(scenario.tz)
    several = len({o.function for o in comparison.outcomes}) > 1
    extra = list(scenario.metrics)
    header = ["profile", *(["function"] if several else []), "runs", "done", "failed", "lost", "dupes", "emails",
              *extra, "first done", "last done"]  # fmt: skip
    moments = [m for o in comparison.outcomes for m in (o.first_done, o.last_done) if m is not None]
    ms = any(m.microsecond for m in moments)  # milliseconds only when some time has them
    rows: list[list[str]] = []
    for o in comparison.outcomes:
        lead = [o.profile, *([o.function or ""] if several else [])]
        if o.unsupported is not None:
            rows.append([*lead, f"unsupported: {o.unsupported}"])
            continue
        counts = [o.runs, o.completed, o.failed, o.lost, o.duplicates, o.emails, *(o.metrics[m] for m in extra)]
        rows.append([*lead, *map(str, counts), _when(o.first_done, tz, ms), _when(o.last_done, tz, ms)])
    widths = [len(h) for h in header]
    for row in rows:
        cells = row if len(row) == len(header) else row[:-1]  # an unsupported row's lead cells align too
        widths[: len(cells)] = [max(w, len(cell)) for w, cell in zip(widths, cells, strict=False)]
    numeric = range(2 if several else 1, len(header) - 2)

    def line(cells: Sequence[str]) -> str:
        if len(cells) < len(header):  # unsupported: the reason spans the rest of the line
            lead = "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths, strict=False))
            return f"{lead}  {cells[-1]}".rstrip()
        cells = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(cells).rstrip()

    title = f"{scenario.name}: {scenario.description}"
    rule = "  ".join("-" * w for w in widths)
    zone_name = getattr(tz, "key", None) or str(tz)
    return "\n".join([title, f"(times in {zone_name}, seed {comparison.seed})", line(header), rule,
                      *(line(r) for r in rows)])  # fmt: skip


def _when(moment: dt.datetime | None, tz: dt.tzinfo, ms: bool) -> str:
    if moment is None:
        return "-"
    local = moment.astimezone(tz)
    text = local.strftime("%m-%d %H:%M:%S")
    return f"{text}.{local.microsecond // 1000:03d}" if ms else text

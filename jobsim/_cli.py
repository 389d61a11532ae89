"""The ``jobsim`` command line: simulate an app over virtual time and print what happened.

Trace commands (``replay``, ``diff``, ``import``, ``scan``, ``redact``) live in ``_cli_traces``.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import io
import math
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._app import App
from ._cli_select import add_selection_options, selection
from ._cli_traces import add_trace_commands
from ._simulation import DEFAULT_START, Simulation
from ._time import MAX_NS, duration_ns, iso, to_datetime
from .errors import InvalidArgument, JobsimError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobsim", description="Simulate background jobs in virtual time.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="simulate an app (and its traffic) and print the timeline")
    run.add_argument(
        "target", help="a module or package path, optionally with :attribute (e.g. examples or app.jobs:app)"
    )
    run.add_argument("--seed", type=int, default=0, help="the simulation's seed (default 0)")
    run.add_argument("--start", default=None, help=f"virtual start time (default: the target's, or {DEFAULT_START})")
    run.add_argument("--days", type=float, default=7.0, help="how long to simulate (default 7 days)")
    run.add_argument("--tz", default=None, help="time zone of the timeline (default: the target's, or UTC)")
    run.add_argument("--no-timeline", action="store_true", help="print only the summary table")
    run.add_argument("--save", metavar="FILE", default=None,
                     help="also save the trace (redacted; .gz: gzip), for `jobsim replay`/`diff`/`show`")  # fmt: skip
    run.add_argument("--no-redact", action="store_true", help="with --save: write the trace as recorded")
    add_selection_options(run, "the target's functions (instead of its jobsim_options' selection)")
    _add_compare(sub)
    add_trace_commands(sub)  # replay, diff, import, scan, redact, show
    _never_fail_to_encode()  # before parse_args: --help and usage errors print too
    args = parser.parse_args(argv)
    try:
        handler = getattr(args, "handler", None)  # the trace commands name their own
        if handler is not None:
            return int(handler(args))
        if args.command == "compare":
            return _compare(args)
        if args.command == "profiles":
            return _profiles(args)
        return _run(args)
    except JobsimError as exc:
        print(f"jobsim: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `jobsim diff a b | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a tool the signal killed
    except OSError as exc:  # a file to write into a missing folder, a file we may not read
        where = f" {exc.filename!r}" if exc.filename else ""
        print(f"jobsim: error: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _never_fail_to_encode() -> None:
    """Print what a terminal cannot show as ``\\xeb`` escapes rather than die on it.

    Timelines hold '·' and users' names hold 'ë'; under ``PYTHONIOENCODING=ascii`` or a
    C locale, Python's strict stdout would raise ``UnicodeEncodeError`` mid-report.
    """
    stream = sys.stdout
    if isinstance(stream, io.TextIOWrapper) and not stream.encoding.lower().replace("-", "").startswith("utf"):
        stream.reconfigure(errors="backslashreplace")


def load_target(spec: str) -> tuple[Any, Any]:
    """``path/to/pkg`` or ``module.name[:attr]`` -> (module, object).

    An attribute that is a function (not an App) is a factory: it is called with no
    arguments, and what it returns is simulated.
    """
    module_part, _, attr = spec.partition(":")
    if not module_part:  # Path("") is the current folder: it would import as a namespace package
        raise JobsimError(f"{spec!r} names no module before ':'; give e.g. app.jobs:app or a folder")
    if os.getcwd() not in sys.path and "" not in sys.path:  # `app.jobs` means ./app/jobs.py, as with python -m
        sys.path.insert(0, os.getcwd())
    path = Path(module_part)
    if path.exists():
        path = path.resolve()
        root, name = (path.parent, path.stem) if path.suffix == ".py" else (path.parent, path.name)
        sys.path.insert(0, str(root))
        module_part = name
    elif module_part.endswith(".py") or "/" in module_part or os.sep in module_part:  # a path, not a module name
        raise JobsimError(f"{module_part}: no such file or folder")
    try:
        module = importlib.import_module(module_part)
    except ImportError as exc:
        raise JobsimError(
            f"cannot import {module_part!r} ({exc}); give a module path like 'app.jobs' or a folder"
        ) from None
    except Exception as exc:  # the module itself is broken: say where, with its own words
        raise JobsimError(
            f"importing {module_part!r} failed: {type(exc).__name__}: {exc}; fix that module and run again"
        ) from exc
    for name in [attr] if attr else ["jobsim_app", "app"]:
        if hasattr(module, name):
            target = getattr(module, name)
            if callable(target) and not isinstance(target, App):
                target = _call_factory(f"{module_part}:{name}", target)
            return module, target
    wanted = attr or "jobsim_app or app"
    raise JobsimError(f"{module_part!r} has no {wanted} attribute to simulate; name one with {module_part}:attribute")


def _call_factory(where: str, factory: Any) -> Any:
    """``factory()``, or a JobsimError saying why it cannot give the app (not a traceback)."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: just call it
        signature = None
    if signature is not None:
        try:
            signature.bind()
        except TypeError:
            needed = [name for name, p in signature.parameters.items()
                      if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]  # fmt: skip
            raise JobsimError(f"{where} is a callable that needs arguments ({', '.join(needed)}); "
                              "name a jobsim.App, or a function taking none that returns one") from None  # fmt: skip
    try:
        return factory()
    except Exception as exc:  # the user's factory broke: its own words, one line
        raise JobsimError(f"calling {where}() failed: {type(exc).__name__}: {exc}") from exc


_MAX_DAYS = 3_652_059  # 0001-01-01 to 9999-12-31: no simulation can run longer


def _run(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.days) and 0 <= args.days <= _MAX_DAYS):  # duration_ns would speak of seconds
        raise InvalidArgument.build("--days", args.days, f"expected a number of days from 0 to {_MAX_DAYS:,} "
                                    "(virtual time ends at 9999-12-31)")
    if args.no_redact and not args.save:
        raise JobsimError("--no-redact applies to the trace --save FILE writes; give --save FILE too")
    if args.save and not Path(args.save).resolve().parent.is_dir():
        raise JobsimError(f"--save {args.save!r}: folder {str(Path(args.save).parent)!r} does not exist; "
                          "create it or save elsewhere (checked before simulating)")  # fmt: skip
    module, target = load_target(args.target)
    options = dict(getattr(module, "jobsim_options", {}))
    chosen = selection(args, target)
    if chosen:  # the command line's selection replaces the module's
        options.pop("functions", None)
        options.pop("exclude_functions", None)
        options.update(chosen)
    options["seed"] = args.seed
    if args.start:
        options["start"] = args.start
    if args.tz:
        options["tz"] = args.tz
    sim = Simulation(target, **options)
    with sim:
        traffic = getattr(module, "jobsim_traffic", None)
        if traffic is not None:
            traffic(sim)  # may itself move the clock through the traffic it plays
        end = sim.start_ns + duration_ns(args.days * 86_400, "--days")
        if end > MAX_NS:
            raise InvalidArgument.build("--days", args.days, f"a span that ends by {iso(MAX_NS)}, the last "
                                        f"instant a datetime can show (the simulation starts {iso(sim.start_ns)})")
        if end > sim.kernel.now:
            sim.advance_to(to_datetime(end))
    if not args.no_timeline:
        print(sim.timeline())
        print()
    print(summary(sim))
    if args.save:
        path = sim.trace.save(args.save, redact=False if args.no_redact else None)
        print(f"\ntrace saved to {path} ({len(sim.trace)} records{'' if args.no_redact else ', redacted'})")
    return 0


def summary(sim: Simulation) -> str:
    """Runs, outcomes, retries, emails and HTTP calls per function."""
    emails: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for record in sim.trace.of("email", "http"):
        counter = emails if record.kind == "email" else calls
        counter[record.data.get("function", "(test)")] += 1
    header = ("function", "runs", "completed", "failed", "other", "retries", "emails", "http")
    rows: list[tuple[Any, ...]] = []
    for fn_id in sim.functions:
        runs = sim.runs(fn_id)
        status = Counter(r.status for r in runs)
        other = len(runs) - status["completed"] - status["failed"]
        retries = sum(r.retries for r in runs)
        counts = (len(runs), status["completed"], status["failed"], other, retries, emails[fn_id], calls[fn_id])
        rows.append((fn_id, *counts))
    totals = ("total", *(sum(row[i] for row in rows) for i in range(1, len(header))))
    table = [header, *rows, totals]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]

    def line(row: Sequence[Any]) -> str:
        cells = [str(row[0]).ljust(widths[0])] + [str(v).rjust(w) for v, w in zip(row[1:], widths[1:], strict=True)]
        return "  ".join(cells)

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows), rule, line(totals)])


# -- compare and profiles ---------------------------------------------------------------------------------


def _add_compare(sub: Any) -> None:
    compare = sub.add_parser("compare", help="run a scenario under several profiles and tabulate what happened")
    compare.add_argument("scenario", help="a scenario module or file (its `scenario`, or every one in `scenarios`), "
                                          "e.g. examples/scenarios/outage.py or examples/scenarios")  # fmt: skip
    compare.add_argument("--profiles", default=None,
                         help="comma-separated profile names (default: the seven systems: "
                              "inngest,bullmq,trigger.dev,quirrel,agenda,node-cron,vercel-cron); a profile with "
                              "options as NAME(option=value), e.g. 'agenda(process_every=1s)'")  # fmt: skip
    compare.add_argument("--seed", type=int, default=None,
                         help="the seed of every simulation (default: the scenario's)")  # fmt: skip
    compare.add_argument("--timeline", metavar="PROFILE", default=None,
                         help="also print the timeline of the run under this profile")  # fmt: skip
    profiles = sub.add_parser("profiles", help="list the profiles, or print one profile's rules and sources")
    profiles.add_argument("name", nargs="?", default=None, help="a profile name, e.g. bullmq")


def _compare(args: argparse.Namespace) -> int:
    from ._compare import Scenario, compare
    from ._profiles import split_names
    from ._systems import SEVEN

    spec, _, attr = args.scenario.partition(":")
    module = _import_module(spec)
    found = getattr(module, attr) if attr else getattr(module, "scenario", None) or getattr(module, "scenarios", None)
    scenarios = found if isinstance(found, (list, tuple)) else [found]
    if not scenarios or not all(isinstance(s, Scenario) for s in scenarios):
        raise JobsimError(f"{args.scenario!r} defines no jobsim.Scenario: name one `scenario` (or list them in "
                          "`scenarios`), or pick one with path:attribute")  # fmt: skip
    names = None if args.profiles is None else split_names(args.profiles)
    compared = list(SEVEN if names is None else names)
    if args.timeline is not None and args.timeline not in compared:  # before minutes of simulating
        raise InvalidArgument.build("--timeline", args.timeline,
                                    "one of the compared profiles " + ", ".join(map(repr, compared)))  # fmt: skip
    for index, scenario in enumerate(scenarios):
        result = compare(scenario, names, seed=args.seed)
        print(("\n" if index else "") + result.table())
        if args.timeline:
            outcome = result.of(args.timeline)
            print()
            print(outcome.simulation.timeline() if outcome.simulation else f"{args.timeline}: {outcome.unsupported}")
    return 0


def _import_module(spec: str) -> Any:
    """A module path, or a file or folder — imported as part of its package, so relative imports work."""
    path = Path(spec)
    if not path.exists():
        return load_target(f"{spec}:__name__")[0]
    path = path.resolve()
    parts = [path.stem if path.suffix == ".py" else path.name]
    root = path.parent
    while (root / "__init__.py").exists():
        parts.insert(0, root.name)
        root = root.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    name = ".".join(parts)
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise JobsimError(f"cannot import {spec!r} as {name!r} ({exc})") from None


def _profiles(args: argparse.Namespace) -> int:
    from . import _plugins
    from ._profiles import Profiles

    registry = Profiles()
    for group in _plugins.manager().hook.jobsim_profiles():
        for profile in group:
            registry.register(profile)
    if args.name is not None:
        profile = registry.get(args.name)
        print(f"{profile.name}: {profile.description}\n")
        print(profile.doc or "(no documentation)")
        return 0
    width = max(len(n) for n in registry.names())
    for name in registry.names():
        print(f"{name.ljust(width)}  {registry.get(name).description}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

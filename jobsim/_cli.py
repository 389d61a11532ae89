"""The ``jobsim`` command line: simulate an app over virtual time and print what happened.

Trace commands (``replay``, ``diff``, ``import``, ``scan``, ``redact``) live in ``_cli_traces``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import functools
import importlib
import inspect
import io
import math
import os
import re
import sys
import traceback
import types
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from ._app import App, Function
from ._checks import HookFailed, check_callable
from ._cli_select import add_selection_options, selection
from ._cli_traces import add_trace_commands, check_profile
from ._safe import shown
from ._simulation import DEFAULT_START, Simulation
from ._time import MAX_NS, duration_ns, instant_ns, iso, to_datetime, zone
from ._trace import python_file_said
from .errors import BudgetExceeded, CalendarOverflow, InvalidArgument, JobsimError, PluginError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobsim", description="Simulate background jobs in virtual time.",
                                     epilog="Exit codes: 0 done (same, clean), 1 a replay or diff differs or scan "
                                     "found secrets, 2 a bad argument, file, module or attribute, 130 interrupted. "
                                     "`jobsim COMMAND --help` describes each command.")  # fmt: skip
    parser.add_argument("--version", action="version", version=f"jobsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="simulate an app (and its traffic) and print the timeline")
    run.add_argument(
        "target", help="a module or package path, optionally with :attribute (e.g. examples or app.jobs:app)"
    )
    run.add_argument("--seed", type=int, default=None, help="the simulation's seed (default: the target's, or 0)")
    run.add_argument("--start", default=None,
                     help=f"virtual start time, ISO 8601 (default: the target's, or {DEFAULT_START})")
    run.add_argument("--days", type=_days, default="7", help="how long to simulate (default 7 days; traffic that "
                     "jobsim_traffic plays past it runs to its end)")
    run.add_argument("--profile", default=None,
                     help="the system whose rules to simulate (default: the target's, or inngest), e.g. bullmq or "
                     "'agenda(process_every=1s)'; `jobsim profiles` lists them")  # fmt: skip
    run.add_argument("--tz", default=None,
                     help="time zone of the timeline, and of a --start without an offset (default: the target's, "
                     "or UTC)")  # fmt: skip
    run.add_argument("--no-timeline", action="store_true", help="print only the summary table")
    run.add_argument("--save", metavar="FILE", default=None,
                     help="also save the trace (redacted; .gz: gzip), for `jobsim replay`/`diff`/`show`")  # fmt: skip
    run.add_argument("--no-redact", action="store_true", help="with --save: write the trace as recorded")
    add_selection_options(run, "the target's functions", "instead of its jobsim_options' selection")
    _add_compare(sub)
    add_trace_commands(sub)  # replay, diff, import, scan, redact, show
    _never_fail_to_encode()  # before parse_args: --help and usage errors print too
    args, unknown = parser.parse_known_args(_joined_negative_values(sys.argv[1:] if argv is None else argv))
    if unknown:  # argparse would blame the top-level parser and show its usage: name the command's options
        _unrecognized(sub.choices[args.command], unknown, sub.choices)
    try:
        handler = getattr(args, "handler", None)  # the trace commands name their own
        if handler is not None:
            return int(handler(args))
        if args.command == "compare":
            return _compare(args)
        if args.command == "profiles":
            return _profiles(args)
        return _run(args)
    except OverflowError as exc:  # a cron tick or a zone's wall time past 9999-12-31 or before year 1
        print(f"jobsim: error: a time falls outside the years 1 to 9999 that a datetime can show "
              f"({_overflow_reason(exc)}); start further from those years, or simulate fewer --days", file=sys.stderr)
        return 2
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
    except KeyboardInterrupt:  # Ctrl-C: files are written whole or not at all (trace.save renames a .part)
        print("jobsim: interrupted", file=sys.stderr)
        return 130  # 128 + SIGINT, as a shell reports it


def _overflow_reason(exc: OverflowError) -> str:
    """Python's words for it (``date value out of range``), also inside a ``CalendarOverflow``'s message."""
    text = str(exc)
    if isinstance(exc, CalendarOverflow) and "(" in text:
        return text.rpartition(" (")[2].partition(")")[0]
    return text


_VALUE_FLAGS = frozenset({"--start", "--days", "--seed", "--tolerance", "--until"})


def _joined_negative_values(argv: Sequence[str]) -> list[str]:
    """``--tolerance -1s`` -> ``--tolerance=-1s``, so the value's own check speaks.

    argparse takes any word starting with '-' (but a plain negative number) for an option,
    and would answer ``--tolerance -1s`` with "expected one argument", which names no value.
    """
    out: list[str] = []
    args = list(argv)
    index = 0
    while index < len(args):
        word = args[index]
        if word in _VALUE_FLAGS and index + 1 < len(args) and re.match(r"-[\d.]", args[index + 1]):
            out.append(f"{word}={args[index + 1]}")
            index += 2
            continue
        out.append(word)
        index += 1
    return out


def _unrecognized(command: argparse.ArgumentParser, unknown: list[str],
                  commands: Mapping[str, argparse.ArgumentParser] | None = None) -> None:
    """Exit 2 with the command's usage, naming what it does not take and the option meant, if close
    (or the commands that take it: ``jobsim run --until`` is ``replay``'s option, not a misspelt ``--functions``)."""
    known = [flag for action in command._actions for flag in action.option_strings]
    hints = []
    for word in unknown:
        flag = word.split("=", 1)[0]
        others = [name for name, other in (commands or {}).items() if other is not command
                  and flag in (f for action in other._actions for f in action.option_strings)] if flag.startswith(
                      "--") else []  # fmt: skip
        close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6) if word.startswith("-") else []
        if others:
            hints.append(f"{flag} is an option of {' and '.join(f'`jobsim {name}`' for name in others)}")
        elif close:
            hints.append(f"{flag}: did you mean {close[0]}?")
    command.error(f"unrecognized arguments: {' '.join(unknown)}" + (f" ({'; '.join(hints)})" if hints else "")
                  + f"; `{command.prog} --help` lists its options")  # fmt: skip


def number_or_text(text: str) -> int | float | str:
    """A plain number as a number (seconds, as the Python API reads one), anything else as given."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


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
    module_part, colon, attr = spec.partition(":")
    if not module_part:  # Path("") is the current folder: it would import as a namespace package
        raise JobsimError(f"{spec!r} names no module before ':'; give e.g. app.jobs:app or a folder")
    if colon and not attr:  # `jobs:` would quietly take jobs:jobsim_app or jobs:app
        raise JobsimError(f"{spec!r} names no attribute after ':'; give e.g. {module_part}:app, or {module_part} "
                          "alone for its jobsim_app or app")
    module = _import_module(module_part)
    module_part = module.__name__
    for name in [attr] if attr else ["jobsim_app", "app"]:
        if hasattr(module, name):
            target = getattr(module, name)
            what = f"{module_part}:{name} is"
            if isinstance(target, Function):  # callable, but not a factory: called with no ctx it broke
                raise JobsimError(_a_function_not_its_app(module, spec.partition(":")[0], name, target))
            if _is_pytest_fixture(target):  # called, it raised pytest's "Fixture called directly" (a BaseException)
                apps = _apps_of(module)
                if attr or len(apps) != 1:  # a conftest's `jobsim_app` fixture beside its one `app`: that app is meant
                    raise JobsimError(_a_fixture_not_its_app(module, spec.partition(":")[0], name, apps))
                return module, apps[0]
            if callable(target) and not isinstance(target, App):
                target = _call_factory(f"{module_part}:{name}", target)
                what = f"{module_part}:{name}() returned"
            if target is None or isinstance(target, (str, bytes, int, float, types.ModuleType)):  # no plugin's either
                raise JobsimError(f"{what} {shown(target)}, not an app to simulate; name a jobsim.App (or a "
                                  f"backend's app that a plugin adapts) with {module_part}:attribute")
            return module, target
    wanted = attr or "jobsim_app or app"
    raise JobsimError(f"{module_part!r} has no {wanted} attribute to simulate{_did_you_mean(module, attr)}; name one "
                      f"with {module_part}:attribute{'' if attr else _targets_hint(module, spec)}")  # fmt: skip


def _targets_hint(module: types.ModuleType, spec: str) -> str:
    """For a module with no app: the objects of other libraries it holds (inngest-py's functions and client), which
    a backend plugin may simulate as targets of their own, and how to name them (one, or a list of them all)."""
    found = [name for name, value in vars(module).items() if not name.startswith("_") and _library_object(value)]
    if not found:
        return ""
    jobs = ("function", "task", "job", "actor")
    one = next((name for name in found if any(word in type(vars(module)[name]).__name__.lower() for word in jobs)),
               found[0])  # fmt: skip
    shown_names = ", ".join(found[:6]) + (", ..." if len(found) > 6 else "")
    return (f". It holds objects of other libraries ({shown_names}): a backend's targets that are not one app "
            f"(inngest-py's functions) are named one at a time ({spec}:{one}), or all together as a list the "
            f"module holds (functions = [{', '.join(found[:3])}{', ...' if len(found) > 3 else ''}], then "
            f"{spec}:functions)")


def _library_object(value: Any) -> bool:
    """An instance of a class from an installed library: neither the standard library's nor jobsim's, and no
    module, class or plain function."""
    if isinstance(value, (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)):
        return False
    top = type(value).__module__.partition(".")[0]
    return top not in sys.stdlib_module_names and top not in ("builtins", "jobsim", "__main__") and \
        not top.startswith("_")


def _did_you_mean(module: types.ModuleType, attr: str) -> str:
    """`` (did you mean 'app'?)`` when ``attr`` (``jobs:ap``) is a near miss of one of the module's public names
    (``hooks.near_miss``: a typo, another case, a close misspelling); the modules it imports are no target."""
    from .hooks import near_miss

    names = [name for name, value in vars(module).items()
             if not name.startswith("_") and not isinstance(value, types.ModuleType)]  # fmt: skip
    guess = near_miss(attr, names) if attr else None
    return f" (did you mean {guess!r}?)" if guess is not None else ""


def _is_pytest_fixture(target: Any) -> bool:
    """Whether ``target`` is what ``@pytest.fixture`` returned, without importing pytest: an instance of
    ``_pytest.fixtures.FixtureFunctionDefinition`` (pytest 8.4 and later), or a function that carries a
    ``_pytestfixturefunction`` marker (before). Calling one raises pytest's ``Failed`` ("Fixture ... called
    directly"), a ``BaseException``: only pytest may call it, with the fixtures it asks for."""
    kind = type(target)
    if kind.__name__ == "FixtureFunctionDefinition" and kind.__module__.startswith("_pytest"):
        return True
    return inspect.isfunction(target) and "_pytestfixturefunction" in vars(target)


def _apps_of(module: types.ModuleType) -> list[App]:
    """The apps (``jobsim.App``) the module's public names hold, each once (``app`` imported into a conftest)."""
    apps = {id(value): value for name, value in vars(module).items()
            if isinstance(value, App) and not name.startswith("_")}  # fmt: skip
    return list(apps.values())


def _a_fixture_not_its_app(module: types.ModuleType, typed: str, name: str, apps: list[App]) -> str:
    """``conftest.py:jobsim_app`` is the pytest fixture that gives the app to tests: name the app itself."""
    holders = [attr for attr, value in vars(module).items() if not attr.startswith("_") and any(
        value is app for app in apps)]  # fmt: skip
    fix = (f"name the app instead: {' or '.join(f'{typed}:{attr}' for attr in holders)}" if holders
           else "name the app itself, in the module that defines it (`jobsim run jobs.py:app`, or `--app "
           "jobs.py:app` for `jobsim replay`)")  # fmt: skip
    return (f"{module.__name__}:{name} is a pytest fixture (@pytest.fixture), which only pytest can call, in a "
            f"test that asks for it; {fix}")


def _a_function_not_its_app(module: types.ModuleType, typed: str, name: str, function: Function) -> str:
    """``jobs.py:send_welcome_email`` names one ``@app.function``: say so, and name its app, which is simulated."""
    holders = [attr for attr, value in vars(module).items() if value is function.app and not attr.startswith("_")]
    fix = (f"name its app: {typed}:{holders[0]}" if holders else
           f"name the jobsim.App it belongs to (app {function.app.id!r}), which simulates all its functions")
    return (f"{module.__name__}:{name} is function {function.id!r} of app {function.app.id!r} (what @app.function "
            f"returned), not an app to simulate; {fix} (with --functions {function.id} to simulate it alone)")


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
    except KeyboardInterrupt:  # Ctrl-C: main's "jobsim: interrupted", exit 130
        raise
    except BaseException as exc:  # the user's factory broke: its own words, one line (pytest.fail()/skip() and
        # GeneratorExit too, BaseExceptions that ended jobsim with a traceback and exit 1, read as "differs")
        raise JobsimError(f"calling {where}() failed: {type(exc).__name__}: {exc}") from exc


_MAX_DAYS = 3_652_059  # 0001-01-01 to 9999-12-31: no simulation can run longer


def _days(text: str) -> str:
    """``--days``: kept as typed, so a refusal echoes what the user wrote (``'-1'``, not ``-1.0``), as the
    other flags do; a word that is no number at all is argparse's to refuse, as before."""
    try:
        float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    return text


def _run(args: argparse.Namespace) -> int:
    days = float(args.days)
    if not (math.isfinite(days) and 0 <= days <= _MAX_DAYS):  # duration_ns would speak of seconds
        raise InvalidArgument.build("--days", args.days, f"expected a number of days from 0 to {_MAX_DAYS:,} "
                                    "(virtual time ends at 9999-12-31)")
    if args.no_redact and args.save is None:
        raise JobsimError("--no-redact applies to the trace --save FILE writes; give --save FILE too")
    if args.save is not None:  # `--save ""` (an unset variable in a script) must not skip the save silently
        check_output("--save", args.save, "simulating")
    if args.start is not None:
        check_instant("--start", args.start)
    if args.tz is not None:  # `--tz ""` is refused, not read as UTC
        zone(args.tz, "--tz")  # in the flag's words, not the tz= Simulation would name
    module, target = load_target(args.target)
    options = simulation_options(module)
    chosen = selection(args, target)
    if chosen:  # the command line's selection replaces the module's
        options.pop("functions", None)
        options.pop("exclude_functions", None)
        options.update(chosen)
    if args.seed is not None:
        options["seed"] = args.seed
    if args.start:
        options["start"] = args.start
    if args.tz is not None:
        options["tz"] = args.tz
    if args.profile is not None:
        check_profile(args.profile)
        options["profile"] = args.profile
    if args.start:  # a wall time the zone skips (DST), named as typed
        instant_ns(args.start, "--start", tz=zone(options.get("tz")))
    sim = Simulation(target, **options)
    note = None
    with sim:
        traffic = user_hook(module, "jobsim_traffic", 1, "a function taking the simulation")
        if traffic is not None:
            traffic(sim)  # may itself move the clock through the traffic it plays
            if sim._state == "closed":  # the next driving call said "sim.advance_to() needs a running simulation"
                raise HookFailed(f"{module.__name__}.jobsim_traffic() closed the simulation (sim.close()); jobsim "
                                 "run starts it and closes it after --days: the hook only sends and drives it")
        end = sim.start_ns + duration_ns(days * 86_400, "--days")
        if end > MAX_NS:
            raise InvalidArgument.build("--days", args.days, f"a span that ends by {iso(MAX_NS)}, the last "
                                        f"instant a datetime can show (the simulation starts {iso(sim.start_ns)})")
        if end > sim.kernel.now:
            sim.advance_to(to_datetime(end))
        elif sim.kernel.now > end:  # the traffic drove the clock itself, past --days: say so rather than seem to obey
            note = (f"jobsim: note: {module.__name__}.jobsim_traffic played until {iso(sim.kernel.now)}, past the end "
                    f"--days {args.days} asked for ({iso(end)}): the run covers all the traffic played")
        # the run covers --days: work the traffic queued at its very end is not a test's mistake
        sim._undriven, sim._undriven_runs = None, []
    path = None
    if args.save is not None:  # before printing: piped into `head`, the output stops, the trace is still saved
        path = sim.trace.save(args.save, redact=False if args.no_redact else None)
    if not args.no_timeline:
        print(sim.timeline())
        print()
    print(summary(sim))
    if path is not None:
        print(f"\ntrace saved to {path} ({len(sim.trace)} records{'' if args.no_redact else ', redacted'})")
    if note is not None:
        print(note, file=sys.stderr)
    unmatched = sim.http.unmatched
    if unmatched:  # only the table's failed and http columns told: every run could fail on it unseen
        print(_unmatched_note(module, unmatched), file=sys.stderr)
    return 0


def _unmatched_note(module: types.ModuleType, unmatched: Sequence[Any]) -> str:
    """The note on requests no route answered, the first three named, with the route to add for the first in its
    own method (``sim.http.get('https://...')``: the fix was always ``sim.http.post(url)``, a GET's too). Its URL
    is given without the query, as a route without one answers every query of that URL."""
    from ._http import _route_helper

    first = {f"{r.method} {r.url.copy_with(query=None)}": r for r in reversed(unmatched)}  # each its first request
    shown = sorted(first)
    request = first[shown[0]]
    route = _route_helper(type(request)(request.method, request.url.copy_with(query=None)))
    more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
    return (f"jobsim: note: {len(unmatched)} HTTP request(s) matched no route and failed as on a network error "
            f"({', '.join(shown[:3])}{more}); add routes in {module.__name__}.jobsim_traffic(sim), e.g. "
            f"{route}.respond(200)")


def check_output(flag: str, path: str, before: str) -> None:
    """Refuse a file ``path`` that cannot be written, before minutes of ``before`` are spent.

    ``trace.save`` writes ``<name>.part`` beside it and renames it, so the folder must be writable.
    """
    if not path:
        raise JobsimError(f"{flag} '' names no file; give one, such as 'run.jobsim.jsonl'")
    if path == "-":  # an input of '-' is standard input; a trace is not written to standard output
        raise JobsimError(f"{flag} - would write a file named '-', while '-' as an input means standard input; "
                          f"give a file name, such as 'run.jobsim.jsonl' (or ./- for that file)")  # fmt: skip
    target = Path(path)
    folder = target.resolve().parent
    said = python_file_said(target)  # `--save jobs.py`: the trace would replace the code
    if said is not None:
        raise JobsimError(f"{flag} {path!r} {said} (checked before {before})")
    if target.is_dir():
        raise JobsimError(f"{flag} {path!r} is a folder; give a file in it, such as "
                          f"{str(target / 'run.jobsim.jsonl')!r} (checked before {before})")  # fmt: skip
    if not folder.is_dir():
        raise JobsimError(f"{flag} {path!r}: folder {str(target.parent)!r} does not exist; "
                          f"create it or save elsewhere (checked before {before})")  # fmt: skip
    if not os.access(folder, os.W_OK | os.X_OK):
        raise JobsimError(f"{flag} {path!r}: cannot write into folder {str(target.parent)!r} (permission "
                          f"denied); save elsewhere (checked before {before})")  # fmt: skip


def check_not_input(flag: str, out: str, source: str) -> None:
    """Refuse to write over the file being read: a recording, or a production export, would be gone."""
    if source == "-":  # standard input: no file here is read (./- names a file called '-', which may be written)
        return
    try:
        same = os.path.samefile(out, source)
    except OSError:  # either does not exist (yet): the reader or the writer names it
        return
    if same:
        raise JobsimError(f"{flag} {out!r} is the file being read ({source!r}): writing it would replace the "
                          "original; write to another file (and move it over the original if that is meant)")


def check_instant(flag: str, text: str) -> None:
    """An ISO 8601 instant (the zone is read later: --tz or the target's), in the flag's words."""
    try:
        instant_ns(text, flag, tz=dt.timezone.utc)
    except InvalidArgument:
        raise InvalidArgument.build(flag, text, "an ISO 8601 time such as 2025-03-01T09:00:00Z or "
                                    "2025-03-01T09:00:00-05:00 (without an offset: in --tz)") from None


_OPTIONS = [name for name, p in inspect.signature(Simulation).parameters.items() if p.kind is p.KEYWORD_ONLY]


def simulation_options(module: Any) -> dict[str, Any]:
    """A module's ``jobsim_options``, checked: a mapping of ``Simulation`` keyword arguments."""
    options = getattr(module, "jobsim_options", {})
    where = f"{module.__name__}.jobsim_options"
    if not isinstance(options, Mapping):
        raise InvalidArgument.build(where, options, "a dict of Simulation keyword arguments, such as "
                                    "{'start': '2025-03-03T00:00:00Z', 'tz': 'America/New_York'}")  # fmt: skip
    unknown = [key for key in options if key not in _OPTIONS]
    if unknown:
        raise InvalidArgument(f"{where}: {', '.join(map(repr, unknown))} {'is' if len(unknown) == 1 else 'are'} "
                              f"not a Simulation option; accepted: {', '.join(_OPTIONS)}")  # fmt: skip
    return dict(options)


def user_hook(module: Any, name: str, arity: int, shape: str) -> Callable[..., Any] | None:
    """``module.<name>`` (``jobsim_traffic``, ``jobsim_setup``, ...) checked, and wrapped so that an
    exception it raises is one ``jobsim: error`` line naming the hook and the line, not a traceback."""
    hook = getattr(module, name, None)
    if hook is None:
        return None
    check_callable(f"{module.__name__}.{name}", hook, arity, shape)
    source = getattr(module, "__file__", None)

    @functools.wraps(hook)
    def call(*args: Any) -> Any:
        try:
            return hook(*args)
        except KeyboardInterrupt:  # Ctrl-C: main's "jobsim: interrupted", exit 130
            raise
        except BaseException as exc:  # sys.exit() in a hook ended jobsim with its code and no word, pytest.fail(),
            # pytest.skip() or GeneratorExit with a traceback and exit 1, which CI reads as "a replay differs";
            # a budget the simulation the hook drives ran out of passes (the caller says what that means), and a
            # plugin's error, but a refused jobsim call of the hook's own (sim.send(event, delay='-5s'), `with sim:`
            # on the simulation jobsim run started) is its bug, as any other error of it: job code's refusals fail
            # its runs and never reach here
            if isinstance(exc, (BudgetExceeded, PluginError)):
                raise
            frames = traceback.extract_tb(exc.__traceback__)[1:]  # past this wrapper
            mine = [f for f in frames if f.filename == source] or frames
            at = f" ({Path(mine[-1].filename).name}, line {mine[-1].lineno})" if mine else ""
            raise HookFailed(f"{module.__name__}.{name}() failed: {type(exc).__name__}: {exc}{at}; "
                              "fix it and run again") from exc  # fmt: skip

    return call


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
        if any(counts) or not sim.functions[fn_id].options.get("builtin"):  # a system's own task that never ran: out
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


def _canonical(profile: str) -> str:
    """A profile's name as ``compared_profiles`` gives it (``agenda(process_every=1000ms)`` is
    ``agenda(process_every=1s)``); a name no profile has stays as typed, for the caller's message."""
    from ._profiles import Profiles

    try:
        return Profiles.registered().get(profile).name
    except InvalidArgument:
        return profile


def _compare(args: argparse.Namespace) -> int:
    from ._compare import Scenario, compare, compared_profiles, default_profiles

    spec, _, attr = args.scenario.partition(":")
    module = _import_module(spec)
    if attr and not hasattr(module, attr):
        raise JobsimError(f"{module.__name__!r} has no {attr} attribute{_did_you_mean(module, attr)}; name its "
                          f"jobsim.Scenario (or a list of them), or leave out ':{attr}' to use its `scenario` or "
                          "`scenarios`")  # fmt: skip
    found = getattr(module, attr) if attr else getattr(module, "scenario", None) or getattr(module, "scenarios", None)
    scenarios = found if isinstance(found, (list, tuple)) else [found]
    if attr and not (scenarios and all(isinstance(s, Scenario) for s in scenarios)):  # it named one: say what it is
        raise JobsimError(f"{args.scenario!r} is {shown(found)}, not a jobsim.Scenario (or a list of them); name "
                          "one, or leave out ':" + attr + "' to use the module's `scenario` or `scenarios`")
    if not scenarios or not all(isinstance(s, Scenario) for s in scenarios):
        raise JobsimError(f"{args.scenario!r} defines no jobsim.Scenario: name one `scenario` (or list them in "
                          "`scenarios`), or pick one with path:attribute")  # fmt: skip
    compared = compared_profiles(args.profiles, "--profiles")  # named as typed, before minutes of simulating
    chosen: list[Scenario] = [s for s in scenarios if isinstance(s, Scenario)]  # all are: checked above
    each = [compared if args.profiles is not None else default_profiles(scenario, scenario.seed if args.seed is None
            else args.seed) for scenario in chosen]  # fmt: skip
    if args.timeline is not None and any(_canonical(args.timeline) not in names for names in each):
        shown_names = list(dict.fromkeys(name for names in each for name in names))
        raise InvalidArgument.build("--timeline", args.timeline,
                                    "one of the compared profiles " + ", ".join(map(repr, shown_names)))  # fmt: skip
    for index, (scenario, names) in enumerate(zip(chosen, each, strict=True)):
        result = compare(scenario, names, seed=args.seed)
        print(("\n" if index else "") + result.table())
        if args.timeline:
            outcome = result.of(args.timeline)
            print()
            print(outcome.simulation.timeline() if outcome.simulation else f"{args.timeline}: {outcome.unsupported}")
    return 0


def _import_module(spec: str) -> Any:
    """A module name (``app.jobs``), or a ``.py`` file or a package folder imported as part of its package.

    A file inside a package (a folder with ``__init__.py``) is imported under its full dotted
    name from the folder above the outermost package, as pytest and ``python -m`` would, so its
    relative imports work; its folder goes first on ``sys.path`` so a same-named module
    elsewhere (the current folder) cannot shadow the code named.
    """
    if os.getcwd() not in sys.path and "" not in sys.path:  # `app.jobs` means ./app/jobs.py, as with python -m
        sys.path.insert(0, os.getcwd())
    path = Path(spec)
    if path.exists():
        path = path.resolve()
        if path.is_file() and path.suffix != ".py":
            raise JobsimError(f"{spec}: not a Python file; give a .py file, a package folder or a module name "
                              "such as app.jobs")  # fmt: skip
        root, name = _package_root(path)
        loaded = sys.modules.get(name)
        if loaded is not None and not _loaded_from(loaded, path):  # import_module would answer with that one
            where = getattr(loaded, "__file__", None) or f"{loaded!r}"
            raise JobsimError(f"{spec}: it would import as {name!r}, which is already the module {where} in this "
                              "process; rename the file (or put it in a package)")  # fmt: skip
        sys.path.insert(0, str(root))
    elif spec.endswith(".py") or "/" in spec or os.sep in spec:  # a path, not a module name
        raise JobsimError(f"{spec}: no such file or folder")
    else:
        name = spec
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if spec == "examples" and exc.name == "examples":  # the README's first command, run away from the sources
            raise JobsimError("cannot import 'examples': the seed scenarios are the examples/ folder of jobsim's "
                              "repository and sdist, not part of the installed package; run `jobsim run examples` "
                              "from the root of either") from None  # fmt: skip
        if exc.name is not None and not (name == exc.name or name.startswith(f"{exc.name}.")):
            raise JobsimError(f"importing {name!r} failed: {type(exc).__name__}: {exc}; install what it imports, "
                              "or fix that module, and run again") from exc  # it was found: what it imports was not
        raise JobsimError(f"cannot import {spec!r} ({exc}); give a module path like 'app.jobs' or a folder") from None
    except SystemExit as exc:  # a script's argparse or sys.exit() at import time: it would end jobsim silently
        raise JobsimError(f"importing {name!r} called sys.exit({exc.code!r}); put the code that runs the module as "
                          "a script under `if __name__ == \"__main__\":` and run again") from exc
    except KeyboardInterrupt:  # Ctrl-C while it imports: main's "jobsim: interrupted", exit 130
        raise
    except BaseException as exc:  # the module itself is broken (or a conftest's pytest.importorskip() skipped it,
        # a BaseException that ended jobsim with a traceback and exit 1): say where, with its own words
        raise JobsimError(
            f"importing {name!r} failed: {type(exc).__name__}: {exc}; fix that module and run again"
        ) from exc


def _loaded_from(module: Any, path: Path) -> bool:
    """Whether ``module`` (already in ``sys.modules``) is the file or package folder ``path``."""
    file = getattr(module, "__file__", None)
    if file is not None:
        return Path(file).resolve() in (path, path / "__init__.py")
    return any(Path(folder).resolve() == path for folder in getattr(module, "__path__", ()))


def _package_root(path: Path) -> tuple[Path, str]:
    """The folder to put on ``sys.path`` and the dotted name ``path`` imports as from there."""
    if path.name == "__init__.py":
        path = path.parent
    parts = [path.stem if path.suffix == ".py" else path.name]
    root = path.parent
    while (root / "__init__.py").exists() and root.name.isidentifier():
        parts.insert(0, root.name)
        root = root.parent
    loaded = sys.modules.get(parts[0])
    elsewhere = loaded is not None and not _loaded_from(loaded, root / parts[0])
    if len(parts) > 1 and elsewhere:
        return path.parent, parts[-1]  # its package's name is taken (a folder named `email`): import it alone
    return root, ".".join(parts)


def _profiles(args: argparse.Namespace) -> int:
    from ._profiles import Profiles

    registry = Profiles.registered()
    if args.name is not None:
        profile = registry.get(args.name, "jobsim profiles NAME")
        print(f"{profile.name}: {profile.description}\n")
        print(profile.doc or "(no documentation)")
        return 0
    width = max(len(n) for n in registry.names())
    for name in registry.names():
        print(f"{name.ljust(width)}  {registry.get(name).description}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

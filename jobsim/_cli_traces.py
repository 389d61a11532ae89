"""The trace commands of the ``jobsim`` command line: replay, diff, import, scan, redact, show.

Exit codes CI can use: 0 same / clean, 1 differs / secrets found, 2 a file or an
argument is bad (unreadable trace, newer format, missing app).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ._tracestory import COMPARISONS
from .errors import InvalidArgument, TraceError

if TYPE_CHECKING:
    from ._redact import Redaction

SAME, DIFFERS, BAD = 0, 1, 2


def add_trace_commands(sub: Any) -> None:
    """Register ``replay``, ``diff``, ``import``, ``scan`` and ``redact`` on the main parser."""
    replay = sub.add_parser("replay", help="replay a trace's input events into today's code and compare",
                            description="Feed a trace's input events (or a file of Inngest events / CloudEvents) "
                            "into an app at their recorded virtual times and compare the outcome with the "
                            "recording. Exit 0 same, 1 differs, 2 bad trace or app.")  # fmt: skip
    replay.add_argument("trace", help="a .jobsim.jsonl[.gz] trace, or JSON Lines of Inngest events or CloudEvents")
    replay.add_argument("--app", required=True, metavar="MODULE[:ATTR]",
                        help="the code to replay into (a module's `app`, or module:attribute); the module may "
                        "define jobsim_setup(sim) and jobsim_deliver(sim, event)")  # fmt: skip
    _comparison_options(replay)
    replay.add_argument("--seed", type=int, default=None, help="override the recorded seed")
    replay.add_argument("--profile", default=None, help="override the recorded profile")
    replay.add_argument("--http", choices=("recorded", "routes"), default="recorded",
                        help="answer HTTP calls from the recording (default) or only from the app's routes")
    replay.add_argument("--no-faults", action="store_true", help="do not re-arm faults the recording armed")
    replay.add_argument("--until", default=None, metavar="DURATION", type=_duration,
                        help="keep simulating this long after the trace's end, e.g. 1h or 90 (seconds) "
                        "(events-only files: until idle)")
    replay.add_argument("--out", default=None, metavar="FILE", help="save the replay's own trace (redacted)")
    from ._cli_select import add_selection_options

    add_selection_options(replay, "the app's functions", "instead of the selection the trace recorded")
    replay.set_defaults(handler=_replay)

    diff = sub.add_parser("diff", help="compare two traces function by function",
                          description="Show the first divergence per function between trace A and trace B, "
                          "and a summary. Exit 0 same, 1 differs, 2 bad file.")  # fmt: skip
    diff.add_argument("a", help="the first (expected) trace")
    diff.add_argument("b", help="the second (actual) trace")
    _comparison_options(diff)
    diff.set_defaults(handler=_diff)

    imp = sub.add_parser("import", help="turn a file of Inngest events or CloudEvents into a trace",
                         description="Read Inngest events or CloudEvents (JSON Lines, or a JSON array) into a "
                         "replayable, redacted trace. Exit 0 written, 2 bad file.")  # fmt: skip
    imp.add_argument("events", help="the events file")
    imp.add_argument("-o", "--out", required=True, metavar="FILE", help="the trace to write (.gz: gzip)")
    imp.add_argument("--from", dest="format", choices=("auto", "inngest", "cloudevents"), default="auto",
                     help="the events' format (default auto: each line by its keys)")
    imp.add_argument("--start", default=None, help="virtual start, ISO 8601 (default: the first event's time)")
    imp.add_argument("--tz", default="UTC",
                     help="time zone recorded for the replay, and of a --start without an offset (default UTC)")
    imp.add_argument("--seed", type=int, default=0, help="seed recorded for the replay (default 0)")
    imp.add_argument("--profile", default="inngest", help="profile recorded for the replay (default inngest)")
    imp.add_argument("--no-redact", action="store_true", help="write events as they are (secrets included)")
    imp.add_argument("--skip-invalid", action="store_true",
                     help="skip lines that are not JSON or not valid events, listing them on stderr")
    imp.set_defaults(handler=_import)

    scan = sub.add_parser("scan", help="fail if a trace still holds secret-looking values",
                          description="List every secret-looking value left in trace files (secret headers and "
                          "fields, API keys, tokens, credentials in URLs). Exit 0 clean, 1 found, 2 bad file.")
    scan.add_argument("traces", nargs="+",
                      help="trace files, or folders: their *.jsonl and *.jsonl.gz files, in subfolders too "
                      "(a --jobsim-trace-dir)")  # fmt: skip
    scan.add_argument("--pii", action="store_true",
                      help="also report email addresses at real domains and phone numbers")
    scan.set_defaults(handler=_scan)

    redact = sub.add_parser("redact", help="write a redacted copy of a trace",
                            description="Re-write a trace with the default redaction policy (key from "
                            "JOBSIM_REDACT_KEY); a file of events becomes a redacted trace, as with `jobsim "
                            "import`. Exit 0 written, 2 bad file.")  # fmt: skip
    redact.add_argument("trace", help="a trace, or a file of Inngest events or CloudEvents")
    redact.add_argument("out", help="the redacted copy to write (.gz: gzip)")
    redact.add_argument("--no-pseudonyms", action="store_true", help="drop secrets only; keep personal data")
    redact.set_defaults(handler=_redact)

    show = sub.add_parser("show", help="print the timeline of a trace file",
                          description="Print a trace file as the timeline a failing test shows. Exit 0, 2 bad file.")
    show.add_argument("trace", help="a .jobsim.jsonl[.gz] trace, or a file of Inngest events or CloudEvents")
    show.add_argument("--tz", default=None, help="time zone of the timeline (default: the trace's)")
    show.set_defaults(handler=_show)


def _comparison_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--compare", default="all", metavar="MODES",
                        help=f"comma-separated, from {', '.join(COMPARISONS)} (default: all)")
    parser.add_argument("--ignore", action="append", default=[], metavar="KIND:PATH",
                        help="leave a field out of the comparison, e.g. email:subject, http:request.body.json.ts, "
                        "'*:**.generatedAt' (repeatable)")  # fmt: skip
    parser.add_argument("--tolerance", default="0s", metavar="DURATION", type=_duration,
                        help="how far times may differ for --compare timing, e.g. 500ms or 2 (seconds) (default 0s)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="report format")
    parser.add_argument("--strict", action="store_true", help="unknown record kinds are errors")


def check_profile(name: str | None) -> None:
    """``--profile NAME``: an unknown one is named as the flag the user typed, before anything runs."""
    if name is not None:
        from ._profiles import Profiles

        Profiles.registered().get(name, "--profile")


@contextmanager
def _warnings_to_stderr() -> Iterator[None]:
    """Warnings reading a trace (a cut-off last line, unknown kinds) as ``jobsim: warning: ...`` lines,
    not Python's two-line format quoting jobsim's source; printed as they come, so a warning about the
    input (an import's ``ts`` in seconds, which puts an event in 1970) is read before a long replay of
    it ends, and printed even when an error follows."""

    def show(message: Warning | str, *_: Any, **__: Any) -> None:
        print(f"jobsim: warning: {message}", file=sys.stderr, flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        yield


@contextmanager
def _stdin_or(name: str, command: str) -> Iterator[str | os.PathLike[str]]:
    """``name`` as it is; ``-``: standard input, read whole into a file in a temporary folder, given to the readers
    as a path that every message and warning names ``-`` as typed (the readers take a path: a gzip stream is told
    by its first bytes, and opened again). The working folder stays where it is: it was the temporary folder while
    the command read, for code running meanwhile too (a plugin imported from the working folder)."""
    if name != "-":
        yield name
        return
    stdin = sys.stdin.buffer if sys.stdin is not None and hasattr(sys.stdin, "buffer") else None
    if stdin is None or stdin.isatty():  # it would wait for typing, silently; None: closed (`<&-`)
        state = "closed" if sys.stdin is None else "a terminal" if stdin is not None else "not a byte stream"
        raise InvalidArgument(f"`jobsim {command} -` reads standard input, which is {state} here; pipe a file "
                              f"into it (`gunzip -c t.jsonl.gz | jobsim {command} -`) or give its path")  # fmt: skip
    from ._tracefile import ShownAs

    with tempfile.TemporaryDirectory(prefix="jobsim-stdin-") as folder:
        spooled = os.path.join(folder, "-")  # its name is "-" too: an import's header keeps the file's name
        with open(spooled, "wb") as spool:
            shutil.copyfileobj(stdin, spool)
        yield ShownAs.of(spooled, name)


def _read_stdin(name: str, strict: bool) -> Any:
    """``name`` as it is; ``-`` read into a ``Trace`` (named ``-``)."""
    from ._importing import read_any

    if name != "-":
        return name
    with _stdin_or(name, "diff") as spooled:
        return read_any(spooled, strict=strict)


def _one_stdin(names: list[str], command: str) -> None:
    if names.count("-") > 1:  # standard input is read once: the second would be empty
        raise InvalidArgument(f"`jobsim {command}` got - (standard input) {names.count('-')} times; it can be "
                              "read once: give the other files by their paths")  # fmt: skip


def _duration(text: str) -> int | float | str:
    """A duration flag: a plain number is seconds, as ``Simulation.replay(tolerance=5)`` reads one."""
    from ._cli import number_or_text

    return number_or_text(text)


def _check_flags(args: argparse.Namespace) -> None:
    """``--compare``, ``--ignore``, ``--tolerance`` (and ``replay``'s ``--until``) checked in the flag's words,
    not the keyword the API names."""
    from ._time import duration_ns
    from ._traceignore import Ignore, parse_compare

    parse_compare(args.compare, "--compare")
    for pattern in args.ignore:
        Ignore.parse(pattern, "--ignore")
    duration_ns(args.tolerance, "--tolerance")
    until = getattr(args, "until", None)
    if until is not None:
        duration_ns(until, "--until")


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def _replay(args: argparse.Namespace) -> int:
    from ._cli import check_not_input, check_output, load_target, user_hook
    from ._cli_select import selection
    from ._replay import replay

    _check_flags(args)
    if args.trace == "-":  # the replayed app runs in this process: its own code may read standard input
        raise InvalidArgument("`jobsim replay` reads its trace from a file, not standard input (-): save it to one "
                              "(`cat > trace.jsonl`) and give its path")  # fmt: skip
    if args.out is not None:  # `--out ""` must not skip the save silently
        check_output("--out", args.out, "replaying")
        check_not_input("--out", args.out, args.trace)
    check_profile(args.profile)
    module, target = load_target(args.app)
    chosen = selection(args, target)
    setup = user_hook(module, "jobsim_setup", 1, "a function taking the simulation")
    deliver = user_hook(module, "jobsim_deliver", 2, "a function (sim, event) that sends the event")
    with _warnings_to_stderr():
        try:
            result = replay(
                args.trace, target, compare=args.compare, ignore=args.ignore, tolerance=args.tolerance,
                setup=setup, deliver=deliver,
                http=args.http, faults=not args.no_faults, seed=args.seed, profile=args.profile, until=args.until,
                strict=args.strict, functions=chosen.get("functions"),
                exclude_functions=chosen.get("exclude_functions"),
            )  # fmt: skip
        except InvalidArgument as exc:  # --until past the year 9999: known only once the recording's end is
            if args.until is None or not str(exc).startswith(f"until={args.until!r} is not valid: "):
                raise
            raise InvalidArgument(f"--{exc}") from None
    if args.out is not None:
        result.save(args.out)
    source = getattr(module, "__file__", None) or args.app  # the code replayed: a same-named module may shadow it
    if args.format == "json":
        _print_json({**result.to_dict(), "app": {"spec": args.app, "file": source}})
    else:
        title, _, rest = result.report().partition("\n")
        print(f"{title}\napp: {args.app} from {source}\n{rest}")
        if args.out is not None:
            print(f"\nreplay saved to {args.out}")
    return SAME if result.same else DIFFERS


def _diff(args: argparse.Namespace) -> int:
    from .traces import compare

    _check_flags(args)
    _one_stdin([args.a, args.b], "diff")
    with _warnings_to_stderr():
        a, b = (args.a, args.b) if "-" not in (args.a, args.b) else (_read_stdin(side, args.strict)
                                                                     for side in (args.a, args.b))  # fmt: skip
        result = compare(a, b, compare=args.compare, ignore=args.ignore, tolerance=args.tolerance,
                         strict=args.strict)  # fmt: skip
    if args.format == "json":
        _print_json({"a": args.a, "b": args.b, **result.to_dict()})
    else:
        print(f"jobsim diff  A: {args.a}\n             B: {args.b}")
        print(result.report())
    return SAME if result.same else DIFFERS


def _import(args: argparse.Namespace) -> int:
    from ._cli import check_instant, check_not_input, check_output
    from ._importing import import_events
    from ._time import zone

    check_output("--out", args.out, "importing")
    check_not_input("--out", args.out, args.events)
    if args.start is not None:
        check_instant("--start", args.start)
    zone(args.tz, "--tz")  # in the flag's words, not the tz= import_events would name
    check_profile(args.profile)
    with _warnings_to_stderr(), _stdin_or(args.events, "import") as events:
        trace = import_events(events, format=args.format, start=args.start, tz=args.tz, seed=args.seed,
                              profile=args.profile, skip_invalid=args.skip_invalid)  # fmt: skip
    path = trace.save(args.out, redact=False if args.no_redact else None)
    source = (trace.header or {}).get("source", {})
    skipped = f", {source['skipped']} invalid line(s) skipped" if source.get("skipped") else ""
    print(f"jobsim import: {len(trace)} {source.get('import', '')} event(s) from {args.events}{skipped} -> {path}"
          + ("" if args.no_redact else " (redacted)"))  # fmt: skip
    if not args.no_redact:
        _warn_public_key()
    return SAME


def _warn_public_key(policy: Redaction | None = None) -> None:
    """``import`` and ``redact`` handle real traffic: say so when the fakes come from jobsim's public key."""
    from ._redact import KEY_ENV, Redaction

    policy = policy if policy is not None else Redaction()  # what save(redact=None) uses
    if policy.pseudonymize and policy.resolved_key()[1] == "builtin":
        print(f"jobsim: note: personal data was pseudonymized with jobsim's public built-in key, so anyone "
              f"can recompute the fakes by guessing inputs; for traffic of real people set {KEY_ENV} "
              "to a secret key and run this again", file=sys.stderr)  # fmt: skip


def _scan(args: argparse.Namespace) -> int:
    from ._scan import scan

    found = 0
    paths = _scanned_files(args.traces)
    _one_stdin(paths, "scan")
    for path in paths:
        # a cut gzip: what was readable is reported, and that the rest was not
        with _warnings_to_stderr(), _stdin_or(path, "scan") as name:
            findings = scan(name, pii=args.pii)
        for finding in findings:
            print(f"{path}:{finding}")
        found += len(findings)
    if found:
        what = "secret-looking value(s)" + (" or personal data" if args.pii else "")
        print(f"jobsim scan: {found} {what} in {len(paths)} file(s); redact them: "
              "`jobsim redact TRACE OUT` (or save traces with the default redaction)", file=sys.stderr)  # fmt: skip
        return DIFFERS
    what = "secret-looking values" + (" or personal data" if args.pii else "")
    print(f"jobsim scan: no {what} in {', '.join(paths)}")
    return SAME


_SCANNED = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")


def _scanned_files(given: list[str]) -> list[str]:
    """The files ``jobsim scan`` reads: each file given, and a folder's JSON Lines files (a CI step
    scanning the --jobsim-trace-dir it uploads got 'cannot read it: Is a directory')."""
    paths = []
    for name in given:
        if not os.path.isdir(name):
            paths.append(name)
            continue
        found = sorted(str(p) for p in Path(name).rglob("*") if p.name.endswith(_SCANNED) and p.is_file())
        if not found:
            raise TraceError("a folder with no .jsonl or .jsonl.gz file in it (or in its subfolders): nothing to "
                             "scan", path=name)  # fmt: skip
        paths.extend(found)
    return paths


def _redact(args: argparse.Namespace) -> int:
    from ._cli import check_not_input, check_output
    from ._importing import read_any
    from ._redact import Redaction

    check_output("OUT", args.out, "redacting")
    check_not_input("OUT", args.out, args.trace)
    with _warnings_to_stderr(), _stdin_or(args.trace, "redact") as name:
        trace = read_any(name)  # a file of events too, as `scan` advises for any file it flags
    policy = Redaction(pseudonymize=not args.no_pseudonyms)
    path = trace.save(args.out, redact=policy)
    print(f"jobsim redact: {len(trace)} records -> {path}")
    _warn_public_key(policy)
    return SAME


def _show(args: argparse.Namespace) -> int:
    from ._importing import read_any
    from ._time import zone
    from ._timeline import render_trace
    from ._tracereader import known_kinds_renderers

    with _warnings_to_stderr(), _stdin_or(args.trace, "show") as name:
        trace = read_any(name)
    header = trace.header or {}
    if args.tz is not None:  # `--tz ""` is refused
        tz = zone(args.tz, "--tz")
    else:
        try:
            tz = zone(header.get("tz") or "UTC")
        except InvalidArgument as exc:  # the file's zone, not a --tz the user never gave
            raise TraceError(f"the header's tz {header.get('tz')!r} is not valid here "
                             f"({str(exc).partition(': ')[2]}); show it in another with --tz ZONE",
                             path=args.trace) from None  # fmt: skip
    print(render_trace(trace, tz, seed=header.get("seed", "?"), profile=header.get("profile", "?"),
                       kinds=known_kinds_renderers()))  # fmt: skip
    return SAME

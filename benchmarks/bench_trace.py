"""Trace files: writing and reading a 1,000,000-record trace, against plain JSON Lines.

Workload: a trace in the proportions of the example shop's week (``jobsim run
examples``), built in memory in the form the engine records it, 25 records per
story: 4 events (3 sent in, each with a user's email, name, plan, amount and
items, 20,000 distinct people; 1 emitted by a job), 3 ``run.start``, 9 ``attempt``
(2 failing, one quoting a URL with an ``api_key``, one an email address), a
``retry``, 2 ``http`` records carrying their ``HttpCall`` (a bearer token, JSON
request and response bodies), an ``email`` carrying its ``Email``, a ``sleep``,
3 ``run.end`` with outputs as JSON bytes, and an ``advance``. HTTP calls and
emails cycle through 1,000 distinct objects each.

Variants, in the same process, interleaved:

- ``jobsim save``: ``trace.save(path)`` with the default redaction (secrets dropped,
  people pseudonymized): canonical form, CloudEvents, HTTP/email summaries,
  redaction, orjson, the header and end lines;
- ``jobsim save, secrets only``: ``redact=Redaction(pseudonymize=False)``;
- ``jobsim save, redact=False``: the same without the redaction passes;
- ``..., 2 processes``: each of the three with ``workers=2``: once the canonical forms are made, a forked
  child learns (the redaction's first pass), redacts and encodes the second part of the records while this
  process does the first, the two exchanging what they learned (since session 20), then this process copies
  the child's lines in (the three above are ``workers=1``, one process, as before session 19); the CPU time
  of each side and the load average are printed after the table;
- ``jobsim load``: ``jobsim.Trace.load(path)``: streamed, validated, decoded, with
  nothing frozen in the process (see below);
- ``jobsim load, caller froze objects``: the same while the fixtures stay frozen, so
  ``load`` leaves its records in the young generation (it never unfreezes what others
  froze) and the first collection after it walks them;
- ``orjson``: the same lines (the dicts ``jobsim save`` wrote, precomputed) dumped
  one per line with orjson, and read back with ``orjson.loads`` per line: the
  floor for JSON Lines in Python; read once as is and once with the cyclic garbage
  collector paused; and ``orjson read, by block`` as ``jobsim load`` parses: 64 KiB
  of lines as one JSON array per ``orjson.loads``, the collector handled as ``load`` does;
- ``json``: the same with the standard library (``separators=(",", ":")``).

Target (issue #6): writing and reading 1,000,000 records each under 3 s here.

The trace and the baselines' million dicts are built first and ``gc.freeze()``-d, so
the garbage collector does not walk them over and over while variants run (it still
collects what each variant allocates, as in a real process). ``jobsim load`` and
``orjson read, by block`` run with them unfrozen (``gc.unfreeze()`` before, ``gc.freeze()``
after, both untimed): ``load`` moves what it read to the oldest generation only when
nothing is frozen, which is the case in a process that never called ``gc.freeze()``.

    python benchmarks/bench_trace.py                # 1,000,000 records
    python benchmarks/bench_trace.py --quick        # 100,000 records
    python benchmarks/bench_trace.py --records 300000 --repeat 5
    python benchmarks/bench_trace.py --quick --scan  # a byte-level redactor's floor, see scan_floor

``--scan`` times, instead of the table above, what a redactor working on the encoded bytes
would pay at the least (``scan_floor``).
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common

sys.path.insert(1, str(_common.REPO_ROOT))  # time this checkout's jobsim, not an installed one

import httpx
import orjson

SECOND = 1_000_000_000
START_NS = 1_740_960_000 * SECOND  # 2025-03-03T00:00:00Z
PEOPLE = 20_000
POOL = 1_000
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "John"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Backus"]


def person(i: int, names: tuple[list[str], list[str]] = (FIRST, LAST)) -> dict[str, Any]:
    first, last = names[0][i % 10], names[1][(i // 10) % 10]
    return {"userId": f"user_{i:05d}", "email": f"{first}.{last}{i}@gmail.com".lower(), "name": f"{first} {last}"}


def calls(pool: int = POOL, names: tuple[list[str], list[str]] = (FIRST, LAST)) -> list[Any]:
    from jobsim._http import HttpCall

    out = []
    for i in range(pool):
        who = person(i, names)
        request = httpx.Request("POST", f"https://crm.example.com/contacts?api_key=k3y{i}&source=web",
                                json={"email": who["email"], "name": who["name"], "plan": "pro"},
                                headers={"Authorization": f"Bearer sk_live_{i:024d}"})  # fmt: skip
        response = httpx.Response(200, json={"contact": i, "status": "subscribed"}, request=request)
        out.append(HttpCall(request=request, response=response, at=dt.datetime(2025, 3, 3, tzinfo=dt.timezone.utc)))
    return out


def emails(pool: int = POOL, names: tuple[list[str], list[str]] = (FIRST, LAST)) -> list[Any]:
    from jobsim._email import Email

    out = []
    for i in range(pool):
        who = person(i, names)
        out.append(Email(sender="hello@acme.test", to=[who["email"]], subject=f"Welcome, {who['name']}!",
                         text=f"Hi {who['name']}, your order is on its way.", html=f"<p>Hi {who['name']}</p>",
                         sent_at=dt.datetime(2025, 3, 3, tzinfo=dt.timezone.utc), provider="resend",
                         message_id=f"msg-{i}"))  # fmt: skip
    return out


def build(records: int, *, people: int = PEOPLE, pool: int = POOL,
          names: tuple[list[str], list[str]] = (FIRST, LAST)) -> Any:  # fmt: skip
    """A trace of ``records`` records, in the live form the engine appends.

    25 records per story, in the proportions of the example shop's week
    (``jobsim run examples``): 36% attempts, 16% events, 12% run starts, 12% run
    ends, 8% HTTP calls, 4% emails, 4% each sleeps, retries and clock advances.
    ``people`` distinct people, ``pool`` distinct HTTP calls and emails, names drawn
    from ``names`` (first, last): the redaction tests build a small one with their own
    (``tests/_redactcorpus.py``).
    """
    from jobsim import Trace

    trace = Trace()
    add = trace.add
    pool_calls, pool_emails = calls(pool, names), emails(pool, names)
    items = [{"sku": "tee", "qty": 1, "price": 24.0}, {"sku": "mug", "qty": 2, "price": 9.25}]
    for story in range(records // 25):
        at = START_NS + story * SECOND
        who = person(story % people, names)
        runs = [f"run_{story:08d}_{k}" for k in range(3)]
        for k, name in enumerate(("user/created", "order/placed", "cart/abandoned")):
            data = {**who, "plan": "pro", "amount": 42.5 + story % 7, "items": items}
            add(at, "event", {"name": name, "id": f"evt_{story}_{k}", "data": data, "ts": at // 1_000_000,
                              "origin": "input"})  # fmt: skip
            add(at, "run.start", {"function": f"fn-{k}", "run": runs[k], "n": story + 1, "event": name})
        url = f"https://crm.example.com/contacts?api_key=k3y{story}&source=web"
        error = f"HTTPStatusError: Server error '503' for url '{url}'"
        add(at, "attempt", {"function": "fn-0", "run": runs[0], "step": "crm", "attempt": 0, "error": error})
        add(at, "retry", {"function": "fn-0", "run": runs[0], "step": "crm", "attempt": 1, "at": at + SECOND,
                          "delay": SECOND})  # fmt: skip
        for k, step in enumerate(("crm", "mail", "pause", "reserve", "charge", "ship", "notify", "track")):
            fields = {"function": f"fn-{k % 3}", "run": runs[k % 3], "step": step, "attempt": 0}
            if k == 4:
                fields["error"] = f"RuntimeError: card declined for {who['email']}"
            add(at, "attempt", fields)
        for k in range(2):
            call = pool_calls[(2 * story + k) % pool]
            add(at, "http", {"method": "POST", "url": str(call.request.url), "status": 200, "call": call,
                             "function": f"fn-{k}", "run": runs[k]})  # fmt: skip
        email = pool_emails[story % pool]
        add(at, "email", {"provider": "resend", "to": list(email.to), "subject": email.subject,
                          "message_id": email.message_id, "email": email, "function": "fn-0", "run": runs[0]})
        add(at, "sleep", {"function": "fn-0", "run": runs[0], "step": "pause", "until": at + 3600 * SECOND})
        add(at, "event", {"name": "user/welcomed", "id": f"emit_{story}", "data": {"email": who["email"]},
                          "ts": at // 1_000_000, "origin": "job", "function": "fn-0", "run": runs[0]})  # fmt: skip
        for k in range(3):
            add(at, "run.end", {"function": f"fn-{k}", "run": runs[k], "status": "completed",
                                "output": orjson.dumps({"contact": story, "email": who["email"]})})  # fmt: skip
        add(at, "advance", {"until": at + SECOND, "idle": False})
    return trace


def main() -> None:
    cli = _common.parser("writing and reading a 1,000,000-record trace")
    cli.add_argument("--records", type=int, default=1_000_000, help="records in the trace")
    cli.add_argument("--scan", action="store_true", help="time the byte scans a redactor of encoded lines needs")
    args = _common.parse(cli)
    n = 100_000 if args.quick else args.records
    _common.banner("orjson", "faker")
    if args.scan:
        scan_floor(build(n), args.repeat)
        return
    import jobsim
    from jobsim import traces
    from jobsim._gc import paused_gc
    from jobsim._tracelines import lines
    from jobsim._tracereader import _BLOCK, loading_gc

    print(f"# jobsim from {jobsim.__file__}")
    trace = build(n)
    folder = Path(tempfile.mkdtemp(prefix="bench_trace_"))
    redacted, plain = folder / "redacted.jobsim.jsonl", folder / "plain.jobsim.jsonl"
    trace.save(redacted)  # check run, untimed: the file reads back whole and scans clean
    loaded = jobsim.Trace.load(redacted)
    assert len(loaded) == n == len(trace), (len(loaded), n)
    assert traces.scan(redacted) == [], "a secret reached the file"
    size = os.path.getsize(redacted)
    written = [orjson.loads(line) for line in redacted.read_bytes().splitlines()]
    print(f"# {n:,} records, {size / 1e6:.0f} MB redacted ({size / n:.0f} B/record); medians of {args.repeat} rounds")
    del loaded
    assert sum(1 for _ in lines(trace)) == n

    secrets_only = jobsim.Redaction(pseudonymize=False)

    def orjson_write() -> None:
        dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        with open(folder / "orjson.jsonl", "wb") as f:
            for start in range(0, len(written), 4096):  # in chunks, as jobsim writes
                f.write(b"".join([dumps(d, option=option) for d in written[start : start + 4096]]))

    def json_write() -> None:
        dumps = json.dumps
        with open(folder / "json.jsonl", "w") as f:
            f.writelines(dumps(d, separators=(",", ":")) + "\n" for d in written)

    def orjson_read() -> list[Any]:
        loads = orjson.loads
        with open(redacted, "rb") as f:
            return [loads(line) for line in f]

    def orjson_read_gc_paused() -> list[Any]:
        with paused_gc():  # what jobsim load does
            return orjson_read()

    def orjson_read_blocks() -> list[Any]:
        loads, out, rest = orjson.loads, [], b""
        with loading_gc(), open(redacted, "rb") as f:  # what jobsim load does, without checking or decoding
            while True:
                data = f.read(_BLOCK)
                chunk = rest + data
                cut = chunk.rfind(b"\n") + 1
                if cut:
                    out += loads(b"".join((b"[", chunk[: cut - 1].replace(b"\n", b"\n,"), b"]")))
                rest = chunk[cut:]
                if not data:
                    return out

    def json_read() -> list[Any]:
        loads = json.loads
        with open(redacted, "rb") as f:
            return [loads(line) for line in f]

    def unfrozen(run: Callable[[], float]) -> Callable[[], float]:
        """``run`` with the fixtures unfrozen (untimed), as in a process that froze nothing."""

        def wrapped() -> float:
            gc.unfreeze()
            try:
                return run()
            finally:
                gc.freeze()

        return wrapped

    cpu: dict[str, list[tuple[float, float, float]]] = {}

    def on_cpu(name: str, save: Callable[[], object]) -> Callable[[], float]:
        """``save`` timed, noting the CPU time of this process and of the children it forked, and the load."""

        def run() -> float:
            before = os.times()
            elapsed = _common.timed(save)()
            after = os.times()
            children = after.children_user + after.children_system - before.children_user - before.children_system
            cpu.setdefault(name, []).append((after.user + after.system - before.user - before.system,
                                             max(children, 0.0), os.getloadavg()[0]))
            return elapsed

        return run

    variants = {
        "jobsim save": on_cpu("jobsim save", lambda: trace.save(redacted, workers=1)),
        "jobsim save, 2 processes": on_cpu("jobsim save, 2 processes", lambda: trace.save(redacted, workers=2)),
        "jobsim save, secrets only": on_cpu("jobsim save, secrets only",
                                            lambda: trace.save(plain, redact=secrets_only, workers=1)),
        "jobsim save, secrets only, 2 processes": on_cpu("jobsim save, secrets only, 2 processes",
                                                         lambda: trace.save(plain, redact=secrets_only, workers=2)),
        "jobsim save, redact=False": on_cpu("jobsim save, redact=False",
                                            lambda: trace.save(plain, redact=False, workers=1)),
        "jobsim save, redact=False, 2 processes": on_cpu("jobsim save, redact=False, 2 processes",
                                                         lambda: trace.save(plain, redact=False, workers=2)),
        "jobsim load": unfrozen(_common.timed(lambda: jobsim.Trace.load(redacted))),
        "jobsim load, caller froze objects": _common.timed(lambda: jobsim.Trace.load(redacted)),
        "orjson write": _common.timed(orjson_write),
        "orjson read": _common.timed(orjson_read),
        "orjson read, gc paused": _common.timed(orjson_read_gc_paused),
        "orjson read, by block": unfrozen(_common.timed(orjson_read_blocks)),
        "json write": _common.timed(json_write),
        "json read": _common.timed(json_read),
    }
    # The fixtures (the trace, the baselines' million dicts) are not what is measured:
    # keep the collector from walking them again and again while each variant runs.
    gc.collect()
    gc.freeze()
    samples = _common.interleaved(variants, repeat=args.repeat)
    med = {name: _common.median(times) for name, times in samples.items()}
    rows = []
    for name, floor, stdlib in (("jobsim save", "orjson write", "json write"),
                                ("jobsim save, 2 processes", "orjson write", "json write"),
                                ("jobsim save, secrets only", "orjson write", "json write"),
                                ("jobsim save, secrets only, 2 processes", "orjson write", "json write"),
                                ("jobsim save, redact=False", "orjson write", "json write"),
                                ("jobsim save, redact=False, 2 processes", "orjson write", "json write"),
                                ("jobsim load", "orjson read, gc paused", "json read"),
                                ("jobsim load, caller froze objects", "orjson read, gc paused", "json read")):
        rows.append([name, _common.fmt_time(med[name]), f"{n / med[name] / 1e3:.0f}k/s",
                     _common.fmt_ratio(med[name] / med[floor]), _common.fmt_ratio(med[name] / med[stdlib]),
                     "yes" if med[name] * 1_000_000 / n < 3.0 else "no"])  # fmt: skip
    for name in ("orjson write", "orjson read", "orjson read, gc paused", "orjson read, by block", "json write",
                 "json read"):
        rows.append([name, _common.fmt_time(med[name]), f"{n / med[name] / 1e3:.0f}k/s", "", "", ""])
    target = "< 3 s" if n == 1_000_000 else "< 3 s per 1M (linear)"
    _common.print_table(["variant", "median", "records/s", "/ orjson", "/ json", target], rows)
    print("\n# CPU time of each save (this process, the children it forked) and the 1-minute load, every round:")
    for name, noted in cpu.items():
        print(f"#   {name}: " + ", ".join(f"{own:.2f} + {children:.2f} s (load {load:.1f})"
                                       for own, children, load in noted))  # fmt: skip
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


def scan_floor(trace: Any, repeat: int) -> None:
    """What redacting the encoded lines with C-level ``re`` passes would cost at the least, against what the
    redaction costs today (the default save less the unredacted one), CPU time, interleaved.

    Such a redactor dumps every record unredacted and rewrites only the matches, so it has to scan all the
    bytes for what the object walk looks for in the strings it has not met before: an address (``@``,
    ``%40``), a credential's trigger (``_secrets.TRIGGER``, the literals ``drop_secrets`` scans for), a word of
    a learned name (the ones this trace's first pass learns) and a phone number's start (``PHONE_HINT``). Each
    pass is timed alone (``findall`` over the whole unredacted file, no callback, nothing rewritten), then
    the four as one alternation, and a ``search`` of that alternation per line (sorting the lines that need
    the walk from those that do not). The saves write to ``/dev/null``.
    """
    import time

    from jobsim import Redaction
    from jobsim._tracefile import write

    data, compiled = scan_passes(trace)
    lines = data.splitlines(keepends=True)

    def on_cpu(fn: Callable[[], object]) -> Callable[[], float]:
        def run() -> float:
            start = time.process_time()
            fn()
            return time.process_time() - start

        return run

    def save(policy: Redaction | None) -> Callable[[], float]:
        def run() -> None:
            with open(os.devnull, "wb") as out:
                write(trace, out, policy)

        return on_cpu(run)

    variants = {"jobsim save": save(Redaction()), "jobsim save, redact=False": save(None)}
    for name, pattern in compiled.items():
        variants[f"findall: {name}"] = on_cpu(lambda pattern=pattern: pattern.findall(data))
    one = compiled["the four in one"].search
    variants["search per line: the four in one"] = on_cpu(lambda: [line for line in lines if one(line)])
    gc.collect()
    gc.freeze()
    med = {name: _common.median(times) for name, times in _common.interleaved(variants, repeat=repeat).items()}
    redaction = max(med["jobsim save"] - med["jobsim save, redact=False"], 1e-9)  # a tiny trace's noise: no 0
    print(f"# {len(trace):,} records, {len(data) / 1e6:.1f} MB unredacted; "
          f"CPU time, medians of {repeat} rounds; load now {os.getloadavg()[0]:.1f}")
    rows = [[name, _common.fmt_time(med[name]), _common.fmt_ratio(med[name] / redaction)] for name in variants]
    rows.insert(2, ["the redaction (the two saves' difference)", _common.fmt_time(redaction), "1.00x"])
    _common.print_table(["CPU time of", "median", "/ the redaction"], rows)


def scan_passes(trace: Any) -> tuple[bytes, dict[str, Any]]:
    """``scan_floor``'s input and passes: the unredacted file's bytes, and each pattern compiled for bytes (the
    learned name words are those the redaction's first pass learns from ``trace``)."""
    import re

    from jobsim import Redaction
    from jobsim._codec import expanders
    from jobsim._secrets import PHONE_HINT, TRIGGER
    from jobsim._tracefile import write
    from jobsim._tracelines import _first_pass

    buffer = io.BytesIO()
    write(trace, buffer, None)
    learner = Redaction().redactor(())
    _first_pass(trace, learner, expanders(), 0, len(trace._rows))
    words = sorted(learner._words, key=len, reverse=True)
    passes = {"@ or %40": rb"@|%40", "secret triggers": TRIGGER.pattern.encode(),
              "learned name words": rb"\b(?:" + b"|".join(re.escape(w.encode()) for w in words) + rb")\b",
              "phone hints": PHONE_HINT.pattern.encode()}  # fmt: skip
    passes["the four in one"] = b"|".join(passes.values())
    return buffer.getvalue(), {name: re.compile(pattern) for name, pattern in passes.items()}


if __name__ == "__main__":
    main()

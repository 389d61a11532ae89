"""The options of the profiles that take some: ``jobsim.profile("agenda", process_every="1s")`` and
``jobsim.profile("node-cron", no_overlap=True, tasks={...})``.

Each ``configure`` reads its options (also as a profile name's text, ``"agenda(process_every=1s)"``),
refuses unknown ones naming those it takes, and builds the variant profile, named ``NAME(option=value, ...)``
with the options at the system's defaults left out (``Profile.configure``, ``Profiles.configure``).
"""

from __future__ import annotations

import ast
import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from ._polling import process_every_ns, whole_ms_ns
from ._profiles import CronTask, Profile
from ._safe import shown
from ._time import duration_ns, format_duration
from .errors import InvalidArgument

Named = list[tuple[str, str]]
"""The options a variant was made with, as its name shows them (``("process_every", "1s")``)."""


def agenda_configure(root: Profile, options: dict[str, Any]) -> Profile:
    """``jobsim.profile("agenda", process_every=..., default_concurrency=..., max_concurrency=...)``: the
    ``new Agenda({...})`` options of those names (index.ts DefaultOptions 28-37, config 280-282; the setters
    ``agenda.processEvery(...)``, ``maxConcurrency(...)``, ``defaultConcurrency(...)``, 398-427).
    ``process_every`` sets the poll grid (``_polling.py``) and the polls that re-lock a crashed job whose
    lock expired (``CrashRule.scan_ns``); the other two set ``Profile.default_concurrency`` (a definition
    without ``concurrency``) and ``max_concurrency`` (every job of the process). Options at Agenda's
    defaults are left out of the variant's name."""
    _refuse_unknown_agenda(options)
    named: Named = []
    profile = root
    if "process_every" in options:
        profile = _with_poll(root, profile, process_every_ns(options["process_every"]), named)
    for option, said in (("default_concurrency", "{} jobs of a name"), ("max_concurrency", "{} in all")):
        if option in options:
            limit = _concurrency_option(option, options[option])
            profile = _with_concurrency(root, profile, option, limit, said, named)
    return _variant(root, profile, named)


def inngest_configure(root: Profile, options: dict[str, Any]) -> Profile:
    """``jobsim.profile("inngest", request_timeout=...)``: the longest Inngest waits for one request to the SDK
    (``Profile.request_timeout_ns``; 2 h, ``consts.MaxFunctionTimeout``), a duration (``"30m"``, seconds as a
    number, a ``timedelta``) or ``None`` (also ``"none"`` in a profile's name) for no limit. At 2 h it is the
    profile itself, named ``inngest``."""
    unknown = sorted(set(options) - {"request_timeout"})
    if unknown:
        raise InvalidArgument(f"profile {root.name!r} has no option {', '.join(map(shown, unknown))}; it takes "
                              "request_timeout (the longest Inngest waits for one request to your SDK: a duration "
                              "such as '30m', default '2h', or None for no limit)")  # fmt: skip
    if "request_timeout" not in options:
        return root
    ns = _request_timeout_ns(options["request_timeout"])
    if ns == root.request_timeout_ns:
        return root
    shown_ns = "none" if ns is None else format_duration(ns)
    described = root.description + ("; no limit on one request" if ns is None else
                                     f"; one request waits at most {shown_ns}")  # fmt: skip
    return _variant(root, dataclasses.replace(root, request_timeout_ns=ns, description=described),
                    [("request_timeout", shown_ns)])


def _request_timeout_ns(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    try:
        return duration_ns(value, "request_timeout", allow_zero=False)
    except InvalidArgument:
        raise InvalidArgument.build("request_timeout", value, "a duration such as '30m' or '2h' (seconds as a "
                                    "number, a timedelta), or None for no limit") from None


def _refuse_unknown_agenda(options: dict[str, Any]) -> None:
    unknown = sorted(set(options) - set(_AGENDA_OPTIONS))
    if not unknown:
        return
    theirs = [name for name in unknown if name in _NODE_CRON_OPTIONS]
    why = (f" ({', '.join(theirs)}: node-cron's task option{'s' if len(theirs) > 1 else ''}; an Agenda job is "
           "locked while it runs, so its runs never overlap, and every() has no run limit)") if theirs else ""
    raise InvalidArgument(f"profile 'agenda' has no option {', '.join(map(shown, unknown))}{why}; it takes "
                          "process_every (Agenda's processEvery: a duration such as '1s', default '5s'), "
                          "default_concurrency (defaultConcurrency: an int >= 1, default 5) and "
                          "max_concurrency (maxConcurrency: an int >= 1, default 20)")  # fmt: skip


def _with_poll(root: Profile, profile: Profile, ns: int, named: Named) -> Profile:
    """``process_every``: the poll grid, and the polls that re-lock a crashed job (``CrashRule.scan_ns``)."""
    if ns == root.poll_ns:
        return profile
    every = format_duration(ns)
    named.append(("process_every", every))
    described = profile.description.replace(f"polls every {format_duration(root.poll_ns)}", f"polls every {every}")
    return dataclasses.replace(profile, poll_ns=ns, crash=dataclasses.replace(root.crash, scan_ns=ns),
                               description=described)


def _with_concurrency(root: Profile, profile: Profile, option: str, limit: int, said: str,
                      named: Named) -> Profile:
    """``default_concurrency`` or ``max_concurrency`` (the Profile fields of those names) at ``limit``."""
    before = getattr(root, option)
    if limit == before:
        return profile
    named.append((option, str(limit)))
    described = profile.description.replace(said.format(before), said.format(limit))
    if option == "default_concurrency":
        return dataclasses.replace(profile, description=described, default_concurrency=limit)
    return dataclasses.replace(profile, description=described, max_concurrency=limit)


def _variant(root: Profile, profile: Profile, named: Named) -> Profile:
    """``profile`` named ``ROOT(option=value, ...)`` after the options that made it; ``root`` if none did."""
    if not named:
        return root
    return dataclasses.replace(profile, name=f"{root.name}({', '.join(f'{k}={v}' for k, v in named)})",
                               options=tuple(named))


_AGENDA_OPTIONS = ("process_every", "default_concurrency", "max_concurrency")


def _concurrency_option(option: str, value: Any) -> int:
    """An int >= 1, also as the text of a profile name (``"agenda(max_concurrency=50)"``)."""
    limit = value
    if isinstance(value, str) and value.strip().isdigit():
        limit = int(value)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        agenda = {"default_concurrency": "defaultConcurrency, default 5", "max_concurrency": "maxConcurrency, "
                  "default 20"}[option]  # fmt: skip
        raise InvalidArgument.build(option, value, f"a whole number of jobs >= 1 (Agenda's {agenda})")
    return limit


_NODE_CRON_OPTIONS = ("no_overlap", "max_executions", "max_random_delay", "tasks")
_TASK_OPTIONS = {"no_overlap": "noOverlap", "max_executions": "maxExecutions", "max_random_delay": "maxRandomDelay"}
_TAKES = ("no_overlap (noOverlap: True or False, default False), max_executions (maxExecutions: an int >= 1, or 0 "
          "for no limit, the default) and max_random_delay (maxRandomDelay: a duration in whole milliseconds such "
          "as '5s', default 0)")  # fmt: skip


def node_cron_configure(root: Profile, options: dict[str, Any]) -> Profile:
    """``jobsim.profile("node-cron", no_overlap=..., max_executions=..., max_random_delay=..., tasks=...)``: the
    ``TaskOptions`` of those names (``noOverlap``, default false; ``maxExecutions``, default none;
    ``maxRandomDelay``, default 0), given to every ``cron.schedule`` (``Profile.cron_no_overlap``,
    ``cron_max_runs``, ``cron_jitter_ns``; ``_nodetask.py``), and ``tasks``: per function id, those options for
    its schedules alone, over the others (``Profile.cron_tasks``). Options at node-cron's defaults are left out
    of the variant's name; ``tasks`` is named as JSON, function ids and options sorted."""
    unknown = sorted(set(options) - set(_NODE_CRON_OPTIONS))
    if unknown:
        raise InvalidArgument(f"profile 'node-cron' has no option {', '.join(map(repr, unknown))}"
                              f"{_unknown_why(unknown, agenda=True)}; it takes {_TAKES}, and tasks (per function "
                              "id, those options for its cron schedules alone: tasks={'nightly-report': "
                              "{'no_overlap': True}})")  # fmt: skip
    named: Named = []
    profile = _with_task_options(root, _task_values({k: v for k, v in options.items() if k != "tasks"}, ""), named)
    tasks = _tasks(options.get("tasks", {}))
    if tasks:
        named.append(("tasks", _tasks_text(tasks)))
        profile = dataclasses.replace(profile, cron_tasks={fn: _cron_task(values) for fn, values in tasks.items()},
                                      description=profile.description + "; per task: " + "; ".join(
                                          f"{fn} {_described(values)}" for fn, values in tasks.items()))
    return _variant(root, profile, named)


def _with_task_options(profile: Profile, given: dict[str, int], named: Named) -> Profile:
    """The task options every cron schedule gets (``Profile.cron_no_overlap``, ``cron_max_runs``,
    ``cron_jitter_ns``), those at node-cron's defaults left out."""
    if given.get("no_overlap"):
        named.append(("no_overlap", "true"))
        profile = dataclasses.replace(profile, cron_no_overlap=True, description=profile.description + "; noOverlap")
    if given.get("max_executions"):
        limit = given["max_executions"]
        named.append(("max_executions", str(limit)))
        profile = dataclasses.replace(profile, cron_max_runs=limit,
                                      description=profile.description + f"; maxExecutions {limit}")
    if given.get("max_random_delay"):
        text = format_duration(given["max_random_delay"])
        named.append(("max_random_delay", text))
        profile = dataclasses.replace(profile, cron_jitter_ns=given["max_random_delay"],
                                      description=profile.description + f"; maxRandomDelay {text}")
    return profile


def _unknown_why(unknown: list[str], agenda: bool) -> str:
    """Why options node-cron's configuration lacks are not there, or how to write them."""
    camel = {theirs: ours for ours, theirs in _TASK_OPTIONS.items()}
    if any(name in camel for name in unknown):
        return " (write " + ", ".join(camel[name] for name in unknown if name in camel) + ")"
    if agenda and any(name in _AGENDA_OPTIONS for name in unknown):
        return " (Agenda's; node-cron has no poll and no concurrency limit)"
    if not agenda and "tasks" in unknown:
        return " (tasks= is the profile's own option, not a task's)"
    return (" (timezone is tz= on the function; name is only a label; missedExecutionTolerance and distributed are "
            "not simulated)")  # fmt: skip


def _task_values(options: Mapping[str, Any], prefix: str) -> dict[str, int]:
    """The task options given, read: ``no_overlap`` a bool, ``max_executions`` an int, ``max_random_delay`` ns.
    ``prefix`` names them in errors (``tasks['report']``; "": the profile's own)."""
    values: dict[str, int] = {}
    for option, theirs in _TASK_OPTIONS.items():
        if option not in options:
            continue
        name, value = (f"{prefix}[{option!r}]" if prefix else option), options[option]
        if option == "no_overlap":
            values[option] = _flag(name, value, theirs)
        elif option == "max_executions":
            values[option] = _max_executions(name, value)
        else:
            values[option] = _random_delay(name, value)
    return values


def _tasks(value: Any) -> dict[str, dict[str, int]]:
    """``tasks=``: function id -> its options (``_task_values``), both sorted; a function given none is left
    out. As text (a profile name's), JSON or a Python literal."""
    accepted = ("a dict of function id to that function's task options, e.g. {'nightly-report': {'no_overlap': "
                "True, 'max_executions': 3}} (JSON in a profile name)")  # fmt: skip
    tasks = _literal(value, accepted) if isinstance(value, str) else value
    if not isinstance(tasks, Mapping):
        raise InvalidArgument.build("tasks", value, accepted)
    for fn_id in tasks:
        if not isinstance(fn_id, str) or not fn_id.strip():
            raise InvalidArgument.build("tasks", value, f"{accepted}; {shown(fn_id)} is not a function id (a non-empty "
                                                        "string)")  # fmt: skip
    parsed = {}
    for fn_id in sorted(tasks):
        own = tasks[fn_id]
        if not isinstance(own, Mapping):
            raise InvalidArgument.build(f"tasks[{fn_id!r}]", own, "a dict of task options such as {'no_overlap': "
                                                                  "True}: " + _TAKES)  # fmt: skip
        unknown = sorted(set(own) - set(_TASK_OPTIONS), key=shown)  # shown: a key whose repr raises is named too
        if unknown:
            raise InvalidArgument(f"tasks[{fn_id!r}] has no option {', '.join(map(shown, unknown))}"
                                  f"{_unknown_why(unknown, agenda=False)}; a task takes {_TAKES}")  # fmt: skip
        values = _task_values(own, f"tasks[{fn_id!r}]")
        if values:
            parsed[fn_id] = values
    return parsed


def _literal(text: str, accepted: str) -> Any:
    """``tasks=`` as a profile name writes it: JSON, or a Python literal."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise InvalidArgument.build("tasks", text, accepted) from None


def _tasks_text(tasks: dict[str, dict[str, int]]) -> str:
    """``tasks`` as a profile name holds it: JSON, sorted, ``max_random_delay`` as a duration."""
    shown = {fn_id: {option: format_duration(value) if option == "max_random_delay" else value
                     for option, value in values.items()} for fn_id, values in tasks.items()}  # fmt: skip
    return json.dumps(shown, sort_keys=True, ensure_ascii=False)


def _cron_task(values: dict[str, int]) -> CronTask:
    no_overlap = values.get("no_overlap")
    return CronTask(no_overlap=None if no_overlap is None else bool(no_overlap), max_runs=values.get("max_executions"),
                    jitter_ns=values.get("max_random_delay"))  # fmt: skip


def _described(values: dict[str, int]) -> str:
    """One task's options as the profile's description lists them."""
    words = {"no_overlap": "noOverlap" if values.get("no_overlap") else "no noOverlap",
             "max_executions": f"maxExecutions {values.get('max_executions') or 'none'}",
             "max_random_delay": f"maxRandomDelay {format_duration(values.get('max_random_delay') or 0)}"}
    return ", ".join(words[option] for option in values)


def _max_executions(name: str, value: Any) -> int:
    """node-cron's ``maxExecutions``: an int >= 0 (0: no limit), also as a profile name's text."""
    limit = int(value) if isinstance(value, str) and value.strip().isdigit() else value
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidArgument.build(name, value, "a whole number of executions >= 1 (node-cron's maxExecutions), or "
                                                 "0 for no limit")  # fmt: skip
    return limit


def _random_delay(name: str, value: Any) -> int:
    """node-cron's ``maxRandomDelay`` (milliseconds) as a jobsim duration: 0, or whole milliseconds."""
    accepted = ("a duration in whole milliseconds such as '5s' or '250ms' (node-cron's maxRandomDelay, which counts "
                "milliseconds: {maxRandomDelay: 5000} is '5s'), or 0 for none")  # fmt: skip
    if isinstance(value, str) and value.strip() == "0":
        return 0
    return whole_ms_ns(value, name, accepted, allow_zero=True)


def _flag(option: str, value: Any, theirs: str) -> bool:
    """True or False, or their names as a profile spec writes them (``"node-cron(no_overlap=true)"``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidArgument.build(option, value, f"True or False (node-cron's {theirs})")


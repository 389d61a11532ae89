"""What jobsim's pytest plugin writes for people, free of pytest: the parts of a failing test's ``jobsim``
section (the line that reruns the test, the trace file's name and how its path is shown, what ``jobsim
replay --app`` imports, the shortened timeline, the HTTP requests no route matched) and the fixture's
advice when there is no ``jobsim_app`` or the test is a Hypothesis ``@given`` one.

The plugin calls these from its hooks and fixtures, which read what they need off pytest's objects."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._simulation import Simulation

TIMELINE_HEAD, TIMELINE_TAIL = 20, 80
"""A failing test shows at most this many timeline entries from each end (all with -vv)."""

NO_APP = (
    "jobsim: the `jobsim` fixture needs to know what to simulate: "
    "define a fixture named jobsim_app in conftest.py returning what you would pass to "
    "jobsim.Simulation: your jobsim.App, a backend's app (a Celery app, jobsim_celery.CeleryTarget(app, ...)) "
    "or a list of targets, e.g.\n\n"
    "    @pytest.fixture\n"
    "    def jobsim_app():\n"
    "        from myproject.jobs import app\n"
    "        return app\n"
)

PER_EXAMPLE = (
    "jobsim: {test} is a Hypothesis @given test, and the `jobsim` fixture is one simulation for the "
    "whole test: every example would share it (its clock only moves forward, its runs and outbox pile up). "
    "Draw a fresh simulation for each example instead:\n\n"
    "    from jobsim import strategies as js\n\n"
    "    @given(sim=js.simulations(app{options}), ...)\n"
    "    def {test}(sim, ...):\n"
    "        with sim:\n"
    "            ...\n\n"
    "(To share one simulation across the examples after all, suppress Hypothesis's "
    "HealthCheck.function_scoped_fixture.)"
)


def unmatched_http(sim: Simulation) -> str:
    """The HTTP sink's listing of the requests that matched no route, or ``""``: for the ``jobsim`` fixture's
    simulation, whose test calls it ``jobsim``, so the routes it suggests read ``jobsim.http.post(...)``."""
    http: Any = sim.http  # a null sink until the HTTP sink is importable
    if not getattr(http, "unmatched", None):
        return ""
    return str(http.format_unmatched("jobsim")).rstrip()


def shown_path(path: str, invocation_dir: Path) -> str:
    """``path`` relative to where pytest ran when it is under it; else absolute (no ``../../..``)."""
    try:
        relative = os.path.relpath(path, invocation_dir)
    except ValueError:  # another drive (Windows)
        return path
    return path if relative.startswith(os.pardir) else relative


def app_spec(sim: Simulation, invocation_dir: Path) -> str:
    """What ``jobsim replay --app`` imports to replay ``sim``: ``jobs.py:app`` or ``shop.jobs:app``.

    Known when the simulation runs one ``jobsim.App`` that a module of its functions
    holds as an attribute; a package's module by its dotted name (a path would break its
    relative imports), a top-level one by its file (pytest may have imported it from a
    folder of its own rootdir logic that ``jobsim replay`` does not put on ``sys.path``).
    A backend plugin's targets (inngest-py functions) likewise, when a module of theirs holds a list of all of
    them (``functions = [onboarding, billing, client]``) or the one function (``jobs.py:onboarding``).
    Otherwise (several apps, apps and a backend's targets) ``MODULE:APP``, for the user to fill.
    """
    apps = getattr(sim, "_app_targets", sim.apps)  # the user's, not those a plugin builds for its targets
    if len(apps) == 1 and not sim.adapted:
        app = apps[0]
        homes = [getattr(fn.handler, "__module__", None) for fn in app.functions.values()]
        found = _held(homes, lambda value: value is app) or _held(_other_homes(homes), lambda value: value is app)
    elif not apps and sim.adapted:
        # each function a target given itself (an inngest-py function), not one of a target's (a Celery app's task)
        given = {id(target) for target in getattr(sim, "_given", ())}
        natives = [fn.options.get("native") for fn in sim.functions.values()]
        targets = natives and all(id(native) in given for native in natives)
        found = _held(_homes(natives), _holds_all(natives)) if targets else None
    else:
        found = None
    if found is None:
        return "MODULE:APP"
    module, attr = found
    if "." in module.__name__:
        return f"{module.__name__}:{attr}"
    file = getattr(module, "__file__", None)
    return f"{shown_path(file, invocation_dir)}:{attr}" if file else f"{module.__name__}:{attr}"


def _held(homes: list[str | None], fits: Callable[[Any], bool]) -> tuple[Any, str] | None:
    """The first of the ``homes`` modules with an attribute that ``fits``, and the attribute's name."""
    import sys

    for name in dict.fromkeys(homes):
        module = sys.modules.get(name or "")
        if module is None:
            continue
        names = [key for key, value in vars(module).items() if fits(value)]
        if names:  # a list of all the targets before one of them: it holds what the others need (a client)
            return module, min(names, key=lambda key: not isinstance(vars(module)[key], (list, tuple)))
    return None


def _other_homes(homes: list[str | None]) -> list[str | None]:
    """Where else a test's app may be held: an app a factory built (``app = make_app()`` in ``jobs.py``, its
    handlers defined in ``factory.py``) is in no module of its functions. The loaded modules with a file, those
    outside site-packages and the standard library, a test's and conftest's last (they import the app from its
    module). Only plain modules, read through their ``__dict__``: an attribute of a lazily imported module
    (``importlib.util.LazyLoader``'s) would run its code, and a module-like object's may raise."""
    import sys
    import sysconfig
    import types

    installed = tuple({path for key, path in sysconfig.get_paths().items() if key in _INSTALLED and path})
    names: list[str | None] = []
    for name, module in list(sys.modules.items()):
        if type(module) is not types.ModuleType or name in homes or name.startswith("jobsim"):
            continue
        file = module.__dict__.get("__file__")
        if isinstance(file, str) and not file.startswith(installed) and "-packages" not in file:
            names.append(name)
    last = ("conftest", "test_")
    return sorted(names, key=lambda name: (name or "").rpartition(".")[2].startswith(last))


_INSTALLED = ("stdlib", "platstdlib", "purelib", "platlib")
"""``sysconfig`` paths of code no test's app is in: the standard library and installed packages."""


def _homes(natives: list[Any]) -> list[str | None]:
    """The modules that define a backend's targets: a Celery task's own ``__module__``, an inngest-py function's
    handler's (the ``inngest.Function`` object is of inngest's module)."""
    homes = []
    for native in natives:
        for inner in ("_handler", "fn", "func", "__wrapped__"):
            homes.append(getattr(getattr(native, inner, None), "__module__", None))
        homes.append(getattr(native, "__module__", None))
    return homes


def _holds_all(natives: list[Any]) -> Callable[[Any], bool]:
    """Whether a module attribute is all the simulated targets: the one target, or a list or tuple of them all and no
    other of their kinds (its clients may be in it: ``[onboarding, client]``)."""
    ids = {id(native) for native in natives}
    kinds = tuple({type(native) for native in natives})

    def fits(value: Any) -> bool:
        if isinstance(value, (list, tuple)):
            held = {id(item) for item in value if isinstance(item, kinds)}
            return held == ids
        return len(ids) == 1 and id(value) in ids

    return fits


def trace_name(nodeid: str, number: int = 1) -> str:
    """``tests/test_x.py::test_y`` -> ``tests-test_x.py--test_y.jobsim.jsonl`` (unique, portable).

    The test's second simulation and those after it get their number:
    ``tests-test_x.py--test_y.2.jobsim.jsonl``.

    A test id that had to be changed to fit a file name (``test_y[a/b]`` and
    ``test_y[a-b]`` would both become ``test_y-a-b``), or that holds a ``-`` of its
    own (``a/test_b/test_c.py`` and ``a/test_b-test_c.py`` flatten alike), or whose
    test name or parameters hold a capital (``test_y[A]`` and ``test_y[a]`` are one file
    on macOS and Windows), gets a short hash of the id, so two tests never share a file.
    """
    import hashlib
    import re

    readable = nodeid.replace("::", "--").replace("/", "-")  # folders flatten alike: no hash for them
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", readable).strip("-.")
    digest = hashlib.sha256(nodeid.encode()).hexdigest()[:12]
    if len(name) > 120:
        name = name[:100] + "-" + digest
    elif name != readable or "-" in nodeid or not nodeid.rpartition("::")[2].islower():
        name = f"{name}-{digest}"
    return name + (f".{number}" if number > 1 else "") + ".jobsim.jsonl"


def reproduce_line(nodeid: str, path: Path, invocation_dir: Path, seed: int, doctest: bool = False) -> str:
    """``pytest 'tests/test_x.py::test_y' --jobsim-seed=7``, relative to where pytest ran (``doctest``: the test
    is a ``DoctestItem`` of the file at ``path``)."""
    _, sep, rest = nodeid.partition("::")
    where = os.path.relpath(path, invocation_dir) if sep else nodeid
    test = (where + sep + rest).replace("'", "'\\''")
    return f"pytest '{test}' --jobsim-seed={seed}{_doctest_option(path) if doctest else ''}"


def _doctest_option(path: Path) -> str:
    """A doctest is collected only with ``--doctest-modules`` (a module's) or a ``--doctest-glob`` its file
    matches (a text file's): without it the reproduction line ran nothing ("not found")."""
    if path.suffix == ".py":
        return " --doctest-modules"
    return " --doctest-glob='" + path.name.replace("'", "'\\''") + "'"


def shorten(timeline: list[str], everything: bool) -> list[str]:
    """Keep the header and the first and last entries of a long timeline."""
    head, entries = timeline[:2], timeline[2:]
    if everything or len(entries) <= TIMELINE_HEAD + TIMELINE_TAIL:
        return timeline
    omitted = len(entries) - TIMELINE_HEAD - TIMELINE_TAIL
    note = f"… {omitted} more entries (-vv shows them all) …"
    return [*head, *entries[:TIMELINE_HEAD], note, *entries[-TIMELINE_TAIL:]]


def unread_lines(sim: Simulation) -> list[str]:
    """The work waiting, due, on queues no simulated worker reads (``jobsim.UnreadQueueWarning``'s sentences, which
    the close leaves out once the test failed): a routing slip is often why it failed. Asked while the simulation
    still runs (a failure in the test's call or setup); a plugin's failing answer shows nothing here."""
    try:
        unread = sim.unread_work()
    except Exception:  # the report must still be written; the close names a plugin whose answer fails
        return []
    if not unread:
        return []
    head = (f"work on {len(unread)} queue(s) no simulated worker reads (never run: often why the test failed; "
            "no UnreadQueueWarning once a test failed):")  # fmt: skip
    return [head, *(f"  - {sentence}" for sentence in unread), ""]

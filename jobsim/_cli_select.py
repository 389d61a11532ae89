"""``--functions a,b`` / ``--exclude-functions c`` on ``jobsim run`` and ``jobsim replay``.

The command-line face of ``Simulation(functions=..., exclude_functions=...)``
(``_selection.py``): the flags become those arguments. Ids are checked here, before
anything is simulated, so a typo exits 2 with ``jobsim: error: --functions ...``
naming the unknown id and the known ones, in the flag's own words. (A target a
backend plugin adapts has its ids only once a simulation adapts it; for those the
simulation's own message, which also names both, is what the user reads.)
"""

from __future__ import annotations

import argparse
from typing import Any

from ._app import App
from ._checks import listed_ids
from .errors import InvalidArgument

FLAGS = {"functions": "--functions", "exclude_functions": "--exclude-functions"}


def add_selection_options(parser: argparse.ArgumentParser, what: str, instead: str) -> None:
    """Add both flags to ``parser``; ``what`` says what they select from, ``instead`` what they replace (--help)."""
    parser.add_argument("--functions", default=None, metavar="IDS",
                        help=f"comma-separated function ids: simulate only these of {what} ({instead})")  # fmt: skip
    parser.add_argument("--exclude-functions", default=None, metavar="IDS",
                        help=f"comma-separated function ids: simulate all of {what} but these ({instead})")  # fmt: skip


def selection(args: argparse.Namespace, target: Any) -> dict[str, list[str]]:
    """The ``Simulation`` keyword the flags give (``{}`` without either), checked against ``target``'s ids."""
    given = {name: getattr(args, name) for name in FLAGS if getattr(args, name, None) is not None}
    if not given:
        return {}
    if len(given) == 2:
        raise InvalidArgument(
            f"--functions {args.functions!r} and --exclude-functions {args.exclude_functions!r} were both given: "
            "give --functions (the ones to simulate) or --exclude-functions (the ones to leave out), not both"
        )
    ((name, text),) = given.items()
    ids = _ids(FLAGS[name], text)
    known = known_ids(target)
    if known is not None:
        unknown = [i for i in ids if i not in known]
        if unknown:
            what = ", ".join(map(repr, unknown))
            raise InvalidArgument(
                f"{FLAGS[name]} {text!r}: {what} {'is' if len(unknown) == 1 else 'are'} not a function of the "
                f"app; known function ids: {listed_ids(known, unknown[0]) or 'none'}"
            )
        if name == "exclude_functions" and set(known) <= set(ids):
            raise InvalidArgument(f"--exclude-functions {text!r} leaves out every function of the app "
                                  f"({', '.join(map(repr, known))}): leave at least one to simulate")  # fmt: skip
    return {name: ids}


def _ids(flag: str, text: str) -> list[str]:
    """``"a, b,a"`` -> ``["a", "b"]``: stripped, once each, in order; an empty item is an error."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise InvalidArgument.build(flag, text, "comma-separated function ids such as 'send-welcome,daily-report', "
                                    "with no empty item")  # fmt: skip
    return list(dict.fromkeys(items))


def known_ids(target: Any) -> list[str] | None:
    """The function ids of ``target`` (an App, or a list of them); ``None`` when a plugin must adapt it first."""
    apps = _apps(target)
    if not all(isinstance(app, App) for app in apps):
        return None
    return list(dict.fromkeys(fn_id for app in apps for fn_id in app.functions))


def _apps(target: Any) -> list[Any]:
    if isinstance(target, (list, tuple)):
        return [app for item in target for app in _apps(item)]
    return [target]


__all__ = ["FLAGS", "add_selection_options", "known_ids", "selection"]

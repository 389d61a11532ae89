"""Why a request went unmatched: the test's routes that miss it by one or two of their respx patterns.

A route is a conjunction of respx patterns (method, scheme, host, path, params, ...). When no route matches,
the ones that fail on just one or two patterns point at the slip: a trailing slash, ``http`` for ``https``,
another method, a query parameter. ``UnmatchedRequest`` and the teardown listing name them
(``closest: the route (..., path='/orders') wants path='/orders'``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import httpx
import respx
from respx.patterns import Lookup, Pattern, _And, _Invert, _Or

__all__ = ["closest_routes"]


def closest_routes(routes: Sequence[respx.Route], request: httpx.Request) -> str:
    """The declared routes that a request missed by one or two of their patterns, and by which, or ``""``.

    A route is a conjunction of respx patterns (method, scheme, host, path, params, ...); the ones the request
    fails say why it went unmatched: a trailing slash, ``http`` for ``https``, another method, a query
    parameter. Routes with ``|`` or ``~`` patterns, and catch-alls, are left out: no one pattern is to blame.
    """
    found: list[tuple[int, int, str]] = []
    for index, route in enumerate(routes):
        leaves = _leaves(route.pattern)
        if not leaves:
            continue
        missed = [leaf for leaf in leaves if not _matches(leaf, request)]
        if not 0 < len(missed) <= 2 or len(missed) == len(leaves):
            continue
        name = f" {route.name!r}" if route.name else ""
        declared = ", ".join(_shown_leaf(leaf) for leaf in leaves)
        wants = " and ".join(_shown_leaf(leaf) for leaf in missed)
        found.append((len(missed), index, f"the route{name} ({declared}) wants {wants}"))
    if not found:
        return ""
    found.sort()
    best = [text for count, _, text in found if count == found[0][0]][:2]
    return "closest: " + "; ".join(best)


def _leaves(pattern: Any) -> list[Pattern]:
    if pattern is None:
        return []
    if isinstance(pattern, (_Or, _Invert)):
        return []
    if isinstance(pattern, _And):
        parts = [_leaves(part) for part in pattern.value]
        return [] if any(not part for part in parts) else [leaf for part in parts for leaf in part]
    return [pattern] if isinstance(pattern, Pattern) else []


def _matches(leaf: Pattern, request: httpx.Request) -> bool:
    try:
        return bool(leaf.match(request))
    except Exception:  # a JSON pattern on a body that is not JSON: it does not match
        return False


def _shown_leaf(leaf: Pattern) -> str:
    lookup = "" if leaf.lookup is Lookup.EQUAL else f"__{leaf.lookup.value}"
    value = leaf.value.pattern if isinstance(leaf.value, re.Pattern) else leaf.value
    return f"{leaf.key}{lookup}={str(value) if isinstance(value, httpx.QueryParams) else value!r}"

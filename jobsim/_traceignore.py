"""The options of a trace comparison: which modes (``parse_compare``) and what to leave out of the
records before comparing them (``Ignore``, ``--ignore KIND:PATH``)."""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import shlex
from collections.abc import Sequence
from typing import Any

from ._checks import closest_keyword
from ._tracestory import COMPARISONS, MISSING
from .errors import InvalidArgument


def parse_compare(value: Any, name: str = "compare") -> tuple[str, ...]:
    """``"runs,emails"``, a list of names, ``"all"`` or ``None`` (all) -> mode names (``name``: the argument's)."""
    if value is None or value == "all":
        return COMPARISONS
    items = value.split(",") if isinstance(value, str) else value
    try:
        names = tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
    except TypeError:
        names = ()
    bad = [name for name in names if name not in COMPARISONS]
    if bad or not names:
        meant = [(word, closest_keyword(word, COMPARISONS)) for word in bad]
        hint = "; ".join(f"did you mean {close!r} for {word!r}?" for word, close in meant if close)
        raise InvalidArgument.build(name, value, "one or more of " + ", ".join(COMPARISONS) + " (or 'all')"
                                    + (f" ({hint})" if hint else ""))
    return names


@dataclasses.dataclass(slots=True)
class Ignore:
    """``KIND:PATH``: delete ``PATH`` (dotted, list items as ``.0`` or ``[0]``; ``*`` one level,
    ``**`` any depth) from records of ``KIND``."""

    text: str
    kind: str
    path: tuple[str, ...]
    hits: int = 0

    @classmethod
    def parse(cls, text: Any, name: str = "ignore") -> Ignore:
        """``name``: the argument a refusal names (``--ignore`` on the command line)."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidArgument.build(name, text, "a path such as 'email:subject' or 'http:request.headers.date'")
        parts = [part.strip() for part in text.split(",")]
        if len(parts) > 1 and all(_KIND_PATH.match(part) for part in parts):  # --compare's commas, guessed
            repeated = " ".join(f"--ignore {shlex.quote(part)}" for part in parts)
            raise InvalidArgument(f"ignore={text!r} holds {len(parts)} KIND:PATH patterns joined by commas, one "
                                  f"pattern it would never match; give each its own: {repeated} (ignore=[...] "
                                  "in Python)")  # fmt: skip
        kind, _, path = text.strip().rpartition(":") if ":" in text else ("*", "", text.strip())
        path = re.sub(r"\[(\d+|\*)\]", r".\1", path)  # items[0].p, as reports print it, is items.0.p
        segments = tuple(path.split("."))
        if not kind or any(not s for s in segments):
            raise InvalidArgument.build(name, text,
                                        "KIND:PATH with a dotted PATH, e.g. 'run.end:output.generatedAt'")  # fmt: skip
        return cls(text.strip(), kind, segments)

    def apply(self, line: dict[str, Any]) -> dict[str, Any]:
        if self.kind != "*" and not fnmatch.fnmatchcase(line["k"], self.kind):
            return line
        base: dict[str, Any] = {"k": line["k"], "seq": line.get("seq"), "at": line.get("at")}  # they place it
        if self.path[0] in ("*", "**"):  # 'http:**' leaves the call in its function's run ('http:run' does not)
            base.update({field: line[field] for field in _PLACING if field in line})
        out = _drop(line, self.path, self)
        if out is MISSING:
            return base
        kept: dict[str, Any] = out
        return kept if kept is line else {**kept, **base}


_PLACING = ("function", "run")
"""Which function's run a record belongs to: a wildcard pattern keeps them, or the record was shown as
made outside jobs, as a call numbered among the test's own, with every field null."""

_KIND_PATH = re.compile(r"[\w.*?-]+:\S")
"""What one ``--ignore`` pattern starts with: a kind (``email``, ``run.end``, ``*``), a colon, a path."""


def _drop(value: Any, path: Sequence[str], ignore: Ignore) -> Any:
    """``value`` without what ``path`` names (a copy where anything went); MISSING if all of it."""
    if not path:
        ignore.hits += 1
        return MISSING
    head, rest = path[0], path[1:]
    if head == "**":
        value = _drop(value, rest, ignore)  # zero levels
        if value is MISSING:
            return value
        return _each(value, lambda child: _drop(child, path, ignore))
    if isinstance(value, dict):
        if head == "*":
            return _each(value, lambda child: _drop(child, rest, ignore))
        if head not in value:
            return value
        child = _drop(value[head], rest, ignore)
        if child is value[head]:
            return value
        out = dict(value)
        if child is MISSING:
            del out[head]
        else:
            out[head] = child
        return out
    if isinstance(value, list) and (head == "*" or head.isdigit()):
        if head == "*":
            return _each(value, lambda child: _drop(child, rest, ignore))
        index = int(head)
        if index >= len(value):
            return value
        out_list = list(value)
        child = _drop(value[index], rest, ignore)
        out_list[index] = None if child is MISSING else child
        return out_list
    return value


def _each(value: Any, fn: Any) -> Any:
    if isinstance(value, dict):
        changed = {k: fn(v) for k, v in value.items()}
        if all(changed[k] is value[k] for k in value):
            return value
        return {k: v for k, v in changed.items() if v is not MISSING}
    if isinstance(value, list):
        items = [fn(v) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return [v for v in items if v is not MISSING]
    return value

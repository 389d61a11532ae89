"""Reading jobsim's report section out of a pytester run's output (shared by the plugin's tests)."""

from __future__ import annotations

import re

import pytest


def section(result: pytest.RunResult, test: str) -> list[str]:
    """The lines of the ``jobsim`` report section printed after ``test``'s failure."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if re.fullmatch(rf"_+ {test} _+", line))
    begin = next(i for i in range(start, len(lines)) if re.fullmatch(r"-+ jobsim -+", lines[i]))
    end = next(i for i in range(begin + 1, len(lines)) if re.fullmatch(r"(=+|_+|-+) .* (=+|_+|-+)", lines[i]))
    return lines[begin + 1 : end]

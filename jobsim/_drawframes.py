"""The frame every labelled strategy of ``jobsim.strategies`` draws through, marked for Hypothesis to trim.

Hypothesis trims its own frames from the top of a failure's traceback, and the frames of
modules whose globals set ``__hypothesistracebackhide__`` (its ``@proxies`` functions). Without
the mark, a value a strategy drew and a check refused (``_Drawn``) carried a traceback
through this frame and a dozen of Hypothesis's drawing frames below it, and under pytest
Hypothesis formats that traceback for each failing example it shrinks and explains: pytest
parses the source of every file named in it, 40 ms a frame, so a strategy drawing a bad
payload took 35 s to report. Trimmed, the traceback starts at the check. Only this module sets
the mark (it holds no other code), and it imports nothing: ``jobsim.strategies`` stays the only
module importing Hypothesis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__hypothesistracebackhide__ = True


def drawing(name: str, inner: Any) -> Callable[..., Any]:
    """A composite's definition named ``name`` (its repr shows the arguments it is called with) drawing ``inner``."""

    def draw_inner(draw: Callable[[Any], Any], *_args: Any, **_kwargs: Any) -> Any:
        return draw(inner)

    draw_inner.__name__ = draw_inner.__qualname__ = name
    return draw_inner

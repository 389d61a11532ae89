"""The README's examples, read from the file by their section and run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def section(heading: str) -> str:
    """The text under ``heading`` (a ``### `` line), up to the next heading of that level."""
    return README.read_text().split(heading, 1)[1].split("\n### ", 1)[0]


def run_block(needle: str, *, heading: str = "### Profiles, faults and compare", claim: str | None = None) -> None:
    """Run the one ``python`` block under ``heading`` that contains ``needle``; ``claim``: text the section
    must still say beside it (the prose the block illustrates)."""
    text = section(heading)
    if claim is not None:
        assert claim in text, f"the README section {heading!r} no longer says {claim!r}"
    (block,) = [code for code in re.findall(r"```python\n(.*?)```", text, re.S) if needle in code]
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})

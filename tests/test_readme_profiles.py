"""The README's "Profiles, faults and compare" section, run as written."""

import contextlib
import io
import re
from pathlib import Path

import pytest

from jobsim._cli import main

README = Path(__file__).resolve().parent.parent / "README.md"


def section() -> str:
    text = README.read_text()
    return text.split("### Profiles, faults and compare", 1)[1].split("\n### ", 1)[0]


def test_section_sits_right_after_fault_injection():
    text = README.read_text()
    headings = re.findall(r"^### (.+)$", text, re.M)
    assert headings[headings.index("Fault injection") + 1] == "Profiles, faults and compare"


def test_the_example_prints_the_table_shown():
    blocks = re.findall(r"```(python|text)\n(.*?)```", section(), re.S)
    example = next(code for kind, code in blocks if kind == "python" and "jobsim.compare(" in code)
    shown = blocks[[code for _, code in blocks].index(example) + 1][1]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, "README.md", "exec"), {"__name__": "readme"})
    assert out.getvalue() == shown


@pytest.mark.usefixtures("from_the_root")
def test_the_command_output_shown_is_the_commands(capsys):
    shown = section().split("$ jobsim compare examples/scenarios\n", 1)[1].split("```", 1)[0]
    assert main(["compare", "examples/scenarios"]) == 0
    assert capsys.readouterr().out == shown

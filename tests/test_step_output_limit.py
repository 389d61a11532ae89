"""Inngest refuses a step output past 4 MiB (``consts.MaxStepOutputSize``): the SDK's answer fails to parse
(``GeneratorOpcode.Validate``), so the request fails and is retried as any error."""

from __future__ import annotations

from typing import Any

import pytest

import jobsim
from jobsim import StepOutputTooLarge

LIMIT = 4 * 1024 * 1024


def _run(size: int, *, profile: str = "inngest", retries: int = 1, as_list: bool = False) -> tuple[jobsim.Run, int]:
    app = jobsim.App("limits")
    calls = []

    @app.function("f", on="go", retries=retries)
    def f(ctx: Any) -> int:
        def body() -> Any:
            calls.append(1)
            return ["x" * size] if as_list else "x" * size

        return len(ctx.step.run("big", body))

    with jobsim.Simulation(app, start="2025-01-01T00:00:00Z", profile=profile) as sim:
        sim.send("go")
        sim.run_until_idle()
        [run] = sim.runs("f")
    return run, len(calls)


def test_an_output_at_the_limit_is_kept_and_one_byte_more_fails_the_request_and_is_retried():
    # '{"data":"' + x * n + '"}': n + 11 bytes
    assert _run(LIMIT - 11)[0].status == "completed"
    run, calls = _run(LIMIT - 10, retries=2)
    assert run.status == "failed" and len(run.attempts) == 3 and calls == 3  # retried, the code ran again
    error = run.error
    assert isinstance(error, StepOutputTooLarge) and not isinstance(error, jobsim.NonRetriableError)
    assert (error.step, error.size, error.limit) == ("big", LIMIT + 1, LIMIT)
    assert str(error).startswith("step 'big' of function 'f' returned 4,194,305 bytes of JSON, past Inngest's "
                                 "4,194,304 (4 MiB) for a step's output: Inngest refuses the answer (\"error "
                                 "validating generator opcode: step output size is greater than the limit\")")


def test_the_size_is_the_outputs_json_so_escapes_and_containers_count():
    assert _run(LIMIT - 13, as_list=True)[0].status == "completed"  # ["..."]: two bytes more
    assert _run(LIMIT - 12, as_list=True)[0].status == "failed"


@pytest.mark.parametrize("profile", ["bullmq", "trigger.dev"])
def test_other_profiles_have_no_such_limit(profile):
    assert _run(LIMIT, profile=profile)[0].status == "completed"


def test_the_limit_is_a_profile_field():
    assert jobsim.profile("inngest").max_step_output == LIMIT
    with pytest.raises(jobsim.InvalidArgument, match="max_step_output"):
        jobsim.Profile(name="mine", description="x", default_retries=jobsim.Retries(attempts=1), max_step_output=0)


def test_the_error_keeps_its_fields_through_a_pickle():
    """A pytest-xdist worker pickles a failing test's exceptions: the fields survive."""
    import pickle

    error = pickle.loads(pickle.dumps(StepOutputTooLarge("m", step="big", size=LIMIT + 1, limit=LIMIT)))
    assert (str(error), error.step, error.size, error.limit) == ("m", "big", LIMIT + 1, LIMIT)

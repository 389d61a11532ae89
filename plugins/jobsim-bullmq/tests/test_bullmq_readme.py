"""The READMEs' BullMQ examples, run as a user would: their files and pytest."""

import pytest

pytest_plugins = ["pytester"]


@pytest.mark.parametrize("heading", ["## Example: a flaky charge, a delayed reminder and a daily report",
                                     "## Example: debounced saves, a QueueEvents listener and a crashed worker",
                                     "## Example: retrying failed exports, promoting, cleaning up, reprioritizing, "
                                     "obliterating",
                                     "## Example: a property over retries (Hypothesis)"])
def test_the_plugin_readme_examples_pass_as_written(readme_files, run_readme_files, heading):
    run_readme_files(readme_files(heading, plugin="jobsim-bullmq"), plugin="jobsim-bullmq")


def test_quick_start_passes_as_written(readme_files, run_readme_files):
    run_readme_files(readme_files("### BullMQ for Python (jobsim-bullmq)"), plugin="jobsim-bullmq")

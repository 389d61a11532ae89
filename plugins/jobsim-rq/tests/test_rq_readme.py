"""The READMEs' RQ examples, run as a user would: their files and pytest."""

import pytest

pytest_plugins = ["pytester"]


def test_quick_start_passes_as_written(readme_files, run_readme_files):
    run_readme_files(readme_files("### RQ (jobsim-rq)"), plugin="jobsim-rq")


@pytest.mark.parametrize("heading", ["## Example: async jobs", "## Example: two workers and a lost one",
                                     "## Example: registries, results and a requeued job"])
def test_the_plugin_readme_examples_pass_as_written(readme_files, run_readme_files, heading):
    run_readme_files(readme_files(heading, plugin="jobsim-rq"), plugin="jobsim-rq")

"""The READMEs' APScheduler examples, run as a user would: their files and pytest."""

import pytest

pytest_plugins = ["pytester"]


def test_the_main_readme_example_passes_as_written(readme_files, run_readme_files):
    run_readme_files(readme_files("### APScheduler (jobsim-apscheduler)"), plugin="jobsim-apscheduler")


@pytest.mark.parametrize("heading", ["## Example: misfires and coalescing",
                                     "## Example: an AsyncIOScheduler, as a FastAPI app keeps it"])
def test_the_plugin_readme_examples_pass_as_written(readme_files, run_readme_files, heading):
    run_readme_files(readme_files(heading, plugin="jobsim-apscheduler"), plugin="jobsim-apscheduler")

"""The READMEs' Huey examples, run as a user would: their files and pytest."""

pytest_plugins = ["pytester"]


def test_the_quick_start_passes_as_written(readme_files, run_readme_files):
    run_readme_files(readme_files("### Huey (jobsim-huey)"), plugin="jobsim-huey")


def test_the_plugin_readme_example_passes_as_written(readme_files, run_readme_files):
    files = readme_files("## Example: retries, a pipeline, a periodic task", plugin="jobsim-huey")
    run_readme_files(files, plugin="jobsim-huey")


def test_the_outage_example_passes_as_written(readme_files, run_readme_files):
    run_readme_files(readme_files("## A consumer that was down", plugin="jobsim-huey"), plugin="jobsim-huey")

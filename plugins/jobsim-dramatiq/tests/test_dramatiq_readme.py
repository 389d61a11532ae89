"""The READMEs' Dramatiq examples, run as a user would: their files and pytest."""

pytest_plugins = ["pytester"]


def test_the_quick_start_passes_as_written(readme_files, run_readme_files):
    run_readme_files(readme_files("### Dramatiq (jobsim-dramatiq)"), plugin="jobsim-dramatiq")


def test_the_plugin_readme_example_passes_as_written(readme_files, run_readme_files):
    files = readme_files("## Example: retries, a time limit, a pipeline and a group", plugin="jobsim-dramatiq")
    run_readme_files(files, plugin="jobsim-dramatiq")

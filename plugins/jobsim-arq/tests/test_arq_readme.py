"""The READMEs' arq examples, run as a user would: their files and pytest."""

pytest_plugins = ["pytester"]


def test_the_quick_start_passes_as_written(readme_files, run_readme_files):
    run_readme_files(readme_files("### arq (jobsim-arq)"), plugin="jobsim-arq")


def test_the_plugin_readme_example_passes_as_written(readme_files, run_readme_files):
    files = readme_files("## Example: a flaky charge, a deferred receipt", plugin="jobsim-arq")
    run_readme_files(files, plugin="jobsim-arq")

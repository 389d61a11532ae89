"""``jobsim.compare`` and ``jobsim compare``: counting, the table, errors, the command line."""

import dataclasses
import time

import pytest

import jobsim
from jobsim import _plugins
from jobsim._cli import main
from jobsim.hooks import Adapted, hookimpl


def nightly(fails=0, tz=None, cron="0 9 * * *"):
    def build():
        app = jobsim.App("n")
        state = {"calls": 0}

        @app.function("nightly", cron=cron, tz=tz)
        def run(ctx):
            state["calls"] += 1
            if state["calls"] <= fails:
                raise RuntimeError("flaky")
            return "ok"

        return app

    return build


def play_two_days(sim):
    sim.advance("2d")


def scenario(**kwargs):
    options = {"name": "n", "description": "nightly job", "build": nightly(), "play": play_two_days,
               "start": "2025-03-03T00:00:00Z"}  # fmt: skip
    options.update(kwargs)
    return jobsim.Scenario(**options)


def test_counts_for_each_profile():
    result = jobsim.compare(scenario(build=nightly(fails=1)), ["inngest", "bullmq"])
    inngest, bullmq = result.of("inngest"), result.of("bullmq")
    assert (inngest.runs, inngest.completed, inngest.failed, inngest.lost) == (2, 2, 0, 0)
    assert (bullmq.runs, bullmq.completed, bullmq.failed, bullmq.lost) == (2, 1, 1, 0)
    assert bullmq.first_done.isoformat() == "2025-03-04T09:00:00+00:00"
    assert inngest.simulation is not None and inngest.simulation.profile.name == "inngest"
    assert result.seed == 0


def test_missed_ticks_are_lost_and_copies_are_duplicates():
    def play(sim):
        sim.downtime("2025-03-03T08:00:00Z", "2025-03-03T10:00:00Z")
        sim.duplicate_delivery("nightly", at="2025-03-04T00:00:00Z")
        sim.advance("2d")

    result = jobsim.compare(scenario(play=play), ["node-cron", "vercel-cron", "bullmq"])
    assert [(o.profile, o.runs, o.lost, o.duplicates) for o in result.outcomes] == [
        ("node-cron", 1, 1, 0), ("vercel-cron", 2, 1, 1), ("bullmq", 2, 0, 0),
    ]  # fmt: skip


def test_ticks_held_to_run_late_are_not_lost_while_ticks_dropped_are():
    """A 25-minute job every 10 minutes: Quirrel holds the overdue ticks and runs them one after another (pending
    at the end of play, not lost: they were counted lost, beside Agenda's, which it drops for good)."""

    def build():
        app = jobsim.App("ops")
        app.function("sync", cron="*/10 * * * *")(lambda ctx: time.sleep(25 * 60))
        return app

    long = jobsim.Scenario(name="long", description="25 min every 10 min", build=build,
                           play=lambda sim: sim.advance("1h5m"), start="2026-03-02T08:55:00Z")  # fmt: skip
    result = jobsim.compare(long, ["quirrel", "agenda"])
    assert [(o.profile, o.runs, o.lost) for o in result.outcomes] == [("quirrel", 3, 0), ("agenda", 3, 3)]


def test_a_profile_that_cannot_run_the_scenario_gets_a_row_saying_why():
    result = jobsim.compare(scenario(build=nightly(tz="Europe/Paris")), ["inngest", "vercel-cron"])
    vercel = result.of("vercel-cron")
    assert not vercel.supported and vercel.runs == 0 and vercel.simulation is None
    assert vercel.unsupported == "tz='Europe/Paris': schedules are always UTC; write the schedule in UTC"
    assert result.table().splitlines()[-1] == (
        "vercel-cron  unsupported: tz='Europe/Paris': schedules are always UTC; write the schedule in UTC"
    )


def test_the_table_lists_metrics_and_times_in_the_scenario_zone():
    result = jobsim.compare(
        scenario(tz="America/New_York", metrics={"calls": lambda sim, fn: len(sim.runs(fn))}), ["inngest"], seed=5
    )
    assert result.table() == (
        "n: nightly job\n"
        "(times in America/New_York, seed 5)\n"
        "profile  runs  done  failed  lost  dupes  emails  calls  first done      last done\n"
        "-------  ----  ----  ------  ----  -----  ------  -----  --------------  --------------\n"
        "inngest     2     2       0     0      0       0      2  03-03 04:00:00  03-04 04:00:00"
    )
    assert str(result) == result.table()


def test_bad_arguments():
    with pytest.raises(jobsim.InvalidArgument, match=r"profiles=\['inngest', 'nope'\] is not valid: profile names "
                                                     r"among .*\(unknown: 'nope'\)"):  # fmt: skip
        jobsim.compare(scenario(), ["inngest", "nope"])
    with pytest.raises(jobsim.InvalidArgument, match=r"scenario='x' is not valid: a jobsim.Scenario"):
        jobsim.compare("x")
    with pytest.raises(jobsim.InvalidArgument, match=r"profile='agenda' is not valid: one of 'inngest'"):
        jobsim.compare(scenario(), ["inngest"]).of("agenda")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"build": None}, r"^build=None is not valid: a function of no arguments returning fresh targets"),
    ({"build": lambda app: app},
     r"^build=<function .* is not valid: a function of no arguments .*\(missing a required argument: 'app'\)$"),
    ({"play": 3}, r"^play=3 is not valid: a function taking the simulation"),
    ({"tz": "1" * 400}, r"^tz='1111.* is not valid: no such IANA time zone"),
    ({"seed": "7"}, r"^seed='7' is not valid: an int"),
    ({"functions": 3}, r"^functions=3 is not valid: a list of function ids, or None for all"),
    ({"functions": "nightly"}, r"^functions='nightly' is not valid: a list of function ids"),
    ({"metrics": None}, r"^metrics=None is not valid: a dict of column name to metric\(sim, function_id\)"),
    ({"metrics": {"calls": lambda sim: 1}}, r"^metrics\['calls'\]=<function .* is not valid: a function \(sim, "),
])  # fmt: skip
def test_a_bad_scenario_is_refused_when_written(kwargs, message):
    # each used to raise TypeError/AttributeError from inside compare(), once per profile
    with pytest.raises(jobsim.InvalidArgument, match=message):
        scenario(**kwargs)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"profiles": 3}, r"^profiles=3 is not valid: a list of profile names, or None for the seven systems"),
    ({"seed": 1.5}, r"^seed=1.5 is not valid: an int, or None for the scenario's seed"),
])  # fmt: skip
def test_compare_checks_profiles_and_seed(kwargs, message):
    with pytest.raises(jobsim.InvalidArgument, match=message):
        jobsim.compare(scenario(), **kwargs)


def test_default_profiles_are_the_seven_systems_in_the_seeds_order():
    result = jobsim.compare(scenario())
    assert [o.profile for o in result.outcomes] == [
        "inngest", "bullmq", "trigger.dev", "quirrel", "agenda", "node-cron", "vercel-cron",
    ]  # fmt: skip


# -- the command line ------------------------------------------------------------------------------


def _nightly_scenario(tmp_path, name):
    """A scenario module: one cron function at 09:00, one simulated day. Each test names its own module: an
    imported one stays in sys.modules."""
    module = tmp_path / f"{name}.py"
    module.write_text(
        "import jobsim\n"
        "def build():\n"
        "    app = jobsim.App('n')\n"
        "    app.function('nightly', cron='0 9 * * *')(lambda ctx: 'ok')\n"
        "    return app\n"
        "scenario = jobsim.Scenario(name='cli', description='one tick', build=build,\n"
        "                           play=lambda sim: sim.advance('1d'), start='2025-03-03T00:00:00Z')\n"
    )
    return module


def test_compare_command_with_a_timeline(capsys, tmp_path):
    module = _nightly_scenario(tmp_path, "nightly_scenario")
    assert main(["compare", str(module), "--profiles", "bullmq", "--timeline", "bullmq", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == ["cli: one tick", "(times in UTC, seed 3)"]
    assert "jobsim timeline · UTC · seed 3 · profile bullmq" in out
    assert "run       nightly#1 completed" in out


def test_compare_command_takes_a_timeline_of_a_variant_spelled_as_in_profiles(capsys, tmp_path):
    """--profiles and --timeline typed alike name one profile, whatever its canonical spelling ('1000ms' is '1s'):
    the check made before simulating compared the typed --timeline with the canonical names and refused it."""
    module = _nightly_scenario(tmp_path, "variant_scenario")
    variant = "agenda(process_every=1000ms)"
    assert main(["compare", str(module), "--profiles", variant, "--timeline", variant]) == 0
    out = capsys.readouterr().out
    assert "jobsim timeline · UTC · seed 0 · profile agenda(process_every=1s)" in out
    assert main(["compare", str(module), "--profiles", variant, "--timeline", "agenda(process_every=2s)"]) == 2
    assert capsys.readouterr().err == ("jobsim: error: --timeline='agenda(process_every=2s)' is not valid: one of "
                                       "the compared profiles 'agenda(process_every=1s)'\n")


def test_compare_command_errors(capsys, tmp_path):
    empty = tmp_path / "empty_scenario.py"
    empty.write_text("x = 1\n")
    assert main(["compare", str(empty)]) == 2
    assert "defines no jobsim.Scenario" in capsys.readouterr().err
    assert main(["compare", "no.such.module"]) == 2
    assert "cannot import 'no.such.module'" in capsys.readouterr().err


def test_profiles_command(capsys):
    assert main(["profiles"]) == 0
    listing = capsys.readouterr().out
    assert "bullmq             BullMQ: no retries by default" in listing
    assert main(["profiles", "quirrel"]) == 0
    doc = capsys.readouterr().out
    assert doc.startswith("quirrel: Quirrel: no retries by default")
    assert "offsets from the job's" in doc and "NOT VERIFIED" in doc
    assert main(["profiles", "nope"]) == 2
    assert "jobsim profiles NAME='nope' is not valid" in capsys.readouterr().err  # was profile=, the keyword


def test_profiles_may_be_one_comma_separated_string():
    result = jobsim.compare(scenario(), profiles="inngest, node-cron")
    assert [o.profile for o in result.outcomes] == ["inngest", "node-cron"]


def test_an_error_in_play_names_the_scenario_and_the_profile():
    def play(sim):
        sim.advance("1h")
        return 1 / 0

    with pytest.raises(jobsim.JobsimError, match=r"scenario 'n' raised ZeroDivisionError: .* profile 'bullmq'"):
        jobsim.compare(scenario(play=play), profiles=["bullmq"])


def test_wrong_ids_and_names_are_named_as_the_argument_the_test_wrote():
    # a typo in Scenario(functions=...) was reported as sim.runs's 'function_id', after playing every profile;
    # of(function=...) named the profile; profiles=[[]] raised "unhashable type: 'list'"
    with pytest.raises(jobsim.InvalidArgument) as info:
        jobsim.compare(scenario(functions=["nigthly"]), ["inngest"])
    assert str(info.value) == ("functions=['nigthly'] is not valid: ids of functions the scenario's build() declares: "
                               "'nightly' (unknown: 'nigthly')")
    with pytest.raises(jobsim.InvalidArgument, match=r"^function='daily' is not valid: one of the measured functions: "
                                                     r"'nightly', or None for the first$"):
        jobsim.compare(scenario(), ["inngest"]).of("inngest", "daily")
    with pytest.raises(jobsim.InvalidArgument, match=r"^profiles=\[\[\]\] is not valid: a list of profile names "
                                                     r"\(strings\), or None for the seven systems$"):
        jobsim.compare(scenario(), [[]])


class Backend:
    """A target whose plugin runs it on its own library's rules (``own_worker``, as jobsim-celery does)."""


class BackendPlugin:
    profile = "bullmq"

    @hookimpl
    def jobsim_adapt(self, sim, target):
        if not isinstance(target, Backend):
            return None
        app = jobsim.App("acme")
        charge = app.function("acme.charge", on="acme/charge")(lambda ctx: "charged")
        cleanup = app.function("acme.cleanup", on="acme/cleanup")(lambda ctx: None)
        builtin = dataclasses.replace(cleanup, options={**cleanup.options, "builtin": True})  # the library's own
        return Adapted(backend="acme", functions=[charge, builtin], own_worker=True, profile=self.profile)


@pytest.fixture
def backend():
    plugin = BackendPlugin()
    _plugins.register(plugin, name="backend-test")
    yield
    _plugins.unregister(plugin)


def play_a_charge(sim):
    sim.send("acme/charge")
    sim.run_until_idle()


def test_a_profile_its_targets_do_not_follow_gets_a_row_saying_why_not_a_copy_of_their_run(backend):
    # each profile's row was the same run under the targets' own rules, labelled with the profile's name, and
    # listed the library's own functions that never ran
    acme = jobsim.Scenario(name="acme", description="one charge", build=Backend, play=play_a_charge,
                           start="2025-03-03T00:00:00Z")
    result = jobsim.compare(acme, ["bullmq", "agenda"])
    why = ("the acme target runs on acme's rules whatever the profile (profiles choose the rules of jobsim.App "
           "functions, and there are none here: simulate it under 'bullmq', its own)")
    assert result.table().splitlines()[2:] == [
        "profile  runs  done  failed  lost  dupes  emails  first done      last done",
        "-------  ----  ----  ------  ----  -----  ------  --------------  --------------",
        "bullmq      1     1       0     0      0       0  03-03 00:00:00  03-03 00:00:00",
        f"agenda   unsupported: {why}",
    ]
    assert result.of("agenda", "acme.charge").unsupported == why
    assert [o.function for o in jobsim.compare(acme, ["agenda"]).outcomes] == [None]  # no profile named any


def test_a_library_function_that_ran_has_its_row(backend):
    def play(sim):
        sim.send("acme/cleanup")
        play_a_charge(sim)

    acme = jobsim.Scenario(name="acme", description="x", build=Backend, play=play, start="2025-03-03T00:00:00Z")
    assert [o.function for o in jobsim.compare(acme, ["bullmq"]).outcomes] == ["acme.charge", "acme.cleanup"]
    named = dataclasses.replace(acme, functions=["acme.cleanup"], play=play_a_charge)
    assert [o.runs for o in jobsim.compare(named, ["bullmq"]).outcomes] == [0]  # named by the scenario: listed


def test_each_function_of_a_refused_profile_gets_its_own_reason():
    """A profile refuses the scenario for the first function it cannot run: that row gives the reason, the others
    say none of the scenario ran because of it, or give their own reason (every row gave the first one's, so a
    cron-only function read "it uses event triggers" and a function without retries a BullMQ backoff refusal)."""
    def build():
        app = jobsim.App("shop")
        retries = jobsim.Retries(attempts=4, backoff="exponential", min="2s", max="60s")
        app.function("charge", on="order/placed", retries=retries)(lambda ctx: "charged")
        app.function("report", cron="0 9 * * *", retries=0)(lambda ctx: "ok")
        app.function("audit", on="order/placed", retries=0)(lambda ctx: "audited")
        return app

    def play(sim):
        sim.send("order/placed", {"id": 1})
        sim.advance("1d")

    scenario = jobsim.Scenario(name="shop", description="", build=build, play=play, start="2025-03-03T00:00:00Z")
    reasons = {(o.profile, o.function): o.unsupported
               for o in jobsim.compare(scenario, profiles=["bullmq", "node-cron"]).outcomes}  # fmt: skip
    assert reasons[("bullmq", "charge")].startswith("retries=Retries(attempts=4")
    assert reasons[("bullmq", "report")] == reasons[("bullmq", "audit")] == (
        "none of the scenario runs: BullMQ refuses function 'charge' (its row)"
    )
    assert reasons[("node-cron", "charge")] == reasons[("node-cron", "audit")]  # each uses event triggers itself
    assert reasons[("node-cron", "audit")].startswith("it uses event triggers (on=)")
    assert reasons[("node-cron", "report")] == (
        "none of the scenario runs: node-cron refuses function 'charge' (its row)"
    )


class OwnBackendPlugin(BackendPlugin):
    """A backend that runs on rules of its own, under a profile of its own that is none of the seven."""

    profile = "acme-own"

    @hookimpl
    def jobsim_profiles(self):
        from jobsim._profiles import builtin_profiles

        bullmq = next(p for p in builtin_profiles() if p.name == "bullmq")
        return [dataclasses.replace(bullmq, name="acme-own", system="Acme")]


def test_by_default_the_targets_own_profile_is_compared_after_the_seven(capsys, tmp_path):
    """Every one of the seven refuses targets that run on their own rules: the default table was seven refusals."""
    plugin = OwnBackendPlugin()
    _plugins.register(plugin, name="own-backend-test")
    try:
        acme = jobsim.Scenario(name="acme", description="one charge", build=Backend, play=play_a_charge,
                               start="2025-03-03T00:00:00Z")  # fmt: skip
        result = jobsim.compare(acme)
        assert [o.profile for o in result.outcomes][-2:] == ["vercel-cron", "acme-own"]
        assert result.of("acme-own").completed == 1 and not result.of("inngest").supported
        assert [o.profile for o in jobsim.compare(acme, ["inngest"]).outcomes] == ["inngest"]  # named: those only
        module = tmp_path / "acme_scenario.py"
        module.write_text("import jobsim\nimport test_compare\n\nscenario = jobsim.Scenario(name='acme', "
                          "description='x', build=test_compare.Backend, play=test_compare.play_a_charge, "
                          "start='2025-03-03T00:00:00Z')\n")  # fmt: skip
        assert main(["compare", str(module), "--timeline", "acme-own"]) == 0
        out = capsys.readouterr().out
        assert "\nacme-own        1     1" in out and "profile acme-own" in out
    finally:
        _plugins.unregister(plugin)

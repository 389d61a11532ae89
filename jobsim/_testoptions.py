"""What jobsim's pytest plugin accepts, checked free of pytest: the ``jobsim`` marker (its signature, the
keywords it takes), the ``jobsim_*`` ini values (``check_ini``) and ``--jobsim-seed`` (``seed_option``).

The rest of jobsim is imported only when a check needs it: the plugin imports nothing of jobsim eagerly."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

MARKER = (
    "jobsim(*, start=None, tz=None, seed=None, profile=None, functions=None, exclude_functions=None, "
    "max_chain=None, random_streams=None, allow_unmatched_http=False): "
    "options of the simulation the `jobsim` fixture builds (start instant, display and naive-time "
    "zone, seed, profile, and every other jobsim.Simulation keyword); functions=[ids] simulates only those of "
    "jobsim_app's functions, "
    "exclude_functions=[ids] all but those; allow_unmatched_http=True keeps HTTP requests that matched no route "
    "from failing the test. The closest marker wins, keyword by keyword (functions= and exclude_functions= as one)."
)
SELECTION_OPTIONS = ("functions", "exclude_functions")
"""One choice: a closer marker giving either replaces what farther ones gave for both."""
SIMULATION_OPTIONS = ("start", "tz", "seed", "profile", *SELECTION_OPTIONS, "max_chain", "random_streams")
"""Every keyword of ``jobsim.Simulation`` (a test pins it to the signature); ``strategies.simulations`` takes
each of them too, so the @given advice carries them all over (a test pins that as well)."""
MARKER_OPTIONS = (*SIMULATION_OPTIONS, "allow_unmatched_http")
INI_OPTIONS = ("tz", "start", "profile")  # tz first: a naive jobsim_start is read in it


def seed_option(text: str) -> int:
    """``--jobsim-seed``'s type: one check at startup, not the same error in every test's setup."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if not -(1 << 63) <= seed < 1 << 64:  # Simulation's own bound: the trace header holds it as a JSON number
        raise argparse.ArgumentTypeError(f"{text}: a seed is an int within 64 bits, -2**63 to 2**64 - 1")
    return seed


def check_ini(values: Mapping[str, str]) -> None:
    """The ``jobsim_*`` ini values that are set (``tz``, ``start``, ``profile``): ``InvalidArgument`` names the
    bad one as its ini option (``jobsim_tz=...``)."""
    from ._profiles import Profiles, builtin_profiles
    from ._time import instant_ns, zone
    from .errors import InvalidArgument

    tz = zone(values.get("tz"), "jobsim_tz")
    if "start" in values:
        instant_ns(values["start"], "jobsim_start", tz=tz)
    chosen = values.get("profile")
    if chosen is not None and chosen not in {profile.name for profile in builtin_profiles()}:
        # a variant NAME(option=value), or a backend plugin's profile (jobsim-celery's "celery"): only
        # then are the plugins loaded, as the marker and Simulation(profile=...) would load them
        try:
            Profiles.registered().get(chosen)
        except InvalidArgument as bad:
            message = str(bad).removeprefix(f"profile={chosen!r} is not valid: ")
            raise InvalidArgument.build("jobsim_profile", chosen, message) from None

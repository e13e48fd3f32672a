"""Generated bad input: shared hypothesis settings, and the count of cases run printed at the end."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

from ._bounds import print_case_counts

#: bounded, reproducible runs that stay well inside the suite's time budget on 2 cores
settings.register_profile(
    "diffusion-studio",
    deadline=None,  # never decide by speed; the watchdog in _bounds catches hangs
    database=None,  # nothing written into the working tree
    derandomize=True,  # the same cases on every run, so CI time is predictable
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    print_blob=True,
)


def pytest_terminal_summary(terminalreporter):
    print_case_counts(terminalreporter)

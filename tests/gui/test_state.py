"""AppState: what every panel looks at. Lowering T never shows anyone a t out of range."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from diffusion_studio.core.schedules import make_schedule
from diffusion_studio.gui.state import AppState


@settings(max_examples=40, deadline=None)
@given(first_T=st.integers(2, 2000), second_T=st.integers(2, 2000), fraction=st.floats(0, 1))
def test_listeners_never_see_t_out_of_range_when_T_changes(qapp, first_T, second_T, fraction):
    state = AppState()
    state.set_schedule(make_schedule("linear", first_T))
    state.set_timestep(round(fraction * (first_T - 1)))
    before = state.timestep
    seen = []
    state.scheduleChanged.connect(lambda s: seen.append(("schedule", state.timestep, s.num_timesteps)))
    state.timestepChanged.connect(lambda t: seen.append(("t", t, state.schedule.num_timesteps)))

    state.set_schedule(make_schedule("cosine", second_T))

    assert all(t < T for _, t, T in seen)
    expected = min(before, second_T - 1)
    assert state.timestep == expected
    assert seen[0][0] == "schedule"
    # t is announced (after the schedule) only when it had to move
    assert [event for event in seen if event[0] == "t"] == ([("t", expected, second_T)] if expected != before else [])


def test_an_equal_schedule_changes_nothing(qapp):
    state = AppState()
    seen = []
    state.scheduleChanged.connect(seen.append)
    state.set_schedule(make_schedule("cosine", 1000))  # the default
    assert seen == []

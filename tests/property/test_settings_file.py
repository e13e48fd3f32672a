"""Generated settings files: loading never fails, keeps only valid values, and what it saves loads back the same."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from diffusion_studio.core.settings import DEFAULTS, Settings, SettingsFile

from ._bounds import bounded

PROFILE = settings.get_profile("diffusion-studio")

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8), inner, max_size=4), max_leaves=12)
keys = st.sampled_from(sorted(DEFAULTS)) | st.text(max_size=12)
good_values = {  # values that must be kept when they appear
    "theme": st.sampled_from(["system", "dark", "light"]),
    "default_timesteps": st.integers(2, 10_000),
    "tour_done": st.booleans(),
    "default_device": st.sampled_from(["auto", "cpu", "cuda", "mps", "cuda:1"]),
}


@st.composite
def settings_text(draw) -> str:
    """A settings file: a generated JSON object, or text around one (cut, NaN, deep nesting, not an object)."""
    data = draw(st.dictionaries(keys, json_values | st.one_of(*good_values.values()), max_size=8))
    text = json.dumps(data)  # floats("nan") become NaN / Infinity: JSON has no such thing
    damage = draw(st.sampled_from(["none", "none", "cut", "deep", "array", "bytes"]))
    if damage == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif damage == "deep":
        text = '{"recent_files": ' + "[" * draw(st.integers(60, 5000)) + "]" * 3
    elif damage == "array":
        text = f"[{text}]"
    elif damage == "bytes":
        text = text + draw(st.text(max_size=10))
    return text


@settings(PROFILE, max_examples=300)
@given(text=settings_text())
def test_any_settings_file_loads_to_valid_values_and_saves_and_loads_back(text, tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "settings.json"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    with bounded("settings loader: generated files"):
        loaded = Settings.load(path)
        values = loaded.as_dict()
        known = {key: values[key] for key in DEFAULTS}
        assert SettingsFile.model_validate(known).model_dump() == known  # every known value is valid
        assert loaded.notice is None or "\n" not in loaded.notice
        loaded.save()
        again = Settings.load(path)
        assert again.notice is None and again.as_dict() == values


@settings(PROFILE, max_examples=100)
@given(data=st.fixed_dictionaries({}, optional={k: v for k, v in good_values.items()}))
def test_valid_values_are_kept(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "settings.json"
    path.write_text(json.dumps(data))
    with bounded("settings loader: valid values kept"):
        loaded = Settings.load(path)
        assert loaded.notice is None and all(loaded[key] == value for key, value in data.items())

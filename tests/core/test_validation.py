"""The shared validation layer: one-line messages, safe JSON reading, generated hostile input."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic.dataclasses import dataclass

from diffusion_studio.core.errors import InputError
from diffusion_studio.core.validation import (
    MAX_SEED,
    STRICT,
    ConfigError,
    FiniteFloat,
    PositiveFloat,
    PositiveInt,
    Seed,
    parse_json,
    read_json_object,
    validated,
)


@dataclass(config=STRICT)
class Example:
    steps: PositiveInt = 10
    lr: PositiveFloat = 1e-3
    clip: FiniteFloat = 1.0
    seed: Seed = 0


def test_valid_values_pass_and_keep_their_types():
    example = validated(Example, {"steps": 3, "lr": 0.5, "seed": MAX_SEED}, what="x")
    assert (example.steps, example.lr, example.seed) == (3, 0.5, MAX_SEED)


@pytest.mark.parametrize("data, words", [
    ({"steps": 0}, "steps must be ≥ 1, got 0"),
    ({"lr": float("inf")}, "lr must be a finite number"),
    ({"lr": float("nan")}, "lr must be a finite number"),
    ({"clip": float("-inf")}, "clip must be a finite number"),
    ({"lr": -1}, "lr must be > 0, got -1"),
    ({"seed": 2**64}, "seed must be ≤"),
    ({"seed": -1}, "seed must be ≥ 0"),
    ({"steps": "abc"}, "steps must be a whole number, got 'abc'"),
    ({"steps": 2.5}, "steps must be a whole number"),
    ({"bogus": 1}, "bogus is not a known setting"),
])
def test_each_bad_value_gets_one_line_naming_the_setting(data, words):
    with pytest.raises(ConfigError) as info:
        validated(Example, data, what="the run's config.json")
    message = str(info.value)
    assert message.startswith("the run's config.json: ")
    assert words in message
    assert "\n" not in message and "pydantic" not in message


def test_labels_name_settings_as_the_user_knows_them():
    with pytest.raises(ConfigError, match="--lr must be > 0"):
        validated(Example, {"lr": 0}, what="train", labels={"lr": "--lr"})


def test_json_reader_refuses_every_kind_of_damaged_file(tmp_path):
    cases = {
        "nan.json": '{"a": NaN}',
        "inf.json": '{"a": Infinity}',
        "list.json": "[1, 2]",
        "torn.json": '{"a": 1',
        "binary.json": b"\xff\xfe\x00garbage",
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "deep_object.json": '{"a":' * 200 + "1" + "}" * 200,
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        with pytest.raises(InputError):
            read_json_object(path)
    with pytest.raises(InputError, match="does not exist"):
        read_json_object(tmp_path / "missing.json")
    with pytest.raises(InputError, match="not a regular file"):
        read_json_object(tmp_path)
    big = tmp_path / "big.json"
    big.write_text('{"a": "' + "x" * 2000 + '"}')
    with pytest.raises(InputError, match="too large"):
        read_json_object(big, max_bytes=1000)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_json_reader_never_blocks_on_a_fifo(tmp_path):
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        read_json_object(fifo)


def test_json_reader_reads_a_good_object(tmp_path):
    path = tmp_path / "ok.json"
    path.write_text(json.dumps({"a": [1, {"b": 2.5}]}))
    assert read_json_object(path) == {"a": [1, {"b": 2.5}]}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["steps", "lr", "clip", "seed", "other"]), json_values, max_size=5))
def test_generated_configs_validate_or_raise_config_error(data):
    try:
        example = validated(Example, data, what="generated")
    except ConfigError as exc:
        assert str(exc).startswith("generated: ") and "\n" not in str(exc)
        return
    assert example.steps >= 1 and example.lr > 0 and example.seed >= 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_generated_bytes_parse_or_raise_input_error(raw):
    try:
        parse_json(raw, what="generated")
    except InputError:
        pass

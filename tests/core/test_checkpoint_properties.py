"""Run folders damaged in generated ways: every loader answers with a reason (an InputError) or works.

A real run folder of a tiny model is written once; each example copies it and replaces one file —
``config.json`` (generated JSON, a section swapped for generated values, deep nesting, bytes),
``metrics.jsonl`` (generated lines and bytes), ``train_state.pt`` (generated plain states, mutated
bytes) or a safetensors header (generated header objects) — then asks every loader, and
``train --resume`` itself, for it. Bounded time and memory come from the loaders' own limits:
nothing is built from a config before its sizes are checked, and nothing is read past a size limit.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from diffusion_studio.cli import main
from diffusion_studio.core import checkpoint as ckpt
from diffusion_studio.core.errors import InputError
from diffusion_studio.core.training import train

from ._training_helpers import tiny_config

#: DIFFUSION_STUDIO_PROPERTY_SCALE=20 runs 20× the examples, freshly random (a long hunt for defects);
#: by default the same fixed examples run in every CI run, sized to the suite's time budget.
SCALE = int(os.environ.get("DIFFUSION_STUDIO_PROPERTY_SCALE", "1"))


def _property(examples: int):
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=SCALE == 1, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
JSON_LEAVES = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
               | st.text(max_size=12))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)


@pytest.fixture(scope="module")
def original_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("original") / "run"
    events = list(train(tiny_config(run, steps=2, checkpoint_every=1, sample_every=2)))
    assert events[-1].event == "done"
    return run


def _copy(original, tmp_path_factory):
    target = tmp_path_factory.mktemp("case") / "run"
    shutil.copytree(original, target)
    return target


def _ask_every_loader(run, capsys) -> None:
    """Each loader either works or raises InputError; ``train --resume`` exits 0 or 2."""
    for load in (ckpt.load_config, ckpt.load_checkpoint, ckpt.load_model, ckpt.read_metrics):
        try:
            load(run)
        except InputError:
            pass
    assert isinstance(ckpt.is_run_dir(run), bool) and isinstance(ckpt.latest_step(run), int)
    assert all(info.path.parent == run.parent for info in ckpt.list_runs(run.parent))
    code = main(["train", "--out", str(run), "--resume", "--steps", "3", "--quiet"])
    err = capsys.readouterr().err
    event(f"train --resume exits {code}")
    assert code in (0, 2), err
    assert "Traceback" not in err


def _sections(original_run) -> dict:
    return json.loads((original_run / "config.json").read_text())


@_property(40)
@given(data=st.data())
def test_generated_config_json(original_run, tmp_path_factory, capsys, data):
    run = _copy(original_run, tmp_path_factory)
    config = _sections(original_run)
    kind = data.draw(st.sampled_from(["section", "model key", "whole", "nested", "bytes"]))
    if kind == "section":
        config[data.draw(st.sampled_from(sorted(config)))] = data.draw(JSON_VALUES)
        text = json.dumps(config)
    elif kind == "model key":
        key = data.draw(st.sampled_from(sorted(config["model"]) + ["layers", "norm_groups"]))
        config["model"][key] = data.draw(JSON_LEAVES | st.sampled_from([4096, 10**6, [16] * 9, [1] * 100]))
        text = json.dumps(config)
    elif kind == "whole":
        text = json.dumps(data.draw(JSON_VALUES))
    elif kind == "nested":
        depth = data.draw(st.sampled_from([65, 1000, 100_000]))
        text = '{"model": ' + "[" * depth + "]" * depth + ', "schedule": {}}'
    else:
        text = data.draw(st.binary(max_size=200)).decode("latin-1")
    (run / "config.json").write_text(text, encoding="utf-8", errors="surrogateescape")
    _ask_every_loader(run, capsys)


@_property(10)  # most of these resume and train a step
@given(lines=st.lists(st.one_of(JSON_VALUES.map(json.dumps), st.text(max_size=30),
                                st.builds(lambda s: json.dumps({"step": s, "loss": 0.5}), JSON_LEAVES)),
                      max_size=8),
       max_step=st.integers(-5, 10))
def test_generated_metrics_lines(original_run, tmp_path_factory, capsys, lines, max_step):
    run = _copy(original_run, tmp_path_factory)
    (run / "metrics.jsonl").write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
    records = ckpt.read_metrics(run)
    assert all(isinstance(r, dict) and isinstance(r["step"], int) for r in records)
    ckpt.truncate_metrics(run, max_step)
    assert all(r["step"] <= max_step for r in ckpt.read_metrics(run))
    _ask_every_loader(run, capsys)


PLAIN = st.recursive(st.none() | st.booleans() | st.integers(-(2**62), 2**62) | st.floats() | st.text(max_size=8)
                     | st.builds(torch.zeros, st.integers(0, 3)),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                   max_size=3), max_leaves=8)


@_property(25)
@given(data=st.data())
def test_generated_and_mutated_train_states(original_run, tmp_path_factory, capsys, data):
    run = _copy(original_run, tmp_path_factory)
    path = run / "train_state.pt"
    real = torch.load(path, weights_only=True)
    kind = data.draw(st.sampled_from(["field", "whole", "bytes"]))
    if kind == "field":  # the real state with one entry replaced by a generated plain value
        real[data.draw(st.sampled_from(sorted(real)))] = data.draw(PLAIN)
        buffer = io.BytesIO()
        torch.save(real, buffer)
        path.write_bytes(buffer.getvalue())
    elif kind == "whole":
        buffer = io.BytesIO()
        torch.save(data.draw(PLAIN), buffer)
        path.write_bytes(buffer.getvalue())
    else:  # flip, cut or insert bytes of the real file
        raw = bytearray(path.read_bytes())
        for _ in range(data.draw(st.integers(1, 4))):
            at = data.draw(st.integers(0, len(raw) - 1))
            action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
            if action == "flip":
                raw[at] ^= data.draw(st.integers(1, 255))
            elif action == "cut":
                del raw[at:]
                break
            else:
                raw[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        path.write_bytes(bytes(raw))
    for step_dir in ckpt.list_step_dirs(run):  # no fallback to an intact older checkpoint
        shutil.copyfile(path, step_dir / "train_state.pt")
    _ask_every_loader(run, capsys)


def _safetensors(header: object, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


@_property(25)
@given(header=st.one_of(
    JSON_VALUES,
    st.dictionaries(st.sampled_from(["__metadata__", "conv_in.weight", "x"]), st.one_of(
        JSON_VALUES,
        st.fixed_dictionaries({"dtype": st.sampled_from(["F32", "F16", "I64", "BOOL", "F64", "X"]),
                               "shape": st.lists(st.integers(-1, 2**40), max_size=4),
                               "data_offsets": st.lists(st.integers(-1, 2**40), min_size=0, max_size=3)}),
    ), max_size=3)),
    payload=st.binary(max_size=64), declared=st.one_of(st.none(), st.integers(0, 2**64 - 1)))
def test_generated_safetensors_headers(original_run, tmp_path_factory, capsys, header, payload, declared):
    run = _copy(original_run, tmp_path_factory)
    blob = _safetensors(header, payload)
    if declared is not None:  # a header length that lies
        blob = struct.pack("<Q", declared) + blob[8:]
    for name in ("model.safetensors", "model_ema.safetensors"):
        for folder in [run, *ckpt.list_step_dirs(run)]:
            (folder / name).unlink()
            (folder / name).write_bytes(blob)
    step = ckpt.read_weights_step(run / "model.safetensors")
    assert step is None or (isinstance(step, int) and step >= 0)
    _ask_every_loader(run, capsys)

"""Generated damage to a diffusers model folder: a mutated config.json, a mutated safetensors header, a truncated
weights file. Each either still opens or is refused with an InputError (exit 2 / a message in the panel);
nothing else escapes, and nothing is allocated for an absurd config."""

from __future__ import annotations

import json
import shutil
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diffusion_studio.core.errors import InputError
from diffusion_studio.core.model_sources import open_model
from tests.diffusers_models import save_bare_unet

pytestmark = pytest.mark.usefixtures("one_torch_thread")

WEIGHTS = "diffusion_pytorch_model.safetensors"
CONFIG_KEYS = ["sample_size", "in_channels", "out_channels", "block_out_channels", "layers_per_block",
               "down_block_types", "up_block_types", "norm_num_groups", "attention_head_dim", "num_class_embeds",
               "mid_block_type", "time_embedding_type", "downsample_type", "resnet_time_scale_shift", "dropout",
               "act_fn", "_class_name", "time_embedding_dim", "add_attention", "class_embed_type", "norm_eps",
               "something_new"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20) | st.sampled_from(["DownBlock2D", "AttnDownBlock2D", "UpBlock2D", "UNetMidBlock2D", "gelu",
                                              "fourier", "scale_shift", "resnet", "UNet2DConditionModel"]),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return save_bare_unet(tmp_path_factory.mktemp("model") / "unet")


def _copy(pristine, tmp_path):
    folder = tmp_path / "copy"
    shutil.rmtree(folder, ignore_errors=True)
    return shutil.copytree(pristine, folder)


def _opens_or_refuses(folder) -> None:
    try:
        loaded = open_model(folder, device="cpu")
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert loaded.image_size >= 1 and loaded.channels >= 1


@FAST
@given(changes=st.dictionaries(st.sampled_from(CONFIG_KEYS), json_values, min_size=1, max_size=3))
def test_a_mutated_config_opens_or_is_refused_with_a_reason(pristine, tmp_path, changes):
    folder = _copy(pristine, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))
    _opens_or_refuses(folder)


@FAST
@given(data=st.data())
def test_a_mutated_safetensors_header_opens_or_is_refused_with_a_reason(pristine, tmp_path, data):
    folder = _copy(pristine, tmp_path)
    raw = (folder / WEIGHTS).read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    how = data.draw(st.sampled_from(["entry", "bytes", "length"]))
    if how == "entry":  # a valid JSON header that says something else about one tensor
        name = data.draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
        field = data.draw(st.sampled_from(["dtype", "shape", "data_offsets", "name"]))
        if field == "name":
            header[data.draw(st.text(min_size=1, max_size=30))] = header.pop(name)
        else:
            header[name][field] = data.draw(json_values)
        text = json.dumps(header).encode()
        raw = struct.pack("<Q", len(text)) + text + raw[8 + length:]
    elif how == "bytes":  # bytes flipped anywhere in the header
        flips = data.draw(st.lists(st.tuples(st.integers(8, 8 + length - 1), st.integers(0, 255)), min_size=1,
                                   max_size=4))
        buffer = bytearray(raw)
        for index, value in flips:
            buffer[index] = value
        raw = bytes(buffer)
    else:  # the length field lies
        raw = struct.pack("<Q", data.draw(st.integers(0, 2**64 - 1))) + raw[8:]
    (folder / WEIGHTS).write_bytes(raw)
    _opens_or_refuses(folder)


@FAST
@given(fraction=st.floats(0.0, 0.9999))
def test_a_truncated_weights_file_is_refused(pristine, tmp_path, fraction):
    folder = _copy(pristine, tmp_path)
    raw = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(raw[: int(len(raw) * fraction)])
    with pytest.raises(InputError, match="not a valid safetensors file|do not fit"):
        open_model(folder, device="cpu")

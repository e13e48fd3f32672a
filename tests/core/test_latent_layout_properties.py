"""Generated bad input for the latent loaders: configs, weight files and prompts never crash, they explain."""

from __future__ import annotations

import json
import shutil
import struct

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ._latent_helpers import open_toy, toy_folder

from diffusion_studio.core.errors import InputError  # noqa: E402
from diffusion_studio.core.model_sources.latent.layout import check_safetensors_file, read_layout  # noqa: E402
from diffusion_studio.core.model_sources.latent.parts import latent_parts  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
CONFIG_KEYS = {
    "unet/config.json": ["in_channels", "out_channels", "sample_size", "block_out_channels", "layers_per_block",
                         "cross_attention_dim", "addition_embed_type", "time_cond_proj_dim", "_class_name"],
    "vae/config.json": ["latent_channels", "block_out_channels", "scaling_factor", "shift_factor", "in_channels",
                        "_class_name"],
    "text_encoder/config.json": ["hidden_size", "num_hidden_layers", "max_position_embeddings", "vocab_size",
                                 "architectures"],
    "model_index.json": ["_class_name", "text_encoder", "unet"],
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return toy_folder(tmp_path_factory, "epsilon", name="toy_props")


@SETTINGS
@given(file=st.sampled_from(sorted(CONFIG_KEYS)), data=st.data())
def test_any_config_value_is_read_or_refused_with_an_input_error(folder, file, data):
    path = folder / file
    original = path.read_text()
    config = json.loads(original)
    key = data.draw(st.sampled_from(CONFIG_KEYS[file]) | st.text(min_size=1, max_size=8), label="key")
    config[key] = data.draw(json_values, label="value")
    try:
        path.write_text(json.dumps(config))
        read_layout(folder)
    except InputError as error:
        assert str(error) and "\n" not in str(error)
    finally:
        path.write_text(original)


@SETTINGS
@given(blob=st.binary(max_size=200))
def test_any_bytes_as_a_weight_file_are_accepted_only_when_whole(tmp_path, blob):
    path = tmp_path / "w.safetensors"
    path.write_bytes(blob)
    try:
        check_safetensors_file(path, "w.safetensors")
    except InputError:
        return
    (length,) = struct.unpack("<Q", blob[:8])  # accepted: the header says exactly how long the file is
    assert len(blob) >= 8 + length


@SETTINGS
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_a_weight_file_cut_anywhere_is_refused(folder, tmp_path, cut):
    whole = (folder / "vae" / "diffusion_pytorch_model.safetensors").read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(whole[: max(0, len(whole) - 1 - cut)])
    with pytest.raises(InputError):
        check_safetensors_file(path, "cut.safetensors")


@pytest.fixture(scope="module")
def text(folder):
    return latent_parts(open_toy(folder)).text


@SETTINGS
@given(prompt=st.text(max_size=400))
def test_any_prompt_encodes_and_long_ones_are_truncated_with_a_notice(text, prompt):
    encoded = text.encode(prompt)
    assert encoded.embeddings.shape == (1, 77, text.hidden_size) and torch.isfinite(encoded.embeddings).all()
    assert encoded.num_tokens == text.count_tokens(prompt)
    assert encoded.truncated == (encoded.num_tokens > 75) == (encoded.notice() is not None)


def test_the_truncation_notice_quotes_what_was_left_out(text):
    encoded = text.encode("a cat " * 37 + "a big red dog")  # 74 + 4 tokens: CLIP reads 75 of them
    assert encoded.truncated and encoded.num_tokens == 78
    assert encoded.notice() == "The prompt is 78 tokens long and the text encoder reads 75: “big red dog” was left out."
    assert encoded.notice("negative prompt").startswith("The negative prompt is 78 tokens long")
    assert text.encode("").num_tokens == 0 and text.encode("").notice() is None


def test_the_layout_check_does_not_follow_weight_shards_out_of_the_folder(folder, tmp_path):
    copy = tmp_path / "sharded"
    shutil.copytree(folder, copy)
    (copy / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    index = {"weight_map": {"encoder.conv_in.weight": "../../secrets.safetensors"}}
    (copy / "vae" / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(InputError, match="names a weight file outside its folder"):
        read_layout(copy)

"""The U-Net: preset sizes, shapes for 1/3 channels and many image sizes, class labels, clear refusals.

diffusers as the oracle for the layout and the outputs is in test_unet_diffusers.py.
"""

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from diffusion_studio.core.errors import InputError
from diffusion_studio.core.unet import (
    MAX_PARAMETERS,
    PRESETS,
    UNet,
    UNetConfig,
    count_parameters,
    estimate_parameters,
    preset_config,
    timestep_embedding,
    validate_config,
)
from diffusion_studio.core.unet_config import MAX_DEFAULT_ATTENTION_SIZE, norm_groups_for


pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = dict(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_resolutions=(), dropout=0.0)


def _randomised(model: UNet, seed: int = 0) -> UNet:
    # The zero-initialised last convs would hide everything the tests look at.
    torch.manual_seed(seed)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return model


def test_preset_sizes_match_their_promise():
    tiny = count_parameters(UNet(**preset_config("cpu-tiny", 16, 3)))
    cifar = count_parameters(UNet(**preset_config("ddpm-cifar", 32, 3)))
    assert 1_000_000 <= tiny <= 2_000_000
    assert abs(cifar - 35.7e6) < 0.1e6  # Ho et al. 2020, CIFAR-10: 35.7 M parameters
    assert tiny < count_parameters(UNet(**preset_config("gpu-small", 32, 3))) < cifar
    assert set(PRESETS) == {"cpu-tiny", "gpu-small", "ddpm-cifar"}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [8, 16, 24, 32])
def test_output_has_input_shape(channels, size):
    model = UNet(in_channels=channels, image_size=size, **{**TINY, "attention_resolutions": (size // 2,)})
    x = torch.randn(2, channels, size, size)
    out = model(x, torch.tensor([0, 999]))
    assert out.shape == x.shape


def test_learned_variance_doubles_the_output_channels():
    model = UNet(in_channels=3, out_channels=6, image_size=8, **TINY)
    assert model(torch.randn(2, 3, 8, 8), torch.tensor([1, 2])).shape == (2, 6, 8, 8)
    assert preset_config("cpu-tiny", 16, 3, out_channels=6)["out_channels"] == 6


@pytest.mark.parametrize("name", ["cpu-tiny", "gpu-small"])
def test_presets_run_at_small_sizes(name):
    config = preset_config(name, 16, 1)
    model = UNet(**config)
    assert model(torch.randn(1, 1, 16, 16), torch.tensor([5])).shape == (1, 1, 16, 16)
    assert all(r in [16 // 2**i for i in range(len(config["channel_mults"]))] for r in config["attention_resolutions"])


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("size", [8, 16, 32, 64, 128, 256, 512, 1024])
def test_presets_put_attention_only_on_small_maps(name, size):
    config = UNetConfig.parse(preset_config(name, size, 3))
    assert all(r <= MAX_DEFAULT_ATTENTION_SIZE for r in config.attention_resolutions)
    assert config.mid_attention == (config.resolutions[-1] <= MAX_DEFAULT_ATTENTION_SIZE)
    if size <= 64:  # small images keep the preset's attention
        assert config.attention_resolutions


def test_presets_keep_attention_the_user_asks_for():
    config = preset_config("gpu-small", 256, 3, attention_resolutions=(64,), mid_attention=True)
    assert config["attention_resolutions"] == [64] and config["mid_attention"] is True
    assert preset_config("gpu-small", 256, 3)["attention_resolutions"] == [32]  # not 128 px any more


def test_output_depends_on_timestep_and_input_after_training_init():
    model = _randomised(UNet(in_channels=1, image_size=8, **TINY))
    x = torch.randn(1, 1, 8, 8)
    a, b = model(x, torch.tensor([1])), model(x, torch.tensor([900]))
    assert not torch.allclose(a, b)
    assert not torch.allclose(a, model(x + 0.5, torch.tensor([1])))


def test_gradients_reach_every_parameter():
    model = _randomised(UNet(in_channels=3, image_size=8, num_classes=3, **{**TINY, "attention_resolutions": (4,)}))
    loss = model(torch.randn(2, 3, 8, 8), torch.tensor([3, 500]), class_labels=torch.tensor([0, 3])).square().mean()
    loss.backward()
    silent = [name for name, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert silent == []
    assert torch.any(model.class_embedding.weight.grad[0] != 0) and torch.any(model.class_embedding.weight.grad[3] != 0)


@pytest.mark.parametrize("attention", [(), (8,)])
def test_channels_last_gives_the_same_result(attention):
    model = _randomised(UNet(in_channels=3, image_size=16, **{**TINY, "attention_resolutions": attention}), seed=1)
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([3, 400])
    expected = model(x, t)
    model_cl = model.to(memory_format=torch.channels_last)
    got = model_cl(x.contiguous(memory_format=torch.channels_last), t)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("head_dim", [None, 4])
@pytest.mark.parametrize("channels_last", [False, True])
def test_attention_hands_contiguous_heads_to_the_fused_kernel(monkeypatch, head_dim, channels_last):
    seen = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, *args, **kwargs):
        seen.append((q, k, v))
        return real(q, k, v, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    model = UNet(in_channels=3, image_size=8, attention_head_dim=head_dim, **{**TINY, "attention_resolutions": (8,)})
    x = torch.randn(2, 3, 8, 8)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    model(x, torch.tensor([1, 2]))
    assert len(seen) == 4  # at 8 px: one in the encoder, two in the decoder; one in the middle (4 px)
    for q, k, v in seen:
        width = q.shape[1] * q.shape[3]
        assert q.shape[1] == (1 if head_dim is None else width // head_dim)
        assert q.shape[2] in (64, 16)  # H·W tokens: 8×8 level, 4×4 middle
        assert all(tensor.is_contiguous() for tensor in (q, k, v))


def test_config_round_trip_is_json_ready():
    model = UNet(in_channels=1, image_size=16, num_classes=10, **TINY)
    config = json.loads(json.dumps(model.config))
    assert config["layout"] == "diffusers-unet2d"
    clone = UNet.from_config(config)
    assert clone.config == model.config
    clone.load_state_dict(model.state_dict())  # same architecture, same names
    with pytest.raises(InputError, match="wings is not a known setting"):
        UNet.from_config({**config, "wings": 2})


def test_a_run_of_the_earlier_unet_is_refused_with_what_to_do():
    old = {"in_channels": 1, "out_channels": 1, "base_channels": 32, "channel_mults": [1, 2, 2], "num_res_blocks": 1,
           "attention_resolutions": [8], "dropout": 0.0, "image_size": 16}
    with pytest.raises(InputError, match=r"Diffusion Studio 0\.1.*train it again"):
        UNet.from_config(old)
    with pytest.raises(InputError, match="newer version"):
        UNet.from_config({**old, "layout": "some-future-layout"})


def test_refuses_sizes_it_cannot_halve_with_a_suggestion():
    with pytest.raises(InputError, match="multiple of 8"):
        UNet(image_size=30, channel_mults=(1, 2, 2, 2))
    with pytest.raises(InputError, match="image_size must be ≥ 8"):
        UNet(image_size=4, channel_mults=(1,))
    with pytest.raises(InputError, match="never reached"):
        UNet(image_size=32, attention_resolutions=(64,))
    with pytest.raises(InputError, match="unknown model preset"):
        preset_config("huge", 32, 3)
    with pytest.raises(InputError, match="multiple of 4"):
        UNet(base_channels=30)
    with pytest.raises(InputError, match="attention_head_dim 24 does not divide"):
        UNet(base_channels=32, attention_head_dim=24)


@pytest.mark.parametrize("setting, value, words", [
    ("base_channels", 4096, "base_channels must be ≤ 1024"),
    ("num_res_blocks", 1_000_000, "num_res_blocks must be ≤ 8"),
    ("channel_mults", [1] * 9, "channel_mults takes at most 8 entries"),
    ("image_size", 4096, "image_size must be ≤ 1024"),
    ("dropout", 1.0, "dropout must be < 1"),
    ("num_classes", 0, "num_classes must be ≥ 1"),
])
def test_absurd_sizes_are_refused_before_anything_is_allocated(setting, value, words):
    with pytest.raises(InputError, match=words):
        validate_config({setting: value})
    with pytest.raises(InputError, match=words):
        estimate_parameters({setting: value})


def test_the_parameter_estimate_needs_no_memory_and_guards_from_config():
    for config in (preset_config("cpu-tiny", 16, 1), preset_config("ddpm-cifar", 32, 3, num_classes=10)):
        assert estimate_parameters(config) == count_parameters(UNet(**config))
    # Within every per-setting cap, but ~900 billion parameters: counted on the meta device, then refused.
    huge = UNetConfig.parse(dict(base_channels=1024, channel_mults=[16] * 8, num_res_blocks=8, image_size=1024,
                                 attention_resolutions=[], mid_attention=False)).to_dict()
    assert estimate_parameters(huge) > MAX_PARAMETERS
    with pytest.raises(InputError, match="parameters"):
        UNet.from_config(huge)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(
    st.sampled_from(["base_channels", "channel_mults", "num_res_blocks", "attention_resolutions", "dropout",
                     "image_size", "in_channels", "out_channels", "num_classes", "attention_head_dim",
                     "norm_num_groups", "mid_attention", "layout"]),
    st.one_of(st.integers(-5, 5000), st.floats(allow_nan=True), st.text(max_size=3), st.none(), st.booleans(),
              st.lists(st.integers(-3, 70), max_size=10)),
    max_size=4,
))
def test_any_model_settings_are_either_usable_or_refused_clearly(settings_):
    try:
        config = validate_config(settings_)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert estimate_parameters(config) > 0


def test_one_group_count_for_the_whole_net_keeps_four_channels_per_group():
    assert [norm_groups_for(c) for c in (4, 8, 12, 16, 32, 64, 128, 20)] == [1, 2, 2, 4, 8, 16, 32, 4]
    for base in (8, 12, 32, 128):
        model = UNet(base_channels=base, image_size=8, channel_mults=(1, 2), attention_resolutions=(4,))
        norms = [m for m in model.modules() if isinstance(m, torch.nn.GroupNorm)]
        assert {m.num_groups for m in norms} == {norm_groups_for(base)}
        assert all(m.num_channels // m.num_groups >= 4 for m in norms)
        assert all(m.eps == 1e-6 for m in norms)


def test_wrong_input_is_a_clear_error():
    model = UNet(in_channels=3, image_size=16, **TINY)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(torch.randn(1, 1, 16, 16), torch.tensor([0]))
    with pytest.raises(ValueError, match="multiples of 2"):
        model(torch.randn(1, 3, 15, 15), torch.tensor([0]))
    with pytest.raises(ValueError, match="t must be a scalar"):
        model(torch.randn(2, 3, 16, 16), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="not class-conditional"):
        model(torch.randn(1, 3, 16, 16), torch.tensor([0]), class_labels=torch.tensor([1]))


def test_class_labels_none_means_the_null_label():
    model = _randomised(UNet(in_channels=1, image_size=8, num_classes=4, **TINY))
    assert model.null_class == 4 and model.class_embedding.num_embeddings == 5
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([10, 10, 10])
    unconditional = model(x, t)
    torch.testing.assert_close(unconditional, model(x, t, class_labels=torch.tensor([4, 4, 4])))
    torch.testing.assert_close(unconditional, model(x, t, class_labels=torch.tensor(4)))
    assert not torch.allclose(unconditional, model(x, t, class_labels=torch.tensor([1, 1, 1])))
    with pytest.raises(ValueError, match=r"0 … 4"):
        model(x, t, class_labels=torch.tensor([0, 5, 1]))
    with pytest.raises(ValueError, match="integer class indices"):
        model(x, t, class_labels=torch.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        model(x, t, class_labels=torch.tensor([0, 1]))


def test_timestep_embedding_is_sinusoidal():
    emb = timestep_embedding(torch.tensor([0, 10]), 8)
    assert emb.shape == (2, 8)
    torch.testing.assert_close(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert torch.all(emb.abs() <= 1.0)

"""The U-Net: preset sizes, shapes for 1/3 channels and many image sizes, clear refusals."""

import json

import pytest
import torch

from diffusion_studio.core.errors import InputError
from diffusion_studio.core.unet import PRESETS, UNet, count_parameters, preset_config, timestep_embedding



@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny convolutions on a shared 2-core machine: one thread avoids OpenMP oversubscription.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


TINY = dict(base_channels=8, channel_mults=(1, 2), num_res_blocks=1, attention_resolutions=(), dropout=0.0)


def test_preset_sizes_match_their_promise():
    tiny = count_parameters(UNet(**preset_config("cpu-tiny", 16, 3)))
    cifar = count_parameters(UNet(**preset_config("ddpm-cifar", 32, 3)))
    assert 1_000_000 <= tiny <= 2_000_000
    assert abs(cifar - 35.7e6) < 0.1e6  # Ho et al. 2020, CIFAR-10: 35.7 M parameters
    assert count_parameters(UNet(**preset_config("cpu-tiny", 16, 3))) < count_parameters(
        UNet(**preset_config("gpu-small", 32, 3))) < cifar
    assert set(PRESETS) == {"cpu-tiny", "gpu-small", "ddpm-cifar"}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [8, 16, 24, 32])
def test_output_has_input_shape(channels, size):
    model = UNet(in_channels=channels, image_size=size, **{**TINY, "attention_resolutions": (size // 2,)})
    x = torch.randn(2, channels, size, size)
    out = model(x, torch.tensor([0, 999]))
    assert out.shape == x.shape


@pytest.mark.parametrize("name", ["cpu-tiny", "gpu-small"])
def test_presets_run_at_small_sizes(name):
    config = preset_config(name, 16, 1)
    model = UNet(**config)
    assert model(torch.randn(1, 1, 16, 16), torch.tensor([5])).shape == (1, 1, 16, 16)
    assert all(r in [16 // 2**i for i in range(len(config["channel_mults"]))] for r in config["attention_resolutions"])


def test_output_depends_on_timestep_and_input_after_training_init():
    torch.manual_seed(0)
    model = UNet(in_channels=1, image_size=8, **TINY)
    for p in model.parameters():  # the zero-initialised output layer would hide everything
        torch.nn.init.normal_(p, std=0.05)
    x = torch.randn(1, 1, 8, 8)
    a, b = model(x, torch.tensor([1])), model(x, torch.tensor([900]))
    assert not torch.allclose(a, b)
    assert not torch.allclose(a, model(x + 0.5, torch.tensor([1])))


def test_channels_last_gives_the_same_result():
    torch.manual_seed(1)
    model = UNet(in_channels=3, image_size=16, **TINY)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([3, 400])
    expected = model(x, t)
    model_cl = model.to(memory_format=torch.channels_last)
    got = model_cl(x.contiguous(memory_format=torch.channels_last), t)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_config_round_trip_is_json_ready():
    model = UNet(in_channels=1, image_size=16, **TINY)
    config = json.loads(json.dumps(model.config))
    clone = UNet.from_config(config)
    assert clone.config == model.config
    clone.load_state_dict(model.state_dict())  # same architecture, same names
    with pytest.raises(InputError, match="unknown model settings"):
        UNet.from_config({**config, "wings": 2})


def test_refuses_sizes_it_cannot_halve_with_a_suggestion():
    with pytest.raises(InputError, match="multiple of 8"):
        UNet(image_size=30, channel_mults=(1, 2, 2, 2))
    with pytest.raises(InputError, match="between 8 and"):
        UNet(image_size=4, channel_mults=(1,))
    with pytest.raises(InputError, match="never reached"):
        UNet(image_size=32, attention_resolutions=(64,))
    with pytest.raises(InputError, match="unknown model preset"):
        preset_config("huge", 32, 3)


def test_wrong_input_is_a_clear_error():
    model = UNet(in_channels=3, image_size=16, **TINY)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        model(torch.randn(1, 1, 16, 16), torch.tensor([0]))
    with pytest.raises(ValueError, match="multiples of 2"):
        model(torch.randn(1, 3, 15, 15), torch.tensor([0]))


def test_timestep_embedding_is_sinusoidal():
    emb = timestep_embedding(torch.tensor([0, 10]), 8)
    assert emb.shape == (2, 8)
    torch.testing.assert_close(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert torch.all(emb.abs() <= 1.0)

"""diffusers as the oracle: our U-Net is, key for key, a ``UNet2DModel`` built from ``to_diffusers()``."""

import pytest
import torch
from diffusers import UNet2DModel
from diffusers.models.embeddings import get_timestep_embedding

from diffusion_studio.core.unet import UNet, preset_config, timestep_embedding


pytestmark = pytest.mark.usefixtures("one_torch_thread")


CONFIGS = {
    "grey, no attention": dict(in_channels=1, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
                               attention_resolutions=(), mid_attention=False, dropout=0.0, image_size=8),
    "rgb, attention at the top level": dict(in_channels=3, base_channels=16, channel_mults=(1, 2, 2), num_res_blocks=2,
                                            attention_resolutions=(16,), dropout=0.0, image_size=16),
    "odd widths, attention at two levels": dict(in_channels=3, base_channels=12, channel_mults=(1, 3, 5),
                                                num_res_blocks=2, attention_resolutions=(8, 4), dropout=0.0,
                                                image_size=16),
    "class-conditional": dict(in_channels=1, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
                              attention_resolutions=(4,), dropout=0.0, image_size=8, num_classes=10),
    "learned variance (2C out)": dict(in_channels=3, out_channels=6, base_channels=8, channel_mults=(1, 2, 2),
                                      num_res_blocks=1, attention_resolutions=(4,), dropout=0.0, image_size=16),
    "dropout, in eval mode": dict(in_channels=1, base_channels=8, channel_mults=(1, 2), num_res_blocks=2,
                                  attention_resolutions=(8,), dropout=0.3, image_size=8),
    "several heads": dict(in_channels=3, base_channels=16, channel_mults=(1, 2), num_res_blocks=1,
                          attention_resolutions=(8, 4), attention_head_dim=8, dropout=0.0, image_size=8),
    "cpu-tiny preset, 16 px": preset_config("cpu-tiny", 16, 1),
}


def _pair(settings: dict, seed: int = 0) -> tuple[UNet, UNet2DModel]:
    torch.manual_seed(seed)
    ours = UNet(**settings)
    for p in ours.parameters():  # zero-initialised layers would hide any difference
        torch.nn.init.normal_(p, std=0.1)
    theirs = UNet2DModel(**ours.unet_config.to_diffusers())
    theirs.load_state_dict(ours.state_dict(), strict=True)
    return ours.eval(), theirs.eval()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_state_dict_has_diffusers_keys_and_shapes(name):
    ours = UNet(**CONFIGS[name])
    theirs = UNet2DModel(**ours.unet_config.to_diffusers())
    ours_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    theirs_shapes = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert ours_shapes == theirs_shapes


@pytest.mark.parametrize("name", list(CONFIGS))
def test_same_outputs_as_unet2dmodel(name):
    ours, theirs = _pair(CONFIGS[name])
    config = ours.unet_config
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, config.in_channels, config.image_size, config.image_size, generator=generator)
    t = torch.tensor([0, 417, 999])
    kwargs = {}
    if config.num_classes is not None:
        kwargs["class_labels"] = torch.tensor([0, 7, config.num_classes])  # the last: the null label
    with torch.no_grad():
        expected = theirs(x, t, **kwargs).sample
        got = ours(x, t, **kwargs)
    assert got.shape == (3, config.out_channels, config.image_size, config.image_size)
    assert expected.abs().max() > 0.01  # a real signal, not zeros compared with zeros
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_same_result_with_a_scalar_timestep():
    ours, theirs = _pair(CONFIGS["rgb, attention at the top level"], seed=3)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(ours(x, torch.tensor(250)), theirs(x, 250).sample, rtol=1e-5, atol=1e-5)


def test_same_gradients_as_unet2dmodel():
    ours, theirs = _pair(CONFIGS["class-conditional"], seed=5)
    ours.train(), theirs.train()
    x, t, labels = torch.randn(2, 1, 8, 8), torch.tensor([5, 900]), torch.tensor([3, 10])
    ours(x, t, class_labels=labels).square().sum().backward()
    theirs(x, t, class_labels=labels).sample.square().sum().backward()
    their_grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, their_grads[name].grad, rtol=1e-4, atol=1e-5, msg=name)


def test_time_embedding_is_diffusers_with_our_config():
    t = torch.tensor([0, 1, 10, 500, 999])
    for dim in (8, 32, 33):
        expected = get_timestep_embedding(t, dim, flip_sin_to_cos=False, downscale_freq_shift=1)
        torch.testing.assert_close(timestep_embedding(t, dim), expected)

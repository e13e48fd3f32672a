"""The pieces a latent (Stable Diffusion) model brings besides its U-Net, and the U-Net as the chain calls it.

``core.model_sources.latent`` opens a pipeline folder into a :class:`~core.loaded_model.LoadedModel`
whose ``model`` is a :class:`ConditionedUNet` (x_t, t, encoder_hidden_states → output), whose ``decode``
is the VAE's decoder, and whose ``extra["latent"]`` is a :class:`LatentParts`: the prompt encoder, the
autoencoder (decode for display, encode for image-to-image), the live preview and what the model is.

Memory (a laptop first): the text encoder and the VAE live on the CPU in float32. On an accelerator the
VAE visits the device only for the time of a decode or an encode (``offload``), so between steps the
device holds the U-Net alone; the VAE stays float32 there too (SD's VAE overflows in float16).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ...errors import InputError

if TYPE_CHECKING:
    from ...loaded_model import LoadedModel
    from .preview import LatentPreview
    from .text import PromptEncoder

__all__ = ["ConditionedUNet", "LatentAutoencoder", "LatentParts", "latent_parts"]


class ConditionedUNet(torch.nn.Module):
    """A ``UNet2DConditionModel`` as ``model(x_t, t, encoder_hidden_states=…)``: float32 in and out.

    Inputs are cast to the U-Net's dtype (float16/bfloat16 on an accelerator) and the output back to
    the chain's float32, so the sampler's arithmetic and the kept latents stay float32.
    """

    def __init__(self, unet: torch.nn.Module):
        super().__init__()
        self.unet = unet

    @property
    def config(self):
        return self.unet.config

    def forward(self, x: torch.Tensor, t: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        dtype = self.unet.dtype
        out = self.unet(x.to(dtype), t, encoder_hidden_states=encoder_hidden_states.to(x.device, dtype),
                        return_dict=False)[0]
        return out.to(x.dtype)


class LatentAutoencoder:
    """The VAE with the latent scaling of diffusers' pipelines: ``decode(latents)`` → pixels, ``encode(pixels)``.

    Latents are in the U-Net's space, z = (E(x) − shift)·scaling_factor (0.18215 for SD 1.x/2.x, so that
    they have roughly unit variance); pixels are float32 (N, 3, H, W) in [−1, 1] (decoded ones may
    overshoot slightly; displays clip). One call at a time (a lock), one sample at a time, so a decode
    needs the memory of one image whatever the batch.
    """

    def __init__(self, vae: torch.nn.Module, *, scaling_factor: float, shift_factor: float | None,
                 device: torch.device, offload: bool):
        self.vae = vae
        self.scaling_factor = float(scaling_factor)
        self.shift_factor = float(shift_factor or 0.0)
        self.scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.device = device
        self.offload = bool(offload)
        self._lock = threading.Lock()

    def _run(self, function, x) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):  # a frame's read-only numpy latents: a copy torch may own
            x = torch.tensor(x, dtype=torch.float32)
        with self._lock, torch.inference_mode():
            if self.offload:
                self.vae.to(self.device)
            try:
                parts = [function(x[i : i + 1].to(self.device, torch.float32)).float().cpu() for i in range(x.shape[0])]
            finally:
                if self.offload:
                    self.vae.to("cpu")
        return torch.cat(parts).clone()  # outside inference mode: an ordinary tensor

    def decode(self, latents) -> torch.Tensor:
        """Latents (N, C, h, w), a tensor or an array → pixels (N, 3, h·f, w·f) float32 on the CPU, f =
        :attr:`scale_factor`."""
        return self._run(lambda z: self.vae.decode(z / self.scaling_factor + self.shift_factor,
                                                   return_dict=False)[0], latents)

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels (N, 3, H, W) in [−1, 1] → latents (the posterior's mean, scaled), float32 on the CPU."""
        return self._run(lambda x: (self.vae.encode(x).latent_dist.mean - self.shift_factor) * self.scaling_factor,
                         pixels)


@dataclass
class LatentParts:
    """What a latent model needs besides the U-Net: ``loaded.extra["latent"]`` of a latent model."""

    text: "PromptEncoder"
    autoencoder: LatentAutoencoder
    preview: "LatentPreview"
    family: str  # "SD 1.x family", "SD 2.x family, v-prediction", …
    native_size: int  # the pixel size the U-Net was trained at
    dtype: str  # the U-Net's dtype: "float32", "float16", "bfloat16"
    pipeline_class: str = "StableDiffusionPipeline"
    components: dict[str, Any] | None = None  # parameter counts per component, for display

    @property
    def scale_factor(self) -> int:
        return self.autoencoder.scale_factor

    def describe(self, loaded: "LoadedModel") -> str:
        """One line for people: family, size, latent shape, prediction, schedule, size of each part."""
        from ...loaded_model import PREDICTION_LABELS

        side = loaded.image_size
        parts = [self.family, f"{self.native_size}² px from {side}×{side}×{loaded.channels} latents",
                 PREDICTION_LABELS.get(loaded.prediction, loaded.prediction),
                 f"{loaded.schedule.name} T = {loaded.schedule.num_timesteps}", self.dtype]
        if self.components:
            parts.append(", ".join(f"{name} {count / 1e6:.1f} M" for name, count in self.components.items()))
        return " · ".join(parts)


def latent_parts(loaded: "LoadedModel") -> LatentParts:
    """The latent parts of ``loaded``, or an InputError saying the model is not a text-to-image model."""
    parts = loaded.extra.get("latent") if loaded.extra else None
    if not isinstance(parts, LatentParts):
        raise InputError(f"{loaded.path} is not a text-to-image (latent) model; open a Stable Diffusion pipeline "
                         f"folder, or sample this model in the Sample panel")
    return parts

"""What a run's ``config.json`` may hold: its sections' types and the size limits of a model.

``config.json`` may have been damaged by a crash or edited by hand, so it is validated before
anything is built from it: wrong types, absurd sizes (``base_channels: 4096``,
``num_res_blocks: 1000000``) and nesting are refused with one sentence naming the key, before a
single byte of a model is allocated. The size limits are the same ones the training settings use
(:mod:`diffusion_studio.core.training.config` takes its model fields from here), so a run we
train always loads back. The ``train`` section is checked by the training package on ``--resume``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ..prediction import PredictionType

__all__ = [
    "ImageSize", "ImageChannels", "BaseChannels", "ChannelMults", "ResBlocks", "AttentionResolutions", "Dropout",
    "ModelSection", "RunConfigFile", "MAX_MODEL_INT",
]

# Limits of the models a run folder may describe (the U-Net checks how they fit together).
ImageSize = Annotated[int, Field(ge=8, le=1024)]
ImageChannels = Literal[1, 3]
BaseChannels = Annotated[int, Field(ge=4, le=1024)]
ChannelMults = Annotated[tuple[Annotated[int, Field(ge=1, le=16)], ...], Field(min_length=1, max_length=8)]
ResBlocks = Annotated[int, Field(ge=1, le=16)]
AttentionResolutions = Annotated[tuple[Annotated[int, Field(ge=1, le=1024)], ...], Field(max_length=8)]
Dropout = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]

#: Any other whole number in the model section (a key a newer model adds) stays below this,
#: so that even a model we do not know cannot describe billions of layers.
MAX_MODEL_INT = 4096
_MAX_LIST = 16

_LENIENT = ConfigDict(extra="allow", allow_inf_nan=False, str_max_length=200)


def _small(value: Any) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return True
    if isinstance(value, (int, float)):
        return abs(value) <= MAX_MODEL_INT
    if isinstance(value, list):
        return len(value) <= _MAX_LIST and all(_small(v) and not isinstance(v, (list, dict)) for v in value)
    return False


class ModelSection(BaseModel):
    """``config.json["model"]``: the keys we know are typed and bounded; any other must be small."""

    model_config = _LENIENT

    in_channels: Annotated[int, Field(ge=1, le=4)] | None = None
    out_channels: Annotated[int, Field(ge=1, le=8)] | None = None
    image_size: ImageSize | None = None
    base_channels: BaseChannels | None = None
    channel_mults: ChannelMults | None = None
    num_res_blocks: ResBlocks | None = None
    attention_resolutions: AttentionResolutions | None = None
    dropout: Dropout | None = None

    @model_validator(mode="after")
    def _other_keys_are_small(self) -> "ModelSection":
        for key, value in (self.model_extra or {}).items():
            if not _small(value):
                raise PydanticCustomError(
                    "model_key", "{key} = {value} is not a number ≤ {limit}, a text or a short list of them",
                    {"key": key, "value": str(value)[:40], "limit": MAX_MODEL_INT})
        return self


class RunConfigFile(BaseModel):
    """The whole ``config.json``; unknown top-level keys are kept (a newer version may add some)."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    version: Annotated[int, Field(ge=1, le=1000)] = 1
    model: ModelSection
    schedule: dict[str, Any]
    prediction: PredictionType = "epsilon"
    image_size: ImageSize | None = None
    channels: Annotated[int, Field(ge=1, le=4)] | None = None
    train: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None
    #: a class-conditional run's classes: the model's label i is ``class_names[i]`` (and K = len is "no class")
    class_names: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]],
                           Field(max_length=10_000)] | None = None

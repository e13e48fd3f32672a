"""Small pieces shared by the training tests: a tiny config and a folder with planted bad files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from diffusion_studio.core.training import TrainConfig


def tiny_config(out, **changes) -> TrainConfig:
    """A model of a few thousand parameters on 8 px images: steps take milliseconds."""
    base = dict(out=str(out), demo=True, image_size=8, batch_size=4, steps=4, base_channels=8,
                channel_mults=(1, 2), num_res_blocks=1, attention_resolutions=(4,), dropout=0.0,
                timesteps=50, lr=1e-3, warmup_steps=2, log_every=1, sample_every=1000, checkpoint_every=1000,
                num_sample_images=4, sample_steps=2, cpu_threads=1,
                first_samples_after=0)  # grids by steps only: a test never depends on the clock
    base.update(changes)
    return TrainConfig(**base)


def image_folder(root: Path, good: int = 6, bad: bool = True, gray: bool = False) -> Path:
    """``good`` small random images plus a zero-byte, a truncated and a not-an-image file."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(good):
        shape = (12, 10) if gray else (12, 10, 3)
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(root / f"img_{i}.png")
    if bad:
        (root / "empty.png").write_bytes(b"")
        (root / "notes.jpg").write_text("this is not a picture")
        buffer = io.BytesIO()
        Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8) + 100).save(buffer, format="PNG")
        data = buffer.getvalue()
        (root / "sub").mkdir(exist_ok=True)
        (root / "sub" / "truncated.png").write_bytes(data[: len(data) // 2])
    return root

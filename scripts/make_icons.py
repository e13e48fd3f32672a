"""Render the application icon set into resources/icons/.

The icon is made by our own forward process: a shaded sphere noised with
q_sample, t falling from left (pure noise) to right (clean), on a cosine schedule.

    python scripts/make_icons.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from diffusion_studio.core.forward import q_sample
from diffusion_studio.core.schedules import make_schedule

OUT = Path(__file__).resolve().parent.parent / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
BIG = 1024
PIXEL = 32  # the noise is drawn in coarse "pixels" so it still reads at small sizes


def _rounded_background(size: int) -> Image.Image:
    y, x = np.mgrid[0:size, 0:size] / size
    top, bottom = np.array([40, 44, 72]), np.array([18, 20, 34])
    colour = top[None, None] * (1 - y[..., None]) + bottom[None, None] * y[..., None]
    img = Image.fromarray(colour.astype(np.uint8), "RGB").convert("RGBA")
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, size - 1, size - 1), radius=size // 5, fill=255)
    img.putalpha(mask)
    return img


def _sphere(cells: int) -> np.ndarray:
    """A warm shaded sphere in [-1, 1], (3, cells, cells)."""
    y, x = np.mgrid[-1 : 1 : cells * 1j, -1 : 1 : cells * 1j]
    r2 = x**2 + y**2
    z = np.sqrt(np.clip(1 - r2, 0, 1))
    light = np.clip(0.25 + 0.85 * (-0.45 * x - 0.55 * y + 0.7 * z), 0, 1.2)
    base = np.array([1.0, 0.55, 0.2])[:, None, None]
    rgb = np.clip(base * light[None] + 0.25 * light[None] ** 8, 0, 1)
    return rgb * 2 - 1


def render_icon() -> Image.Image:
    cells = BIG // PIXEL
    schedule = make_schedule("cosine", 1000)
    clean = _sphere(cells)
    noise = np.random.default_rng(7).standard_normal(clean.shape)
    # t per column, chosen so √ᾱ_t rises evenly from 0 (left, pure noise) to 1 (right, clean).
    # Across the visible disc (14% inset each side), the right third is clean.
    across = np.clip((np.linspace(0.0, 1.0, cells) - 0.14) / (0.72 * 0.66), 0.0, 1.0)
    targets = across**0.6
    columns = np.abs(schedule.sqrt_alphas_cumprod[None, :] - targets[:, None]).argmin(axis=1)
    noisy = np.stack([q_sample(clean[:, :, i], columns[i], noise[:, :, i], schedule) for i in range(cells)], axis=-1)
    rgb = ((np.clip(noisy, -1, 1) + 1) * 127.5).astype(np.uint8).transpose(1, 2, 0)
    disc = Image.fromarray(rgb, "RGB").resize((BIG, BIG), Image.Resampling.NEAREST)
    y, x = np.mgrid[0:BIG, 0:BIG]
    inset = BIG * 0.14
    radius = (BIG - 2 * inset) / 2
    inside = ((x - BIG / 2) ** 2 + (y - BIG / 2) ** 2) <= radius**2
    mask = Image.fromarray((inside * 255).astype(np.uint8), "L").filter(ImageFilter.GaussianBlur(2))
    icon = _rounded_background(BIG)
    icon.paste(disc, (0, 0), mask)
    return icon


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    icon = render_icon()
    for size in SIZES:
        icon.resize((size, size), Image.Resampling.LANCZOS).save(OUT / f"diffusion-studio-{size}.png", optimize=True)
    icon.resize((256, 256), Image.Resampling.LANCZOS).save(
        OUT / "diffusion-studio.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)]
    )
    print(f"wrote {len(SIZES)} PNGs and an .ico to {OUT}")


if __name__ == "__main__":
    main()

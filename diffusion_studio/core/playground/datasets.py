"""2D point sets for the playground: the built-in toy sets, a CSV of x,y, and an image's dark pixels.

Every set comes back as a :class:`PointSet`: float32 points of shape (N, 2), 2 ≤ N ≤ 10 000,
scaled to zero mean and unit RMS (the scale N(0, I) noise is made for, as images are scaled
to [−1, 1]). Anything unusable raises :class:`PlaygroundDataError` (an ``InputError``) with one
sentence for a person; nothing is returned half-built.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..images import IMAGE_EXTENSIONS, load_image, resize_to_fit

__all__ = [
    "DATASET_NAMES",
    "DATASET_LABELS",
    "MIN_POINTS",
    "MAX_POINTS",
    "MAX_CSV_BYTES",
    "PlaygroundDataError",
    "PointSet",
    "check_points",
    "standardize",
    "make_dataset",
    "points_from_csv",
    "points_from_image",
    "load_points",
]

#: The built-in sets, in the order a menu lists them.
DATASET_NAMES: tuple[str, ...] = ("moons", "swissroll", "gaussians", "checkerboard", "circles")
DATASET_LABELS: dict[str, str] = {
    "moons": "Two moons",
    "swissroll": "Swiss roll",
    "gaussians": "8 Gaussians",
    "checkerboard": "Checkerboard",
    "circles": "Concentric circles",
}
MIN_POINTS = 2
MAX_POINTS = 10_000
#: A CSV of 10 000 x,y rows is well under a megabyte; a much larger file is not a point set.
MAX_CSV_BYTES = 8 * 2**20


class PlaygroundDataError(InputError):
    """A point set that cannot be used; ``str(error)`` says why."""


@dataclass(frozen=True)
class PointSet:
    """Read-only float32 points (N, 2) and the name a person knows them by."""

    points: np.ndarray
    name: str

    def __post_init__(self) -> None:
        points = np.array(check_points(self.points, self.name or "the points"), dtype=np.float32, copy=True)
        points.setflags(write=False)
        object.__setattr__(self, "points", points)

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def describe(self) -> str:
        return f"{self.name} ({len(self)} points)"


def check_points(points, what: str = "the points") -> np.ndarray:
    """``points`` as a float64 (N, 2) array, or :class:`PlaygroundDataError` saying what is wrong."""
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise PlaygroundDataError(f"{what} are not numbers") from None
    if array.ndim != 2 or array.shape[1] != 2:
        raise PlaygroundDataError(f"{what} must be pairs x, y; got an array of shape {array.shape}")
    n = array.shape[0]
    if n < MIN_POINTS:
        raise PlaygroundDataError(
            f"{what} {'are empty' if n == 0 else 'hold a single point'}: a data set needs at least {MIN_POINTS} points")
    if n > MAX_POINTS:
        raise PlaygroundDataError(f"{what} hold {n} points; the playground takes at most {MAX_POINTS:,}")
    if not np.all(np.isfinite(array)):
        raise PlaygroundDataError(f"{what} contain NaN or infinite values")
    if np.all(array == array[0]):
        raise PlaygroundDataError(f"all of {what} are the same point; a data set needs at least 2 different points")
    return array


def standardize(points: np.ndarray) -> np.ndarray:
    """Shift to zero mean and scale to unit RMS per axis, with one factor (the shape keeps its aspect)."""
    array = check_points(points)
    array = array / np.abs(array).max()  # first to ~1: sums of squares of 1e300 would overflow
    centred = array - array.mean(axis=0)
    rms = math.sqrt(float(np.mean(np.sum(centred**2, axis=1))) / 2.0)
    scaled = centred / rms if rms > 0 else centred
    if not (rms > 0 and np.isfinite(scaled).all() and np.ptp(scaled, axis=0).any()):
        raise PlaygroundDataError("the points are too close together to be told apart after scaling")
    return scaled


def _check_count(num_points) -> int:
    if isinstance(num_points, bool) or not isinstance(num_points, (int, np.integer)):
        raise PlaygroundDataError(f"the number of points must be a whole number, got {num_points!r}")
    if not MIN_POINTS <= num_points <= MAX_POINTS:
        raise PlaygroundDataError(f"the number of points must be {MIN_POINTS} … {MAX_POINTS:,}, got {num_points}")
    return int(num_points)


# ---------------------------------------------------------------------------- built-in sets
# Each recipe draws n points with ``rng``; make_dataset standardises them afterwards.


def _moons(n: int, rng: np.random.Generator) -> np.ndarray:
    # scikit-learn's make_moons: two interleaved half circles, Gaussian noise 0.05.
    outer = n // 2
    angles = np.concatenate([np.linspace(0, math.pi, outer), np.linspace(0, math.pi, n - outer)])
    upper = np.stack([np.cos(angles[:outer]), np.sin(angles[:outer])], axis=1)
    lower = np.stack([1 - np.cos(angles[outer:]), 0.5 - np.sin(angles[outer:])], axis=1)
    return np.concatenate([upper, lower]) + rng.normal(scale=0.05, size=(n, 2))


def _swissroll(n: int, rng: np.random.Generator) -> np.ndarray:
    # scikit-learn's make_swiss_roll seen from above: (t·cos t, t·sin t), t ∈ [1.5π, 4.5π].
    t = 1.5 * math.pi * (1 + 2 * rng.random(n))
    return np.stack([t * np.cos(t), t * np.sin(t)], axis=1) + rng.normal(scale=0.25, size=(n, 2))


def _gaussians(n: int, rng: np.random.Generator) -> np.ndarray:
    # Eight Gaussians on a circle (Grathwohl et al. 2019, FFJORD's toy set).
    centre_angles = 2 * math.pi * rng.integers(0, 8, n) / 8
    centres = 2.0 * np.stack([np.cos(centre_angles), np.sin(centre_angles)], axis=1)
    return centres + rng.normal(scale=0.1, size=(n, 2))


def _checkerboard(n: int, rng: np.random.Generator) -> np.ndarray:
    # A 4×4 board on [−2, 2]²; points uniform on the 8 dark squares.
    x = rng.uniform(-2, 2, n)
    column = np.floor(x + 2)
    row = rng.integers(0, 2, n) * 2 + (column % 2)
    y = -2 + row + rng.random(n)
    return np.stack([x, y], axis=1)


def _circles(n: int, rng: np.random.Generator) -> np.ndarray:
    # scikit-learn's make_circles: radius 1 and 0.5, Gaussian noise 0.03.
    outer = n // 2
    radii = np.concatenate([np.ones(outer), np.full(n - outer, 0.5)])
    angles = rng.uniform(0, 2 * math.pi, n)
    return radii[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1) + rng.normal(scale=0.03, size=(n, 2))


_RECIPES = {"moons": _moons, "swissroll": _swissroll, "gaussians": _gaussians,
            "checkerboard": _checkerboard, "circles": _circles}


def make_dataset(name: str, num_points: int = 1000, *, seed: int = 0) -> PointSet:
    """A built-in set (one of :data:`DATASET_NAMES`) of ``num_points`` points, standardised.

    >>> make_dataset("moons", 500, seed=1).points.shape
    (500, 2)
    """
    key = str(name).strip().lower().replace(" ", "").replace("_", "").replace("-", "")
    key = {"twomoons": "moons", "8gaussians": "gaussians", "concentriccircles": "circles"}.get(key, key)
    if key not in _RECIPES:
        raise PlaygroundDataError(f"unknown data set {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    n = _check_count(num_points)
    rng = np.random.default_rng(_seed(seed))
    return PointSet(standardize(_RECIPES[key](n, rng)), DATASET_LABELS[key])


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise PlaygroundDataError(f"the seed must be a whole number 0 … 2⁶³−1, got {seed!r}")
    return int(seed)


# ---------------------------------------------------------------------------- CSV


def _read_text(path: Path, what: str) -> str:
    try:
        if not path.is_file():
            raise PlaygroundDataError(f"{what} {'does not exist' if not path.exists() else 'is not a file'}")
        if path.stat().st_size > MAX_CSV_BYTES:
            raise PlaygroundDataError(f"{what} is larger than {MAX_CSV_BYTES // 2**20} MiB; a point set of "
                                      f"{MAX_POINTS:,} points is far smaller")
        raw = path.read_bytes()
    except OSError as exc:
        raise PlaygroundDataError(f"cannot read {what}: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PlaygroundDataError(f"{what} is not a text file (UTF-8)") from None


def _float(cell: str, line: int, what: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise PlaygroundDataError(f"{what}, line {line}: {cell.strip()[:30]!r} is not a number") from None
    if not math.isfinite(value):
        raise PlaygroundDataError(f"{what}, line {line}: {cell.strip()!r} is not a finite number")
    return value


def points_from_csv(source: str | os.PathLike, *, standardise: bool = True) -> PointSet:
    """Points from a CSV (or whitespace-separated) file of x,y rows; one header row is allowed.

    Comma, semicolon, tab or spaces separate the columns; extra columns are refused, as is any
    cell that is not a finite number. ``standardise`` scales the cloud to zero mean, unit RMS.
    """
    path = Path(source)
    what = path.name
    text = _read_text(path, what)
    rows: list[tuple[float, float]] = []
    for line, cells in _rows(text):
        if len(cells) != 2:
            raise PlaygroundDataError(f"{what}, line {line}: expected 2 columns x,y, found {len(cells)}")
        if not rows and line == _first_line(text) and not _numeric(cells[0]) and not _numeric(cells[1]):
            continue  # a header such as "x,y"
        rows.append((_float(cells[0], line, what), _float(cells[1], line, what)))
        if len(rows) > MAX_POINTS:
            raise PlaygroundDataError(f"{what} has more than {MAX_POINTS:,} points; the playground takes at most that")
    if not rows:
        raise PlaygroundDataError(f"{what} holds no x,y rows")
    points = np.asarray(rows, dtype=np.float64)
    check_points(points, what)
    return PointSet(standardize(points) if standardise else points, what)


def _numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _first_line(text: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            return number
    return 0


def _rows(text: str):
    """(line number, cells) of every non-empty, non-comment line."""
    sample = next((line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
    delimiter = next((d for d in (",", ";", "\t") if d in sample), None)
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if delimiter is None:
            cells = stripped.split()
        else:
            cells = next(csv.reader(io.StringIO(stripped), delimiter=delimiter))
            cells = [c.strip() for c in cells]
            if cells and cells[-1] == "":  # a trailing separator
                cells = cells[:-1]
        yield number, cells


# ---------------------------------------------------------------------------- images


def points_from_image(source, num_points: int = 2000, *, seed: int = 0, threshold: float = 0.5) -> PointSet:
    """Points drawn from an image's dark pixels, darker = denser (a logo or photo as a point cloud).

    ``source`` is a path or a uint8 array. Each pixel's weight is how far its brightness lies
    below ``threshold`` (0 … 1); points are drawn with those weights and jittered uniformly inside
    their pixel, with y pointing up. Transparent pixels count as white.
    """
    n = _check_count(num_points)
    if not 0.0 < float(threshold) <= 1.0:
        raise PlaygroundDataError(f"the darkness threshold must be in (0, 1], got {threshold}")
    if isinstance(source, np.ndarray):
        image, what = source, "the image"
    else:
        image, what = load_image(source, mode="L"), Path(source).name
    # Sampling needs a density, not every pixel of a photo: work at ≤ 512 px.
    gray = _to_gray(resize_to_fit(_checked_image(image), 512))
    weights = np.clip(float(threshold) - gray, 0.0, None).ravel()
    total = weights.sum()
    if not total > 0:
        raise PlaygroundDataError(f"{what} has no dark pixels to sample points from (nothing darker than "
                                  f"{threshold:.0%} brightness)")
    rng = np.random.default_rng(_seed(seed))
    h, w = gray.shape
    flat = rng.choice(weights.size, size=n, p=weights / total)
    rows, cols = np.divmod(flat, w)
    xy = np.stack([cols + rng.random(n), (h - rows) - rng.random(n)], axis=1)
    if np.all(np.ptp(xy, axis=0) == 0):
        raise PlaygroundDataError(f"{what} has too few dark pixels to make a point cloud")
    return PointSet(standardize(xy), what)


def _checked_image(image) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or array.size == 0:
        raise PlaygroundDataError("an image must be uint8 pixels of shape (H, W) or (H, W, C)")
    return array


def _to_gray(array: np.ndarray) -> np.ndarray:
    """Brightness 0 … 1; transparent pixels read as white."""
    if array.ndim == 2:
        return array.astype(np.float64) / 255.0
    channels = array.shape[2]
    color = array[..., :3] if channels >= 3 else array[..., :1]
    gray = color.astype(np.float64).mean(axis=2) if channels < 3 else color.astype(np.float64) @ [0.299, 0.587, 0.114]
    if channels in (2, 4):
        alpha = array[..., -1].astype(np.float64) / 255.0
        gray = gray * alpha + 255.0 * (1.0 - alpha)
    return gray / 255.0


# ---------------------------------------------------------------------------- one entry point


def load_points(spec: str | os.PathLike, num_points: int = 1000, *, seed: int = 0) -> PointSet:
    """A built-in name, a ``.csv``/``.txt`` file, or an image file (``num_points`` applies to names and images)."""
    text = os.fspath(spec)
    name = text.strip().lower()
    if name in _RECIPES or name in ("two moons", "8gaussians", "8 gaussians", "swiss roll", "concentric circles"):
        return make_dataset(name, num_points, seed=seed)
    suffix = Path(text).suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return points_from_csv(text)
    if suffix in IMAGE_EXTENSIONS:
        return points_from_image(text, num_points, seed=seed)
    if not Path(text).exists():
        raise PlaygroundDataError(f"{text!r} is neither a built-in data set ({', '.join(DATASET_NAMES)}) nor a file")
    raise PlaygroundDataError(f"{Path(text).name}: use a .csv of x,y points or an image "
                              f"({', '.join(sorted(IMAGE_EXTENSIONS))})")

"""An independent judge of handwritten digits, to score what a model trained on the demo digits draws.

A multinomial logistic regression (softmax over 10 classes, L2-regularised) fitted by full-batch
gradient descent on the bundled UCI digits at 16 px — no diffusion model involved, numpy only, the
same weights every time. It answers "which digit is this, and how sure": the Sample panel's guidance
figures (does "draw me a 7" give 7s, and how sure are they?) and the benchmarks that measure how
fast training learns digits use it. It is fitted on 80 % of the digits; :attr:`DigitsJudge.holdout_accuracy`
is its accuracy on the other 20 %.

>>> judge = DigitsJudge.fitted()
>>> judge.probabilities(images).argmax(axis=1)     # images: uint8 (N, H, W[, 1]) or float (N, 1, H, W) in [−1, 1]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["DigitsJudge", "SampleScores", "JUDGE_SIZE"]

#: The resolution the judge looks at; other sizes are resized to it.
JUDGE_SIZE = 16
_STEPS, _LEARNING_RATE, _L2 = 400, 0.5, 1e-3


def _features(images: np.ndarray) -> np.ndarray:
    """(N, JUDGE_SIZE²) floats in [0, 1] from uint8 (N, H, W[, C]) or float (N, C, H, W) in [−1, 1]."""
    from PIL import Image

    array = np.asarray(images)
    if array.dtype != np.uint8:  # model range, channel-first
        array = np.clip((array + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        array = np.moveaxis(array, 1, -1)
    if array.ndim == 3:
        array = array[..., None]
    if array.shape[-1] == 3:
        array = np.round(array @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)[..., None]
    gray = array[..., 0]
    if gray.shape[1:] != (JUDGE_SIZE, JUDGE_SIZE):
        gray = np.stack([np.asarray(Image.fromarray(g).resize((JUDGE_SIZE, JUDGE_SIZE), Image.Resampling.BILINEAR))
                         for g in gray])
    return gray.reshape(len(gray), -1).astype(np.float64) / 255.0


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class SampleScores:
    """What the judge makes of a batch: how sure it is, which digits it sees, and how varied they are."""

    mean_confidence: float  # mean of the highest class probability (fidelity)
    class_counts: tuple[int, ...]  # how many samples it reads as each digit
    accuracy: float | None  # share read as the asked-for class (None: nothing was asked)
    mean_pixel_spread: float  # mean per-pixel standard deviation across the batch, 0…1 (diversity)


@dataclass(frozen=True)
class DigitsJudge:
    weights: np.ndarray  # (JUDGE_SIZE², 10)
    bias: np.ndarray  # (10,)
    holdout_accuracy: float

    @classmethod
    def fitted(cls) -> "DigitsJudge":
        """The judge fitted on the bundled digits (computed once per process, about a second)."""
        return _fit()

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(N, 10) class probabilities of ``images``."""
        return _softmax(_features(images) @ self.weights + self.bias)

    def score(self, images: np.ndarray, asked: int | None = None) -> SampleScores:
        """Scores of a batch of samples; ``asked`` is the class they were asked to be, if any."""
        features = _features(images)
        probabilities = _softmax(features @ self.weights + self.bias)
        predicted = probabilities.argmax(axis=1)
        counts = tuple(int(c) for c in np.bincount(predicted, minlength=10))
        accuracy = float(np.mean(predicted == asked)) if asked is not None else None
        spread = float(features.std(axis=0).mean()) if len(features) > 1 else 0.0
        return SampleScores(float(probabilities.max(axis=1).mean()), counts, accuracy, spread)


@lru_cache(maxsize=1)
def _fit() -> DigitsJudge:
    from .data.decode import demo_dataset_tensor, demo_digit_labels

    images = demo_dataset_tensor(JUDGE_SIZE).numpy()[:, 0]
    labels = demo_digit_labels()
    order = np.random.default_rng(0).permutation(len(labels))
    split = int(0.8 * len(labels))
    train, test = order[:split], order[split:]
    x, y = _features(images[train]), np.eye(10)[labels[train]]
    mean = x.mean(axis=0)
    weights, bias = np.zeros((x.shape[1], 10)), np.zeros(10)
    for _ in range(_STEPS):  # full-batch gradient descent on the mean cross-entropy + L2
        error = _softmax((x - mean) @ weights + bias) - y
        weights -= _LEARNING_RATE * ((x - mean).T @ error / len(x) + _L2 * weights)
        bias -= _LEARNING_RATE * error.mean(axis=0)
    bias = bias - mean @ weights  # fold the centring into the bias
    judge = DigitsJudge(weights, bias, 0.0)
    accuracy = float(np.mean(judge.probabilities(images[test]).argmax(axis=1) == labels[test]))
    return DigitsJudge(weights, bias, accuracy)

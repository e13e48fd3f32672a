"""The independent digits judge: it reads the bundled digits right and is unsure of noise."""

from __future__ import annotations

import numpy as np

from diffusion_studio.core.data import demo_dataset_tensor, demo_digit_labels
from diffusion_studio.core.digits_judge import DigitsJudge


def test_labels_match_the_digits_and_the_judge_reads_held_out_digits():
    labels = demo_digit_labels()
    assert labels.shape == (1797,) and set(labels.tolist()) == set(range(10))
    judge = DigitsJudge.fitted()
    assert judge.holdout_accuracy >= 0.95
    assert DigitsJudge.fitted() is judge  # fitted once per process


def test_scores_of_a_class_of_real_digits_and_of_noise():
    judge = DigitsJudge.fitted()
    images, labels = demo_dataset_tensor(16).numpy()[:, 0], demo_digit_labels()
    sevens = judge.score(images[labels == 7], asked=7)
    assert sevens.accuracy >= 0.95 and sevens.mean_confidence > 0.8 and sum(sevens.class_counts) == (labels == 7).sum()
    noise = judge.score(np.random.default_rng(0).integers(0, 256, (64, 16, 16), dtype=np.uint8), asked=7)
    assert noise.mean_confidence < sevens.mean_confidence - 0.2 and noise.accuracy < 0.5
    assert noise.mean_pixel_spread > sevens.mean_pixel_spread  # noise varies more than sevens do


def test_every_input_layout_reads_the_same():
    judge = DigitsJudge.fitted()
    gray = demo_dataset_tensor(16).numpy()[:20, 0]  # uint8 (N, H, W)
    as_float = gray[:, None].astype(np.float32) / 127.5 - 1.0  # model range, (N, 1, H, W)
    rgb = np.repeat(gray[..., None], 3, axis=-1)  # uint8 (N, H, W, 3)
    expected = judge.probabilities(gray).argmax(axis=1)
    assert np.array_equal(judge.probabilities(as_float).argmax(axis=1), expected)
    assert np.array_equal(judge.probabilities(rgb).argmax(axis=1), expected)
    bigger = demo_dataset_tensor(32).numpy()[:20, 0]  # resized to the judge's 16 px
    assert np.mean(judge.probabilities(bigger).argmax(axis=1) == expected) >= 0.9

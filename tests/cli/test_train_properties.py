"""`diffusion-studio train` driven with generated arguments: it exits 0 or 2 (1 only for a diverged loss,
with its message), never with a traceback, and every run it accepts stops after one or two steps.

The arguments start from a tiny model (8 px, a few thousand parameters) so an accepted run costs well
under a second; the generated part replaces some flags with hostile text (``inf``, ``nan``, 2⁶⁴,
negative numbers, words, empty strings), values at and beyond the edges of their ranges, or small
valid values. Values that would make an *accepted* run slow (a batch of 10⁵ at 8 px, 1024 px
images) are left out on purpose; their refusals are tested in test_train_cli.py.
"""

from __future__ import annotations

import itertools
import os
import re

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from diffusion_studio.cli import main
from diffusion_studio.core.schedules import SCHEDULE_NAMES

BASE = {"--image-size": "8", "--batch-size": "2", "--base-channels": "8", "--channel-mults": "1,2",
        "--num-res-blocks": "1", "--attention-resolutions": "4", "--timesteps": "20", "--steps": "1",
        "--log-every": "1", "--sample-every": "1000", "--checkpoint-every": "1000", "--num-samples": "1",
        "--sample-steps": "1", "--threads": "1"}

HOSTILE = st.sampled_from(["inf", "-inf", "nan", "1e309", "-1", "0", "18446744073709551616", "abc", "", " ",
                           "1,x", "0x10", "½", "1e-320", "-0", "9" * 40])


def _numbers(*values):
    return st.sampled_from([str(v) for v in values])


# flag → values an accepted run stays fast with, or edges the config must refuse
VALUES = {
    "--image-size": _numbers(8, 16, 7, 9, 2048, 0),
    "--batch-size": _numbers(1, 3, 10**9, 2**31),
    "--base-channels": _numbers(4, 8, 3, 6, 1025, 4096),
    "--channel-mults": st.sampled_from(["1", "1,1", "1,2,2", "0", "1,2,2,2,2,2,2,2,2", "17", "1;2"]),
    "--num-res-blocks": _numbers(1, 2, 0, 17, 1000000),
    "--attention-resolutions": st.sampled_from(["4", "8", "3", "1,2,3,4,5,6,7,8,9", "2048"]),
    "--dropout": _numbers(0.0, 0.5, 1.0, -0.1),
    "--channels": _numbers(1, 3, 2, 4),
    "--preset": st.sampled_from(["auto", "cpu-tiny", "gpu-small", "ddpm-cifar", "huge"]),
    "--schedule": st.sampled_from([*SCHEDULE_NAMES, "nope"]),
    "--timesteps": _numbers(2, 50, 1, 100_001),
    "--prediction": st.sampled_from(["epsilon", "sample", "v_prediction", "x0"]),
    "--min-snr-gamma": _numbers(0, 5, -1),
    "--steps": _numbers(1, 2, 0, 2**31),
    "--max-minutes": _numbers(1e-9, 10, -1),
    "--lr": _numbers(1e-3, 1e30, 0, -1e-3),
    "--lr-schedule": st.sampled_from(["constant", "cosine", "linear"]),
    "--warmup-steps": _numbers(0, 5, -1),
    "--weight-decay": _numbers(0, 0.1, -0.1),
    "--grad-clip": _numbers(0, 1, -1),
    "--ema-decay": _numbers(0, 0.9, 1, 1.5),
    "--seed": _numbers(0, 2**63 - 1, 2**63, -1),
    "--device": st.sampled_from(["auto", "cpu", "mps", "cuda", "cuda:7", "tpu", "cpu:0", "x" * 40]),
    "--precision": st.sampled_from(["auto", "fp32", "bf16", "fp16", "fp8"]),
    "--workers": _numbers(0, -1, 65),
    "--threads": _numbers(1, 2, 0, 100_000),
    "--log-every": _numbers(1, 2, 0),
    "--sample-every": _numbers(1, 1000, 0),
    "--first-samples-after": _numbers(0, 0.5, -1, float("inf")),
    "--checkpoint-every": _numbers(1, 1000, 0),
    "--keep-last": _numbers(1, 3, 0, 1001),
    "--num-samples": _numbers(1, 4, 0, 257),
    "--sample-steps": _numbers(1, 3, 0, 1001),
}
SWITCHES = ["--resume", "--restart", "--no-hflip", "--hflip", "--channels-last", "--no-channels-last",
            "--no-compile", "--bogus-flag"]


@st.composite
def train_arguments(draw) -> tuple[list[str], str | None]:
    flags = dict(BASE)
    for flag in draw(st.lists(st.sampled_from(sorted(VALUES)), max_size=3, unique=True)):
        hostile = draw(st.integers(0, 3)) == 0
        flags[flag] = draw(HOSTILE if hostile else VALUES[flag])
    switches = draw(st.lists(st.sampled_from(SWITCHES), max_size=1))
    folder = draw(st.sampled_from([None] * 6 + ["missing", "the-run-itself", "a-file"]))
    if folder is None and draw(st.integers(0, 9)):  # mostly the demo digits, sometimes no data at all
        switches.append("--demo")
    args = list(itertools.chain.from_iterable(flags.items())) + switches + ["--quiet"]
    return args, folder


#: DIFFUSION_STUDIO_PROPERTY_SCALE=20 runs 20× the examples, freshly random (a long hunt for defects).
SCALE = int(os.environ.get("DIFFUSION_STUDIO_PROPERTY_SCALE", "1"))


@settings(max_examples=80 * SCALE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          derandomize=SCALE == 1, database=None)
@given(generated=train_arguments())
def test_generated_train_commands_exit_0_or_2_and_never_with_a_traceback(tmp_path_factory, capsys, generated):
    args, folder = generated
    root = tmp_path_factory.mktemp("gen")
    run = root / "run"
    (root / "a-file").write_text("not a folder")
    positional = [] if folder is None else [str(run if folder == "the-run-itself" else root / folder)]
    code = main(["train", *positional, "--out", str(run), *args])  # any exception fails the test here
    err = capsys.readouterr().err
    event(f"exit status {code}")
    assert code in (0, 1, 2), code
    if code == 1:  # only a diverged loss may end in 1, and it says so
        assert re.search(r"(loss|gradient) became (NaN|infinite)|overflowed", err), err
    if code == 2:
        assert err.startswith(("diffusion-studio: error:", "usage:")) and "Traceback" not in err, err
    if code == 0:
        assert "finished" in err or "time limit" in err, err

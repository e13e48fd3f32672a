"""Generated ``--class`` and ``--guidance`` for ``sample demo`` (the class-conditional demo model): exit 0 or 2 with
one line, never a traceback; a run that succeeds says both guidance numbers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from .test_cli import NOT_UTF8, PROFILE, bad_numbers, check_command, flag, places  # noqa: F401 - places: fixture

classes = st.sampled_from([str(d) for d in range(10)] + ["any", "ANY"])
bad_classes = st.sampled_from(["10", "-1", "eel", "", " ", "7.0", "٧", NOT_UTF8, "x" * 300, "0x7", "1e1"])
scales = st.sampled_from(["1", "0", "2", "4", "7.5", "100", "0.5"])


@settings(PROFILE, max_examples=40)
@given(data=st.data())
def test_sample_demo_with_generated_classes_and_guidance(places, data, tmp_path_factory):  # noqa: F811
    out_dir = tmp_path_factory.mktemp("class_samples")
    argv = ["sample", "demo", "--num", "1", "--steps", "2", "--quiet", "--out-dir", str(out_dir)]
    clean = data.draw(st.booleans())
    argv += data.draw(flag("--class", classes, bad_classes, present=6, clean=clean))
    argv += data.draw(flag("--guidance", scales, bad_numbers | st.sampled_from(["101", "-0.5"]), present=6,
                           clean=clean))
    code, out = check_command("cli: sample demo --class --guidance", argv, places)
    if code == 0 and "--guidance" in argv and argv[argv.index("--guidance") + 1] not in ("1",):
        assert "(w = " in out

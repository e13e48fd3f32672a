"""Run folders: round trip, pruning, crash safety, safe loading, clear errors, run listing, metrics."""

import json
import os
import pickle
import subprocess
import sys

import pytest
import torch
from torch import nn

from diffusion_studio.core import checkpoint as ckpt
from diffusion_studio.core.errors import InputError
from diffusion_studio.core.schedules import make_schedule


class TinyNet(nn.Module):
    """Stand-in for the U-Net: built from a config dict, forward(x, t)."""

    def __init__(self, in_channels=1, width=4, image_size=8, **_):
        super().__init__()
        self.config = {"in_channels": in_channels, "width": width, "image_size": image_size}
        self.conv = nn.Conv2d(in_channels, width, 3, padding=1)
        self.out = nn.Conv2d(width, in_channels, 1)
        self.register_buffer("scale", torch.ones(1))

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def forward(self, x, t):
        return self.out(torch.relu(self.conv(x))) * self.scale


def _config(width=4):
    return {
        "version": 1,
        "model": {"in_channels": 1, "width": width, "image_size": 8},
        "schedule": make_schedule("cosine", 50).to_config(),
        "prediction": "epsilon",
        "image_size": 8,
        "channels": 1,
        "train": {"lr": 1e-3},
        "dataset": {"source": "demo:digits"},
    }


def _train_state(model, step):
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(2, 1, 8, 8), torch.zeros(2, dtype=torch.long)).square().mean().backward()
    optimizer.step()
    return {
        "optimizer": optimizer.state_dict(),
        "rng_cpu": torch.get_rng_state(),
        "data": {"epoch": 1, "position": step},
        "losses": [0.5, 0.25],
    }


def _save(run, step, seed=None, keep_last=3):
    torch.manual_seed(step if seed is None else seed)
    model, ema = TinyNet(), TinyNet()
    path = ckpt.save_checkpoint(
        run, model=model, ema_model=ema, train_state=_train_state(model, step), config=_config(), step=step,
        keep_last=keep_last,
    )
    return model, ema, path


def _same(state, module):
    return all(torch.equal(state[k], v) for k, v in module.state_dict().items()) and state.keys() == module.state_dict().keys()


def test_round_trip(tmp_path):
    run = tmp_path / "run"
    model, ema, step_dir = _save(run, 10)
    assert step_dir == run / "checkpoints" / "step_000010"
    for name in ("config.json", "model.safetensors", "model_ema.safetensors", "train_state.pt"):
        assert (run / name).is_file()
        assert (step_dir / name).is_file() or name == "config.json"
    loaded = ckpt.load_checkpoint(run, TinyNet.from_config)
    assert loaded.step == 10 and loaded.train_state["step"] == 10
    assert _same(loaded.model_state, model) and _same(loaded.ema_state, ema)
    assert loaded.config == _config()
    assert loaded.train_state["data"] == {"epoch": 1, "position": 10}
    assert loaded.train_state["rng_cpu"].dtype == torch.uint8 and loaded.train_state["losses"] == [0.5, 0.25]
    fresh = torch.optim.AdamW(TinyNet().parameters(), lr=1e-3)
    fresh.load_state_dict(loaded.train_state["optimizer"])  # the optimizer state survives weights_only loading
    assert ckpt.read_weights_step(run / "model.safetensors") == 10


def test_latest_files_share_the_step_folder_bytes(tmp_path):
    run = tmp_path / "run"
    _, _, step_dir = _save(run, 1)
    _save(run, 2, keep_last=1)  # pruning step 1 must not touch the latest files
    for name in ("model.safetensors", "model_ema.safetensors", "train_state.pt"):
        top, kept = run / name, run / "checkpoints" / "step_000002" / name
        assert top.read_bytes() == kept.read_bytes()
        assert os.path.samefile(top, kept) or os.name == "nt"  # hard links: written once on disk
    assert not step_dir.exists() and ckpt.load_checkpoint(run, TinyNet.from_config).step == 2
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


def test_file_systems_without_hard_links_get_copies(tmp_path, monkeypatch):
    def no_links(*_args):
        raise OSError("hard links not supported")

    monkeypatch.setattr(os, "link", no_links)
    run = tmp_path / "run"
    model, _, _ = _save(run, 4)
    assert not os.path.samefile(run / "model.safetensors", run / "checkpoints" / "step_000004" / "model.safetensors")
    assert _same(ckpt.load_checkpoint(run, TinyNet.from_config).model_state, model)


def test_keep_last_prunes_old_step_folders(tmp_path):
    run = tmp_path / "run"
    for step in (1, 2, 3, 4, 5):
        _save(run, step, keep_last=2)
    assert [p.name for p in ckpt.list_step_dirs(run)] == ["step_000004", "step_000005"]
    assert ckpt.load_checkpoint(run, TinyNet.from_config).step == 5
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]  # no staging leftovers


def test_saving_the_same_step_twice_replaces_it(tmp_path):
    run = tmp_path / "run"
    _save(run, 7, seed=1)
    model, _, _ = _save(run, 7, seed=2)
    assert _same(ckpt.load_checkpoint(run, TinyNet.from_config).model_state, model)


@pytest.mark.parametrize("fail_on_call", [1, 2, 3, 4, 5, 6, 7])
def test_crash_mid_checkpoint_leaves_a_loadable_one(tmp_path, monkeypatch, fail_on_call):
    run = tmp_path / "run"
    first_model, _, _ = _save(run, 100)
    calls = {"n": 0}
    real_replace = os.replace

    def crashing_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == fail_on_call:
            raise OSError("simulated crash")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crashing_replace)
    with pytest.raises(OSError):
        _save(run, 200)
    monkeypatch.setattr(os, "replace", real_replace)
    loaded = ckpt.load_checkpoint(run, TinyNet.from_config)
    assert loaded.step in (100, 200)
    if loaded.step == 100:
        assert _same(loaded.model_state, first_model)
    assert loaded.train_state["step"] == loaded.step
    # The sampling side keeps working too.
    assert ckpt.load_model(run, model_factory=TinyNet.from_config).step in (100, 200)
    # The next save clears what the killed one left behind.
    _save(run, 300)
    assert [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")] == []
    assert ckpt.load_checkpoint(run, TinyNet.from_config).step == 300


def test_torn_top_level_falls_back_to_the_step_folder(tmp_path):
    run = tmp_path / "run"
    _save(run, 1)
    model2, _, _ = _save(run, 2)
    # Simulate a kill after model.safetensors was replaced but before train_state.pt: mix two steps.
    (run / "old.pt").write_bytes((run / "checkpoints" / "step_000001" / "train_state.pt").read_bytes())
    os.replace(run / "old.pt", run / "train_state.pt")  # files are only ever replaced, never edited
    loaded = ckpt.load_checkpoint(run, TinyNet.from_config)
    assert loaded.step == 2 and loaded.path == run / "checkpoints" / "step_000002"
    assert _same(loaded.model_state, model2)


def test_saving_without_ema_drops_a_stale_ema_file(tmp_path):
    run = tmp_path / "run"
    _save(run, 1)
    model = TinyNet()
    ckpt.save_checkpoint(run, model=model, ema_model=None, train_state={}, config=_config(), step=2)
    assert not (run / "model_ema.safetensors").exists()
    loaded = ckpt.load_checkpoint(run, TinyNet.from_config)
    assert loaded.step == 2 and loaded.ema_state is None
    assert not ckpt.load_model(run, model_factory=TinyNet.from_config).is_ema


def test_listing_runs_does_not_import_torch(tmp_path):
    code = (
        "import sys; from diffusion_studio.core.checkpoint import list_runs, read_metrics, load_config, "
        "DEMO_MODEL_DIR, is_run_dir; from diffusion_studio.core.data import iter_scan, scan_folder, ScanReport; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_train_state_must_be_plain(tmp_path):
    with pytest.raises(TypeError, match="set"):
        ckpt.save_checkpoint(
            tmp_path / "run", model=TinyNet(), ema_model=None, train_state={"bad": {1, 2}}, config=_config(), step=1
        )


def test_pickled_objects_in_train_state_are_refused(tmp_path):
    run = tmp_path / "run"
    _save(run, 3)
    for folder in [run, *ckpt.list_step_dirs(run)]:
        torch.save({"step": 3, "evil": TinyNet()}, folder / "train_state.pt")  # needs full unpickling
    with pytest.raises(InputError, match="damaged or holds more than plain tensors"):
        ckpt.load_checkpoint(run, TinyNet.from_config)


def test_load_model_from_run_step_folder_and_file(tmp_path):
    run = tmp_path / "run"
    model, ema, step_dir = _save(run, 5)
    loaded = ckpt.load_model(run, model_factory=TinyNet.from_config)
    assert loaded.is_ema and loaded.path == run / "model_ema.safetensors"
    assert _same(loaded.model.state_dict(), ema) and not loaded.model.training
    assert (loaded.step, loaded.image_size, loaded.channels, loaded.prediction) == (5, 8, 1, "epsilon")
    assert loaded.schedule == make_schedule("cosine", 50)
    raw = ckpt.load_model(run, prefer_ema=False, model_factory=TinyNet.from_config)
    assert _same(raw.model.state_dict(), model) and not raw.is_ema
    from_step = ckpt.load_model(step_dir, model_factory=TinyNet.from_config)
    assert from_step.run_dir == run and _same(from_step.model.state_dict(), ema)
    from_file = ckpt.load_model(step_dir / "model.safetensors", model_factory=TinyNet.from_config)
    assert _same(from_file.model.state_dict(), model)
    out = from_file.model(torch.zeros(1, 1, 8, 8), torch.zeros(1, dtype=torch.long))
    assert out.shape == (1, 1, 8, 8)


def _expect(path, pattern, **kw):
    with pytest.raises(InputError, match=pattern):
        ckpt.load_model(path, model_factory=TinyNet.from_config, **kw)


def test_load_model_errors(tmp_path):
    _expect(tmp_path / "nope", "does not exist")
    empty = tmp_path / "empty"
    empty.mkdir()
    _expect(empty, "not a Diffusion Studio run folder")

    run = tmp_path / "run"
    _save(run, 1)
    (run / "config.json").write_text("{ not json")
    _expect(run, "not valid JSON")
    (run / "config.json").unlink()
    _expect(run, "No config.json")
    ckpt.save_config(run, _config())
    (run / "config.json").write_text('{"model": {}}')
    _expect(run, "schedule is missing")
    (run / "notes.txt").write_text("hello")
    _expect(run / "notes.txt", "not a model")
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    (lonely / "model.safetensors").write_bytes((run / "model.safetensors").read_bytes())
    _expect(lonely / "model.safetensors", "No config.json beside model.safetensors")

    mismatched = tmp_path / "mismatched"
    _save(mismatched, 1)
    ckpt.save_config(mismatched, _config(width=6))
    _expect(mismatched, "these weights do not fit the model described in config.json")

    corrupt = tmp_path / "corrupt"
    _save(corrupt, 1)
    data = (corrupt / "model_ema.safetensors").read_bytes()
    (corrupt / "model_ema.safetensors").write_bytes(data[: len(data) // 2])
    _expect(corrupt, "not a valid safetensors file")
    (corrupt / "model_ema.safetensors").write_bytes(b"\x00" * 64)
    _expect(corrupt, "not a valid safetensors file")

    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    ckpt.save_config(no_weights, _config())
    _expect(no_weights, "no model weights")


def test_pickle_files_are_refused_without_unpickling(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _save(run, 1)
    torch.save(TinyNet().state_dict(), tmp_path / "model.pt")
    with open(tmp_path / "raw.pkl", "wb") as handle:
        pickle.dump({"a": 1}, handle)
    # Renamed pickles are caught by their first bytes.
    torch.save(TinyNet().state_dict(), run / "model_ema.safetensors")
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    _expect(tmp_path / "model.pt", "pickle file")
    _expect(tmp_path / "raw.pkl", "pickle file")
    _expect(run, "pickle file")


def test_is_run_dir_and_list_runs(tmp_path):
    root = tmp_path / "runs"
    _save(root / "older", 3)
    (root / "older" / "samples").mkdir()
    (root / "older" / "samples" / "step_000001.png").write_bytes(b"png")
    (root / "older" / "samples" / "step_000003.png").write_bytes(b"png")
    for name in ("config.json", "model.safetensors", "train_state.pt", "model_ema.safetensors", "checkpoints"):
        os.utime(root / "older" / name, (1, 1))
    _save(root / "newer", 8)
    fresh = root / "fresh"
    fresh.mkdir()
    ckpt.save_config(fresh, _config())
    (root / "not_a_run").mkdir()
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("[1, 2")
    assert ckpt.is_run_dir(root / "newer") and not ckpt.is_run_dir(root / "not_a_run")
    assert not ckpt.is_run_dir(root / "broken")
    runs = ckpt.list_runs(root)
    assert {r.name for r in runs} == {"older", "newer", "fresh"}
    assert runs[-1].name == "older"
    info = {r.name: r for r in runs}
    assert info["older"].step == 3 and info["older"].last_sample_png.name == "step_000003.png"
    assert info["newer"].step == 8 and info["newer"].last_sample_png is None
    assert info["fresh"].step == 0
    assert ckpt.list_runs(tmp_path / "missing") == []
    assert ckpt.list_runs() == []  # the (isolated) user runs folder is empty


def test_metrics_append_read_and_torn_line(tmp_path):
    run = tmp_path
    ckpt.append_metrics(run, {"step": 1, "loss": 0.5, "lr": torch.tensor(1e-3)})
    ckpt.append_metrics(run, {"step": 2, "loss": float("nan"), "buckets": torch.tensor([1.0, 2.0])})
    with open(run / "metrics.jsonl", "ab") as handle:
        handle.write(b'{"step": 3, "lo')  # killed mid-line
    records = ckpt.read_metrics(run)
    assert [r["step"] for r in records] == [1, 2]
    assert records[1]["loss"] is None and records[1]["buckets"] == [1.0, 2.0]
    assert records[0]["lr"] == pytest.approx(1e-3)
    ckpt.append_metrics(run, {"step": 3, "loss": 0.25})  # goes on a fresh line after the torn one
    assert [r["step"] for r in ckpt.read_metrics(run)] == [1, 2, 3]
    for line in (run / "metrics.jsonl").read_text().splitlines()[:2]:
        json.loads(line)  # strict JSON, no NaN tokens
    assert ckpt.truncate_metrics(run, 2) == 2  # step 3, and the torn line before it
    assert [r["step"] for r in ckpt.read_metrics(run)] == [1, 2]
    assert ckpt.read_metrics(tmp_path / "nowhere") == []


def test_real_unet_round_trip(tmp_path):
    unet = pytest.importorskip("diffusion_studio.core.unet")
    config = unet.preset_config("cpu-tiny", image_size=8, channels=1) if hasattr(unet, "preset_config") else None
    if config is None:
        pytest.skip("no preset_config")
    model = unet.UNet.from_config(config)
    run_config = {**_config(), "model": model.config}
    ckpt.save_checkpoint(tmp_path, model=model, ema_model=model, train_state={}, config=run_config, step=4)
    loaded = ckpt.load_model(tmp_path)
    assert _same(loaded.model.state_dict(), model)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_model_round_trip(tmp_path):
    train = _train_state(TinyNet(), 1)
    model, ema = TinyNet().cuda(), TinyNet().cuda()
    ckpt.save_checkpoint(tmp_path, model=model, ema_model=ema, train_state=train, config=_config(), step=1)
    loaded = ckpt.load_model(tmp_path, device="cuda", model_factory=TinyNet.from_config)
    assert next(loaded.model.parameters()).device.type == "cuda"
    assert _same(loaded.model.cpu().state_dict(), ema.cpu())
    assert ckpt.load_checkpoint(tmp_path, TinyNet.from_config).model_state["conv.weight"].device.type == "cpu"


def test_wrapped_models_are_saved_without_their_wrapper_prefix(tmp_path):
    inner = TinyNet()
    wrapped = torch.nn.DataParallel(inner)  # DDP and torch.compile wrappers add "module." / "_orig_mod."
    ckpt.save_checkpoint(tmp_path, model=wrapped, ema_model=inner, train_state={}, config=_config(), step=1)
    loaded = ckpt.load_model(tmp_path, prefer_ema=False, model_factory=TinyNet.from_config)
    assert _same(loaded.model.state_dict(), inner)

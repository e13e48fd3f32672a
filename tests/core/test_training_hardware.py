"""GPU and Apple-silicon paths, simulated on the CPU: dtypes, layouts, copies, precision, memory, processes.

No GPU runs these tests; each one checks what would reach the device, or monkeypatches what torch
would report there (compute capability, free memory), and follows the code's decision.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from diffusion_studio.core import device as devices
from diffusion_studio.core.distributed import DistContext
from diffusion_studio.core.errors import InputError
from diffusion_studio.core.training import TrainConfig, TrainingError, train
from diffusion_studio.core.training import budget, setup
from diffusion_studio.core.training import trainer as trainer_module
from diffusion_studio.core.training.trainer import match_parameter_layouts

from ._training_helpers import tiny_config


def _events(config, **kw):
    return list(train(config, **kw))


class Float64Spy(TorchDispatchMode):
    """Records every torch operation that touches a float64 tensor (MPS has no float64 at all)."""

    def __init__(self):
        super().__init__()
        self.ops: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if any(isinstance(t, torch.Tensor) and t.dtype == torch.float64 for t in tree_leaves((args, kwargs, out))):
            self.ops.add(str(func))
        return out


def test_no_float64_tensor_in_training_previews_checkpoints_or_resume(tmp_path):
    run = tmp_path / "run"
    spy = Float64Spy()
    with spy:
        first = _events(tiny_config(run, steps=3, sample_every=2, checkpoint_every=2, prediction="v_prediction",
                                    min_snr_gamma=5.0))
        resumed = _events(TrainConfig(out=str(run), resume=True, steps=4))
    assert first[-1].event == resumed[-1].event == "done"
    assert any(e.sample_grid is not None for e in first)
    assert spy.ops == set()


def test_the_spy_sees_float64():
    spy = Float64Spy()
    with spy:
        torch.ones(2, dtype=torch.float64).sum()
    assert spy.ops  # so an empty set above means something


def _adam_moment(state_path):
    state = torch.load(state_path, weights_only=True)["optimizer"]["state"]
    # a kernel whose two layouts differ (more than one input channel, more than 1×1)
    return next(s["exp_avg"] for s in state.values() if s["exp_avg"].ndim == 4 and min(s["exp_avg"].shape[1:]) > 1)


def test_restored_optimizer_moments_take_their_parameters_layout(tmp_path):
    # A run trained in NCHW (the CPU's default) continued with channels_last (CUDA's default).
    run = tmp_path / "run"
    _events(tiny_config(run, steps=2))
    saved = _adam_moment(run / "train_state.pt")
    assert saved.is_contiguous()
    _events(TrainConfig(out=str(run), resume=True, steps=3, channels_last=True))
    moment = _adam_moment(run / "train_state.pt")
    assert moment.is_contiguous(memory_format=torch.channels_last) and not moment.is_contiguous()


def test_match_parameter_layouts_copies_values_into_the_parameters_strides():
    conv = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(conv.parameters())
    moment = torch.randn(conv.weight.shape)  # contiguous, as a CPU run saved it
    optimizer.state[conv.weight] = {"exp_avg": moment.clone(), "step": torch.tensor(1.0)}
    match_parameter_layouts(optimizer)
    restored = optimizer.state[conv.weight]["exp_avg"]
    assert restored.stride() == conv.weight.stride() and torch.equal(restored, moment)


def test_non_blocking_copies_only_to_cuda_from_pinned_memory(monkeypatch):
    calls = []

    def to(tensor, *args, **kwargs):
        calls.append((args, kwargs))
        return tensor

    def pin_memory(tensor):
        calls.append("pin")
        return tensor

    monkeypatch.setattr(torch.Tensor, "to", to)
    monkeypatch.setattr(torch.Tensor, "pin_memory", pin_memory)
    devices.to_device(torch.zeros(2), torch.device("mps"))
    assert calls == [((torch.device("mps"),), {})]  # blocking, from unpinned memory
    calls.clear()
    devices.to_device(torch.zeros(2), torch.device("cuda", 0))
    assert calls == ["pin", ((torch.device("cuda", 0),), {"non_blocking": True})]


def test_batches_reach_the_device_through_the_safe_copy():
    import inspect

    from diffusion_studio.core.data import batches

    source = inspect.getsource(batches)
    assert "non_blocking" not in source and "to_device(" in source


def _capability(monkeypatch, per_device: dict[int, tuple[int, int]]):
    asked = []

    def capability(device=None):
        index = torch.device(device).index
        asked.append(index)
        return per_device[index]

    monkeypatch.setattr(torch.cuda, "get_device_capability", capability)
    return asked


def test_bf16_only_on_the_chosen_gpu_with_bf16_units(monkeypatch):
    asked = _capability(monkeypatch, {0: (8, 0), 1: (7, 5)})  # an A100 and a T4 in one machine
    assert setup.choose_precision("auto", torch.device("cuda", 0)) == ("bf16", torch.bfloat16)
    assert setup.choose_precision("auto", torch.device("cuda", 1)) == ("fp16", torch.float16)
    assert asked == [0, 1]  # the chosen GPU, not the current one
    with pytest.raises(InputError, match=r"compute capability 7\.5\) has no bfloat16 units"):
        setup.choose_precision("bf16", torch.device("cuda", 1))
    assert setup.choose_precision("auto", torch.device("mps")) == ("fp32", None)
    assert setup.choose_precision("auto", torch.device("cpu")) == ("fp32", None)


def test_a_skipped_fp16_update_moves_neither_the_ema_nor_the_step(tmp_path, monkeypatch):
    # fp16 with a gradient scaler, simulated on the CPU; the second update's gradients overflow.
    monkeypatch.setattr(trainer_module, "choose_precision", lambda requested, device: ("fp16", torch.float16))
    real_unscale = torch.amp.GradScaler.unscale_
    calls = []

    def overflowing_unscale(scaler, optimizer):
        calls.append(len(calls) + 1)
        if len(calls) == 2:
            next(p for g in optimizer.param_groups for p in g["params"] if p.grad is not None).grad.fill_(float("inf"))
        return real_unscale(scaler, optimizer)

    monkeypatch.setattr(torch.amp.GradScaler, "unscale_", overflowing_unscale)
    run = tmp_path / "run"
    events = _events(tiny_config(run, steps=3, checkpoint_every=1000))
    assert [e.step for e in events if e.event == "step"] == [1, 2, 3] and events[-1].event == "done"
    assert len(calls) == 4  # one update was computed and skipped …
    state = torch.load(run / "train_state.pt", weights_only=True)
    assert state["scaler"]["scale"] == 2.0**15  # … the scaler halved its scale …
    assert state["ema"]["num_updates"] == state["step"] == 3  # … and neither the EMA nor the step counted it


def test_out_of_memory_in_the_first_optimizer_update_has_the_same_message(tmp_path, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(torch.optim.AdamW, "step", out_of_memory)
    with pytest.raises(TrainingError, match=r"ran out of memory with batch size 4 at 8 px\. Try --batch-size 2.*"
                                            r"--resume and a smaller batch"):
        _events(tiny_config(tmp_path / "run"))


def test_out_of_memory_in_the_sample_grid_then_resume_with_a_smaller_batch(tmp_path, monkeypatch):
    run = tmp_path / "run"
    _events(tiny_config(run, steps=2, checkpoint_every=1, sample_every=1000))

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("MPS backend out of memory (MPS allocated: 17.00 GB)")  # how MPS says it

    monkeypatch.setattr(trainer_module, "sample_images", out_of_memory)
    with pytest.raises(TrainingError, match=r"batch size 4 at 8 px\. Try --num-samples 2"):
        _events(TrainConfig(out=str(run), resume=True, steps=4, sample_every=3))
    monkeypatch.undo()
    events = _events(TrainConfig(out=str(run), resume=True, steps=4, batch_size=2))
    assert events[-1].event == "done" and events[-1].step == 4


def test_out_of_memory_guard_for_the_sampling_chain():
    with pytest.raises(InputError, match=r"This computer ran out of memory with batch size 64 at 32 px\. "
                                         r"Try --num 32; close other programs\.$"):
        with devices.out_of_memory_guard(torch.device("cpu"), batch_size=64, image_size=32, batch_flag="--num",
                                         resume_hint=False):
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes")
    with pytest.raises(ValueError, match="not memory"):
        with devices.out_of_memory_guard(torch.device("cpu"), batch_size=1, image_size=8):
            raise ValueError("not memory")


def test_mps_under_torchrun_is_refused(monkeypatch):
    with pytest.raises(InputError, match="--device mps cannot be used under torchrun"):
        DistContext(rank=0, world_size=2).device("mps")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(InputError, match="torchrun"):  # before joining a process group
        DistContext.from_env("mps")
    with pytest.raises(InputError, match="torchrun"):
        _events(TrainConfig(out="unused", demo=True, device="mps"))


def test_cudnn_autotuning_while_training_on_cuda_only():
    cudnn = torch.backends.cudnn
    before = cudnn.benchmark
    with devices.tuned_backends(torch.device("cuda", 0)):
        assert cudnn.benchmark
    assert cudnn.benchmark == before
    with devices.tuned_backends(torch.device("cpu")):
        assert cudnn.benchmark == before


def test_the_default_batch_grows_with_the_gpus_free_memory(monkeypatch):
    estimate = budget.MemoryEstimate(parameters=10**6, model_bytes=24 * 10**6, per_image_bytes=20 * 2**20)
    gpu = torch.device("cuda", 0)
    for free, expected in ((140 * 2**30, 512), (16 * 2**30, 256), (2 * 2**30, 32), (2**20, 1)):
        monkeypatch.setattr(devices, "available_memory", lambda device, free=free: (free, "free memory"))
        assert budget.default_batch_size(estimate, gpu, 64) == expected
    assert budget.default_batch_size(estimate, torch.device("cpu"), 64) == 64


def test_a_batch_that_cannot_fit_is_refused_with_the_estimate(monkeypatch):
    from diffusion_studio.core.unet import preset_config

    estimate = budget.estimate_training_memory(preset_config("cpu-tiny", 32, 3), image_size=32, channels=3,
                                               precision="fp32")
    assert 0.5e6 < estimate.parameters < 5e6 and estimate.per_image_bytes > 2**20
    monkeypatch.setattr(devices, "available_memory", lambda device: (8 * 2**30, "available RAM"))
    budget.check_training_fits(estimate, batch_size=64, image_size=32, device=torch.device("cpu"))
    with pytest.raises(TrainingError, match=r"batch size 100000 at 32 px needs about \d+\.\d GiB .* but there is "
                                            r"8\.0 GiB of available RAM; try --batch-size \d+"):
        budget.check_training_fits(estimate, batch_size=100_000, image_size=32, device=torch.device("cpu"))

"""Two gloo processes on the CPU train one model with DistributedDataParallel; rank 0 alone writes."""

import json
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from diffusion_studio.core.checkpoint import run_is_locked


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, run_dir: str, report_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world_size),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    from safetensors.torch import save_file

    from diffusion_studio.core import training
    from diffusion_studio.core.training.trainer import Trainer
    from tests.core._training_helpers import tiny_config

    trainers = []
    original_init = Trainer.__init__

    def capture(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        trainers.append(self)

    Trainer.__init__ = capture  # to read this rank's weights afterwards (Trainer.model)
    events = list(training.train(tiny_config(run_dir, steps=4, batch_size=2, device="cpu", sample_every=4)))
    weights = {k: v.contiguous() for k, v in trainers[0].model.state_dict().items()}
    save_file(weights, os.path.join(report_dir, f"rank{rank}.safetensors"))
    last = events[-1]
    summary = {"event": last.event, "step": last.step, "samples": sum(e.event == "sample" for e in events)}
    with open(os.path.join(report_dir, f"rank{rank}.json"), "w") as handle:
        json.dump(summary, handle)


@pytest.mark.slow
def test_two_gloo_processes_train_one_model(tmp_path):
    run_dir, report_dir = tmp_path / "run", tmp_path / "reports"
    report_dir.mkdir()
    mp.spawn(_worker, args=(2, _free_port(), str(run_dir), str(report_dir)), nprocs=2, join=True)
    reports = [json.loads((report_dir / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["event"] == "done" and r["step"] == 4 for r in reports)
    assert reports[0]["samples"] == 1 and reports[1]["samples"] == 0  # rank 0 alone samples
    # Rank 0 wrote one run folder; nobody else wrote anything.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports", "run"]
    assert not run_is_locked(run_dir)  # rank 0 held the lock while training and released it
    assert (run_dir / "model.safetensors").is_file() and (run_dir / "metrics.jsonl").is_file()
    assert json.loads((run_dir / "config.json").read_text())["class_names"] == list("0123456789")  # labelled digits
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    state = torch.load(run_dir / "train_state.pt", weights_only=True)
    assert state["world_size"] == 2 and state["data"]["world_size"] == 2
    # Gradients were averaged across the ranks: both hold the same weights, which rank 0 saved.
    saved = load_file(str(run_dir / "model.safetensors"))
    rank0, rank1 = (load_file(str(report_dir / f"rank{r}.safetensors")) for r in (0, 1))
    assert saved.keys() == rank0.keys() == rank1.keys()
    assert all(torch.equal(rank0[k], rank1[k]) and torch.equal(rank0[k], saved[k]) for k in saved)
    assert all(torch.isfinite(w).all() for w in saved.values())

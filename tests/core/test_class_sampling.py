"""Sampling a class-conditional model: the class, guidance (one batched pass), the views, the sweep, the judge."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffusion_studio.core.checkpoint import load_model, save_checkpoint
from diffusion_studio.core.conditioning import check_condition, describe_guidance, judge_for, resolve_class
from diffusion_studio.core.errors import InputError
from diffusion_studio.core.learned_variance import VarianceStep
from diffusion_studio.core.sampling import (
    ChainRequest,
    ChainScores,
    ChainStarted,
    FrameBatch,
    SamplerSettings,
    StepTime,
    StopFlag,
    estimate_chain_seconds,
    guidance_sweep_requests,
    merge_chains,
    network_for,
    sample_chains,
    sample_in_chunks,
    sampler_for,
)
from diffusion_studio.core.schedules import make_schedule
from diffusion_studio.core.unet import UNet

T, SIZE = 40, 8
DIGITS = [str(i) for i in range(10)]


def _run(folder, *, classes=DIGITS, out_channels=1, source="demo:digits"):
    torch.manual_seed(0)
    model = UNet(in_channels=1, out_channels=out_channels, base_channels=8, channel_mults=(1, 2), num_res_blocks=1,
                 attention_resolutions=(), dropout=0.0, image_size=SIZE, num_classes=len(classes) or None)
    for p in model.parameters():  # an untrained net outputs zeros: give it something to say
        torch.nn.init.normal_(p, std=0.05)
    config = {"version": 1, "model": model.config, "schedule": make_schedule("linear", T).to_config(),
              "prediction": "epsilon", "image_size": SIZE, "channels": 1, "train": {},
              "dataset": {"source": source}, **({"class_names": list(classes)} if classes else {})}
    save_checkpoint(folder, model=model, ema_model=model, train_state={}, config=config, step=1)
    return load_model(folder)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("digits"))


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("plain"), classes=())


def _settings(**changes):
    return SamplerSettings(**{"sampler": "ddim", "steps": 5, "batch_size": 3, "seed": 1, **changes})


def test_a_class_is_named_or_indexed_and_any_means_none(digits, tmp_path):
    assert resolve_class(digits, "7") == 7 and resolve_class(digits, None) is None
    assert resolve_class(digits, "any") is None and resolve_class(digits, "") is None
    pets = _run(tmp_path / "pets", classes=["cat", "dog"], source="elsewhere")
    assert resolve_class(pets, "dog") == 1 and resolve_class(pets, "0") == 0
    with pytest.raises(InputError, match="this model has no class 'eel'; its classes are cat, dog"):
        resolve_class(pets, "eel")
    with pytest.raises(InputError, match="no class '2'"):
        resolve_class(pets, "2")


def test_what_cannot_be_guided_is_refused_with_a_reason(digits, plain):
    with pytest.raises(InputError, match="trained without classes, so it cannot be asked for class '3'"):
        check_condition(plain, "3", 1.0)
    with pytest.raises(InputError, match=r"guidance \(s = 3 \(w = 2\)\) needs a class-conditional model"):
        check_condition(plain, None, 3.0)
    with pytest.raises(InputError, match="steers towards a class: choose one"):
        check_condition(digits, None, 3.0)
    assert check_condition(digits, "4", 0.0) == 4 and check_condition(plain, None, 1.0) is None
    with pytest.raises(InputError, match="steers towards a class"):
        guidance_sweep_requests(_settings(), [1, 2])
    with pytest.raises(InputError, match="2 to 8 scales"):
        guidance_sweep_requests(_settings(class_name="3"), [1] * 9)


def test_settings_say_the_class_and_both_guidance_numbers():
    assert "class 7, s = 4 (w = 3), seed 1" in _settings(class_name="7", guidance_scale=4.0).describe()
    assert describe_guidance(7.5) == "s = 7.5 (w = 6.5)"
    assert "class" not in _settings().describe()


class Counting(torch.nn.Module):
    """Counts the rows of each call: a guided step is one forward of 2N rows."""

    def __init__(self, net):
        super().__init__()
        self.net, self.rows = net, []
        self.null_class = net.null_class

    def forward(self, x, t, class_labels=None):
        self.rows.append((x.shape[0], None if class_labels is None else class_labels.tolist()))
        return self.net(x, t, class_labels)


def test_a_guided_chain_is_one_batched_pass_per_step_with_its_three_views(digits):
    counting = Counting(digits.model)
    loaded = type(digits)(**{**digits.__dict__, "model": counting})
    settings = _settings(class_name="7", guidance_scale=3.0)
    events = list(sample_chains(loaded, [ChainRequest("7", settings)], StopFlag(), min_interval_s=0.0))
    assert all(rows == 6 and labels == [10] * 3 + [7] * 3 for rows, labels in counting.rows[-5:])
    frames = [f for e in events if isinstance(e, FrameBatch) for f in e.frames]
    assert set(frames[0].extras) == {"eps_conditional", "eps_unconditional", "guidance_added"}
    scores = [e for e in events if isinstance(e, ChainScores)]
    assert len(scores) == 1 and scores[0].scores.accuracy is not None and len(scores[0].scores.class_counts) == 10
    # unguided (s = 1): one pass of N rows, no views
    counting.rows.clear()
    frames = [f for e in sample_chains(loaded, [ChainRequest("7", settings.with_(guidance_scale=1.0))], StopFlag())
              if isinstance(e, FrameBatch) for f in e.frames]
    assert all(rows == 3 for rows, _labels in counting.rows) and not frames[0].extras


def test_a_sweep_runs_its_chains_in_lockstep_on_the_same_timesteps(digits):
    requests = guidance_sweep_requests(_settings(class_name="2"), [1.0, 2.0, 4.0])
    assert [r.label for r in requests] == ["s = 1 (w = 0)", "s = 2 (w = 1)", "s = 4 (w = 3)"]
    events = list(sample_chains(digits, requests, StopFlag(), min_interval_s=0.0, lockstep=True))
    started = [i for i, e in enumerate(events) if isinstance(e, ChainStarted)]
    assert started == [1, 2, 3]  # all three start before the first step
    order = [e.chain for e in events if isinstance(e, FrameBatch) and e.frames]
    assert order[:6] == [0, 1, 2, 0, 1, 2]  # one step of each in turn
    chains = [[f for e in events if isinstance(e, FrameBatch) and e.chain == k for f in e.frames] for k in range(3)]
    assert [f.t for f in chains[0]] == [f.t for f in chains[2]] and chains[2][-1].is_final
    assert set(chains[0][0].extras) == set(chains[2][0].extras) == {"eps_conditional", "eps_unconditional",
                                                                    "guidance_added"}  # s = 1 shows them too
    assert len([e for e in events if isinstance(e, ChainScores)]) == 3
    merged = merge_chains(chains)
    assert merged[-1].x_t.shape[0] == 9 and np.array_equal(merged[-1].x_t[6:], chains[2][-1].x_t)


def test_chunks_draw_the_class_and_guidance_as_the_panel_does(digits):
    settings = _settings(class_name="5", guidance_scale=2.5)
    panel = [f for e in sample_chains(digits, [ChainRequest("5", settings)], StopFlag())
             if isinstance(e, FrameBatch) for f in e.frames][-1]
    chunked = [item for item in sample_in_chunks(digits, settings, 3, stride=5) if isinstance(item, list)][0][-1]
    assert np.array_equal(panel.x_t, chunked.x_t)


def test_guided_ddim_steps_with_the_clipped_x0(digits):
    assert sampler_for(digits, _settings(class_name="1", guidance_scale=3.0)).use_clipped_model_output
    assert not sampler_for(digits, _settings(class_name="1")).use_clipped_model_output
    assert not sampler_for(digits, _settings()).use_clipped_model_output


def test_a_guided_chain_is_estimated_at_twice_the_rows(digits):
    step = StepTime(fixed=0.0, per_sample=1.0)
    plain = estimate_chain_seconds(digits, _settings(class_name="3"), step)
    assert estimate_chain_seconds(digits, _settings(class_name="3", guidance_scale=5.0), step) == 2 * plain == 30.0


def test_the_judge_is_only_for_models_of_the_demo_digits(digits, plain, tmp_path):
    assert judge_for(digits) is not None and judge_for(plain) is not None  # plain: the digits, unconditionally
    assert judge_for(_run(tmp_path / "pets", classes=["cat", "dog"], source="demo:digits")) is None
    assert judge_for(_run(tmp_path / "other", source="/my/digits")) is None


def test_a_learned_variance_model_reports_sigma_per_step_with_any_sampler(tmp_path):
    loaded = _run(tmp_path / "lv", out_channels=2)
    assert loaded.variance == "learned_range"
    for sampler in ("ddpm", "ddim"):
        events = list(sample_chains(loaded, [ChainRequest("x", _settings(sampler=sampler, class_name="3",
                                                                          guidance_scale=2.0))],
                                    StopFlag(), min_interval_s=0.0))
        steps = [s for e in events if isinstance(e, FrameBatch) for s in e.variances]
        assert [s.t for s in steps] == sampler_for(loaded, _settings(sampler=sampler)).timesteps.tolist()
        assert all(isinstance(s, VarianceStep) and s.beta_tilde * 0.999 <= s.mean <= s.beta * 1.001 for s in steps)
        final = [f for e in events if isinstance(e, FrameBatch) for f in e.frames][-1]
        assert final.x_t.shape == (3, SIZE, SIZE, 1)


def test_network_for_an_unconditional_model_is_the_network(plain):
    network, guided = network_for(plain, _settings())
    assert network is plain.model and guided is None


def test_a_class_model_without_a_null_label_samples_classes_unguided(digits):
    class NoNull(Counting):
        def __init__(self, net):
            super().__init__(net)
            self.null_class = None  # e.g. a diffusers model trained without classifier-free guidance

    loaded = type(digits)(**{**digits.__dict__, "model": NoNull(digits.model)})
    assert check_condition(loaded, "4", 1.0) == 4
    with pytest.raises(InputError, match="no 'no class' label, so it cannot be guided"):
        check_condition(loaded, "4", 2.0)
    network, guided = network_for(loaded, _settings(class_name="4"))
    out = network(torch.zeros(2, 1, SIZE, SIZE), torch.full((2,), 5))
    assert out.shape == (2, 1, SIZE, SIZE) and loaded.model.rows[-1] == (2, [4, 4])

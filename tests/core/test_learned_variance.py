"""Learned variance (Nichol & Dhariwal 2021): DDPM's step against diffusers' learned_range, L_vlb, the recorder."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler

from diffusion_studio.core.learned_variance import VarianceRecorder
from diffusion_studio.core.losses import VLBTerms, denoising_loss, discretized_gaussian_log_likelihood, normal_kl
from diffusion_studio.core.prediction import prediction_target
from diffusion_studio.core.samplers import DDIMSampler, DDPMSampler, DPMSolverSampler, SamplerError
from diffusion_studio.core.schedules import make_schedule

T = 1000
SHAPE = (2, 3, 8, 8)


def _randn(seed, shape=SHAPE, dtype=torch.float64):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _oracle(schedule, **config):
    ref = DDPMScheduler(num_train_timesteps=T, trained_betas=schedule.betas, variance_type="learned_range", **config)
    ref.betas = torch.from_numpy(schedule.betas.copy())
    ref.alphas = 1.0 - ref.betas
    ref.alphas_cumprod = torch.from_numpy(schedule.alphas_cumprod.copy())
    return ref


def _learned_output(seed):
    """A model output of 2C channels: the prediction, then v in [−1, 1]."""
    prediction = _randn(seed)
    v = torch.tanh(_randn(seed + 1))
    return torch.cat([prediction, v], dim=1)


@pytest.mark.parametrize("schedule_name", ["linear", "squaredcos_cap_v2"])
@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
def test_ddpm_learned_range_step_matches_diffusers(schedule_name, prediction):
    schedule = make_schedule(schedule_name, T)
    ref = _oracle(schedule, prediction_type=prediction, clip_sample=True)
    ours = DDPMSampler(schedule, variance="learned_range", prediction=prediction, clip_sample=True)
    x = _randn(1)
    for t in (999, 998, 700, 250, 10, 1, 0):
        output = _learned_output(t + 10)
        expected = ref.step(output, t, x, generator=torch.Generator().manual_seed(t))
        got = ours.step(output, t, x, noise=_randn(t))
        assert (got.prev_sample - expected.prev_sample).abs().max().item() <= 1e-5
        assert (got.pred_original_sample - expected.pred_original_sample).abs().max().item() <= 1e-5


def test_ddpm_learned_range_on_a_shortened_chain_matches_diffusers():
    schedule = make_schedule("linear", T)
    ref = _oracle(schedule)
    ref.set_timesteps(25)
    ours = DDPMSampler(schedule, variance="learned_range", num_steps=25)
    assert ours.timesteps.tolist() == ref.timesteps.tolist()
    x = _randn(1)
    for t in ours.timesteps.tolist():
        output = _learned_output(t)
        expected = ref.step(output, t, x, generator=torch.Generator().manual_seed(t)).prev_sample
        assert (ours.step(output, t, x, noise=_randn(t)).prev_sample - expected).abs().max().item() <= 1e-5


def test_v_at_its_ends_gives_beta_and_beta_tilde():
    schedule = make_schedule("linear", T)
    sampler = DDPMSampler(schedule, variance="learned_range", clip_sample=False)
    x, prediction, z = _randn(1), _randn(2), _randn(3)
    mean = DDPMSampler(schedule, variance="fixed_small", clip_sample=False).step(prediction, 500, x, noise=0 * z)
    beta, beta_tilde = sampler.variance_bounds(500)
    for v, variance in ((1.0, beta), (-1.0, beta_tilde)):
        out = sampler.step(torch.cat([prediction, torch.full_like(x, v)], dim=1), 500, x, noise=z).prev_sample
        assert torch.allclose(out, mean.prev_sample + math.sqrt(variance) * z, atol=1e-10)
    assert math.isclose(beta, schedule.betas[500]) and beta_tilde < beta


def test_every_sampler_uses_only_the_mean_channels():
    schedule = make_schedule("squaredcos_cap_v2", T)
    x, prediction = _randn(1), _randn(2)
    learned = torch.cat([prediction, torch.tanh(_randn(3))], dim=1)
    for make in (lambda: DDIMSampler(schedule, num_steps=10), lambda: DPMSolverSampler(schedule, num_steps=10)):
        plain, with_variance = make(), make()
        for t in plain.timesteps[:3].tolist():
            expected = plain.step(prediction, t, x)
            got = with_variance.step(learned, t, x)
            assert torch.equal(got.prev_sample, expected.prev_sample)
        assert torch.equal(with_variance.predict_epsilon(learned, 500, x), prediction)


def test_learned_range_refuses_an_output_without_variance_channels():
    sampler = DDPMSampler(make_schedule("linear", T), variance="learned_range")
    with pytest.raises(SamplerError, match="6 channels"):
        sampler.step(_randn(2), 500, _randn(1))


# ------------------------------------------------------------------------------ losses


@pytest.mark.parametrize("kind", ["l2", "l1", "huber"])
def test_denoising_losses_per_sample(kind):
    output, target = _randn(1, dtype=torch.float32), _randn(2, dtype=torch.float32)
    expected = {"l2": torch.nn.functional.mse_loss, "l1": torch.nn.functional.l1_loss,
                "huber": torch.nn.functional.smooth_l1_loss}[kind]
    got = denoising_loss(output, target, kind)
    assert got.shape == (SHAPE[0],)
    for i in range(SHAPE[0]):
        assert torch.allclose(got[i], expected(output[i], target[i]), atol=1e-6)
    with pytest.raises(ValueError):
        denoising_loss(output, target, "l3")


def test_normal_kl_is_zero_for_equal_gaussians_and_matches_the_closed_form():
    mean, log_var = _randn(1), _randn(2)
    assert normal_kl(mean, log_var, mean, log_var).abs().max().item() < 1e-12
    p = torch.distributions.Normal(torch.tensor(0.3), torch.tensor(0.5))
    q = torch.distributions.Normal(torch.tensor(-0.2), torch.tensor(1.5))
    ours = normal_kl(torch.tensor(0.3), torch.tensor(math.log(0.25)), torch.tensor(-0.2), torch.tensor(math.log(2.25)))
    assert math.isclose(float(ours), float(torch.distributions.kl_divergence(p, q)), rel_tol=1e-6)


def test_discretized_likelihood_sums_to_one_over_the_256_levels():
    levels = torch.linspace(-1, 1, 256, dtype=torch.float64)
    for mean, log_scale in ((0.1, -3.0), (-0.7, -1.0), (0.99, -4.0)):
        log_p = discretized_gaussian_log_likelihood(levels, torch.full_like(levels, mean),
                                                    torch.full_like(levels, log_scale))
        assert math.isclose(float(log_p.exp().sum()), 1.0, abs_tol=2e-3)


def _vlb_case(schedule, t, v_value):
    terms = VLBTerms.for_schedule(schedule)
    x0 = torch.rand(SHAPE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    noise = _randn(1, dtype=torch.float32)
    a = terms.sqrt_alphas_cumprod[t].view(-1, 1, 1, 1)
    b = terms.sqrt_one_minus_alphas_cumprod[t].view(-1, 1, 1, 1)
    x_t = a * x0 + b * noise
    perfect = prediction_target(x0, noise, a, b, "epsilon")
    return terms, x0, x_t, perfect, torch.full(SHAPE, float(v_value))


def test_vlb_with_the_true_mean_and_variance_is_zero_and_trains_only_the_variance():
    schedule = make_schedule("linear", T)
    t = torch.tensor([400, 700])
    terms, x0, x_t, perfect, _v = _vlb_case(schedule, t, -1.0)
    v = torch.full(SHAPE, -1.0, requires_grad=True)  # v = −1: Σ = β̃_t, the true posterior variance
    mean_output = perfect.clone().requires_grad_(True)
    loss = terms.loss(mean_output, v, x0, x_t, t, "epsilon")
    assert loss.abs().max().item() < 1e-4
    terms.loss(mean_output, torch.zeros(SHAPE, requires_grad=True), x0, x_t, t, "epsilon").sum().backward()
    assert mean_output.grad is None  # stop-gradient on the mean (Nichol & Dhariwal §3.1)


def test_vlb_at_t0_is_the_decoder_likelihood_in_bits():
    schedule = make_schedule("linear", T)
    t = torch.tensor([0, 0])
    terms, x0, x_t, perfect, v = _vlb_case(schedule, t, 0.0)
    got = terms.loss(perfect, v, x0, x_t, t, "epsilon")
    # x̂0 = x0 exactly: the mean is μ̃_0 = x0, the scale √Σ
    log_var = 0.5 * (terms.log_beta[0] + terms.log_beta_tilde[0])
    expected = -discretized_gaussian_log_likelihood(x0, x0, 0.5 * log_var).flatten(1).mean(1) / math.log(2)
    assert torch.allclose(got, expected, atol=1e-5)


def test_vlb_terms_match_the_posterior_of_the_schedule():
    schedule = make_schedule("squaredcos_cap_v2", 100)
    terms = VLBTerms.for_schedule(schedule)
    from diffusion_studio.core.forward import posterior_coefficients

    for t in (1, 50, 99):
        posterior = posterior_coefficients(schedule, t)
        assert math.isclose(float(terms.posterior_coef_x0[t]), posterior.coef_x0, rel_tol=1e-5)
        assert math.isclose(float(terms.posterior_coef_xt[t]), posterior.coef_xt, rel_tol=1e-5)
        assert math.isclose(float(terms.log_beta_tilde[t]), math.log(posterior.variance), rel_tol=1e-5)
    assert float(terms.log_beta_tilde[0]) == float(terms.log_beta_tilde[1])  # β̃_0 = 0 is replaced by β̃_1


# ------------------------------------------------------------------------------ the recorder


def _record(v_of):
    sampler = DDIMSampler(make_schedule("linear", T), num_steps=10)

    class Net(torch.nn.Module):
        def forward(self, x, t):
            return torch.cat([x * 0.1, v_of(x)], dim=1)

    recorder = VarianceRecorder(Net(), sampler)
    x = _randn(1, dtype=torch.float32)
    for t in sampler.timesteps.tolist():
        out = recorder(x, torch.full((SHAPE[0],), t))
        x = sampler.step(out, t, x).prev_sample
    steps = recorder.drain()
    assert [s.t for s in steps] == sampler.timesteps.tolist() and recorder.drain() == []
    return steps


def test_recorder_gives_the_interpolated_sigma_of_every_step():
    for step in _record(lambda x: torch.full_like(x, 0.5)):  # v = 0.5: frac = 0.75
        expected = math.exp(0.75 * math.log(step.beta) + 0.25 * math.log(step.beta_tilde))
        assert math.isclose(step.mean, expected, rel_tol=1e-5)


def test_recorder_spread_stays_between_beta_tilde_and_beta():
    for step in _record(lambda x: torch.tanh(3 * x)):
        assert step.beta_tilde * (1 - 1e-6) <= step.low <= step.high <= step.beta * (1 + 1e-6)
        assert step.low < step.high


def test_recorder_passes_a_plain_output_through():
    sampler = DDIMSampler(make_schedule("linear", T), num_steps=5)
    recorder = VarianceRecorder(lambda x, t: x * 2, sampler)
    x = _randn(1, dtype=torch.float32)
    assert torch.equal(recorder(x, torch.full((2,), int(sampler.timesteps[0]))), x * 2)
    assert recorder.drain() == []
    assert np.isfinite(sampler.variance_bounds(int(sampler.timesteps[-1]))).all()

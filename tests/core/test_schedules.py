"""Schedules against diffusers (the oracle), their refusals, immutability and round trips."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from diffusion_studio.core.errors import InputError
from diffusion_studio.core.schedules import (
    DIFFUSERS_SCHEDULES,
    SCHEDULE_NAMES,
    SCHEDULE_PARAMS,
    NoiseSchedule,
    ScheduleError,
    from_diffusers_config,
    make_schedule,
    to_diffusers_config,
    rescale_zero_terminal_snr,
)

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
from diffusers import DDIMScheduler, DDPMScheduler  # noqa: E402
from diffusers.schedulers.scheduling_ddpm import betas_for_alpha_bar  # noqa: E402
from diffusers.schedulers.scheduling_ddpm import rescale_zero_terminal_snr as diffusers_rescale  # noqa: E402

# Non-default ranges on purpose, so that a mix-up of defaults cannot pass.
DIFFUSERS_CASES = {
    "linear": {"beta_start": 1e-4, "beta_end": 0.02},
    "scaled_linear": {"beta_start": 0.00085, "beta_end": 0.012},
    "squaredcos_cap_v2": {},
    "sigmoid": {"beta_start": 2e-4, "beta_end": 0.03},
    "laplace": {},
}
TIMESTEPS = (10, 50, 1000)


def _ddpm(name: str, T: int, rescale: bool) -> DDPMScheduler:
    kwargs = dict(DIFFUSERS_CASES[name])
    return DDPMScheduler(num_train_timesteps=T, beta_schedule=name, rescale_betas_zero_snr=rescale, **kwargs)


def _diffusers_betas_float64(name: str, T: int) -> torch.Tensor:
    """diffusers' own construction of each schedule, run in float64 (the formula without float32 rounding)."""
    p = DIFFUSERS_CASES[name]
    if name == "linear":
        return torch.linspace(p["beta_start"], p["beta_end"], T, dtype=torch.float64)
    if name == "scaled_linear":
        return torch.linspace(p["beta_start"] ** 0.5, p["beta_end"] ** 0.5, T, dtype=torch.float64) ** 2
    if name == "sigmoid":
        x = torch.linspace(-6, 6, T, dtype=torch.float64)
        return torch.sigmoid(x) * (p["beta_end"] - p["beta_start"]) + p["beta_start"]
    kind = "cosine" if name == "squaredcos_cap_v2" else name
    return betas_for_alpha_bar(T, alpha_transform_type=kind).double()


@pytest.mark.parametrize("T", TIMESTEPS)
@pytest.mark.parametrize("name", list(DIFFUSERS_CASES))
def test_matches_diffusers_ddpm_scheduler(name, T):
    ours = make_schedule(name, T, **DIFFUSERS_CASES[name])
    theirs = _ddpm(name, T, rescale=False)
    assert np.abs(ours.betas - theirs.betas.double().numpy()).max() <= 1e-6
    assert np.abs(ours.alphas_cumprod - theirs.alphas_cumprod.double().numpy()).max() <= 1e-6


@pytest.mark.parametrize("T", TIMESTEPS)
@pytest.mark.parametrize("name", list(DIFFUSERS_CASES))
def test_zero_terminal_snr_matches_diffusers_formula_in_float64(name, T):
    # diffusers' own rescale_zero_terminal_snr on float64 betas: the exact oracle of the formula.
    ours = make_schedule(name, T, zero_terminal_snr=True, **DIFFUSERS_CASES[name])
    expected_betas = diffusers_rescale(_diffusers_betas_float64(name, T))
    expected_cumprod = torch.cumprod(1.0 - expected_betas, dim=0)
    assert np.abs(ours.betas - expected_betas.numpy()).max() <= 1e-6
    assert np.abs(ours.alphas_cumprod - expected_cumprod.numpy()).max() <= 1e-6


@pytest.mark.parametrize("T", TIMESTEPS)
@pytest.mark.parametrize("name", list(DIFFUSERS_CASES))
def test_zero_terminal_snr_matches_diffusers_ddpm_scheduler(name, T):
    # DDPMScheduler rescales in float32: its own rounding reaches a few 1e-6 (√, cumprod and the
    # division near ᾱ ≈ 0), so the float32 arrays are held to 1e-5; the float64 test above holds 1e-6.
    ours = make_schedule(name, T, zero_terminal_snr=True, **DIFFUSERS_CASES[name])
    theirs = _ddpm(name, T, rescale=True)
    assert np.abs(ours.betas - theirs.betas.double().numpy()).max() <= 1e-5
    assert np.abs(ours.alphas_cumprod - theirs.alphas_cumprod.double().numpy()).max() <= 1e-5
    assert ours.alphas_cumprod[-1] == 0.0 and ours.betas[-1] == 1.0


def test_diffusers_names_are_all_tested():
    assert set(DIFFUSERS_SCHEDULES) == set(DIFFUSERS_CASES)


def test_cosine_alias_and_quadratic():
    assert make_schedule("cosine", 100) == make_schedule("squaredcos_cap_v2", 100)
    assert make_schedule("Cosine ", 100).name == "squaredcos_cap_v2"
    # Ho et al.'s "quad": linear in √β over DDPM's range.
    quad = make_schedule("quadratic", 1000)
    expected = np.linspace(1e-4**0.5, 0.02**0.5, 1000) ** 2
    np.testing.assert_allclose(quad.betas, expected, rtol=0, atol=1e-15)


def test_sigmoid_alphas_cumprod_matches_chen_2023_reference():
    # Chen 2023 Alg. 1 / lucidrains' sigmoid_beta_schedule, written out independently here.
    T, start, end, tau = 200, -3.0, 3.0, 0.7
    u = torch.linspace(0, T, T + 1, dtype=torch.float64) / T
    v_start = torch.tensor(start / tau, dtype=torch.float64).sigmoid()
    v_end = torch.tensor(end / tau, dtype=torch.float64).sigmoid()
    ab = (-((u * (end - start) + start) / tau).sigmoid() + v_end) / (v_end - v_start)
    ab = ab / ab[0]
    expected = torch.clip(1 - ab[1:] / ab[:-1], 0, 0.999).numpy()
    ours = make_schedule("sigmoid_alphas_cumprod", T, start=start, end=end, tau=tau)
    assert np.abs(ours.betas - expected).max() <= 1e-12


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
@pytest.mark.parametrize("zero_terminal_snr", [False, True])
def test_every_schedule_is_monotone_and_in_range(name, zero_terminal_snr):
    s = make_schedule(name, 500, zero_terminal_snr=zero_terminal_snr)
    assert np.all((s.betas > 0) & (s.betas <= 1))
    assert np.all(np.diff(s.alphas_cumprod) < 0), "ᾱ_t must strictly decrease"
    assert 0 <= s.alphas_cumprod[-1] < s.alphas_cumprod[0] < 1
    for values in s.table().values():
        assert not np.any(np.isnan(values))
    if zero_terminal_snr:
        assert s.alphas_cumprod[-1] == 0.0
        assert s.alphas_cumprod[0] == pytest.approx(make_schedule(name, 500).alphas_cumprod[0], abs=1e-12)


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_extremes_of_T_work(name):
    for T in (2, 10_000):
        s = make_schedule(name, T)
        assert s.num_timesteps == T and np.all(np.isfinite(s.betas))


def test_rescale_survives_underflow_without_nan():
    # ᾱ underflows to exactly 0 long before the end: no NaN, β stays in [0, 1].
    s = make_schedule("linear", 10_000, beta_start=0.1, beta_end=0.9, zero_terminal_snr=True)
    assert np.all(np.isfinite(s.betas)) and s.betas.min() >= 0 and s.betas.max() <= 1


def test_snr_and_log_snr_at_zero_terminal_snr():
    s = make_schedule("linear", 100, zero_terminal_snr=True)
    assert s.snr[-1] == 0.0
    assert s.log_snr[-1] == -math.inf and s.snr_db[-1] == -math.inf
    assert np.all(np.isfinite(s.log_snr[:-1]))
    np.testing.assert_allclose(np.exp(s.log_snr[:-1]), s.snr[:-1], rtol=1e-10)
    np.testing.assert_allclose(s.snr_db[:-1], 10 * np.log10(s.snr[:-1]), rtol=1e-10)


def test_derived_arrays():
    s = make_schedule("cosine", 50)
    np.testing.assert_allclose(s.alphas, 1 - s.betas)
    np.testing.assert_allclose(s.alphas_cumprod, np.cumprod(1 - s.betas))
    np.testing.assert_allclose(s.alphas_cumprod_prev, np.r_[1.0, s.alphas_cumprod[:-1]])
    np.testing.assert_allclose(s.sqrt_alphas_cumprod**2 + s.sqrt_one_minus_alphas_cumprod**2, 1.0)
    np.testing.assert_allclose(s.snr, s.alphas_cumprod / (1 - s.alphas_cumprod))
    assert list(s.table()) == [
        "t", "beta", "alpha", "alphas_cumprod", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod", "snr"
    ]


def test_arrays_are_read_only_and_schedule_frozen():
    s = make_schedule("linear", 20)
    for name in ("betas", "alphas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                 "sqrt_one_minus_alphas_cumprod", "snr", "log_snr", "snr_db"):
        array = getattr(s, name)
        assert not array.flags.writeable, name
        with pytest.raises(ValueError):
            array[0] = 0.5
    with pytest.raises(AttributeError):
        s.name = "other"
    source = np.linspace(1e-4, 0.02, 10)
    built = NoiseSchedule("custom", source)
    source[0] = 0.9  # changing the caller's array does not change the schedule
    assert built.betas[0] == pytest.approx(1e-4)


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_config_round_trip(name):
    params = {k: v * 1.01 if k not in ("start", "mu") else v - 0.5 for k, v in SCHEDULE_PARAMS[name].items()}
    params = {k: min(v, 0.99) for k, v in params.items()}
    s = make_schedule(name, 77, zero_terminal_snr=True, **params)
    config = json.loads(json.dumps(s.to_config()))
    again = NoiseSchedule.from_config(config)
    assert again == s and hash(again) == hash(s)
    np.testing.assert_array_equal(again.betas, s.betas)
    assert again.describe() == s.describe() and "zero terminal SNR" in s.describe()
    assert make_schedule(name, 77) != s


def test_from_diffusers_config():
    config = {"_class_name": "DDPMScheduler", "beta_schedule": "scaled_linear", "beta_start": 0.00085,
              "beta_end": 0.012, "num_train_timesteps": 1000, "rescale_betas_zero_snr": True,
              "clip_sample": False}
    s = from_diffusers_config(config)
    assert s == make_schedule("scaled_linear", 1000, beta_start=0.00085, beta_end=0.012, zero_terminal_snr=True)
    theirs = DDPMScheduler.from_config(config)
    assert np.abs(s.alphas_cumprod - theirs.alphas_cumprod.double().numpy()).max() <= 1e-5
    # diffusers' defaults when keys are missing
    assert from_diffusers_config({}) == make_schedule("linear", 1000, beta_start=1e-4, beta_end=0.02)
    assert from_diffusers_config({"beta_schedule": "squaredcos_cap_v2", "num_train_timesteps": 10}).num_timesteps == 10
    with pytest.raises(ScheduleError, match="beta_schedule"):
        from_diffusers_config({"beta_schedule": "quadratic"})


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (("linear", 100), {"beta_end": 1.0}, "beta_end must be strictly between 0 and 1"),
        (("linear", 100), {"beta_end": 1.5}, "beta_end must be strictly between 0 and 1"),
        (("scaled_linear", 100), {"beta_start": 0.0}, "beta_start must be strictly between 0 and 1"),
        (("sigmoid", 100), {"beta_start": -0.1}, "beta_start must be strictly between 0 and 1"),
        (("linear", 100), {"beta_start": 0.02, "beta_end": 0.01}, "must not exceed beta_end"),
        (("linear", 100), {"beta_end": math.nan}, "finite number"),
        (("linear", 100), {"beta_end": math.inf}, "finite number"),
        (("linear", 100), {"beta_end": "lots"}, "must be a number"),
        (("cosine", 100), {"max_beta": 1.0}, "max_beta must be strictly between 0 and 1"),
        (("cosine", 100), {"s": -0.1}, "offset s"),
        (("sigmoid_alphas_cumprod", 100), {"start": 3.0, "end": -3.0}, "end > start"),
        (("sigmoid_alphas_cumprod", 100), {"tau": 0.0}, "tau must be > 0"),
        (("sigmoid_alphas_cumprod", 100), {"tau": 1e-5, "start": 3, "end": 4}, "too small"),
        (("laplace", 100), {"b": 0.0}, "scale b"),
        (("linear", -5), {}, "between 2 and"),
        (("linear", 1), {}, "between 2 and"),
        (("linear", 10**6), {}, "between 2 and"),
        (("linear", 10.5), {}, "whole number"),
        (("linear", math.nan), {}, "whole number"),
        (("linear", "many"), {}, "whole number"),
        (("linear", True), {}, "whole number"),
        (("nonsense", 100), {}, "unknown schedule"),
        (("linear", 100), {"s": 0.1}, "has no parameter s"),
    ],
)
def test_bad_parameters_are_refused_with_a_message(args, kwargs, message):
    with pytest.raises(ScheduleError, match=message) as info:
        make_schedule(*args, **kwargs)
    assert isinstance(info.value, InputError)  # the CLI turns it into exit 2, the GUI into a message
    assert "\n" not in str(info.value)


def test_bad_configs_and_arrays_are_refused():
    with pytest.raises(ScheduleError):
        NoiseSchedule.from_config({"num_timesteps": 10})
    with pytest.raises(ScheduleError):
        NoiseSchedule("custom", np.array([0.1, np.nan]))
    with pytest.raises(ScheduleError):
        NoiseSchedule("custom", np.array([0.1]))
    with pytest.raises(ScheduleError):
        rescale_zero_terminal_snr(np.zeros(5))


def test_whole_float_T_is_accepted():
    assert make_schedule("linear", 100.0).num_timesteps == 100


# ---------------------------------------------------------------------------- to diffusers


@pytest.mark.parametrize("zero_terminal_snr", [False, True])
@pytest.mark.parametrize("name, params", [
    ("linear", {"beta_start": 2e-4, "beta_end": 0.03}),
    ("scaled_linear", {}),
    ("cosine", {}),
])
def test_named_schedules_go_to_diffusers_by_name_and_come_back(name, params, zero_terminal_snr):
    schedule = make_schedule(name, 500, zero_terminal_snr=zero_terminal_snr, **params)
    config = to_diffusers_config(schedule, prediction="v_prediction", clip_sample=False)
    assert config["beta_schedule"] == schedule.name and config["trained_betas"] is None
    assert config["rescale_betas_zero_snr"] is zero_terminal_snr
    assert from_diffusers_config(json.loads(json.dumps(config))) == schedule
    for scheduler in (DDPMScheduler(**config), DDIMScheduler.from_config(config)):
        np.testing.assert_allclose(scheduler.alphas_cumprod.double().numpy(), schedule.alphas_cumprod,
                                   rtol=2e-5, atol=1e-7)
        assert scheduler.config.prediction_type == "v_prediction" and scheduler.config.clip_sample is False


@pytest.mark.parametrize("zero_terminal_snr", [False, True])
@pytest.mark.parametrize("name, params", [
    ("sigmoid", {}),  # DDPMScheduler has it, DDIMScheduler does not: betas keep the pipeline portable
    ("laplace", {}),
    ("quadratic", {}),
    ("sigmoid_alphas_cumprod", {"tau": 0.7}),
    ("cosine", {"s": 0.02}),  # diffusers' cosine fixes s = 0.008
])
def test_other_schedules_go_to_diffusers_as_their_betas(name, params, zero_terminal_snr):
    schedule = make_schedule(name, 200, zero_terminal_snr=zero_terminal_snr, **params)
    config = json.loads(json.dumps(to_diffusers_config(schedule)))
    assert config["trained_betas"] is not None and config["rescale_betas_zero_snr"] is False
    for scheduler in (DDPMScheduler(**config), DDIMScheduler.from_config(config)):
        np.testing.assert_allclose(scheduler.betas.double().numpy(), schedule.betas, rtol=1e-6, atol=1e-9)
    back = from_diffusers_config(config)  # the betas come back exactly; defaults even with their name
    np.testing.assert_array_equal(back.betas, schedule.betas)
    if not params:
        assert back == schedule
    else:
        assert back.name == "trained_betas" and back.num_timesteps == 200


def test_trained_betas_are_read_as_diffusers_reads_them():
    betas = np.linspace(1e-3, 0.05, 30) ** 1.5
    config = {"trained_betas": betas.tolist(), "num_train_timesteps": 30, "rescale_betas_zero_snr": True}
    schedule = from_diffusers_config(config)
    theirs = DDPMScheduler.from_config(config)
    assert schedule.name == "trained_betas" and schedule.zero_terminal_snr and schedule.alphas_cumprod[-1] == 0
    np.testing.assert_allclose(schedule.alphas_cumprod, theirs.alphas_cumprod.double().numpy(), atol=5e-6)


@pytest.mark.parametrize("config, message", [
    ({"trained_betas": [0.1]}, "list of 2"),
    ({"trained_betas": "0.1, 0.2"}, "list of 2"),
    ({"trained_betas": [0.1, "x"]}, "numbers only"),
    ({"trained_betas": [0.1, True]}, "numbers only"),
    ({"trained_betas": [0.1, 1.5]}, r"\[0, 1\]"),
    ({"trained_betas": [0.1, -0.2]}, r"\[0, 1\]"),
    ({"trained_betas": [0.1, 0.2], "num_train_timesteps": 1000}, "has 2 values"),
])
def test_unusable_trained_betas_are_refused(config, message):
    with pytest.raises(ScheduleError, match=message):
        from_diffusers_config(config)


def test_variance_types_for_diffusers():
    schedule = make_schedule("linear", 100)
    assert DDPMScheduler(**to_diffusers_config(schedule, variance="learned_range")).variance_type == "learned_range"
    assert to_diffusers_config(schedule)["variance_type"] == "fixed_small"
    with pytest.raises(ScheduleError, match="variance type"):
        to_diffusers_config(schedule, variance="learned")

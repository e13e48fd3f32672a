"""Sampling a class-conditional model: which class a name means, the guided network, and how good the samples are.

A class-conditional model (``loaded.class_names`` non-empty) is asked for class c, or for no class at all
("any": the unconditional model, its null label). With a class it can be guided (Ho & Salimans 2022):

    ε̃ = (1 + w)·ε̂(x_t, c) − w·ε̂(x_t, ∅)        Ho & Salimans' weight w
       = ε̂(x_t, ∅) + s·(ε̂(x_t, c) − ε̂(x_t, ∅))   diffusers' guidance_scale s = 1 + w (what settings hold)

so s = 1 (w = 0) is the conditional model alone and s = 0 (w = −1) the unconditional one; both numbers are
shown to people. :func:`guided_network` builds the ``model(x, t)`` a chain calls (core.guidance.GuidedModel,
conditional and unconditional in one batched pass) after :func:`check_condition` has refused what cannot work:
a class the model does not know, a class for an unconditional model, guidance without a class, or guidance for
a model that has no "no class" label.

Models trained on the built-in digits can be judged by an independent classifier (core.digits_judge):
:func:`judge_for` gives it for such a model, and the Sample panel and the CLI report "asked for 7, read as 7"
accuracy, confidence and spread with every chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .errors import InputError
from .guidance import GuidedModel, guidance_weight

if TYPE_CHECKING:
    from .digits_judge import DigitsJudge
    from .loaded_model import LoadedModel

__all__ = ["ANY_CLASS", "describe_guidance", "describe_judgement", "check_condition", "guided_network", "is_guided", "judge_for",
           "model_rows_per_sample", "null_class", "resolve_class"]

#: What a person picks to sample without a class (the unconditional model).
ANY_CLASS = "any"


def describe_guidance(scale: float) -> str:
    """"s = 4 (w = 3)": diffusers' scale and Ho & Salimans' weight, the two conventions people meet."""
    return f"s = {float(scale):g} (w = {guidance_weight(scale):g})"


def null_class(loaded: "LoadedModel") -> int | None:
    """The model's "no class" label (K for our runs), or None: unconditional, or a class model without one."""
    if not loaded.class_names:
        return None
    return getattr(loaded.model, "null_class", None)


def resolve_class(loaded: "LoadedModel", name: str | None) -> int | None:
    """The class index ``name`` asks for: a class name first, else a 0-based index; None for no class.

    InputError for a class the model does not know, or any class for a model without classes.
    """
    if name is None or str(name).strip().lower() in ("", ANY_CLASS):
        return None
    name = str(name).strip()
    names = loaded.class_names
    if not names:
        raise InputError(f"this model was trained without classes, so it cannot be asked for class {name!r}; "
                         "sample it without a class")
    if name in names:
        return names.index(name)
    if name.isdigit() and int(name) < len(names):
        return int(name)
    shown = ", ".join(names[:12]) + (f", … ({len(names)} in all)" if len(names) > 12 else "")
    raise InputError(f"this model has no class {name!r}; its classes are {shown}")


def is_guided(scale: float, class_index: int | None) -> bool:
    """Whether a chain evaluates the network twice per step (conditional and unconditional)."""
    return class_index is not None and float(scale) not in (0.0, 1.0)


def check_condition(loaded: "LoadedModel", class_name: str | None, scale: float) -> int | None:
    """The class index to sample (None: unconditional), after refusing what cannot work (InputError)."""
    index = resolve_class(loaded, class_name)
    scale = float(scale)
    if scale == 1.0:
        return index
    if not loaded.class_names:
        raise InputError(f"guidance ({describe_guidance(scale)}) needs a class-conditional model and this one was "
                         "trained without classes; sample it with guidance 1 (none)")
    if index is None:
        raise InputError(f"guidance ({describe_guidance(scale)}) steers towards a class: choose one (for example "
                         f"{loaded.class_names[0]!r}), or set the guidance to 1 (none)")
    if null_class(loaded) is None:
        raise InputError(f"this model has no 'no class' label, so it cannot be guided ({describe_guidance(scale)}); "
                         "sample its classes with guidance 1 (none)")
    return index


def model_rows_per_sample(scale: float, class_index: int | None) -> int:
    """Network rows per sample and step: 2 when guided (one batched pass over conditional + unconditional)."""
    return 2 if is_guided(scale, class_index) else 1


def guided_network(loaded: "LoadedModel", class_name: str | None, scale: float, *, record: bool = False,
                   record_unguided: bool = False) -> tuple[Callable, GuidedModel | None]:
    """(``model(x, t)`` for a chain, the GuidedModel inside it or None) for sampling class ``class_name``.

    Without a class it is the network itself (a class model then gets its null label). ``record``: keep
    ε̂(c) and ε̂(∅) of every step for the chain's guidance views, where the chain is guided — or, with
    ``record_unguided``, also at s = 0 and 1 (a sweep shows the same views for every scale; it costs those
    chains a second pass).
    """
    import torch

    index = check_condition(loaded, class_name, scale)
    if index is None:
        return loaded.model, None
    device = loaded.device
    null = null_class(loaded)
    condition = {"class_labels": torch.tensor([index], dtype=torch.long, device=device)}
    # A model without a null label is only ever asked conditionally (scale 1 was checked above).
    unconditional = {"class_labels": torch.tensor([index if null is None else null], dtype=torch.long, device=device)}
    views = is_guided(scale, index) or (record_unguided and null is not None)
    guided = GuidedModel(loaded.model, condition, unconditional, scale, prediction_channels=loaded.channels,
                         record=record and views)
    return guided, guided


def judge_for(loaded: "LoadedModel") -> "DigitsJudge | None":
    """The independent digits classifier for a model trained on the built-in digits (labels 0–9), else None."""
    from .data import DEMO_CLASS_NAMES, DEMO_SOURCE

    dataset = loaded.config.get("dataset") if isinstance(loaded.config, dict) else None
    trained_on_digits = isinstance(dataset, dict) and dataset.get("source") == DEMO_SOURCE
    if not trained_on_digits or tuple(loaded.class_names) not in ((), DEMO_CLASS_NAMES):
        return None
    from .digits_judge import DigitsJudge

    return DigitsJudge.fitted()


def describe_judgement(scores, asked: str | None, num_samples: int) -> str:
    """One line on the digits judge's reading of a batch (``scores``: a ``SampleScores``), for people."""
    read = ", ".join(f"{digit}×{count}" for digit, count in enumerate(scores.class_counts) if count)
    hit = "" if asked is None or scores.accuracy is None else (
        f"read as {asked}: {round(scores.accuracy * num_samples)} of {num_samples}; ")
    return (f"{hit}judge's confidence {scores.mean_confidence:.2f}, pixel spread {scores.mean_pixel_spread:.3f} "
            f"(digits read: {read})")

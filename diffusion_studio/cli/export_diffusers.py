"""``diffusion-studio export-diffusers RUN_DIR OUT_DIR``: a run as a diffusers ``DDPMPipeline`` folder.

RUN_DIR is a run folder, a checkpoint step folder, a ``.safetensors`` file with its
``config.json``, or ``demo`` for the bundled demo model. OUT_DIR must not exist or be empty;
it is written complete or not at all. ``DDPMPipeline.from_pretrained(OUT_DIR)`` loads it.
Exit codes: 0 written, 2 unusable run or destination (one line on stderr).
"""

from __future__ import annotations

__all__ = ["register", "run"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export-diffusers", help="write a run as a diffusers DDPMPipeline folder",
        description="Write a run (or 'demo') as a diffusers pipeline folder: model_index.json, "
                    "unet/ (UNet2DModel config and safetensors weights, EMA by default) and "
                    "scheduler/ (DDPMScheduler config). Load it with DDPMPipeline.from_pretrained(OUT_DIR).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder, step folder, .safetensors file, or 'demo'")
    p.add_argument("out_dir", metavar="OUT_DIR", help="the folder to create (must not exist, or be empty)")
    p.add_argument("--raw-weights", action="store_true", help="export the raw weights, not the EMA weights")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..core.diffusers_export import export_diffusers
    from ..core.model_sources import model_path  # the 'demo' alias, as `sample` reads it

    result = export_diffusers(model_path(args.run_dir), args.out_dir, use_ema=not args.raw_weights)
    weights = "EMA" if result.is_ema else "raw"
    step = "" if result.step is None else f" of step {result.step}"
    classes = "" if result.num_classes is None else f", {result.num_classes} classes + the null label"
    print(f"wrote {result.path}: UNet2DModel ({result.num_parameters:,} parameters, {weights} weights{step}{classes}) "
          f"and DDPMScheduler ({result.variance_type}); load it with DDPMPipeline.from_pretrained({str(result.path)!r})")
    return 0

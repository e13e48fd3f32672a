#!/usr/bin/env bash
# Train the demo model shipped in resources/demo_model/ (what the sampling panel
# opens on first launch): the cpu-tiny preset (1.1 M parameters, diffusers' UNet2DModel layout) on
# the built-in 1797 handwritten digits at 16 px, on the CPU, by our own trainer. The digits are
# labelled 0–9, so the model is class-conditional (a class embedding, the label dropped to "no
# class" with p = 0.1): pick "7" in the Sample panel and a 7 forms, guided or not. The 2000 steps
# took about 5 minutes on a shared 2-core machine; --max-minutes 14 stops it (with a checkpoint) if a
# machine is much slower. benchmarks/bench_class_accuracy.py measures what it draws.
# The sample grids show 4 of each digit, four rows of 0–9 (--num-samples 40).
# Then only config.json, model_ema.safetensors, metrics.jsonl and the last sample grid are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=resources/demo_model
PYTHON=${PYTHON:-.venv/bin/python}
rm -rf "$OUT"
"$PYTHON" -m diffusion_studio train --demo --out "$OUT" --preset cpu-tiny --image-size 16 \
  --batch-size 32 --steps 2000 --max-minutes 14 --lr 1e-3 --lr-schedule cosine --warmup-steps 100 \
  --ema-decay 0.995 --sample-every 500 --checkpoint-every 1000 --num-samples 40 --seed 0 "$@"
# Ship the EMA weights only (4.5 MB); the raw weights, optimizer state and checkpoints stay out.
last_sample=$(ls "$OUT"/samples/step_*.png | sort | tail -n 1)
mv "$last_sample" "$OUT/samples.png"
rm -rf "$OUT/checkpoints" "$OUT/samples" "$OUT/train_state.pt" "$OUT/model.safetensors" "$OUT/scan_report.json" \
  "$OUT/.training.lock"
mkdir "$OUT/samples" && mv "$OUT/samples.png" "$OUT/samples/$(basename "$last_sample")"
ls -l "$OUT" "$OUT/samples"

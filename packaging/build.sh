#!/usr/bin/env bash
# Build a one-folder Diffusion Studio app into dist/diffusion-studio/ and check that it starts.
#   bash packaging/build.sh            (from the repository root, with .venv set up)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m pip install -q "pyinstaller>=6.5"
"$PY" -m PyInstaller --noconfirm --clean --distpath dist --workpath build/pyinstaller packaging/diffusion_studio.spec
# The frozen app must open its window offscreen, load the demo image, render a frame and exit 0.
QT_QPA_PLATFORM=offscreen dist/diffusion-studio/diffusion-studio --self-test
echo "built: dist/diffusion-studio/ ($(du -sh dist/diffusion-studio | cut -f1))"

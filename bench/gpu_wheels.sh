#!/usr/bin/env bash
# Download, into .whl/, the wheels bench/gpu_check.py needs on the offline GPU machine
# (docs/gpu.md). Its image has torch, transformers, accelerate, peft, pandas and pyarrow
# but no trl or datasets; these and their missing dependencies travel as wheels for
# CPython 3.12 on x86-64 Linux, at the versions constraints.txt pins (the ones the tests
# run), so the GPU runs the stack the CPU tests ran, except transformers, torch and
# huggingface_hub, which stay the image's (a transformers wheel would not fit beside them).
#   peft      carried to pin the version (the image's is not recorded anywhere)
#   fsspec    datasets 5.2 asks for <= 2026.9.0; the image's version is unknown
#   dill, multiprocess   datasets' own dependencies, absent from the image
# Usage: bench/gpu_wheels.sh   (PYTHON=... to use another interpreter with pip)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
NAMES='trl|datasets|peft|dill|multiprocess|fsspec'

# The carried folders stay out of git (the device tool's README: .git/info/exclude).
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
for folder in /.whl/ /.gpu/; do
  grep -qxF "$folder" "$exclude" 2>/dev/null || echo "$folder" >>"$exclude"
done

mapfile -t pins < <(grep -iE "^($NAMES)==" constraints.txt)
if [ "${#pins[@]}" -ne 6 ]; then
  echo "gpu_wheels: expected 6 pins ($NAMES) in constraints.txt, found: ${pins[*]}" >&2
  exit 1
fi
rm -rf .whl
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 -d .whl "${pins[@]}"
ls -l .whl | awk 'NR > 1 {printf "%9.2f MiB  %s\n", $5 / 1048576, $9}'
du -sm .whl .gpu 2>/dev/null || true

#!/usr/bin/env bash
# Download the wheels stenod needs on a machine whose Python already holds torch and transformers
# but reaches no package registry (the GPU check, scripts/gpu-check.sh): CPython 3.12, x86-64
# manylinux. The versions are the ones installed in this checkout's .venv (so the GPU machine runs
# what the tests ran here), else the newest. sounddevice is left out on purpose: the decode path and
# file sources run without it (only microphone capture imports it).
#
# usage: scripts/device-wheels.sh [DIR]      (default: .device-wheels, ignored by git)
# then:  python3 -m pip install --no-index --no-deps --target /tmp/stenod-site DIR/*.whl
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${1:-$REPO/.device-wheels}"
PY="${PYTHON:-$REPO/.venv/bin/python}"
[[ -x "$PY" ]] || PY=python3
# pyzmq: events and control; webrtcvad-wheels: the VAD; soundfile (+ cffi, pycparser): audio files;
# jiwer (+ rapidfuzz): the bench's scoring.
PACKAGES=(pyzmq webrtcvad-wheels soundfile cffi pycparser jiwer rapidfuzz)
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64
           manylinux1_x86_64 manylinux_2_24_x86_64 manylinux_2_31_x86_64 manylinux_2_34_x86_64)

mkdir -p "$DIR"
specs=()
for name in "${PACKAGES[@]}"; do
  ver="$("$PY" -c "import importlib.metadata as m, sys
try: print(m.version(sys.argv[1]))
except m.PackageNotFoundError: pass" "$name" 2>/dev/null || true)"
  specs+=("${name}${ver:+==$ver}")
done
platform_args=()
for p in "${PLATFORMS[@]}"; do platform_args+=(--platform "$p"); done
# One call per package: pure-Python packages (py3-none-any) and binary ones resolve alike.
for spec in "${specs[@]}"; do
  "$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platform_args[@]}" -d "$DIR" "$spec"
done
du -sh "$DIR"
ls "$DIR"

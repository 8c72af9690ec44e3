#!/usr/bin/env bash
# Set up everything stenod needs to run and to be tested, idempotently:
#   1. Debian packages (TTS voices for the test corpus, PulseAudio + ALSA plugin for a virtual
#      microphone, Xvfb and X tools for the clipboard/typing/caption clients, PortAudio, Chromium and
#      chromedriver for the browser tests);
#   2. a virtual environment in .venv with torch installed first, then `pip install -e '.[local,remote,dev,web,serve]'`.
# A second run does nothing but check, in about a second.
#
# Environment:
#   STENOD_TORCH       pip requirement(s) for torch, default "torch==2.13.0". When unset, any
#                      installed torch 2.13.0 (CPU or CUDA build) is kept as it is.
#   STENOD_PYTHON      interpreter to create .venv with (default: python3, needs >= 3.11)
#   STENOD_SKIP_APT=1  do not touch system packages
#   STENOD_SETUP_FORCE=1  reinstall the Python packages even if nothing changed
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

APT_PACKAGES=(
  flite festival festvox-us-slt-hts festvox-kallpc16k sox espeak-ng
  pulseaudio pulseaudio-utils libasound2-plugins libportaudio2 libsndfile1
  xvfb xdotool xclip x11-utils x11-xserver-utils
  sway foot wtype wl-clipboard ydotool xsel xterm python3-tk
  chromium chromium-driver imagemagick
  gcc libzmq3-dev  # builds examples/subscribe.c (tests/test_door.py)
  systemd  # systemd-analyze verify (tests/test_systemd_units.py)
)
DEFAULT_TORCH="torch==2.13.0"
VENV="$REPO/.venv"
STAMP="$VENV/.stenod-setup"

say() { printf 'stenod setup: %s\n' "$*"; }
die() { printf 'stenod setup: ERROR: %s\n' "$*" >&2; exit 1; }

LOG="$(mktemp -t stenod-setup.XXXXXX)"
trap 'rm -f "$LOG"' EXIT

# Run a command with its output in $LOG; on failure show the end of it and stop.
quietly() {
  local what="$1"; shift
  if ! "$@" >"$LOG" 2>&1; then
    tail -n 40 "$LOG" >&2
    die "$what failed (command: $*)"
  fi
}

# --- 1. system packages ---------------------------------------------------------------------
install_system_packages() {
  if [[ "${STENOD_SKIP_APT:-}" == 1 ]]; then
    say "skipping system packages (STENOD_SKIP_APT=1)"
    return
  fi
  if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
    say "WARNING: not a Debian-like system; install the equivalents of these yourself:"
    say "  ${APT_PACKAGES[*]}"
    return
  fi
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]]; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    say "system packages present"
    return
  fi
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
    sudo=(sudo)
  fi
  say "installing system packages: ${missing[*]}"
  quietly "apt-get update" "${sudo[@]}" apt-get update -q
  quietly "apt-get install" "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q "${missing[@]}"
}

# --- 2. Python environment ------------------------------------------------------------------
python_ok() {  # usable interpreter, >= 3.11, with venv support
  "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

find_python() {
  local cand
  for cand in ${STENOD_PYTHON:-} python3 python3.13 python3.12 python3.11; do
    if command -v "$cand" >/dev/null && python_ok "$cand"; then
      echo "$cand"
      return
    fi
  done
  die "no Python >= 3.11 with the venv module found (set STENOD_PYTHON, or install python3 and python3-venv)"
}

make_venv() {
  if [[ -e "$VENV" ]]; then
    [[ -x "$VENV/bin/python" ]] || die "$VENV exists but has no bin/python; remove it and run again"
    "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
      || die "$VENV uses Python < 3.11 or is broken; remove it and run again"
    return
  fi
  local py
  py="$(find_python)"
  say "creating .venv with $("$py" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
  quietly "creating the virtual environment" "$py" -m venv "$VENV"
}

pip_install() {
  quietly "pip install $*" "$VENV/bin/python" -m pip install --disable-pip-version-check \
    --no-input -q "$@"
}

install_torch() {
  if [[ -n "${STENOD_TORCH:-}" ]]; then
    local spec
    read -r -a spec <<<"$STENOD_TORCH"
    say "installing ${STENOD_TORCH} (STENOD_TORCH)…"
    pip_install "${spec[@]}"
    return
  fi
  local have
  have="$("$VENV/bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null || true)"
  if [[ "${have%%+*}" == "${DEFAULT_TORCH#torch==}" ]]; then
    say "torch $have already installed"
    return
  fi
  # Pinned, and before anything else: an unpinned torch would let pip pick a multi-GB build.
  say "installing $DEFAULT_TORCH${have:+ (replacing $have)}… (a large download the first time)"
  pip_install "$DEFAULT_TORCH"
}

setup_key() {  # what the Python install depends on; a change triggers a reinstall
  {
    echo "v1 $REPO ${STENOD_TORCH:-$DEFAULT_TORCH}"
    "$VENV/bin/python" -c 'import sys; print(sys.version)'
    cat "$REPO/pyproject.toml"
  } | sha256sum | cut -d' ' -f1
}

python_up_to_date() {
  [[ "${STENOD_SETUP_FORCE:-}" != 1 && -f "$STAMP" && "$(cat "$STAMP")" == "$(setup_key)" ]] \
    && STENOD_SRC="$REPO/src" "$VENV/bin/python" -c \
      'import os, sys, stenod; sys.exit(not stenod.__file__.startswith(os.environ["STENOD_SRC"] + os.sep))' \
      >/dev/null 2>&1
}

install_python_packages() {
  make_venv
  if python_up_to_date; then
    say "Python packages up to date in .venv"
    return
  fi
  rm -f "$STAMP"
  install_torch
  say "installing stenod and its dependencies into .venv (pip install -e '.[local,remote,dev,web,serve]')…"
  pip_install -e "$REPO[local,remote,dev,web,serve]"
  "$VENV/bin/python" -c 'import stenod' || die "stenod does not import after installing"
  setup_key >"$STAMP"
}

install_system_packages
install_python_packages
say "done (activate with: . .venv/bin/activate)"

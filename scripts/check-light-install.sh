#!/usr/bin/env bash
# The light install, for real: a fresh venv with `pip install '.[remote]'` and silero-vad without
# its dependencies (no torch, no transformers), whose daemon decodes a corpus session on a service.
#
#   scripts/check-light-install.sh SESSION.wav [SERVICE_URL TOKEN_FILE]
#
# Without SERVICE_URL it starts the tests' stand-in service (tests/remote_standin.py, the bundled
# model) with the full install's Python (.venv, or $STENOD_PYTHON). Needs the package registry (pip).
# Prints the finals; exits non-zero when torch or transformers get installed or imported.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WAV=${1:?usage: check-light-install.sh SESSION.wav [SERVICE_URL TOKEN_FILE]}
FULL=${STENOD_PYTHON:-$REPO/.venv/bin/python}
WORK=$(mktemp -d)
chmod 700 "$WORK"
cleanup() { [[ -n "${SVC:-}" ]] && kill "$SVC" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

python3 -m venv "$WORK/light"
"$WORK/light/bin/pip" install -q --disable-pip-version-check "$REPO[remote]"
"$WORK/light/bin/pip" install -q --disable-pip-version-check --no-deps silero-vad
for heavy in torch transformers; do
  if "$WORK/light/bin/python" -c "import $heavy" 2>/dev/null; then
    echo "FAIL: $heavy is installed in the light venv" >&2; exit 1
  fi
done
echo "light venv: $(du -sh "$WORK/light" | cut -f1), without torch and transformers"

export XDG_CONFIG_HOME="$WORK/config" XDG_STATE_HOME="$WORK/state" XDG_RUNTIME_DIR="$WORK/run"
mkdir -m 700 -p "$XDG_RUNTIME_DIR"
if [[ $# -ge 3 ]]; then
  URL=$2; TOKEN=$3
else
  PORT=$("$FULL" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  TOKEN="$XDG_CONFIG_HOME/stenod/serve.token"; URL="http://127.0.0.1:$PORT"
  PYTHONPATH="$REPO/src" HF_HUB_OFFLINE=1 "$FULL" "$REPO/tests/remote_standin.py" "$PORT" "$TOKEN" \
    >"$WORK/standin.out" 2>"$WORK/standin.err" &
  SVC=$!
  for _ in $(seq 600); do grep -q ready "$WORK/standin.out" 2>/dev/null && break; sleep 0.5; done
  grep -q ready "$WORK/standin.out" || { cat "$WORK/standin.err" >&2; exit 1; }
fi
cd "$WORK"  # not the source tree: the light venv's own copy of stenod runs
rc=0
"$WORK/light/bin/stenod" run --remote "$URL" --token-file "$TOKEN" --source "file:$WAV" --speed 0 \
  --exit-at-end --set journal.enabled=false >"$WORK/daemon.log" 2>&1 || rc=$?
grep -E "ready on|final [0-9]+|error" "$WORK/daemon.log" || true
[[ $rc == 0 ]] || { echo "FAIL: the light daemon exited $rc" >&2; tail -20 "$WORK/daemon.log" >&2; exit 1; }
"$WORK/light/bin/python" - <<'PY'
import sys
import stenod.remote.backend, stenod.daemon.vad_onnx, stenod.cli  # noqa: F401
bad = [m for m in ("torch", "transformers") if m in sys.modules]
sys.exit(f"FAIL: imported {bad}" if bad else 0)
PY
echo "light install: OK"

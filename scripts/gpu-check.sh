#!/usr/bin/env bash
# The GPU check: everything stenod measures on a GPU, in one run, into one folder, in under 8 min.
#
#   1. environment: GPU, driver, torch and transformers versions (env.txt);
#   2. the decode path imports and runs without sounddevice/PortAudio (no microphone is used);
#   3. `stenod models gpubench`: encoder and per-token decoder costs of distil-medium.en's and
#      whisper-medium.en's architectures (random weights, forced token counts), fp16, SDPA, eager
#      and with static cache + torch.compile (CUDA graphs), the verifying pass, and plain against
#      speculative decoding with whisper-medium.en (gpubench.json);
#   4. `stenod models batchbench --arch`: the backend's batched decode loop, one encoder call over
#      B windows and B rows of forced tokens, against B single decodes, for distil-medium.en and
#      whisper-medium.en (batch-distil-medium.jsonl, batch-whisper-medium.jsonl);
#   5. `stenod models capacity`: the multi-stream capacity search (N simulated real-time streams
#      through the daemon's real inference worker and scheduler, largest N with p95 final latency
#      <= 1.5 s) on distil-medium.en's architecture, random weights, forced token counts, fp16, SDPA,
#      with the dynamic cache (batched) and with static cache + compile (capacity-*.json); plain
#      decoding only: speculative decoding's timing is gpubench's (acceptance on random weights
#      means nothing);
#   6. summary.md: the Markdown of 3, 4 and 5, for docs/benchmarks.md.
#
# Without a GPU it says so (summary.md too) and exits 0. Wheels that the GPU machine's python lacks
# (pyzmq, webrtcvad-wheels, soundfile, ...) are installed from .device-wheels/ when it exists
# (scripts/device-wheels.sh downloads them; that folder travels with the checkout).
#
# usage: scripts/gpu-check.sh [OUTDIR]      (default: $OUT/gpu-check if OUT is set, else ./gpu-check)
# env:   PYTHON (default python3), STENOD_WHEELS (default .device-wheels);
#        GPU_CHECK_CPU=1: a dry run of every step on the CPU, scaled down (checks this script)
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUTDIR="${1:-${OUT:+$OUT/gpu-check}}"
OUTDIR="${OUTDIR:-$REPO/gpu-check}"
PY="${PYTHON:-python3}"
WHEELS="${STENOD_WHEELS:-$REPO/.device-wheels}"
mkdir -p "$OUTDIR"
TMPD="$(mktemp -d /tmp/gpu-check.XXXXXX)"  # Markdown pieces of summary.md: at most 8 files come back
trap 'rm -rf "$TMPD"' EXIT
LOG="$OUTDIR/log.txt"
: >"$LOG"
START=$SECONDS
say() { echo "gpu-check: $*" | tee -a "$LOG" >&2; }

DRY="${GPU_CHECK_CPU:-}"
if [[ -n "$DRY" ]]; then
  say "dry run on the CPU (GPU_CHECK_CPU): scaled-down steps, no measurement"
  SCALE=3  # the time limits are the GPU run's budget; a loaded CPU imports torch slower
  GPUBENCH=(--size tiny --device cpu --no-compile --repeats 1 --tokens 4)
  BATCH=(--size tiny --device cpu --repeats 1 --tokens 2)
  DISTIL_BATCHES=1,2 MEDIUM_BATCHES=
  CAPACITY=(--size tiny --device cpu --tokens 4 --duration 7 --max-streams 2)
  CAPACITY_STATIC=(--size tiny --device cpu --tokens 4 --duration 7 --streams 1 --static-cache)
elif ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)' >>"$LOG" 2>&1; then
  say "no GPU here (torch.cuda.is_available() is False or torch is missing): nothing to measure, skipped"
  printf '# GPU check\n\nNo GPU on this machine (%s): skipped.\n' "$(uname -n)" >"$OUTDIR/summary.md"
  exit 0
else
  GPUBENCH=()
  BATCH=(--tokens 24)
  DISTIL_BATCHES=1,2,4,8,16,32,64 MEDIUM_BATCHES=1,4,16
  CAPACITY=(--device cuda --dtype float16 --tokens 24 --duration 8 --start 32 --max-streams 512 --max-batch 256)
  CAPACITY_STATIC=(--device cuda --dtype float16 --tokens 24 --duration 7 --start 4 --max-streams 32 --static-cache
                   --compile)
fi

if [[ -d "$WHEELS" ]] && compgen -G "$WHEELS/*.whl" >/dev/null; then
  SITE="$(mktemp -d /tmp/stenod-site.XXXXXX)"
  if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$WHEELS"/*.whl \
      >>"$LOG" 2>&1; then
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  else
    say "installing the wheels from $WHEELS failed (see log.txt); going on without them"
  fi
fi
export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

# step NAME SECONDS COMMAND...: run with a time limit; a failure is logged and the check goes on.
# The GPU run's limits sum to 470 s, so that the whole check stays under 8 minutes.
FAILED=()
step() {
  local name="$1" limit="$(($2 * ${SCALE:-1}))"
  shift 2
  say "$name (limit ${limit} s, ${SECONDS}s elapsed)"
  timeout --kill-after=10 "$limit" "$@" 2>>"$LOG"
  local rc=$?
  [[ $rc -eq 0 ]] || { FAILED+=("$name (exit $rc)"); say "$name failed with exit $rc"; }
}

{
  if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  else echo "nvidia-smi: not found"; fi
  "$PY" -c 'import sys, torch, transformers; print("python", sys.version.split()[0]); print("torch", torch.__version__, "cuda", torch.version.cuda); print("transformers", transformers.__version__); print("device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")'
} >"$OUTDIR/env.txt" 2>>"$LOG"

step "imports without sounddevice" 30 "$PY" - <<'PYEOF' >>"$LOG"
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "sounddevice" or name.startswith("_sounddevice"):
            raise ImportError("sounddevice blocked: no microphone on this machine")
sys.meta_path.insert(0, Block())
import stenod.asr.backend, stenod.asr.batch, stenod.daemon.infer, stenod.daemon.service, stenod.cli
import stenod.asr.synthetic, stenod.bench.capacity_synth
print("decode path imported without sounddevice")
PYEOF

step "gpubench" 130 "$PY" -m stenod models gpubench "${GPUBENCH[@]}" --json >"$OUTDIR/gpubench.json"
if [[ -s "$OUTDIR/gpubench.json" ]]; then
  "$PY" -c 'import sys
from stenod.asr.gpubench import BenchResult, render_markdown
print(render_markdown(BenchResult.from_json(open(sys.argv[1]).read())))' "$OUTDIR/gpubench.json" \
    >"$TMPD/gpubench.md" 2>>"$LOG"
fi
step "batchbench distil-medium.en" 50 "$PY" -m stenod models batchbench --arch distil-medium.en \
  --batches "$DISTIL_BATCHES" "${BATCH[@]}" --markdown >"$OUTDIR/batch-distil-medium.jsonl"
if [[ -n "$MEDIUM_BATCHES" ]]; then
  step "batchbench whisper-medium.en" 40 "$PY" -m stenod models batchbench --arch whisper-medium.en \
    --batches "$MEDIUM_BATCHES" "${BATCH[@]}" --markdown >"$OUTDIR/batch-whisper-medium.jsonl"
fi
step "capacity distil-medium.en" 130 "$PY" -m stenod models capacity --arch distil-medium.en "${CAPACITY[@]}" \
  --json "$OUTDIR/capacity-distil-medium.json" >"$TMPD/capacity-distil-medium.md"
step "capacity distil-medium.en static cache" 90 "$PY" -m stenod models capacity --arch distil-medium.en \
  "${CAPACITY_STATIC[@]}" --json "$OUTDIR/capacity-distil-medium-static.json" \
  >"$TMPD/capacity-distil-medium-static.md"

{
  echo "# GPU check, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  sed 's/^/    /' "$OUTDIR/env.txt"
  echo
  [[ -s "$TMPD/gpubench.md" ]] && cat "$TMPD/gpubench.md" && echo
  for f in batch-distil-medium batch-whisper-medium; do
    grep -v '^{' "$OUTDIR/$f.jsonl" 2>/dev/null && echo
  done
  for f in capacity-distil-medium capacity-distil-medium-static; do
    [[ -s "$TMPD/$f.md" ]] && cat "$TMPD/$f.md" && echo
  done
  if ((${#FAILED[@]})); then echo "Failed steps: ${FAILED[*]}"; else echo "All steps passed."; fi
  echo "Wall time: $((SECONDS - START)) s"
} >"$OUTDIR/summary.md"
say "done in $((SECONDS - START)) s; results in $OUTDIR"
((${#FAILED[@]} == 0))

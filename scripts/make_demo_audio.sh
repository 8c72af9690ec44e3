#!/usr/bin/env bash
# Regenerates src/stenod/data/demo.flac, the sample recording `stenod demo` plays: three sentences
# spoken by Debian's offline festival HTS voice, with pauses. Needs festival, festvox-us-slt-hts, sox.
set -euo pipefail
out="$(cd "$(dirname "$0")/.." && pwd)/src/stenod/data/demo.flac"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
sentences=(
  "Welcome to the dictation demo. This text is being transcribed while you listen."
  "Words appear as they are spoken, and each line settles when the speaker pauses."
  "Any program can subscribe to the speech bus and receive every final line."
)
parts=("$tmp/lead.wav")
sox -n -r 16000 -c 1 -b 16 "$tmp/lead.wav" trim 0 0.8
for i in "${!sentences[@]}"; do
  echo "${sentences[$i]}" | text2wave -eval "(voice_cmu_us_slt_arctic_hts)" -o "$tmp/raw$i.wav"
  sox "$tmp/raw$i.wav" -r 16000 -c 1 -b 16 "$tmp/s$i.wav" silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse
  sox -n -r 16000 -c 1 -b 16 "$tmp/gap$i.wav" trim 0 1.4
  parts+=("$tmp/s$i.wav" "$tmp/gap$i.wav")
done
sox "${parts[@]}" "$out"
echo "wrote $out ($(du -h "$out" | cut -f1))"

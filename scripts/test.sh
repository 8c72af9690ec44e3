#!/usr/bin/env bash
# Run the test suite: set up (idempotent, fast when nothing changed), then pytest.
# Arguments go to pytest (default: -q), e.g. `bash scripts/test.sh -m "not slow" tests/test_x.py`.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

bash scripts/setup.sh

(($# > 0)) || set -- -q
rc=0
.venv/bin/python -m pytest "$@" || rc=$?
if ((rc == 5)); then
  echo "stenod test: no tests were collected; treating that as a failure" >&2
  exit 1
fi
exit "$rc"

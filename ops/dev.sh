#!/usr/bin/env bash
# The README's two commands and the set-up they share, so a fresh clone needs nothing else:
#   bash ops/dev.sh run [ARGS]   set up, then run the pipeline on the local stack (kucoin-kafka run ARGS)
#   bash ops/dev.sh test [ARGS]  set up, then ruff, mypy and the whole pytest suite (pytest ARGS)
#   bash ops/dev.sh setup        only create/refresh .venv from pyproject.toml + ops/constraints.txt
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv

setup() {
  if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "ops/dev.sh: Python 3.11+ is required ($PYTHON is $("$PYTHON" --version 2>&1)); set PYTHON=..." >&2
    exit 2
  fi
  local stamp="$VENV/.installed"
  local want
  want=$(cat pyproject.toml ops/constraints.txt | sha256sum | cut -d' ' -f1)
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  echo "setting up $VENV (pinned by ops/constraints.txt)..."
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet -c ops/constraints.txt --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -c ops/constraints.txt -e ".[dev,parquet,bench]"
  echo "$want" > "$stamp"
}

cmd=${1:-help}
[[ $# -gt 0 ]] && shift
case "$cmd" in
  setup)
    setup
    ;;
  run)
    setup
    exec "$VENV/bin/kucoin-kafka" run "$@"
    ;;
  test)
    setup
    "$VENV/bin/kucoin-kafka" stack install
    echo "== ruff"; "$VENV/bin/ruff" check . && "$VENV/bin/ruff" format --check .
    echo "== mypy"; "$VENV/bin/mypy" .
    echo "== pytest"; exec "$VENV/bin/pytest" "$@"
    ;;
  *)
    sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'
    [[ "$cmd" == help ]] || exit 2
    ;;
esac

#!/usr/bin/env bash
# Copy a benchmark run's outputs (default bench-results/) into ops/bench/latest/, which the README shows.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
from=${1:-bench-results}
mkdir -p ops/bench/latest
cp "$from/results.json" "$from/results.md" "$from/results.png" ops/bench/latest/
echo "ops/bench/latest/ now holds the run of $(python3 -c "import json; print(json.load(open('$from/results.json'))['machine']['date'])")"

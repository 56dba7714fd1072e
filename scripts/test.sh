#!/usr/bin/env bash
# Set up everything (first run: a few minutes), then run ruff, mypy and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1
# lint, format and type checks first (seconds), then the tests
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"

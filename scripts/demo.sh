#!/usr/bin/env bash
# Set up graphflow (first run: about two minutes) and run the example workflow.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/graphflow run workflows/arithmetic.json "$@"

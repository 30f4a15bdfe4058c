#!/usr/bin/env bash
# Builds llama-server and llama-batched-bench from the llama.cpp sources vendored in the llama-cpp-python sdist that
# Basalt uses, with the same CPU flags as scripts/build-llama.sh, so the peer runs the same kernels.
set -euo pipefail
cd "$(dirname "$0")"
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
WORK=.work
mkdir -p "$WORK"
if [ -x "$WORK/llama-build/bin/llama-server" ]; then echo "$WORK/llama-build/bin/llama-server"; exit 0; fi
if [ ! -d "$WORK/llama_cpp_python-$VERSION" ]; then
  python3 -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$WORK" >&2
  tar xzf "$WORK/llama_cpp_python-$VERSION.tar.gz" -C "$WORK"
fi
flags=$(PRINT_FLAGS_ONLY=1 ../scripts/build-llama.sh)
# shellcheck disable=SC2086
cmake -S "$WORK/llama_cpp_python-$VERSION/vendor/llama.cpp" -B "$WORK/llama-build" -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_CURL=OFF \
  -DBUILD_SHARED_LIBS=OFF $flags >&2
cmake --build "$WORK/llama-build" -j"$(nproc)" --target llama-server llama-batched-bench >&2
echo "$WORK/llama-build/bin/llama-server"

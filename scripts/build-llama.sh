#!/usr/bin/env bash
# Builds llama-cpp-python from source with CPU flags chosen for this machine, caches the wheel, and installs it.
# A native build (GGML_NATIVE=ON) enables AMX on CPUs that report it, and AMX crashes in some VMs; so we never
# build natively and never enable AMX, and we enable AVX-512 only where the CPU has it.
set -euo pipefail
PY=${PY:-python}
VERSION=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
flags=(-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
cpu=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
has() { [[ " $cpu " == *" $1 "* ]]; }
has avx && flags+=(-DGGML_AVX=ON)
has avx2 && flags+=(-DGGML_AVX2=ON)
has fma && flags+=(-DGGML_FMA=ON)
has f16c && flags+=(-DGGML_F16C=ON)
has bmi2 && flags+=(-DGGML_BMI2=ON)
if has avx512f && has avx512bw && has avx512vl; then
  flags+=(-DGGML_AVX512=ON)
  has avx512vbmi && flags+=(-DGGML_AVX512_VBMI=ON)
  has avx512_vnni && flags+=(-DGGML_AVX512_VNNI=ON)
  has avx512_bf16 && flags+=(-DGGML_AVX512_BF16=ON)
fi
has avx_vnni && flags+=(-DGGML_AVX_VNNI=ON)
if [ -n "${PRINT_FLAGS_ONLY:-}" ]; then echo "${flags[*]}"; exit 0; fi
export CMAKE_ARGS="${flags[*]} -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF"
key=$(printf '%s %s' "$VERSION" "$CMAKE_ARGS" | sha256sum | cut -c1-16)
cache=${BASALT_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/basalt/wheels}/$key
if ! ls "$cache"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $VERSION with: $CMAKE_ARGS (a few minutes)" >&2
  mkdir -p "$cache"
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$PY" -m pip wheel --no-deps --no-cache-dir --no-binary llama-cpp-python \
    -w "$cache" "llama-cpp-python==$VERSION"
fi
"$PY" -m pip install -q --no-deps "$cache"/llama_cpp_python-*.whl
echo "$CMAKE_ARGS" > "$cache/CMAKE_ARGS"

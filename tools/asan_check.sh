#!/usr/bin/env bash
# AddressSanitizer run of the CPU kernels: builds flambeau._C with -fsanitize=address into build/asan
# (CPU only), puts it in a copy of python/ under /tmp, and runs pytest (or a script) against it.
#
#   bash tools/asan_check.sh tests/kernels/test_pooling.py tests/test_elementwise.py
#   ASAN_SCRIPT=my_check.py bash tools/asan_check.sh      # a plain Python script instead of pytest
#
# Why the environment: the caching allocator is turned off (FLAMBEAU_CPU_CACHE_MB=0) so that ASan sees
# every block's real size (64-byte rounding only); libasan must come first in the process (Python
# itself is not instrumented), and libstdc++ with it, or ASan's __cxa_throw interceptor finds no real
# __cxa_throw and aborts on the first C++ exception; leak checking is off (the interpreter's own
# allocations). Results may differ from the normal build in the last bits where the kernels rely on
# GCC contracting a*b+c into an FMA (documented per kernel): the instrumentation changes what it
# contracts.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=build/asan
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLAMBEAU_CUDA=OFF \
    -DCMAKE_CXX_FLAGS="-fsanitize=address -fno-omit-frame-pointer" \
    -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" >/dev/null
fi
ninja -C "$build"
py=/tmp/flambeau-asan-python
rm -rf "$py" && cp -r python "$py"
cp "$build"/_C*.so "$py/flambeau/"
export FLAMBEAU_CPU_CACHE_MB=0 ASAN_OPTIONS=detect_leaks=0 PYTHONPATH="$py" FLAMBEAU_TEST_INSTALLED=1
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
if [ -n "${ASAN_SCRIPT:-}" ]; then
  exec python3 "$ASAN_SCRIPT"
fi
# The tests' conftest puts the in-tree python/ first unless FLAMBEAU_TEST_INSTALLED=1 (set above).
exec python3 -m pytest -q -p no:cacheprovider "${@:-tests/kernels}"

#!/usr/bin/env bash
# Incremental developer build: compiles flambeau._C into build/dev (CPU only unless
# FLAMBEAU_CUDA=ON is set) and copies it into python/flambeau/, so `PYTHONPATH=python` uses it.
# Serialised with a lock so that several people (or helpers) sharing this tree don't collide.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/flambeau-build.lock
flock 9
build=${FLAMBEAU_BUILD_DIR:-build/dev}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DFLAMBEAU_CUDA="${FLAMBEAU_CUDA:-OFF}" -DFLAMBEAU_CUDA_ARCHS="${FLAMBEAU_CUDA_ARCHS:-90}" \
    -DFLAMBEAU_PORTABLE_LINUX="${FLAMBEAU_PORTABLE_LINUX:-AUTO}" \
    -Dpybind11_DIR="$(python3 -m pybind11 --cmakedir)" >/dev/null
fi
ninja -C "$build" ${NINJA_FLAGS:-}
# Copy then rename: a new inode, so processes that have the old module loaded keep running.
for so in "$build"/_C*.so; do
  cp "$so" "python/flambeau/.$(basename "$so").tmp"
  mv -f "python/flambeau/.$(basename "$so").tmp" "python/flambeau/$(basename "$so")"
done

#!/usr/bin/env bash
# Build the standalone GEMM test/benchmark and run it.
#
#   benchmarks/gemm/run.sh test          correctness against a naive reference, every capability
#   benchmarks/gemm/run.sh bench [R]     R rounds (default 5) alternating bench_gemm and numpy; best of each
#   benchmarks/gemm/run.sh all [R]       both (default)
#   benchmarks/gemm/run.sh openblas [R]  in-process, interleaved against numpy's own OpenBLAS library
#                                        (bench_vs_openblas.cpp; NT=1 CPUTIME=1 for thread CPU time)
#   benchmarks/gemm/run.sh variants [R]  the variants that lost, against the shipped set (bench_variants.cpp)
#   benchmarks/gemm/run.sh kernel        the micro-kernel (AVX-512, else AVX2) alone against the FMA peak (bench_kernel.cpp)
#   benchmarks/gemm/run.sh emb [R]       the kernel's k loop with 0..14 embedded-broadcast rows (bench_kernel_emb.cpp)
#   benchmarks/gemm/run.sh ab [R] [OLD] [FILTER]
#                                        this tree's GEMM against OLD's csrc (another checkout; default this
#                                        tree) and OpenBLAS in one process, interleaved, median of R rounds,
#                                        with the team's register-only FMA limit (bench_ab.cpp; NT=threads, 2)
#
# BENCH_LOCK=/tmp/flambeau-bench.lock takes that lock (flock) around each round of `bench` (one bench_gemm
# run and one numpy run), instead of holding it for the whole command: on the shared machine a
# locked run should stay under a minute.
# THREADS=n limits both libraries to n threads (default: all cores). Flags follow CMakeLists.txt:
# baseline x86-64 everywhere, ISA flags only on the csrc/cpu/simd leaf files.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/benchmarks/gemm"
out=${BUILD_DIR:-$root/build/bench-gemm}
mode=${1:-all}
rounds=${2:-5}
mkdir -p "$out"

cxx="${CXX:-g++} -std=c++17 -O3 -fno-strict-aliasing -Wall -Wno-unused-function -fopenmp -DFLAMBEAU_OPENMP=1 -I$root/csrc"
$cxx -c "$root/csrc/cpu/capability.cpp" -o "$out/capability.o"
$cxx -c "$root/csrc/cpu/gemm.cpp" -o "$out/gemm.o"
$cxx -mavx2 -mfma -c "$root/csrc/cpu/simd/gemm_avx2.cpp" -o "$out/gemm_avx2.o"
$cxx -mavx512f -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma -c "$root/csrc/cpu/simd/gemm_avx512.cpp" \
  -o "$out/gemm_avx512.o"
$cxx -c "$here/bench_gemm.cpp" -o "$out/bench_gemm.o"
$cxx "$out"/bench_gemm.o "$out"/capability.o "$out"/gemm.o "$out"/gemm_avx2.o "$out"/gemm_avx512.o \
  -o "$out/bench_gemm"

if [ "$mode" = kernel ]; then
  $cxx "$here/bench_kernel.cpp" "$out"/capability.o "$out"/gemm.o "$out"/gemm_avx2.o "$out"/gemm_avx512.o \
    -o "$out/bench_kernel"
  "$out/bench_kernel"
  "$out/bench_kernel" 384 1
  exit 0
fi

if [ "$mode" = emb ]; then
  $cxx -mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma "$here/bench_kernel_emb.cpp" -o "$out/bench_kernel_emb"
  "$out/bench_kernel_emb" 384 15 "${2:-15}"
  exit 0
fi

if [ "$mode" = variants ]; then
  $cxx "$here/bench_variants.cpp" "$out"/capability.o "$out"/gemm.o "$out"/gemm_avx2.o "$out"/gemm_avx512.o \
    -o "$out/bench_variants"
  "$out/bench_variants" "$rounds"
  exit 0
fi

if [ "$mode" = ab ]; then
  old="${3:-$root}"
  ocxx="${cxx/-I$root\/csrc/-I$old/csrc} -Dflambeau=flambeau_old"
  $ocxx -c "$old/csrc/cpu/capability.cpp" -o "$out/old_capability.o"
  $ocxx -c "$old/csrc/cpu/gemm.cpp" -o "$out/old_gemm.o"
  $ocxx -mavx2 -mfma -c "$old/csrc/cpu/simd/gemm_avx2.cpp" -o "$out/old_gemm_avx2.o"
  $ocxx -mavx512f -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma -c "$old/csrc/cpu/simd/gemm_avx512.cpp" \
    -o "$out/old_gemm_avx512.o"
  $cxx "$here/bench_ab.cpp" "$out"/capability.o "$out"/gemm.o "$out"/gemm_avx2.o "$out"/gemm_avx512.o \
    "$out"/old_capability.o "$out"/old_gemm.o "$out"/old_gemm_avx2.o "$out"/old_gemm_avx512.o -ldl -o "$out/bench_ab"
  lib=$(python3 -c "import glob, os, numpy; print((glob.glob(os.path.join(os.path.dirname(numpy.__file__) + '.libs', 'libscipy_openblas*.so')) + [''])[0])")
  OPENBLAS_LIB="$lib" "$out/bench_ab" "$rounds" ${4:-}
  exit 0
fi

if [ "$mode" = openblas ]; then
  $cxx "$here/bench_vs_openblas.cpp" "$out"/capability.o "$out"/gemm.o "$out"/gemm_avx2.o "$out"/gemm_avx512.o \
    -ldl -o "$out/bench_vs_openblas"
  lib=$(python3 -c "import glob, os, numpy; print((glob.glob(os.path.join(os.path.dirname(numpy.__file__) + '.libs', 'libscipy_openblas*.so')) + [''])[0])")
  OPENBLAS_LIB="$lib" "$out/bench_vs_openblas" "$rounds"
  exit 0
fi

if [ "$mode" = test ] || [ "$mode" = all ]; then
  "$out/bench_gemm" test
fi

if [ "$mode" = bench ] || [ "$mode" = all ]; then
  ours="$out/ours.txt"; theirs="$out/numpy.txt"
  : > "$ours"; : > "$theirs"
  thread_env=()
  if [ -n "${THREADS:-}" ]; then
    thread_env=(OMP_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS")
  fi
  lock=()
  if [ -n "${BENCH_LOCK:-}" ]; then
    lock=(flock "$BENCH_LOCK")
  fi
  for r in $(seq "$rounds"); do
    # numpy alone runs without the OpenBLAS tuning overrides that may be set for other work.
    "${lock[@]}" bash -c 'env "${@:5}" "$1" bench 5 >> "$2"
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "${@:5}" python3 "$3" 5 >> "$4"' _ \
      "$out/bench_gemm" "$ours" "$here/bench_numpy.py" "$theirs" "${thread_env[@]}"
  done
  python3 - "$ours" "$theirs" <<'PY'
import sys
def load(path):
    best, notes = {}, []
    for line in open(path):
        if line.startswith("#"):
            if line not in notes: notes.append(line)
            continue
        *key, g = line.split()
        best[tuple(key)] = max(best.get(tuple(key), 0.0), float(g))
    return best, notes
ours, n1 = load(sys.argv[1]); theirs, n2 = load(sys.argv[2])
for line in n1 + n2: print(line.rstrip())
print(f"{'shape':8} {'M':>5} {'N':>5} {'K':>5} {'B':>2} {'flambeau':>9} {'numpy':>8} {'ratio':>6}   (GFLOP/s, best of rounds)")
for key, g in ours.items():
    t = theirs.get(key, float('nan'))
    print(f"{key[0]:8} {key[1]:>5} {key[2]:>5} {key[3]:>5} {key[4]:>2} {g:9.1f} {t:8.1f} {g / t:6.2f}")
PY
fi

#!/usr/bin/env bash
# One call on a lent GPU machine (the device tool), everything that belongs together:
#   bash tools/gpu_session.sh check   # module, smoke test, CUDA test suite, GEMM/conv verifiers
#   bash tools/gpu_session.sh bench   # benchmarks against PyTorch/cuBLAS/cuDNN on the same GPU
#   bash tools/gpu_session.sh sanitize   # compute-sanitizer memcheck: smoke test + CUDA tests, per file
# Uses a carried python/flambeau/_C.cpython-312-*.so when it imports and sees the GPU, else builds here
# for sm_90 (~100 s on the 16 cores; SAVE_MODULE=1 brings the built module back to carry next time).
# Logs go to $OUT (the device tool brings back at most 8 files): summary.txt, env.txt, smoke.txt,
# tests.log, failures.txt, verify_gemm.log, verify_conv.log, bench logs.
set -u
mode=${1:-check}
shift || true
: "${OUT:=/tmp/gpu_out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=python OMP_NUM_THREADS=2
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/summary.txt"; }

log "mode=$mode"
{ nvidia-smi; python3 --version; python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.is_available())'
  nvcc --version | tail -2; nproc; } > "$OUT/env.txt" 2>&1
if [ -z "${SKIP_BUILD:-}" ] && ! python3 -c 'import flambeau, sys; sys.exit(0 if flambeau.cuda.is_available() else 1)' >> "$OUT/env.txt" 2>&1; then
  log "carried module unusable here: building for sm_90"
  # FLAMBEAU_PORTABLE_LINUX=OFF unless asked: the session is for the kernels, and the portable link
  # (csrc/platform) was made on glibc 2.36; the GPU image's newer glibc/GCC have not been tried with it.
  if ! FLAMBEAU_PORTABLE_LINUX=${FLAMBEAU_PORTABLE_LINUX:-OFF} FLAMBEAU_CUDA=ON FLAMBEAU_CUDA_ARCHS=90 \
       FLAMBEAU_BUILD_DIR=build/cuda90 NINJA_FLAGS=-j16 \
       bash tools/build_dev.sh > "$OUT/build.log" 2>&1; then
    log "build failed"; tail -40 "$OUT/build.log"; exit 1
  fi
  log "built ($(grep -c 'Building' "$OUT/build.log") steps)"; rm -f "$OUT/build.log"  # the tool brings back 8 files at most
  # SAVE_MODULE=1: the module, xz-compressed (~8 MB), comes back in $OUT; unpack it into python/flambeau/
  # and carry it to the next calls (a fresh machine otherwise rebuilds: ~100 s of device time).
  [ -n "${SAVE_MODULE:-}" ] && xz -T0 -3 -c python/flambeau/_C.cpython-312-*.so > "$OUT/C312.so.xz"
fi

run_tests() {  # $1 = label, rest = find roots; one pytest process per file (an illegal address
               # poisons only its own process), 12 at a time
  local label=$1; shift
  local dir=/tmp/tests_$label
  export TIMEOUT_ARG=""
  python3 -c 'import pytest_timeout' 2>/dev/null && TIMEOUT_ARG="--timeout 120"
  export PYTEST_K
  rm -rf "$dir"; mkdir -p "$dir"
  find "$@" -name 'test_*.py' | sort | xargs -P 12 -I{} sh -c \
    'f={}; n=$(echo "$f" | tr / _); timeout 300 python3 -m pytest -q -p no:cacheprovider -rfE --tb=short \
       $TIMEOUT_ARG ${PYTEST_K:+-k "$PYTEST_K"} "$f" > '"$dir"'/$n.log 2>&1; echo "rc=$? $f" >> '"$dir"'/_rc.txt'
  sort "$dir/_rc.txt" > "$OUT/tests_$label.log"
  for f in "$dir"/*.log; do [ "$f" = "$dir/_rc.txt" ] || { echo "=== $f"; cat "$f"; }; done >> "$OUT/tests_$label.log"
  grep -h "^FAILED\|^ERROR" "$dir"/*.log | sed "s/^/[$label] /" >> "$OUT/failures.txt"
  log "tests $label: $(grep -h -E ' in [0-9.]+s' "$dir"/*.log | \
       awk '{for(i=1;i<=NF;i++){if($(i)~/^(passed|failed|skipped|errors?|deselected)/){k=$(i);gsub(/[,=]/,"",k);s[k]+=$(i-1)}}} END{for(k in s) printf "%s %d  ", k, s[k]}')"
}

case $mode in
check)
  FLAMBEAU_CUDA_SYNC=1 timeout 120 python3 tools/cuda_smoke.py > "$OUT/smoke.txt" 2>&1
  log "smoke rc=$? ($(grep -c '^ok' "$OUT/smoke.txt") ok, $(grep -c '^FAIL' "$OUT/smoke.txt") FAIL)"
  ( timeout 200 python3 tools/verify_cuda_gemm.py --check > "$OUT/verify_gemm.log" 2>&1; log "verify_cuda_gemm --check rc=$?" ) &
  ( timeout 300 python3 tools/verify_cuda_conv.py --no-bench > "$OUT/verify_conv.log" 2>&1; log "verify_cuda_conv --no-bench rc=$?" ) &
  PYTEST_K=${PYTEST_K-cuda} run_tests kernels ${TEST_ROOTS:-tests}
  wait
  ;;
composed)
  FLAMBEAU_CUDA_COMPOSED=1 PYTEST_K=${PYTEST_K-cuda} run_tests composed tests/nn tests/optim
  ;;
bench)
  timeout 200 python3 benchmarks/bench_cuda.py --max-seconds 170 ${BENCH_ONLY:+--only "$BENCH_ONLY"} \
    --out "$OUT/bench_cuda.md" > "$OUT/bench_cuda.log" 2>&1; log "bench_cuda rc=$?"
  [ -n "${SKIP_GEMM:-}" ] || { timeout 190 python3 tools/verify_cuda_gemm.py --bench > "$OUT/bench_gemm.log" 2>&1; log "bench gemm rc=$?"; }
  [ -n "${SKIP_CONV:-}" ] || { timeout 170 python3 tools/verify_cuda_conv.py --bench-only > "$OUT/bench_conv.log" 2>&1; log "bench conv rc=$?"; }
  ;;
sanitize)  # compute-sanitizer memcheck: the smoke test, then each CUDA test file in its own process
  san="compute-sanitizer --tool memcheck --error-exitcode 9 --print-limit 20"
  dir=/tmp/sanitize; rm -rf $dir; mkdir -p $dir
  FLAMBEAU_CUDA_SYNC=1 timeout 200 $san python3 tools/cuda_smoke.py > $dir/_smoke.log 2>&1; echo "rc=$? smoke" >> $dir/_rc.txt
  find ${SANITIZE_ROOTS:-tests/kernels tests/nn tests/optim} -name 'test_*.py' | sort | xargs -P 8 -I{} sh -c \
    'f={}; n=$(echo "$f" | tr / _); timeout '"${SANITIZE_TIMEOUT:-400}"' '"$san"' python3 -m pytest -q -p no:cacheprovider \
       --tb=short -k "${PYTEST_K:-cuda}" "$f" > '"$dir"'/$n.log 2>&1; echo "rc=$? $f" >> '"$dir"'/_rc.txt'
  { sort $dir/_rc.txt; grep -H "ERROR SUMMARY\| passed\| failed" $dir/*.log; echo; cat $dir/*.log | grep -v "^\.*  *\[" ; } > "$OUT/sanitize.log"
  log "compute-sanitizer memcheck: $(grep -h 'ERROR SUMMARY' $dir/*.log | sort | uniq -c | tr '\n' ';') rc: $(cut -d' ' -f1 $dir/_rc.txt | sort | uniq -c | tr '\n' ' ')"
  ;;
esac
log "done"
cat "$OUT/summary.txt"

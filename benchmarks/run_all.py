"""Every CPU benchmark, one after the other, each printing its table (ours, reference, ratio, fraction
of the machine's limit):

    PYTHONPATH=python python benchmarks/run_all.py            # full runs (about 20 minutes, 2 cores)
    PYTHONPATH=python python benchmarks/run_all.py --quick    # smoke run, a few minutes
    PYTHONPATH=python python benchmarks/run_all.py --only gemm,conv

Suites: overhead (bench_overhead.py), gemm (gemm/run.sh bench: standalone C++ against numpy/OpenBLAS),
conv (bench_conv.py: conv2d and pooling against PyTorch), act_loss (bench_act_loss.py), norm_optim
(bench_norm_optim.py: batch_norm, dropout, Adam), main_job (compare_main_job.py on the shipped subset).
Run it on an idle machine: the scripts alternate ours and theirs, which evens out noise but cannot
remove it. The output, with the machine line printed first, is what goes into RESULTS*.md.
"""
import argparse
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def suites(quick):
    py = sys.executable
    q = ["--quick"] if quick else []
    return {
        "overhead": [py, os.path.join(HERE, "bench_overhead.py")],
        "gemm": ["bash", os.path.join(HERE, "gemm", "run.sh"), "bench", "2" if quick else "5"],
        "conv": [py, os.path.join(HERE, "bench_conv.py")] + q,
        "act_loss": [py, os.path.join(HERE, "bench_act_loss.py")] + q,
        "norm_optim": [py, os.path.join(HERE, "bench_norm_optim.py")] + q,
        "main_job": [py, os.path.join(HERE, "compare_main_job.py"), "--epochs", "1" if quick else "3"],
    }


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated suite names")
    args = ap.parse_args()
    table = suites(args.quick)
    names = [n for n in args.only.split(",") if n] or list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        ap.error(f"unknown suite(s) {unknown}; choose from {list(table)}")
    print(f"# {cpu_name()}, {os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.2f}, "
          f"{time.strftime('%Y-%m-%d %H:%M %Z')}", flush=True)
    failed = []
    for name in names:
        shown = ["python" if a == sys.executable else os.path.relpath(a) if os.path.isabs(a) else a
                 for a in table[name]]
        print(f"\n## {name}: {' '.join(shown)}", flush=True)
        start = time.perf_counter()
        rc = subprocess.call(table[name])
        print(f"({name}: {time.perf_counter() - start:.0f} s, exit status {rc}, load average "
              f"{os.getloadavg()[0]:.2f})", flush=True)
        if rc != 0:
            failed.append(name)
    if failed:
        sys.exit(f"failed: {failed}")


if __name__ == "__main__":
    main()

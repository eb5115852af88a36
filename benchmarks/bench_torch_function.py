"""The cost of an op on a Tensor subclass (the __torch_function__ protocol, python/flambeau/_torch_function.py)
and of a plain op once the protocol is installed, flambeau beside PyTorch:

    PYTHONPATH=python python benchmarks/bench_torch_function.py flambeau
    python benchmarks/bench_torch_function.py torch

Best of 5 timeit repeats, in us."""
import sys
import timeit

lib = sys.argv[1] if len(sys.argv) > 1 else "flambeau"
torch = __import__(lib)


class MyT(torch.Tensor):
    pass


x = torch.randn(4).as_subclass(MyT)
p = torch.randn(4)
for stmt in ["x + x", "torch.add(x, x)", "x.sum()", "x.shape", "p + p", "x.relu()"]:
    n = 20000
    best = min(timeit.repeat(stmt, globals=globals(), number=n, repeat=5)) / n
    print(f"{lib:9s} {stmt:20s} {best * 1e6:6.2f} us")

"""torch.onnx.export: how long flambeau's exporter takes beside PyTorch's TorchScript-based one
(torch.onnx.export(..., dynamo=False)) on the same model with the same weights, same process, alternating,
and whether the two files give the same outputs under onnxruntime.

    PYTHONPATH=python:/tmp/onnxenv python benchmarks/bench_onnx_export.py [--repeats 5] [--only mlp,lenet]
                                                                           [--cpu-time]

onnx/onnxruntime are needed only for the output comparison (skipped without them). Both exports run with
a dynamic batch axis, opset 17, constant folding on. Our exporter traces the model twice (the second trace
finds the sizes that follow the dynamic axis and checks constants), so its time includes two forwards.
Reported: median of the repeats in ms (wall time, or with --cpu-time the process's CPU time, steadier on a
busy machine), ratio = PyTorch time / ours (> 1: ours is faster), file sizes (PyTorch's exporter merges
identical initializers: a TransformerEncoder's layers are copies of one layer until trained).
"""
import argparse
import io
import os
import statistics
import time
import types
import warnings

import numpy as np
import torch

import flambeau

T = types.SimpleNamespace(torch=torch, nn=torch.nn, F=torch.nn.functional)
FL = types.SimpleNamespace(torch=flambeau, nn=flambeau.nn, F=flambeau.nn.functional)


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Dropout(), nn.Linear(512, 256), nn.ReLU(),
                         nn.Linear(256, 10))


def lenet(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


def transformer(lib):
    nn = lib.nn
    layer = nn.TransformerEncoderLayer(128, 4, 256, batch_first=True)
    return nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)


def lstm(lib):
    nn = lib.nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(1000, 64)
            self.rnn = nn.LSTM(64, 128, num_layers=2, batch_first=True)
            self.fc = nn.Linear(128, 5)

        def forward(self, x):
            return self.fc(self.rnn(self.emb(x))[0][:, -1])
    return M()


CASES = {"mlp": (mlp, lambda lib: lib.torch.randn(8, 784)),
         "lenet": (lenet, lambda lib: lib.torch.randn(8, 1, 28, 28)),
         "transformer": (transformer, lambda lib: lib.torch.randn(8, 32, 128)),
         "lstm": (lstm, lambda lib: lib.torch.randint(0, 1000, (8, 20)))}


def export(lib, model, x):
    buf = io.BytesIO()
    kw = dict(input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
              opset_version=17)
    if lib is T:
        kw["dynamo"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lib.torch.onnx.export(model, (x,), buf, **kw)
    return buf.getvalue()


def timed(fn, clock):
    t0 = clock()
    out = fn()
    return clock() - t0, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", default="")
    ap.add_argument("--cpu-time", action="store_true")
    a = ap.parse_args()
    clock = time.process_time if a.cpu_time else time.perf_counter
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    print(f"threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}, "
          f"{'process CPU' if a.cpu_time else 'wall'} time")
    print(f"{'model':12s} {'ours ms':>9s} {'torch ms':>9s} {'ratio':>6s} {'ours KB':>8s} {'torch KB':>9s} "
          f"{'max |ort ours - ort torch|':>27s}")
    for name, (build, make_x) in CASES.items():
        if a.only and name not in a.only.split(","):
            continue
        torch.manual_seed(0)
        mt = build(T).eval()
        mf = build(FL).eval()
        mf.load_state_dict({k: flambeau.from_numpy(v.detach().numpy().copy()) for k, v in mt.state_dict().items()})
        xt = make_x(T)
        xf = flambeau.from_numpy(xt.numpy().copy())
        export(FL, mf, xf), export(T, mt, xt)  # warm-up
        tf, tt = [], []
        for _ in range(a.repeats):  # alternating
            t, ours = timed(lambda: export(FL, mf, xf), clock)
            tf.append(t)
            t, theirs = timed(lambda: export(T, mt, xt), clock)
            tt.append(t)
        f, t = statistics.median(tf) * 1e3, statistics.median(tt) * 1e3
        diff = "n/a (no onnxruntime)"
        if ort is not None:
            x2 = make_x(T).numpy() if name != "lstm" else np.random.randint(0, 1000, (13, 20))
            x2 = x2 if name == "lstm" else np.random.randn(13, *x2.shape[1:]).astype(np.float32)
            r1 = ort.InferenceSession(ours, providers=["CPUExecutionProvider"]).run(None, {"x": x2})[0]
            r2 = ort.InferenceSession(theirs, providers=["CPUExecutionProvider"]).run(None, {"x": x2})[0]
            diff = f"{np.abs(r1 - r2).max():.2e}"
        print(f"{name:12s} {f:9.1f} {t:9.1f} {t / f:6.2f} {len(ours) / 1024:8.0f} {len(theirs) / 1024:9.0f} {diff:>27s}")


if __name__ == "__main__":
    main()

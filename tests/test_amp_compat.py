"""What scripts written for PyTorch's mixed precision and padding helpers call: torch.amp.autocast /
GradScaler (and their torch.cuda.amp spellings), set_float32_matmul_precision, float16/bfloat16 as
names, nn.utils.rnn.pad_sequence, Tensor.type(FloatTensor). A CPU autocast region casts as PyTorch's
(tests/test_half_dtypes.py compares the numbers); a CUDA one runs in float32. Its per-device state
(is_autocast_enabled, get_autocast_dtype), torch.cpu, custom_fwd/custom_bwd are PyTorch's. A "cuda"
GradScaler without CUDA is disabled, as PyTorch's; the enabled CPU scaler is tested in test_grad_scaler.py."""
import warnings

import numpy as np
import pytest
import torch

import flambeau
import flambeau.nn as nn
import flambeau.nn.functional as F


def _train(use_amp, scaler_cls, steps=5):
    flambeau.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = flambeau.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scaler = scaler_cls(enabled=use_amp) if scaler_cls else None
    x = flambeau.randn(32, 6)
    y = flambeau.randint(0, 3, (32,))
    for _ in range(steps):
        opt.zero_grad()
        with flambeau.autocast("cpu", dtype=flambeau.bfloat16, enabled=use_amp):
            loss = F.cross_entropy(model(x), y)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
    return [p.detach().numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("scaler_cls", [lambda enabled: flambeau.amp.GradScaler("cuda", enabled=enabled),
                                        lambda enabled: flambeau.cuda.amp.GradScaler(enabled=enabled)])
def test_amp_training_loop_scaler_is_the_identity(scaler_cls):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        amp = _train(True, scaler_cls)
    plain = _train(True, None)
    for a, b in zip(amp, plain):
        np.testing.assert_array_equal(a, b)


def test_grad_scaler_is_disabled_like_pytorchs_without_its_device():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = flambeau.amp.GradScaler(init_scale=1024.0, growth_factor=3.0)
    t = flambeau.tensor(2.0)
    assert s.scale(t) is t
    assert not s.is_enabled() and s.get_scale() == 1.0 and s.state_dict() == {}
    assert s.get_growth_factor() == 3.0
    s.load_state_dict({})
    # PyTorch on a machine without CUDA: the same
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = torch.amp.GradScaler("cuda")
    if not torch.cuda.is_available():
        assert not ts.is_enabled() and ts.get_scale() == 1.0 and ts.state_dict() == {}


def test_autocast_context_decorator_and_flags():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ac = flambeau.autocast("cpu")
    assert not flambeau.is_autocast_enabled("cpu")
    with ac:
        assert flambeau.is_autocast_enabled("cpu")
        assert not flambeau.is_autocast_enabled()  # no argument: CUDA's state, as in PyTorch
        y = flambeau.ones(2, 2) @ flambeau.ones(2, 2)
        assert y.dtype == flambeau.bfloat16  # as torch.autocast("cpu")
        with flambeau.autocast("cpu", enabled=False):
            assert (flambeau.ones(2, 2) @ flambeau.ones(2, 2)).dtype == flambeau.float32
        assert (flambeau.ones(2, 2) @ flambeau.ones(2, 2)).dtype == flambeau.bfloat16
    assert (flambeau.ones(2, 2) @ flambeau.ones(2, 2)).dtype == flambeau.float32
    with torch.autocast("cpu"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    assert not flambeau.is_autocast_enabled("cpu")

    @flambeau.amp.autocast("cuda", enabled=False)
    def f(a):
        return a * 2
    assert float(f(flambeau.tensor(3.0))) == 6.0
    with flambeau.cuda.amp.autocast(enabled=False):
        pass
    assert flambeau.amp.is_autocast_available("cpu")


def test_autocast_warnings():
    """A CPU region casts as PyTorch's and says nothing; a CUDA region without CUDA disables itself with
    PyTorch's warning; with CUDA it warns once that it runs in float32 (no half CUDA kernels)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with flambeau.autocast("cpu", dtype=flambeau.float16):
            pass
    if not flambeau.cuda.is_available():
        with pytest.warns(UserWarning, match="CUDA is not available"):
            flambeau.autocast("cuda", dtype=flambeau.float16)
        return
    flambeau.amp._warned.discard("autocast")
    with pytest.warns(UserWarning, match="runs in float32"):
        flambeau.autocast("cuda", dtype=flambeau.float16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flambeau.autocast("cuda")  # no second warning


def test_autocast_bad_device():
    with pytest.raises(RuntimeError, match="Invalid device string: 'xpu2'"):
        flambeau.autocast("xpu2")
    with pytest.raises(RuntimeError, match="Invalid device string: 'xpu2'"):
        torch.autocast("xpu2")


def test_reduced_precision_dtypes_are_tensor_dtypes():
    assert repr(flambeau.float16) == "flambeau.float16" and flambeau.half is flambeau.float16
    for dt in (flambeau.float16, flambeau.bfloat16):
        assert flambeau.zeros(2, dtype=dt).dtype is dt
        assert flambeau.ones(2).to(dt).dtype is dt


def test_float32_matmul_precision():
    assert flambeau.get_float32_matmul_precision() == "highest"
    flambeau.set_float32_matmul_precision("high")
    assert flambeau.get_float32_matmul_precision() == "high"
    with pytest.warns(UserWarning, match="no effect"):
        flambeau.set_float32_matmul_precision("bad")
    assert flambeau.get_float32_matmul_precision() == "high"
    flambeau.set_float32_matmul_precision("highest")


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence_matches_torch(batch_first, side, rng):
    arrs = [rng.standard_normal((n, 3)).astype(np.float32) for n in (2, 5, 1, 4)]
    got = nn.utils.rnn.pad_sequence([flambeau.tensor(a) for a in arrs], batch_first=batch_first, padding_value=-1.0,
                                    padding_side=side)
    ref = torch.nn.utils.rnn.pad_sequence([torch.tensor(a) for a in arrs], batch_first=batch_first,
                                          padding_value=-1.0, padding_side=side)
    np.testing.assert_array_equal(got.numpy(), ref.numpy())
    ints = nn.utils.rnn.pad_sequence([flambeau.tensor([1, 2]), flambeau.tensor([3])], batch_first=True)
    assert ints.dtype == flambeau.int64 and ints.tolist() == [[1, 2], [3, 0]]


def test_pad_sequence_gradient_and_errors():
    a = flambeau.randn(3, 2, requires_grad=True)
    b = flambeau.randn(1, 2, requires_grad=True)
    out = nn.utils.rnn.pad_sequence([a, b], batch_first=True)
    out.sum().backward()
    assert a.grad.tolist() == [[1.0, 1.0]] * 3 and b.grad.tolist() == [[1.0, 1.0]]
    with pytest.raises(RuntimeError, match="received an empty list of sequences"):
        nn.utils.rnn.pad_sequence([])
    with pytest.raises(RuntimeError, match="trailing shape"):
        nn.utils.rnn.pad_sequence([flambeau.ones(2, 3), flambeau.ones(2, 4)])
    with pytest.raises(RuntimeError, match="padding_side"):  # RuntimeError, as torch
        nn.utils.rnn.pad_sequence([flambeau.ones(2)], padding_side="middle")


def test_tensor_type_with_legacy_classes():
    t = flambeau.tensor([1, 2])
    f = t.type(flambeau.FloatTensor)
    assert f.dtype == flambeau.float32 and f.tolist() == [1.0, 2.0]
    assert t.type(flambeau.DoubleTensor).dtype == flambeau.float64
    assert f.type(flambeau.LongTensor).dtype == flambeau.int64
    assert f.type("torch.DoubleTensor").dtype == flambeau.float64


def test_autocast_state_per_device_like_pytorch():
    """is_autocast_enabled / get_autocast_dtype per device type, nested regions (an enabled=False region
    inside an enabled one turns it off), and the restore on exit, compared with PyTorch's answers."""
    def states(lib):
        seen = []

        def note():
            seen.append((lib.is_autocast_enabled("cpu"), lib.is_autocast_enabled("cuda"), lib.is_autocast_enabled(),
                         str(lib.get_autocast_dtype("cpu")).split(".")[-1],
                         str(lib.get_autocast_dtype("cuda")).split(".")[-1]))
        note()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with lib.autocast("cpu"):
                note()
                with lib.autocast("cpu", enabled=False):
                    note()
                with lib.autocast("cpu", dtype=lib.float16):
                    note()
                with lib.autocast("cuda"):  # without CUDA: a warning, and the region stays off
                    note()
                note()
            note()
            assert lib.autocast("cpu").fast_dtype == lib.bfloat16 and lib.autocast("cpu").device == "cpu"
        return seen
    assert states(flambeau) == states(torch)
    if not flambeau.cuda.is_available():
        with pytest.warns(UserWarning, match="CUDA is not available or torch_xla is imported. Disabling autocast."):
            flambeau.autocast("cuda")
    with pytest.raises(RuntimeError, match="Invalid device string"):
        flambeau.get_autocast_dtype("xpu2")


def test_torch_cpu_module_for_device_agnostic_code():
    for lib in (torch, flambeau):
        assert lib.cpu.is_available() and lib.cpu.device_count() == 1 and lib.cpu.current_device() == "cpu"
        lib.cpu.synchronize()
        lib.cpu.set_device("cpu")
        dev = "cpu"
        getattr(lib, dev).synchronize()  # the device-agnostic idiom
        with pytest.warns(FutureWarning, match=r"torch.cpu.amp.autocast\(args...\)` is deprecated"):
            ac = lib.cpu.amp.autocast(enabled=False)
        with ac:
            assert not lib.is_autocast_enabled("cpu")
        with pytest.warns(FutureWarning, match=r"torch.cpu.amp.GradScaler\(args...\)` is deprecated"):
            scaler = lib.cpu.amp.GradScaler(init_scale=256.0)
        assert scaler.is_enabled() and scaler.get_scale() == 256.0


@pytest.mark.parametrize("cast_inputs", [None, "float32"])
@pytest.mark.parametrize("in_region", [False, True])
def test_custom_fwd_bwd_match_pytorch(cast_inputs, in_region):
    """A custom Function decorated with amp.custom_fwd/custom_bwd: the autocast state its forward and
    backward see, the input dtypes, the output and the gradient, against PyTorch (elementwise ops, which
    autocast leaves in float32 in PyTorch too)."""
    x_np = np.random.randn(5).astype(np.float32)

    def run(lib):
        seen = []

        class ScaledTanh(lib.autograd.Function):
            @staticmethod
            @lib.amp.custom_fwd(device_type="cpu", cast_inputs=None if cast_inputs is None else lib.float32)
            def forward(ctx, x, scale=2.0):
                seen.append(("fwd", lib.is_autocast_enabled("cpu"), str(x.dtype).split(".")[-1]))
                y = (x * scale).tanh()
                ctx.save_for_backward(y)
                ctx.scale = scale
                return y

            @staticmethod
            @lib.amp.custom_bwd(device_type="cpu")
            def backward(ctx, g):
                seen.append(("bwd", lib.is_autocast_enabled("cpu"), str(lib.get_autocast_dtype("cpu")).split(".")[-1]))
                y, = ctx.saved_tensors
                return g * (1 - y * y) * ctx.scale, None

        x = lib.tensor(x_np, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with lib.autocast("cpu", enabled=in_region):
                y = ScaledTanh.apply(x, 1.5)
            (y * y).sum().backward()
        return seen, y.detach().numpy(), x.grad.numpy()

    (ts, ty, tg), (fs, fy, fg) = run(torch), run(flambeau)
    assert fs == ts
    np.testing.assert_allclose(fy, ty, rtol=1e-6)
    np.testing.assert_allclose(fg, tg, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="device_type"):
        flambeau.amp.custom_fwd(lambda ctx: None, device_type=None)
    with pytest.warns(FutureWarning, match="torch.cuda.amp.custom_fwd"):
        flambeau.cuda.amp.custom_fwd(lambda ctx, x: x)

"""Forward-mode AD (autograd.forward_ad, func.jvp/jacfwd) against PyTorch's on fresh random inputs.

`check_jvp(fn, shapes)` draws primals and tangents in numpy, runs `fn(lib, *duals)` under a dual
level in both libraries and compares the primal outputs and their tangents.
"""
import numpy as np
import pytest
import torch
import torch.autograd.forward_ad as tfw

import flambeau
import flambeau.autograd.forward_ad as ffw

TOL = {"float32": (2e-5, 2e-4), "float64": (1e-10, 1e-9)}


def _arrays(shapes, dtype, positive=False):
    out = []
    for s in shapes:
        a = np.random.uniform(0.3, 2.0, s) if positive else np.random.randn(*s)
        out.append(a.astype(dtype))
    return out


def _noncontig(lib, a):
    """a as a non-contiguous view (transposed storage), same values."""
    if a.ndim < 2:
        big = lib.tensor(np.repeat(a[:, None], 2, 1) if a.ndim == 1 else a)
        return big[:, 0] if a.ndim == 1 else big
    return lib.tensor(np.ascontiguousarray(np.swapaxes(a, -1, -2))).transpose(-1, -2)


def _run(lib, fw, fn, prim, tans, non_contiguous, requires_grad=False):
    mk = (lambda a: _noncontig(lib, a)) if non_contiguous else lib.tensor
    with fw.dual_level():
        duals = []
        for p, t in zip(prim, tans):
            x = mk(p)
            if requires_grad:
                x.requires_grad_(True)
            duals.append(fw.make_dual(x, mk(t)) if t is not None else x)
        out = fn(lib, *duals)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        res = []
        for o in outs:
            u = fw.unpack_dual(o)
            res.append((u.primal.detach().numpy().copy(),
                        None if u.tangent is None else u.tangent.detach().numpy().copy()))
        return res


def check_jvp(fn, shapes, dtype="float32", non_contiguous=False, positive=False, tangent_mask=None):
    prim = _arrays(shapes, dtype, positive)
    tans = _arrays(shapes, dtype)
    if tangent_mask is not None:
        tans = [t if m else None for t, m in zip(tans, tangent_mask)]
    got = _run(flambeau, ffw, fn, prim, tans, non_contiguous)
    want = _run(torch, tfw, fn, prim, tans, non_contiguous)
    atol, rtol = TOL[dtype]
    assert len(got) == len(want)
    for (gp, gt), (wp, wt) in zip(got, want):
        np.testing.assert_allclose(gp, wp, atol=atol, rtol=rtol)
        if wt is None:
            assert gt is None or not gt.any()
        else:
            assert gt is not None, "flambeau lost the tangent"
            np.testing.assert_allclose(gt, wt, atol=atol, rtol=rtol)


# ---------------------------------------------------------------- many ops
UNARY = {
    "neg": lambda L, x: -x, "exp": lambda L, x: x.exp(), "sin": lambda L, x: x.sin(), "cos": lambda L, x: L.cos(x),
    "tanh": lambda L, x: x.tanh(), "sigmoid": lambda L, x: x.sigmoid(), "relu": lambda L, x: L.relu(x),
    "abs": lambda L, x: x.abs(), "square": lambda L, x: x * x, "pow3": lambda L, x: x ** 3,
    "rsub": lambda L, x: 2 - x, "rdiv": lambda L, x: 1 / (x * x + 1), "clamp": lambda L, x: x.clamp(-0.5, 0.7),
    "gelu": lambda L, x: L.nn.functional.gelu(x), "silu": lambda L, x: L.nn.functional.silu(x),
    "softplus": lambda L, x: L.nn.functional.softplus(x), "elu": lambda L, x: L.nn.functional.elu(x),
    "leaky_relu": lambda L, x: L.nn.functional.leaky_relu(x, 0.1), "erf": lambda L, x: L.erf(x),
    "atan": lambda L, x: x.atan(), "sign_mul": lambda L, x: x.sign() * x, "floor": lambda L, x: x.floor() + x,
    "where": lambda L, x: L.where(x > 0, x * 2, x.exp()), "maximum": lambda L, x: L.maximum(x, x.flip(-1)),
    "sum": lambda L, x: x.sum(), "sum_dim": lambda L, x: x.sum(-1, keepdim=True), "mean": lambda L, x: x.mean(0),
    "prod": lambda L, x: x.prod(-1), "var": lambda L, x: x.var(-1), "std": lambda L, x: x.std(0),
    "amax": lambda L, x: x.amax(-1), "max_dim": lambda L, x: x.max(-1)[0], "logsumexp": lambda L, x: x.logsumexp(-1),
    "norm": lambda L, x: x.norm(), "cumsum": lambda L, x: x.cumsum(-1),
    "softmax": lambda L, x: L.softmax(x, -1), "log_softmax": lambda L, x: L.log_softmax(x, 0),
    "view": lambda L, x: x.reshape(-1)[1:6].view(5, 1), "transpose": lambda L, x: x.t() * 2,
    "permute_expand": lambda L, x: x.unsqueeze(0).expand(2, -1, -1).permute(2, 0, 1) + 0,
    "select_index": lambda L, x: x[1] + x[:, 2] .sum() + x[[0, 2]].sum(0),
    "cat_stack": lambda L, x: L.cat([x, x * 2], 0) + 0, "stack": lambda L, x: L.stack([x, x.exp()], 1),
    "split": lambda L, x: x.split(2, -1)[1], "chunk_unbind": lambda L, x: x.unbind(0)[2],
    "gather": lambda L, x: x.gather(1, L.tensor([[0, 1], [2, 2], [1, 0]])),
    "flip_roll": lambda L, x: x.flip(0).roll(1, -1), "tril": lambda L, x: x.tril(),
    "pad": lambda L, x: L.nn.functional.pad(x, (1, 2), value=3.0), "clone": lambda L, x: x.clone(),
    "double": lambda L, x: x.double() * 2, "matmul_self": lambda L, x: x @ x.t(),
    "layer_norm": lambda L, x: L.nn.functional.layer_norm(x, (x.shape[-1],)),
    "mse_self": lambda L, x: L.nn.functional.mse_loss(x, x.detach() * 0.5),
    "sqrt_abs": lambda L, x: (x.abs() + 0.1).sqrt(), "log_abs": lambda L, x: (x.abs() + 0.1).log(),
    "dropout_eval": lambda L, x: L.nn.functional.dropout(x, 0.5, training=False),
    "min_max": lambda L, x: x.min() + x.max(), "atan2": lambda L, x: L.atan2(x, x.flip(0) + 3),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_ops(name, dtype):
    check_jvp(UNARY[name], [(3, 5)], dtype)


@pytest.mark.parametrize("name", ["exp", "sum_dim", "softmax", "transpose", "select_index", "matmul_self",
                                  "layer_norm", "cat_stack", "view"])
def test_non_contiguous(name):
    check_jvp(UNARY[name], [(3, 5)], "float64", non_contiguous=True)


BINARY = {
    "add_bcast": (lambda L, a, b: a + b, [(3, 1, 5), (4, 1)]),
    "sub": (lambda L, a, b: a - 2 * b, [(3, 4), (3, 4)]),
    "mul_bcast": (lambda L, a, b: a * b, [(2, 3, 1), (3, 5)]),
    "div": (lambda L, a, b: a / (b * b + 1), [(3, 4), (4,)]),
    "pow": (lambda L, a, b: a.abs() ** b, [(3, 4), (3, 4)]),
    "mm": (lambda L, a, b: a @ b, [(3, 7), (7, 2)]),
    "bmm": (lambda L, a, b: L.bmm(a, b), [(2, 3, 4), (2, 4, 5)]),
    "matmul_bcast": (lambda L, a, b: L.matmul(a, b), [(2, 3, 4), (4,)]),
    "linear": (lambda L, a, w: L.nn.functional.linear(a, w), [(5, 3), (4, 3)]),
    "linear3d": (lambda L, a, w: L.nn.functional.linear(a, w, w[:, 0] * 2), [(2, 5, 3), (4, 3)]),
    "conv2d": (lambda L, x, w: L.nn.functional.conv2d(x, w, w[:, 0, 0, 0], padding=1, stride=2), [(2, 3, 7, 6), (4, 3, 3, 3)]),
    "conv1d": (lambda L, x, w: L.nn.functional.conv1d(x, w), [(2, 3, 9), (4, 3, 2)]),
    "cross_entropy": (lambda L, x, w: L.nn.functional.cross_entropy(x @ w, L.tensor([0, 2, 1])), [(3, 4), (4, 3)]),
    "batch_norm": (lambda L, x, w: L.nn.functional.batch_norm(x, None, None, w, w * 2, training=True), [(6, 3), (3,)]),
    "group_norm": (lambda L, x, w: L.nn.functional.group_norm(x, 2, w), [(2, 4, 5), (4,)]),
    "mse": (lambda L, a, b: L.nn.functional.mse_loss(a, b), [(3, 4), (3, 4)]),
    "smooth_l1": (lambda L, a, b: L.nn.functional.smooth_l1_loss(a, b), [(3, 4), (3, 4)]),
    "bce_logits": (lambda L, a, b: L.nn.functional.binary_cross_entropy_with_logits(a, b.sigmoid()), [(3, 4), (3, 4)]),
    "max_pool": (lambda L, x, w: L.nn.functional.max_pool2d(x * w, 2), [(2, 3, 6, 6), (3, 1, 1)]),
    "avg_pool": (lambda L, x, w: L.nn.functional.avg_pool2d(x * w, 2), [(2, 3, 6, 6), (3, 1, 1)]),
    "embedding": (lambda L, w, b: L.nn.functional.embedding(L.tensor([[0, 2], [3, 3]]), w) * b, [(4, 3), (3,)]),
    "index_put": (lambda L, a, b: a.index_put((L.tensor([0, 2]),), b), [(3, 4), (2, 4)]),
    "addcmul": (lambda L, a, b: L.addcmul(a, a, b, value=0.5), [(3, 4), (3, 4)]),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops(name, dtype):
    fn, shapes = BINARY[name]
    check_jvp(fn, shapes, dtype)
    check_jvp(fn, shapes, dtype, tangent_mask=[True, False])
    check_jvp(fn, shapes, dtype, tangent_mask=[False, True])


# ---------------------------------------------------------------- views and in-place ops
INPLACE = {
    "mul_": lambda L, x: x.clone().mul_(x),
    "add_view": lambda L, x: _add_into_view(L, x),
    "setitem": lambda L, x: _setitem(L, x),
    "relu_": lambda L, x: L.relu_(x * 1),
    "dual_inplace": lambda L, x: x.mul_(2).exp_() if False else x.mul_(2),
    "copy_": lambda L, x: L.zeros(3, 5, dtype=x.dtype).copy_(x),
    "squeeze_": lambda L, x: x.unsqueeze(0).clone().squeeze_(0),
    "clamp_": lambda L, x: (x * 1).clamp_(-0.5, 0.5),
}


def _add_into_view(L, x):
    y = x * 1
    y[1:].add_(x[:2] * 3)
    return y


def _setitem(L, x):
    y = L.zeros(3, 5, dtype=x.dtype)
    y[1] = x[0].exp()
    return y


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_ops(name):
    check_jvp(INPLACE[name], [(3, 5)], "float64")


def test_inplace_on_dual_keeps_primal_plain():
    for L, fw in ((flambeau, ffw), (torch, tfw)):
        x = L.randn(3)
        with fw.dual_level():
            d = fw.make_dual(x, L.ones(3))
            d.mul_(2)
            assert fw.unpack_dual(x).tangent is None
            np.testing.assert_allclose(fw.unpack_dual(d).tangent.numpy(), 2.0)


# ---------------------------------------------------------------- grad modes
def test_no_grad_keeps_forward_ad():
    def f(L, x, w):
        with L.no_grad():
            assert not L.is_grad_enabled()
            y = (x @ w).tanh()
            assert not y.requires_grad
        z = L.ones(2, 4, dtype=x.dtype)
        with L.no_grad():
            z.mul_(y)
        return y, z
    check_jvp(f, [(2, 3), (3, 4)], "float64")


def test_no_grad_inplace_on_parameter_inside_level():
    p = flambeau.nn.Parameter(flambeau.ones(3))
    with ffw.dual_level():
        with flambeau.no_grad():
            p.add_(1)
            p.mul_(flambeau.ones(3))
        assert p.requires_grad and p.is_leaf and p.grad_fn is None
    np.testing.assert_allclose(p.detach().numpy(), 2.0)


def test_inference_mode_drops_tangents():
    with ffw.dual_level():
        d = ffw.make_dual(flambeau.randn(3), flambeau.randn(3))
        with flambeau.inference_mode():
            y = d.sin()
        assert ffw.unpack_dual(y).tangent is None


def test_level_opened_under_no_grad():
    x, t = np.random.randn(4), np.random.randn(4)
    with flambeau.no_grad():
        with ffw.dual_level():
            y = ffw.make_dual(flambeau.tensor(x), flambeau.tensor(t)).exp()
            got = ffw.unpack_dual(y).tangent.numpy()
        assert not flambeau.is_grad_enabled()
    np.testing.assert_allclose(got, np.exp(x) * t, rtol=1e-12)


# ---------------------------------------------------------------- semantics of dual tensors
def test_dual_tensor_semantics():
    x, t = flambeau.randn(3, 4), flambeau.randn(3, 4)
    with ffw.dual_level() as level:
        assert level == 0
        d = ffw.make_dual(x, t)
        assert not d.requires_grad and d.is_leaf
        p, tt = ffw.unpack_dual(d)
        assert tt is t and p.data_ptr() == x.data_ptr() and ffw.unpack_dual(p).tangent is None
        y = d * 2
        assert not y.requires_grad and ffw.unpack_dual(y).tangent is not None
        for z in (d.exp(), d.softmax(0), d.sum(), d @ d.t(), (d * d).logsumexp(1)):  # rule, rule, linear, ..., generic
            assert not z.requires_grad and not ffw.unpack_dual(z).tangent.requires_grad
        with pytest.raises(RuntimeError, match="does not require grad"):
            y.sum().backward()
        tT = ffw.unpack_dual(ffw.make_dual(x, t.t().contiguous().t())).tangent
        assert tT is not t and np.array_equal(tT.numpy(), t.numpy())
        assert ffw.unpack_dual(x).tangent is None and ffw.unpack_dual(d.detach()).tangent is None
        i = d.argmax()
        assert ffw.unpack_dual(i).tangent is None and ffw.unpack_dual(d > 0).tangent is None
    assert ffw.unpack_dual(y).tangent is None and ffw.unpack_dual(d).tangent is None
    assert not y.requires_grad and y.grad_fn is None
    assert type(ffw.unpack_dual(y)).__name__ == "UnpackedDualTensor"


def test_errors_match_pytorch():
    x = flambeau.randn(3)
    with pytest.raises(RuntimeError, match="no level exists"):
        ffw.make_dual(x, flambeau.randn(3))
    with ffw.dual_level():
        with pytest.raises(RuntimeError, match="Nested forward mode AD is not supported"):
            ffw.enter_dual_level()
        with pytest.raises(RuntimeError, match="different size"):
            ffw.make_dual(x, flambeau.randn(4))
        with pytest.raises(ValueError, match="floating point"):
            ffw.make_dual(flambeau.arange(3), flambeau.randn(3))
        d = ffw.make_dual(x, flambeau.randn(3))
        with pytest.raises(RuntimeError, match="already has a forward gradient"):
            ffw.make_dual(d, flambeau.randn(3))


# ---------------------------------------------------------------- forward and reverse together
def test_dual_of_tensor_requiring_grad():
    xa, ta, wa = np.random.randn(3, 4), np.random.randn(3, 4), np.random.randn(4, 2)
    res = []
    for L, fw in ((flambeau, ffw), (torch, tfw)):
        x = L.tensor(xa, requires_grad=True)
        w = L.tensor(wa, requires_grad=True)
        with fw.dual_level():
            d = fw.make_dual(x, L.tensor(ta))
            assert d.requires_grad
            y = ((d @ w).sin() * d.sum(1, keepdim=True)).tanh()
            p, jt = fw.unpack_dual(y)
            assert p.requires_grad and jt.requires_grad
            (jt * jt).sum().backward(retain_graph=True)   # reverse mode through the tangent computation
            gx, gw = x.grad.numpy().copy(), w.grad.numpy().copy()
            x.grad = None
            w.grad = None
            (p ** 2).sum().backward()
            res.append((jt.detach().numpy(), gx, gw, x.grad.numpy().copy(), w.grad.numpy().copy()))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


# ---------------------------------------------------------------- custom Function
class _ExpBoth:
    @staticmethod
    def make(L):
        class Exp(L.autograd.Function):
            @staticmethod
            def forward(ctx, x, k):
                r = x.exp() * k
                ctx.result = r
                ctx.save_for_forward(x)
                return r

            @staticmethod
            def backward(ctx, g):
                return g * ctx.result, None

            @staticmethod
            def jvp(ctx, tx, tk):
                (x,) = ctx.saved_tensors
                assert tk is None
                return tx * ctx.result + 0 * x
        return Exp


def test_custom_function_jvp():
    check_jvp(lambda L, x: _ExpBoth.make(L).apply(x, 2.0) * x, [(4, 3)], "float64")


def test_custom_function_without_jvp_raises():
    class F(flambeau.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    with ffw.dual_level():
        d = ffw.make_dual(flambeau.randn(3), flambeau.randn(3))
        with pytest.raises(NotImplementedError, match="You must implement the jvp function"):
            F.apply(d)


# ---------------------------------------------------------------- modules
def _module_jvp(L, fw, model, x, tangents):
    from_func = L.func.functional_call
    params = dict(model.named_parameters())
    with fw.dual_level():
        duals = {k: fw.make_dual(p, tangents[k]) for k, p in params.items()}
        out = from_func(model, duals, (x,))
        p, t = fw.unpack_dual(out)
        return p.detach().numpy(), t.detach().numpy()


def test_module_functional_call():
    def build(L):
        L.manual_seed(0)
        return L.nn.Sequential(L.nn.Conv2d(2, 3, 3, padding=1), L.nn.BatchNorm2d(3), L.nn.ReLU(),
                               L.nn.Flatten(), L.nn.Linear(3 * 5 * 5, 4), L.nn.LayerNorm(4), L.nn.GELU())
    xa = np.random.randn(2, 2, 5, 5).astype(np.float32)
    tm, fm = build(torch), build(flambeau)
    fm.load_state_dict({k: flambeau.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    tans = {k: np.random.randn(*p.shape).astype(np.float32) for k, p in tm.named_parameters()}
    want = _module_jvp(torch, tfw, tm, torch.tensor(xa), {k: torch.tensor(v) for k, v in tans.items()})
    got = _module_jvp(flambeau, ffw, fm, flambeau.tensor(xa), {k: flambeau.tensor(v) for k, v in tans.items()})
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-3, atol=1e-4)


def test_forward_over_reverse_hessian_vector_product():
    """autograd.grad inside a dual level carries tangents through the backward's formulas."""
    xa, ta, wa = np.random.randn(3, 4), np.random.randn(3, 4), np.random.randn(4, 2)

    def f(L, x, w):
        h = (x @ w).tanh() * x.exp()[:, :2] + L.nn.functional.softplus(x).sum(1, keepdim=True)
        return h.pow(2).sum() + x.norm() + L.nn.functional.log_softmax(x, 1).mean()

    res = []
    for L, fw in ((flambeau, ffw), (torch, tfw)):
        x = L.tensor(xa, requires_grad=True)
        with fw.dual_level():
            d = fw.make_dual(x, L.tensor(ta))
            (g,) = L.autograd.grad(f(L, d, L.tensor(wa)), d)
            p, t = fw.unpack_dual(g)
            res.append((p.detach().numpy(), t.detach().numpy()))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_no_grad_with_dual_requiring_grad():
    def f(L, x):
        with L.no_grad():
            y = x.sin() * x
        assert not y.requires_grad
        return y
    xa, ta = np.random.randn(5), np.random.randn(5)
    res = []
    for L, fw in ((flambeau, ffw), (torch, tfw)):
        with fw.dual_level():
            d = fw.make_dual(L.tensor(xa, requires_grad=True), L.tensor(ta))
            res.append(fw.unpack_dual(f(L, d)).tangent.numpy())
    np.testing.assert_allclose(res[0], res[1], rtol=1e-12)


# ---------------------------------------------------------------- torch.func over forward AD
def _t2(L, arrs):
    return [L.tensor(a) for a in arrs]


def f_mixed(L, x, y):
    return (x.sin() @ y.t()).tanh() * y.sum(1) + x.exp().sum(1, keepdim=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_func_jvp(dtype):
    tol = TOL[dtype]
    p = _arrays([(3, 4), (5, 4)], dtype)
    t = _arrays([(3, 4), (5, 4)], dtype)
    res = []
    for L, F in ((flambeau, flambeau.func), (torch, torch.func)):
        out, tan, aux = F.jvp(lambda x, y: (f_mixed(L, x, y), x.sum()), tuple(_t2(L, p)), tuple(_t2(L, t)),
                              has_aux=True)
        assert not out.requires_grad and not tan.requires_grad
        res.append((out.numpy(), tan.numpy(), aux.numpy()))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, atol=tol[0], rtol=tol[1])


def test_func_jvp_nested_and_over_grad():
    p, t, s = _arrays([(4,)], "float64")[0], _arrays([(4,)], "float64")[0], _arrays([(4,)], "float64")[0]
    res = []
    for L, F in ((flambeau, flambeau.func), (torch, torch.func)):
        def f(x):
            return (x.sin() * x.exp()).sum() + (x ** 3).prod()
        x, tx, sx = L.tensor(p), L.tensor(t), L.tensor(s)
        hvp = F.jvp(F.grad(f), (x,), (tx,))[1]                                  # forward-over-reverse
        second = F.jvp(lambda y: F.jvp(f, (y,), (tx,))[1], (x,), (sx,))[1]      # forward-over-forward
        res.append((hvp.numpy(), second.numpy(), F.hessian(f)(x).numpy(), F.jacfwd(F.jacrev(f))(x).numpy()))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)


def test_func_jacfwd():
    p = _arrays([(3, 4), (5, 4)], "float64")
    res = []
    for L, F in ((flambeau, flambeau.func), (torch, torch.func)):
        x, y = _t2(L, p)
        j = F.jacfwd(lambda a, b: f_mixed(L, a, b), argnums=(0, 1))(x, y)
        j0, aux = F.jacfwd(lambda a: (f_mixed(L, a, y), a.sum()), has_aux=True)(x.t().contiguous().t())
        res.append([j[0].numpy(), j[1].numpy(), j0.numpy(), aux.numpy()])
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)


def test_func_jvp_with_functional_call():
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2)).double()
    fm = flambeau.nn.Sequential(flambeau.nn.Linear(4, 6), flambeau.nn.Tanh(), flambeau.nn.Linear(6, 2)).double()
    fm.load_state_dict({k: flambeau.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    xa = np.random.randn(5, 4)
    tans = {k: np.random.randn(*v.shape) for k, v in tm.named_parameters()}
    res = []
    for L, m in ((flambeau, fm), (torch, tm)):
        params = {k: v.detach() for k, v in m.named_parameters()}
        x = L.tensor(xa)
        out, tan = L.func.jvp(lambda p: L.func.functional_call(m, p, (x,)), (params,),
                              ({k: L.tensor(v) for k, v in tans.items()},))
        res.append((out.numpy(), tan.numpy()))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_gradcheck_forward_ad():
    class Good(flambeau.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.result = x.exp()
            return ctx.result

        @staticmethod
        def jvp(ctx, gx):
            return gx * ctx.result

    class Bad(Good):
        @staticmethod
        def jvp(ctx, gx):
            return gx * ctx.result * 1.01

    x = flambeau.randn(3, 2, dtype=flambeau.float64, requires_grad=True)
    kw = dict(check_forward_ad=True, check_backward_ad=False, check_undefined_grad=False, check_batched_grad=False)
    assert flambeau.autograd.gradcheck(Good.apply, (x,), **kw)
    with pytest.raises(flambeau.autograd.GradcheckError, match="forward mode mismatch"):
        flambeau.autograd.gradcheck(Bad.apply, (x,), **kw)
    assert flambeau.autograd.gradcheck(lambda a: (a.sin() * a).cumsum(0), (x,), check_forward_ad=True)


def test_tutorial_script_gives_torch_numbers():
    """examples/forward_ad_tutorial.py, as written (import flambeau as torch) and with torch itself."""
    import pathlib
    src = (pathlib.Path(__file__).resolve().parents[1] / "examples" / "forward_ad_tutorial.py").read_text()
    ours, theirs = {"__name__": "tutorial"}, {"__name__": "tutorial"}
    exec(compile(src, "forward_ad_tutorial.py", "exec"), ours)
    ref = src.replace("import flambeau as torch", "import torch").replace("flambeau.", "torch.")
    exec(compile(ref, "forward_ad_tutorial_torch.py", "exec"), theirs)
    assert ours["RESULTS"].keys() == theirs["RESULTS"].keys() and len(ours["RESULTS"]) == 8
    for k in ours["RESULTS"]:
        np.testing.assert_allclose(ours["RESULTS"][k], theirs["RESULTS"][k], rtol=1e-5, atol=1e-5, err_msg=k)


def test_dual_repr_dtype_and_requires_grad_():
    for L, fw in ((flambeau, ffw), (torch, tfw)):
        with fw.dual_level():
            d = fw.make_dual(L.ones(2), L.ones(2) * 3)
            assert repr(d * 2) == "tensor([2., 2.], tangent=tensor([6., 6.]))"
            d.requires_grad_()
            assert d.requires_grad and d.is_leaf
            (d * d).sum().backward()
            np.testing.assert_allclose(d.grad.numpy(), 2.0)
            assert fw.unpack_dual(d).tangent is not None
    with ffw.dual_level():  # a float64 tangent for a float32 primal: cast once (PyTorch keeps float64)
        d = ffw.make_dual(flambeau.ones(3), flambeau.ones(3, dtype=flambeau.float64))
        y = d.sin() @ flambeau.ones(3)
        assert ffw.unpack_dual(y).tangent.dtype == flambeau.float32


def test_long_level_releases_dead_references():
    with ffw.dual_level():
        d = ffw.make_dual(flambeau.randn(4), flambeau.randn(4))
        for _ in range(3000):
            d = d * 1.0
        assert len(ffw._duals) < 2100
        assert ffw.unpack_dual(d).tangent is not None


def test_dual_conversions_like_pytorch():
    import copy
    for L, fw in ((flambeau, ffw), (torch, tfw)):
        with fw.dual_level():
            d = fw.make_dual(L.ones(3), L.ones(3) * 2)
            assert np.asarray(d).tolist() == [1.0, 1.0, 1.0] and d.numpy().sum() == 3
            c = copy.deepcopy(d)
            assert not c.requires_grad and fw.unpack_dual(c).tangent is None
            assert fw.unpack_dual(d.clone().detach_()).tangent is None
            with pytest.raises(NotImplementedError, match="out="):
                L.sin(d, out=L.zeros(3))


def _two_output_fn(L):
    class SinCos(L.autograd.Function):
        @staticmethod
        def forward(x, k):
            return x.sin() * k, x.cos(), (x > 0).to(x.dtype)

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, k = inputs
            ctx.k = k
            ctx.save_for_backward(x)
            ctx.save_for_forward(x)
            ctx.mark_non_differentiable(output[2])

        @staticmethod
        def backward(ctx, gs, gc, gm):
            (x,) = ctx.saved_tensors
            return gs * x.cos() * ctx.k - gc * x.sin(), None

        @staticmethod
        def jvp(ctx, tx, tk):
            (x,) = ctx.saved_tensors
            return tx * x.cos() * ctx.k, -tx * x.sin(), None
    return SinCos


def test_custom_function_setup_context_multiple_outputs():
    xa, ta = np.random.randn(4, 3), np.random.randn(4, 3)
    res = []
    for L, fw in ((flambeau, ffw), (torch, tfw)):
        x = L.tensor(xa, requires_grad=True)
        with fw.dual_level():
            d = fw.make_dual(x, L.tensor(ta))
            s, c, m = _two_output_fn(L).apply(d * 1.5, 2.0)
            assert fw.unpack_dual(m).tangent is None and not m.requires_grad
            (s.sum() + (c * c).sum()).backward()
            res.append((fw.unpack_dual(s).tangent.detach().numpy(), fw.unpack_dual(c).tangent.detach().numpy(),
                        x.grad.numpy()))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_inplace_builtin_marked_dirty():
    """In-place dropout (a builtin op marking its input dirty) on a dual: the input itself carries
    the result and its tangent (mask * t / (1 - p), the mask read off the primal)."""
    xa, ta = np.random.uniform(1, 2, (4, 6)), np.random.randn(4, 6)
    with ffw.dual_level():
        d = ffw.make_dual(flambeau.tensor(xa), flambeau.tensor(ta))
        y = d * 1.0
        out = flambeau.nn.functional.dropout(y, 0.5, training=True, inplace=True)
        assert out is y and not y.requires_grad
        p, t = ffw.unpack_dual(y)
        kept = p.numpy() != 0
        np.testing.assert_allclose(t.numpy(), np.where(kept, ta * 2, 0.0), rtol=1e-12)


def test_forward_only_duals_refuse_reverse_mode_apis():
    for L, fw in ((flambeau, ffw), (torch, tfw)):
        with fw.dual_level():
            d = fw.make_dual(L.randn(3), L.randn(3))
            y = d.exp()
            with pytest.raises(RuntimeError, match="doesn't require gradient"):
                y.register_hook(lambda g: g)
            with pytest.raises(RuntimeError, match="requires_grad=False"):
                y.retain_grad()
            x = L.randn(3, requires_grad=True)
            with pytest.raises(RuntimeError, match="does not require grad"):
                L.autograd.grad((x * d).sum(), d)


@pytest.mark.parametrize("loss", ["cross_entropy", "layer_norm_sum", "log_softmax_nll", "mse", "softmax_exp",
                                  "batch_norm"])
def test_rules_differentiable_in_reverse(loss):
    """Tangents from the hand-written rules and the scalar-output path, differentiated in reverse:
    d(tangent)/d(x, w) against central differences of PyTorch's tangent (PyTorch's own reverse
    pass through these tangents fails or, for layer_norm, is wrong)."""
    xa, ta, wa = np.random.randn(4, 5), np.random.randn(4, 5), np.random.randn(5)
    fns = {
        "cross_entropy": lambda L, x, w: L.nn.functional.cross_entropy(x * w, L.tensor([0, 4, 2, 2]),
                                                                      label_smoothing=0.1),
        "layer_norm_sum": lambda L, x, w: (L.nn.functional.layer_norm(x, (5,), w, w * 0.5) ** 2).sum(),
        "log_softmax_nll": lambda L, x, w: L.nn.functional.nll_loss(L.log_softmax(x * w, 1), L.tensor([1, 0, 3, 3])),
        "mse": lambda L, x, w: L.nn.functional.mse_loss(x, w.expand(4, 5)),
        "softmax_exp": lambda L, x, w: (L.softmax(x * w, 1).exp() * x).sum(),
        "batch_norm": lambda L, x, w: (L.nn.functional.batch_norm(x, None, None, w, w * 0.5, training=True) ** 2).sum(),
    }
    fn = fns[loss]

    def torch_tangent(xv, wv):
        with tfw.dual_level():
            y = fn(torch, tfw.make_dual(torch.tensor(xv), torch.tensor(ta)), torch.tensor(wv))
            return float(tfw.unpack_dual(y).tangent)

    x, w = flambeau.tensor(xa, requires_grad=True), flambeau.tensor(wa, requires_grad=True)
    with ffw.dual_level():
        y = fn(flambeau, ffw.make_dual(x, flambeau.tensor(ta)), w)
        p, t = ffw.unpack_dual(y)
        assert t.requires_grad
        t.backward()
    assert abs(float(t) - torch_tangent(xa, wa)) < 1e-10
    eps = 1e-6
    for arr, grad in ((xa, x.grad), (wa, w.grad)):
        num = np.zeros_like(arr)
        for i in range(arr.size):
            e = np.zeros(arr.size)
            e[i] = eps
            e = e.reshape(arr.shape)
            args = (lambda d: (xa + d, wa)) if arr is xa else (lambda d: (xa, wa + d))
            num.flat[i] = (torch_tangent(*args(e)) - torch_tangent(*args(-e))) / (2 * eps)
        np.testing.assert_allclose(grad.numpy(), num, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 5)])
def test_batch_norm_all_tangents(training, shape):
    c = shape[1]
    rm, rv = np.random.randn(c), np.random.uniform(0.5, 2, c)

    def f(L, x, w, b):
        return L.nn.functional.batch_norm(x, L.tensor(rm), L.tensor(rv), w, b, training=training, momentum=0.3)
    check_jvp(f, [shape, (c,), (c,)], "float64")
    check_jvp(f, [shape, (c,), (c,)], "float64", tangent_mask=[False, True, True])
    check_jvp(f, [shape, (c,), (c,)], "float64", tangent_mask=[True, False, False])


def test_reverse_over_forward():
    xa, va = np.random.randn(4), np.random.randn(4)
    res = []
    for L in (flambeau, torch):
        F = L.func

        def f(x):
            return (x.sin() * x.exp()).sum() * x
        g = F.grad(lambda x: F.jvp(f, (x,), (L.tensor(va),))[1].pow(2).sum())(L.tensor(xa))
        h = F.jacrev(lambda x: F.jvp(f, (x,), (L.tensor(va),))[1])(L.tensor(xa))
        res.append((g.numpy(), h.numpy()))
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_gradgradcheck_forward_over_reverse():
    x = flambeau.randn(3, 2, dtype=flambeau.float64, requires_grad=True)
    w = flambeau.randn(2, 4, dtype=flambeau.float64, requires_grad=True)
    f = lambda a, b: flambeau.nn.functional.gelu(a @ b).logsumexp(1)  # noqa: E731
    assert flambeau.autograd.gradgradcheck(f, (x, w), check_fwd_over_rev=True, check_rev_over_rev=False)
    assert flambeau.autograd.gradgradcheck(f, (x, w), check_fwd_over_rev=True)

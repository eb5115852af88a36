"""torch.func's transforms (grad, grad_and_value, vjp, jvp, jacrev, jacfwd, hessian, vmap,
stack_module_state) and torch.autograd.functional.jvp against PyTorch on fresh random inputs,
including the compositions scripts use: per-sample gradients (vmap(grad(loss)) with
functional_call), Hessians, ensembles."""
import numpy as np
import pytest
import torch
import torch.func as tfunc

import flambeau
import flambeau.func as ffunc
from helpers import assert_close, rand_array


def _both(*shapes, dtype="float64"):
    arrs = [rand_array(s, dtype) for s in shapes]
    return [torch.from_numpy(a.copy()) for a in arrs], [flambeau.from_numpy(a.copy()) for a in arrs]


def _close_tree(f, t, **kw):
    if isinstance(t, dict):
        assert set(f) == set(t)
        for k in t:
            _close_tree(f[k], t[k], **kw)
    elif isinstance(t, (tuple, list)):
        assert type(f) is type(t) and len(f) == len(t), (type(f), type(t))
        for a, b in zip(f, t):
            _close_tree(a, b, **kw)
    else:
        assert_close(f, t, **kw)


def f_scalar(lib, x, y):
    return (x.sin() * y).sum() + (x ** 2).mean() * y.exp().sum()


def f_vec(lib, x):
    return lib.stack([x[0] ** 2 * x[1], x[1].sin(), x.sum(), (x * x).prod()])


def test_grad_argnums_aux_and_value():
    (xt, yt), (xf, yf) = _both((3, 2), (3, 2))
    for argnums in (0, 1, (0, 1)):
        gt = tfunc.grad(lambda a, b: f_scalar(torch, a, b), argnums=argnums)(xt, yt)
        gf = ffunc.grad(lambda a, b: f_scalar(flambeau, a, b), argnums=argnums)(xf, yf)
        _close_tree(gf, gt)
    gt, (vt, at) = tfunc.grad_and_value(lambda a: ((a ** 3).sum(), a.mean()), has_aux=True)(xt)
    gf, (vf, af) = ffunc.grad_and_value(lambda a: ((a ** 3).sum(), a.mean()), has_aux=True)(xf)
    _close_tree((gf, vf, af), (gt, vt, at))
    assert not gf.requires_grad and not vf.requires_grad
    gt, at = tfunc.grad(lambda a: ((a ** 3).sum(), {"m": a.max()}), has_aux=True)(xt)
    gf, af = ffunc.grad(lambda a: ((a ** 3).sum(), {"m": a.max()}), has_aux=True)(xf)
    _close_tree((gf, af), (gt, at))


def test_grad_over_dict_of_params_with_functional_call():
    torch.manual_seed(0)
    mt = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    mf = flambeau.nn.Sequential(flambeau.nn.Linear(4, 5), flambeau.nn.Tanh(), flambeau.nn.Linear(5, 2))
    mf.load_state_dict({k: flambeau.from_numpy(v.detach().numpy().copy()) for k, v in mt.state_dict().items()})
    x = rand_array((6, 4))
    y = rand_array((6, 2))

    def loss(lib, model, params, xx, yy):
        out = lib.func.functional_call(model, params, (xx,))
        return ((out - yy) ** 2).mean()

    pt = {k: v.detach() for k, v in mt.named_parameters()}
    pf = {k: v.detach() for k, v in mf.named_parameters()}
    gt = tfunc.grad(lambda p: loss(torch, mt, p, torch.from_numpy(x), torch.from_numpy(y)))(pt)
    gf = ffunc.grad(lambda p: loss(flambeau, mf, p, flambeau.from_numpy(x), flambeau.from_numpy(y)))(pf)
    _close_tree(gf, gt, atol=1e-5, rtol=1e-4)
    # per-sample gradients: vmap(grad) over the batch, parameters shared (in_dims=None)
    ps_t = tfunc.vmap(tfunc.grad(lambda p, a, b: loss(torch, mt, p, a[None], b[None])), in_dims=(None, 0, 0))(
        pt, torch.from_numpy(x), torch.from_numpy(y))
    ps_f = ffunc.vmap(ffunc.grad(lambda p, a, b: loss(flambeau, mf, p, a[None], b[None])), in_dims=(None, 0, 0))(
        pf, flambeau.from_numpy(x), flambeau.from_numpy(y))
    _close_tree(ps_f, ps_t, atol=1e-5, rtol=1e-4)
    assert tuple(ps_f["0.weight"].shape) == (6, 5, 4)


def test_nested_grad_and_hessian():
    (xt,), (xf,) = _both((4,))
    g2t = tfunc.grad(lambda a: tfunc.grad(lambda b: (b.sin() * b ** 2).sum())(a).sum())(xt)
    g2f = ffunc.grad(lambda a: ffunc.grad(lambda b: (b.sin() * b ** 2).sum())(a).sum())(xf)
    assert_close(g2f, g2t)
    ht = tfunc.hessian(lambda a: (a.sin() * a.prod()).sum())(xt)
    hf = ffunc.hessian(lambda a: (a.sin() * a.prod()).sum())(xf)
    assert_close(hf, ht)
    # a tracked input keeps the result differentiable (and only through the argument, not closures)
    xr = flambeau.from_numpy(xf.numpy().copy()).requires_grad_(True)
    xtr = torch.from_numpy(xt.numpy().copy()).requires_grad_(True)
    gt = tfunc.grad(lambda a: (a ** 3 * xtr).sum())(xtr)
    gf = ffunc.grad(lambda a: (a ** 3 * xr).sum())(xr)
    assert gf.requires_grad
    gt.sum().backward()
    gf.sum().backward()
    assert_close(xr.grad, xtr.grad)


def test_jacrev_jacfwd_vjp_jvp():
    (xt,), (xf,) = _both((2,))
    for tj, fj in [(tfunc.jacrev, ffunc.jacrev), (tfunc.jacfwd, ffunc.jacfwd)]:
        assert_close(fj(lambda a: f_vec(flambeau, a))(xf), tj(lambda a: f_vec(torch, a))(xt))
    (at, bt), (af, bf) = _both((3,), (2, 3))
    jt = tfunc.jacrev(lambda a, b: (b * a).sum(0), argnums=(0, 1))(at, bt)
    jf = ffunc.jacrev(lambda a, b: (b * a).sum(0), argnums=(0, 1))(af, bf)
    _close_tree(jf, jt)
    ot, fn_t = tfunc.vjp(lambda a, b: b @ a, at, bt)
    of, fn_f = ffunc.vjp(lambda a, b: b @ a, af, bf)
    (ct,), (cf,) = _both((2,))
    _close_tree((of, fn_f(cf)), (ot, fn_t(ct)))
    (vt,), (vf,) = _both((2,))
    _close_tree(ffunc.jvp(lambda a: f_vec(flambeau, a), (xf,), (vf,)),
                tfunc.jvp(lambda a: f_vec(torch, a), (xt,), (vt,)))
    (v2t, w2t), (v2f, w2f) = _both((3,), (2, 3))
    _close_tree(ffunc.jvp(lambda a, b: (b * a.exp(), a.sum()), (af, bf), (v2f, w2f)),
                tfunc.jvp(lambda a, b: (b * a.exp(), a.sum()), (at, bt), (v2t, w2t)))


def test_autograd_functional_jvp():
    (xt,), (xf,) = _both((2,))
    (vt,), (vf,) = _both((2,))
    ot, jt = torch.autograd.functional.jvp(lambda a: f_vec(torch, a), xt, vt)
    of, jf = flambeau.autograd.functional.jvp(lambda a: f_vec(flambeau, a), xf, vf)
    _close_tree((of, jf), (ot, jt))
    (at, bt), (af, bf) = _both((3,), (3,))
    ot, jt = torch.autograd.functional.jvp(lambda a, b: (a * b, a.sum()), (at, bt), (bt, at))
    of, jf = flambeau.autograd.functional.jvp(lambda a, b: (a * b, a.sum()), (af, bf), (bf, af))
    _close_tree((of, jf), (ot, jt))
    ot, jt = torch.autograd.functional.jvp(lambda a: a * 3, torch.tensor([2.0], dtype=torch.float64))
    of, jf = flambeau.autograd.functional.jvp(lambda a: a * 3, flambeau.tensor([2.0], dtype=flambeau.float64))
    _close_tree((of, jf), (ot, jt))


@pytest.mark.parametrize("case", ["sum", "in_dims", "out_dims", "tuple_out", "nested", "dict_in", "matmul"])
def test_vmap_against_torch(case):
    (at, bt), (af, bf) = _both((4, 3), (3, 5), dtype="float32")

    def run(lib, vmap, a, b):
        if case == "sum":
            return vmap(lambda x: x.sum() * 2)(a)
        if case == "in_dims":
            return vmap(lambda x, y: x * y.sum(), in_dims=(1, None))(a, b)
        if case == "out_dims":
            return vmap(lambda x: x.exp(), out_dims=1)(a)
        if case == "tuple_out":
            return vmap(lambda x: (x.max(), x * 2))(a)
        if case == "nested":
            return vmap(vmap(lambda u: u ** 2 + 1))(a)
        if case == "dict_in":
            return vmap(lambda d: d["p"] - d["q"].mean())({"p": a, "q": a * 3})
        return vmap(lambda x: x @ b, in_dims=0)(a)

    _close_tree(run(flambeau, ffunc.vmap, af, bf), run(torch, tfunc.vmap, at, bt))
    assert flambeau.vmap is ffunc.vmap


def test_vmap_randomness_and_errors():
    x = flambeau.zeros(4, 3)
    with pytest.raises(RuntimeError, match="randomness"):
        ffunc.vmap(lambda r: r + flambeau.rand(3))(x)
    same = ffunc.vmap(lambda r: r + flambeau.rand(3), randomness="same")(x)
    assert bool((same == same[0]).all())
    diff = ffunc.vmap(lambda r: r + flambeau.rand(3), randomness="different")(x)
    assert not bool((diff == diff[0]).all())
    with pytest.raises(ValueError, match="same size in the mapped dimension"):
        ffunc.vmap(lambda a, b: a + b)(flambeau.zeros(3, 4), flambeau.zeros(2, 4))
    with pytest.raises(ValueError, match="in_dim"):
        ffunc.vmap(lambda a: a, in_dims=2)(flambeau.zeros(3, 4))
    with pytest.raises(RuntimeError, match="scalar Tensor"):
        ffunc.grad(lambda a: a * 2)(flambeau.zeros(3))


def test_stack_module_state_ensemble():
    torch.manual_seed(1)
    models_t = [torch.nn.Linear(3, 2) for _ in range(4)]
    models_f = [flambeau.nn.Linear(3, 2) for _ in range(4)]
    for mt, mf in zip(models_t, models_f):
        mf.load_state_dict({k: flambeau.from_numpy(v.detach().numpy().copy()) for k, v in mt.state_dict().items()})
    pt, bt = tfunc.stack_module_state(models_t)
    pf, bf = ffunc.stack_module_state(models_f)
    _close_tree(pf, pt)
    assert pf["weight"].requires_grad and pf["weight"].is_leaf
    x = rand_array((5, 3), "float32")
    import copy
    base_t = copy.deepcopy(models_t[0]).to("meta")
    base_f = copy.deepcopy(models_f[0]).to("meta")  # as PyTorch: the parameters come from the call only
    out_t = tfunc.vmap(lambda p, b, xx: tfunc.functional_call(base_t, (p, b), (xx,)), in_dims=(0, 0, None))(
        pt, bt, torch.from_numpy(x))
    out_f = ffunc.vmap(lambda p, b, xx: ffunc.functional_call(base_f, (p, b), (xx,)), in_dims=(0, 0, None))(
        pf, bf, flambeau.from_numpy(x))
    assert_close(out_f, out_t)
    out_t.sum().backward()
    out_f.sum().backward()
    assert_close(pf["weight"].grad, pt["weight"].grad)


def test_autograd_grad_is_grads_batched():
    (xt,), (xf,) = _both((3,))
    xt.requires_grad_(True)
    xf.requires_grad_(True)
    yt, yf = xt.sin() * xt.exp(), xf.sin() * xf.exp()
    (et,), (ef,) = _both((4, 3))
    gt = torch.autograd.grad(yt, xt, et, is_grads_batched=True, retain_graph=True)
    gf = flambeau.autograd.grad(yf, xf, ef, is_grads_batched=True, retain_graph=True)
    _close_tree(gf, gt)
    # the Jacobian in one call: the identity's rows as cotangents
    jt = torch.autograd.grad(yt, xt, torch.eye(3, dtype=torch.float64), is_grads_batched=True, create_graph=True)[0]
    jf = flambeau.autograd.grad(yf, xf, flambeau.eye(3, dtype=flambeau.float64), is_grads_batched=True,
                                create_graph=True)[0]
    assert_close(jf, jt)
    assert jf.requires_grad
    with pytest.raises(RuntimeError, match="batch dimension"):
        flambeau.autograd.grad((xf * 2).sum(), xf, flambeau.ones(2, 2, dtype=flambeau.float64), is_grads_batched=True)


def test_vmap_and_grad_argument_errors_like_pytorch():
    x = flambeau.arange(6.0).reshape(2, 3)
    with pytest.raises(ValueError, match="must only return Tensors"):
        ffunc.vmap(lambda r: 2.0)(x)
    with pytest.raises(ValueError, match="expected `in_dims` to be int"):
        ffunc.vmap(lambda a, b: a + b, in_dims=[0, 1])(x, x)
    with pytest.raises(RuntimeError, match="Got argnum=1"):
        ffunc.grad(lambda a: a.sum(), argnums=1)(x)
    with pytest.raises(RuntimeError, match="floating point"):
        ffunc.grad(lambda a: (a * 2).sum())(flambeau.arange(3))
    # out_dims=None passes a non-mapped output through; kwargs are not mapped
    (at,), (af,) = _both((2, 3), dtype="float32")
    rt = tfunc.vmap(lambda r, scale=1.0: (r * scale, torch.ones(2)), out_dims=(1, None))(at, scale=3.0)
    rf = ffunc.vmap(lambda r, scale=1.0: (r * scale, flambeau.ones(2)), out_dims=(1, None))(af, scale=3.0)
    _close_tree(rf, rt)


def test_linearize_matches_pytorch():
    x = np.random.randn(4).astype(np.float32)
    w = np.random.randn(4, 4).astype(np.float32)
    tangents = [np.random.randn(4).astype(np.float32) for _ in range(2)]

    def run(lib):
        W = lib.tensor(w)
        out, jvp_fn = lib.func.linearize(lambda a: (W @ a).tanh() * a, lib.tensor(x))
        return out, [jvp_fn(lib.tensor(t)) for t in tangents]
    (to, tj), (fo, fj) = run(torch), run(flambeau)
    np.testing.assert_allclose(fo.numpy(), to.numpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(fj, tj):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    _, jvp_fn = flambeau.func.linearize(lambda a: a * 2, flambeau.ones(3))
    with pytest.raises(RuntimeError, match="does not match the primal"):
        jvp_fn(flambeau.ones(4))


def test_replace_all_batch_norm_modules_then_per_sample_grads():
    """The functorch recipe for vmapping over a model with BatchNorm: running stats removed, then
    vmap(grad) over functional_call, each vmapped item a group of 3 rows normalised on its own, against PyTorch."""
    x = np.random.randn(5, 3, 3).astype(np.float32)
    y = np.random.randint(0, 2, (5, 3)).astype(np.int64)

    def run(lib, state=None):
        model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.BatchNorm1d(4), lib.nn.ReLU(), lib.nn.Linear(4, 2))
        if state is not None:
            model.load_state_dict({k: lib.from_numpy(v.copy()) for k, v in state.items()})
        lib.func.replace_all_batch_norm_modules_(model)
        keys = sorted(model.state_dict())
        bn = model[1]
        flags = (bn.running_mean is None, bn.running_var is None, bn.num_batches_tracked is None,
                 bn.track_running_stats)
        params = {k: v.detach() for k, v in model.named_parameters()}

        def loss_fn(p, xb, yb):
            return lib.nn.functional.cross_entropy(lib.func.functional_call(model, p, (xb,)), yb)
        grads = lib.func.vmap(lib.func.grad(loss_fn), in_dims=(None, 0, 0))(params, lib.tensor(x), lib.tensor(y))
        return keys, flags, grads
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    state = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    tkeys, tflags, tgrads = run(torch, state)
    fkeys, fflags, fgrads = run(flambeau, state)
    assert fkeys == tkeys and fflags == tflags == (True, True, True, False)
    for k in tgrads:
        assert tuple(fgrads[k].shape) == tuple(tgrads[k].shape)
        np.testing.assert_allclose(fgrads[k].numpy(), tgrads[k].numpy(), rtol=1e-4, atol=1e-5)


def _functionalize_scenario(lib):
    from importlib import import_module
    func = import_module(lib.__name__ + ".func")

    def view_of_input(x):
        return x.view(-1)

    def writes_input(x):
        x.add_(1)
        return x

    def mixed(x, d):
        y = x[0]
        y.mul_(3)
        return {"a": y, "b": d["k"] + 1, "c": 5, "d": d["k"]}

    seen = []
    for rm in ("mutations", "mutations_and_views"):
        x = lib.ones(2, 2)
        o = func.functionalize(view_of_input, remove=rm)(x)
        seen += [o.data_ptr() == x.data_ptr(), o.tolist()]
        o = func.functionalize(writes_input, remove=rm)(x)
        seen += [o is x, o.data_ptr() == x.data_ptr(), x.tolist(), o.tolist()]
        k = lib.zeros(2)
        r = func.functionalize(mixed, remove=rm)(x, {"k": k})
        seen += [x.tolist(), r["a"].tolist(), r["a"].data_ptr() == x.data_ptr(), r["c"], r["d"] is k]
    w = lib.tensor([1.0, 2.0, 3.0])
    seen.append(func.grad(func.functionalize(lambda t: (t.clone().mul_(t)).sum()))(w).tolist())
    seen.append(func.vmap(func.functionalize(lambda t: t.clone().add_(1)))(lib.ones(2, 3)).tolist())
    seen.append(func.functionalize(writes_input).__name__)
    return seen


def test_functionalize_matches_pytorch_at_its_boundary():
    assert _functionalize_scenario(flambeau) == _functionalize_scenario(torch)
    with pytest.raises(RuntimeError, match="received invalid argument for remove=views"):
        flambeau.func.functionalize(lambda x: x, remove="views")

"""flambeau.fx against torch.fx: the same module traced by both libraries gives the same generated code
and printed graph (flambeau's code names flambeau `torch`, so the text is identical), and the traced
modules give the same outputs and gradients from the same weights on the same inputs."""
import copy
import math
import operator
import types

import numpy as np
import pytest
import torch
import torch.fx

import flambeau
import flambeau.fx

T = types.SimpleNamespace(torch=torch, nn=torch.nn, F=torch.nn.functional, fx=torch.fx)
FL = types.SimpleNamespace(torch=flambeau, nn=flambeau.nn, F=flambeau.nn.functional, fx=flambeau.fx)


def _np(t):
    return t.detach().numpy().copy()


def _copy_state(src, dst, lib):
    dst.load_state_dict({k: lib.torch.from_numpy(_np(v).copy()) for k, v in src.state_dict().items()})


def _pair(build):
    """The same model in both libraries, flambeau's loaded with torch's (random) weights."""
    mt, mf = build(T), build(FL)
    _copy_state(mt, mf, FL)
    return mt, mf


def _assert_close(a, b, atol=1e-5, rtol=1e-4):
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_close(x, y, atol, rtol)
        return
    if isinstance(a, torch.Tensor):
        np.testing.assert_allclose(_np(b), _np(a), atol=atol, rtol=rtol)
    else:
        assert a == b


def _run_both(gt, gf, *arrays, modules=None):
    """Forward both traced modules on the same inputs (leaves requiring grad), backward the same random
    upstream gradient through each tensor output, compare outputs, input and parameter gradients."""
    xt = [torch.from_numpy(a.copy()).requires_grad_(a.dtype == np.float32) for a in arrays]
    xf = [flambeau.from_numpy(a.copy()).requires_grad_(a.dtype == np.float32) for a in arrays]
    ot, of = gt(*xt), gf(*xf)
    _assert_close(ot, of)
    outs_t = [o for o in (ot if isinstance(ot, (tuple, list)) else (ot,)) if isinstance(o, torch.Tensor)]
    outs_f = [o for o in (of if isinstance(of, (tuple, list)) else (of,)) if isinstance(o, flambeau.Tensor)]
    lt, lf = 0, 0
    for a, b in zip(outs_t, outs_f):
        if a.requires_grad and a.dtype == torch.float32:
            g = np.random.standard_normal(a.shape).astype(np.float32)
            lt = lt + (a * torch.from_numpy(g)).sum()
            lf = lf + (b * flambeau.from_numpy(g)).sum()
    if isinstance(lt, torch.Tensor):
        lt.backward()
        lf.backward()
        for a, b in zip(xt, xf):
            if a.requires_grad:
                _assert_close(a.grad, b.grad, 1e-4, 1e-3)
        mt, mf = modules if modules is not None else (gt, gf)
        pt, pf = dict(mt.named_parameters()), dict(mf.named_parameters())
        assert pt.keys() == pf.keys()
        for k in pt:
            if pt[k].grad is not None:
                _assert_close(pt[k].grad, pf[k].grad, 1e-4, 1e-3)
    return ot, of


def _trace_both(build, **kw):
    mt, mf = _pair(build)
    gt, gf = T.fx.symbolic_trace(mt, **kw), FL.fx.symbolic_trace(mf, **kw)
    assert gf.code == gt.code
    assert str(gf.graph) == str(gt.graph)
    assert [(n.op, n.name, len(n.users)) for n in gf.graph.nodes] == \
        [(n.op, n.name, len(n.users)) for n in gt.graph.nodes]
    return mt, mf, gt, gf


def _rand(*shape):
    return np.random.standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- models
def _mlp(lib):
    nn, F = lib.nn, lib.F

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(7, 16)
            self.act = nn.Tanh()
            self.fc2 = nn.Linear(16, 3)

        def forward(self, x):
            return F.log_softmax(self.fc2(self.act(self.fc1(x))), dim=-1)
    return MLP()


class _Lib:  # (resolved per library inside the builders below)
    pass


def _cnn(lib):
    torch, nn, F = lib.torch, lib.nn, lib.F

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return torch.relu(out + x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU())
            self.layers = nn.Sequential(Block(6), Block(6))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(6, 4)

        def forward(self, x):
            x = self.layers(self.stem(x))
            return self.fc(torch.flatten(self.pool(x), 1))
    return Net()


def _shapes(lib):
    torch, nn, F = lib.torch, lib.nn, lib.F

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3)
            self.fc = nn.Linear(3 * 4 * 4, 5)
            self.register_buffer("scale", torch.ones(5) * 0.5)
            self.bias2 = nn.Parameter(torch.zeros(5))

        def forward(self, x):
            h = F.relu(self.conv(x))
            b = h.size(0)
            h = h.view(b, -1)
            y = self.fc(h) * self.scale + self.bias2
            y = torch.flatten(y.unsqueeze(1), 1)
            z = y[:, 1:4].sum(dim=-1, keepdim=True) - y.mean(-1, keepdim=True)
            return y.softmax(-1), z, y.shape, 2 * y, y @ y.t(), -y ** 2
    return M()


def test_mlp_code_graph_outputs_and_gradients():
    mt, mf, gt, gf = _trace_both(_mlp)
    _run_both(gt, gf, _rand(5, 7))
    assert gf.fc1.weight is mf.fc1.weight  # the GraphModule shares the root's parameters
    assert list(gf.state_dict()) == list(gt.state_dict())


@pytest.mark.parametrize("train", [True, False])
def test_cnn_batchnorm_residual(train):
    mt, mf, gt, gf = _trace_both(_cnn)
    gt.train(train)
    gf.train(train)
    _run_both(gt, gf, _rand(2, 3, 6, 6))
    # BatchNorm's running statistics live in the shared modules: the GraphModule's step updated the root's
    _assert_close(mt.stem[1].running_mean, mf.stem[1].running_mean)
    assert mf.stem[1].running_mean is getattr(gf.stem, "1").running_mean


def test_flatten_relu_view_size_buffer_parameter():
    mt, mf, gt, gf = _trace_both(_shapes)
    ot, of = _run_both(gt, gf, _rand(3, 2, 6, 6))
    assert tuple(of[2]) == tuple(ot[2])


def test_retrace_graph_module_and_print():
    mt, mf, gt, gf = _trace_both(_mlp)
    rt, rf = T.fx.symbolic_trace(gt), FL.fx.symbolic_trace(gf)
    assert rf.code == rt.code
    assert str(gf).split("\n", 1)[0] == str(gt).split("\n", 1)[0]
    assert str(gf).endswith(gt.code + "\n# To see more debug info, please use `graph_module.print_readable()`")
    assert gf.print_readable(print_output=False) == gt.print_readable(print_output=False)
    assert type(gf).__name__ == type(gt).__name__ == "MLP"


# ---------------------------------------------------------------- control flow and errors
def _flow(lib):
    torch = lib.torch

    def branch(x):
        if x.sum() > 0:
            return x
        return -x

    def loop(x):
        total = 0
        for row in x:
            total = total + row
        return total

    def length(x):
        return x * len(x)
    return branch, loop, length


@pytest.mark.parametrize("which", [0, 1, 2])
def test_control_flow_errors_match_pytorch(which):
    ft, ff = _flow(T)[which], _flow(FL)[which]
    with pytest.raises(Exception) as et:
        T.fx.symbolic_trace(ft)
    with pytest.raises(Exception) as ef:
        FL.fx.symbolic_trace(ff)
    assert type(ef.value).__name__ == type(et.value).__name__
    assert str(ef.value) == str(et.value)
    if which < 2:
        assert isinstance(ef.value, flambeau.fx.proxy.TraceError) and isinstance(ef.value, ValueError)


def test_tuple_unpacking_is_traced():
    def f(x):
        a, b = x
        return a * b
    gt, gf = T.fx.symbolic_trace(f), FL.fx.symbolic_trace(f)
    assert gf.code == gt.code
    _run_both(gt, gf, _rand(2, 3))


def test_concrete_args():
    def f(x, flag, bias=None):
        if flag:
            x = x * 2
        if bias is not None:
            x = x + bias
        return x
    kw = dict(concrete_args={"flag": True, "bias": None})
    gt, gf = T.fx.symbolic_trace(f, **kw), FL.fx.symbolic_trace(f, **kw)
    assert gf.code == gt.code
    a = _rand(3)
    _assert_close(gt(torch.from_numpy(a), True), gf(flambeau.from_numpy(a), True))
    with pytest.raises(AssertionError, match="flag has been specialized to have value True"):
        gf(flambeau.from_numpy(a), False)
    with pytest.raises(AssertionError, match="bias has been specialized to have value None"):
        gf(flambeau.from_numpy(a), True, flambeau.ones(3))


def test_star_args_and_kwargs():
    def make(lib):
        class M(lib.nn.Module):
            def forward(self, x, *args, scale=2, **kwargs):
                return x * scale + args[0] - kwargs["bias"]
        return M()
    gt, gf = T.fx.symbolic_trace(make(T)), FL.fx.symbolic_trace(make(FL))
    assert gf.code == gt.code and str(gf.graph) == str(gt.graph)
    a, b, c = _rand(3), _rand(3), _rand(3)
    _assert_close(gt(torch.from_numpy(a), torch.from_numpy(b), 3, bias=torch.from_numpy(c)),
                  gf(flambeau.from_numpy(a), flambeau.from_numpy(b), 3, bias=flambeau.from_numpy(c)))


def test_unsupported_features_raise_not_implemented():
    gf = flambeau.fx.symbolic_trace(_mlp(FL))
    with pytest.raises(NotImplementedError, match="to_folder"):
        gf.to_folder("/tmp/never_written")
    with pytest.raises(NotImplementedError, match="pickling"):
        import pickle
        pickle.dumps(gf)
    with pytest.raises(NotImplementedError, match="concrete_args holding containers"):
        flambeau.fx.symbolic_trace(lambda x, y: x, concrete_args={"y": [1, 2]})


def test_proxy_outside_tracing_gives_clear_error():
    g = flambeau.fx.Graph()
    p = flambeau.fx.Proxy(g.placeholder("x"))
    with pytest.raises(NotImplementedError, match="outside symbolic tracing"):
        flambeau.exp(p)
    q = p + 1  # operators and methods record on a graph-appending Proxy, as in PyTorch
    r = q.relu()
    assert [n.op for n in g.nodes] == ["placeholder", "call_function", "call_method"]
    assert r.node.args == (q.node,)


def test_patches_restored_after_trace_and_after_a_failed_trace():
    originals = (flambeau.relu, flambeau.nn.functional.relu, flambeau.Tensor.__add__, flambeau.nn.Module.__call__,
                 flambeau.nn.Module.__getattr__, math.sqrt)
    flambeau.fx.symbolic_trace(_cnn(FL))
    with pytest.raises(flambeau.fx.proxy.TraceError):
        flambeau.fx.symbolic_trace(_flow(FL)[0])
    assert (flambeau.relu, flambeau.nn.functional.relu, flambeau.Tensor.__add__, flambeau.nn.Module.__call__,
            flambeau.nn.Module.__getattr__, math.sqrt) == originals
    assert type(flambeau.relu) is types.FunctionType


def test_print_tabular_without_tabulate(capsys):
    pytest.importorskip("torch")
    try:
        import tabulate  # noqa: F401
        pytest.skip("tabulate is installed: the output is then tabulate's")
    except ImportError:
        pass
    gt, gf = T.fx.symbolic_trace(_mlp(T)), FL.fx.symbolic_trace(_mlp(FL))
    with pytest.raises(ImportError) as et:
        gt.graph.print_tabular()
    out_t = capsys.readouterr().out
    with pytest.raises(ImportError) as ef:
        gf.graph.print_tabular()
    assert capsys.readouterr().out == out_t
    assert type(ef.value) is type(et.value)


# ---------------------------------------------------------------- wrap, autowrap, custom tracers
def _helper(x, k):
    return x * k + 1


torch.fx.wrap("_helper")
flambeau.fx.wrap("_helper")


def halve_fn(x):
    return x / 2


def _wrapped_model(lib):
    nn = lib.nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            y = self.lin(x) * math.sqrt(x.shape[-1])
            return halve_fn(_helper(y, 3))
    return M()


def test_wrap_autowrap_math_and_custom_tracer():
    mt, mf = _pair(_wrapped_model)
    tt, tf = T.fx.Tracer(autowrap_functions=(halve_fn,)), FL.fx.Tracer(autowrap_functions=(halve_fn,))
    gt = T.fx.GraphModule(mt, tt.trace(mt))
    gf = FL.fx.GraphModule(mf, tf.trace(mf))
    assert gf.code == gt.code
    assert 'wrap("math_sqrt")' in gf.code
    assert [n.target for n in gf.graph.nodes if n.op == "call_function"][-2:] == [_helper, halve_fn]
    _run_both(gt, gf, _rand(2, 4))

    class LeafAll(FL.fx.Tracer):
        def is_leaf_module(self, m, qualname):
            return True
    g = LeafAll().trace(_cnn(FL))
    assert [n.op for n in g.nodes].count("call_module") == 4  # stem, layers, pool, fc


# ---------------------------------------------------------------- PyTorch's FX tutorials
def _relu_to_gelu(lib, gm):
    torch, nn, F = lib.torch, lib.nn, lib.F
    for node in gm.graph.nodes:
        if node.op == "call_function" and node.target in (torch.relu, F.relu):
            node.target = torch.sigmoid
            node.kwargs = {}
        elif node.op == "call_module" and isinstance(gm.get_submodule(node.target), nn.ReLU):
            with gm.graph.inserting_after(node):
                new = gm.graph.call_function(F.gelu, node.args)
            node.replace_all_uses_with(new)
            gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    return gm


def test_tutorial_replace_activations():
    mt, mf = _pair(_cnn)
    gt = _relu_to_gelu(T, T.fx.symbolic_trace(mt))
    gf = _relu_to_gelu(FL, FL.fx.symbolic_trace(mf))
    # (PyTorch spells F.gelu `torch._C._nn.gelu`: it is a C builtin there)
    assert gf.code == gt.code.replace("torch._C._nn.gelu", "torch.nn.functional.gelu")
    _run_both(gt, gf, _rand(2, 3, 5, 5))


def _fuse(lib, model):
    torch, nn, fx = lib.torch, lib.nn, lib.fx

    def _parent_name(target):
        *parent, name = target.rsplit(".", 1)
        return parent[0] if parent else "", name

    def replace_node_module(node, modules, new_module):
        parent_name, name = _parent_name(node.target)
        modules[node.target] = new_module
        setattr(modules[parent_name], name, new_module)

    def fuse_conv_bn_eval(conv, bn):
        fused_conv = copy.deepcopy(conv)
        w, b = fused_conv.weight, fused_conv.bias
        if b is None:
            b = torch.zeros_like(bn.running_mean)
        bn_var_rsqrt = torch.rsqrt(bn.running_var + bn.eps)
        w = w * (bn.weight * bn_var_rsqrt).reshape([-1] + [1] * (len(w.shape) - 1))
        b = (b - bn.running_mean) * bn_var_rsqrt * bn.weight + bn.bias
        fused_conv.weight, fused_conv.bias = torch.nn.Parameter(w), torch.nn.Parameter(b)
        return fused_conv

    model = copy.deepcopy(model)
    fx_model = fx.symbolic_trace(model)
    modules = dict(fx_model.named_modules())
    for node in fx_model.graph.nodes:
        if node.op != "call_module":
            continue
        if type(modules[node.target]) is nn.BatchNorm2d and isinstance(node.args[0], fx.Node) and \
                node.args[0].op == "call_module" and type(modules[node.args[0].target]) is nn.Conv2d:
            if len(node.args[0].users) > 1:
                continue
            fused = fuse_conv_bn_eval(modules[node.args[0].target], modules[node.target])
            replace_node_module(node.args[0], modules, fused)
            node.replace_all_uses_with(node.args[0])
            fx_model.graph.erase_node(node)
    fx_model.graph.lint()
    fx_model.delete_all_unused_submodules()
    fx_model.recompile()
    return fx_model


def test_tutorial_conv_bn_fusion_eval():
    mt, mf = _pair(_cnn)
    for m, lib in ((mt, T), (mf, FL)):  # non-trivial running statistics
        with lib.torch.no_grad():
            m.train()
            m(lib.torch.from_numpy(np.random.standard_normal((4, 3, 5, 5)).astype(np.float32) + 0.5))
    _copy_state(mt, mf, FL)
    mt.eval()
    mf.eval()
    ft, ff = _fuse(T, mt), _fuse(FL, mf)
    assert ff.code == ft.code
    assert sorted(n for n, _ in ff.named_modules()) == sorted(n for n, _ in ft.named_modules())
    a = _rand(2, 3, 5, 5)
    with flambeau.no_grad():
        _assert_close(ft(torch.from_numpy(a)), ff(flambeau.from_numpy(a)))
        _assert_close(mt(torch.from_numpy(a)), ff(flambeau.from_numpy(a)))


def _profiler(lib):
    class ProfilingInterpreter(lib.fx.Interpreter):
        def __init__(self, mod):
            super().__init__(lib.fx.symbolic_trace(mod))
            self.total_runtime_sec = []
            self.runtimes_sec = {}

        def run(self, *args):
            import time
            t_start = time.time()
            return_val = super().run(*args)
            self.total_runtime_sec.append(time.time() - t_start)
            return return_val

        def run_node(self, n):
            import time
            t_start = time.time()
            return_val = super().run_node(n)
            self.runtimes_sec.setdefault(n.name, []).append(time.time() - t_start)
            return return_val
    return ProfilingInterpreter


def test_tutorial_profiling_interpreter():
    mt, mf = _pair(_cnn)
    it, i_f = _profiler(T)(mt), _profiler(FL)(mf)
    _run_both(it.run, i_f.run, _rand(2, 3, 5, 5), modules=(it.module, i_f.module))
    assert list(i_f.runtimes_sec) == list(it.runtimes_sec)
    assert len(i_f.total_runtime_sec) == 1


def test_transformer_swaps_neg_and_sigmoid():
    def make(lib):
        torch = lib.torch

        class NegSigmSwap(lib.fx.Transformer):
            def call_function(self, target, args, kwargs):
                if target == torch.neg:
                    call_self, *args_tail = args
                    return call_self.sigmoid(*args_tail, **kwargs)
                return super().call_function(target, args, kwargs)

            def call_method(self, target, args, kwargs):
                if target == "sigmoid":
                    call_self, *args_tail = args
                    return torch.neg(call_self, *args_tail, **kwargs)
                return super().call_method(target, args, kwargs)

        def fn(x):
            return torch.sigmoid(x).neg() + torch.neg(x).sigmoid()
        return NegSigmSwap(lib.fx.symbolic_trace(fn)).transform()
    gt, gf = make(T), make(FL)
    assert gf.code == gt.code
    _run_both(gt, gf, _rand(6))


def test_shape_prop_and_verbose_print_readable():
    from flambeau.fx.passes.shape_prop import ShapeProp as SF
    from torch.fx.passes.shape_prop import ShapeProp as ST
    mt, mf, gt, gf = _trace_both(_cnn)
    a = _rand(2, 3, 5, 5)
    ST(gt).propagate(torch.from_numpy(a))
    SF(gf).propagate(flambeau.from_numpy(a))
    for nt, nf in zip(gt.graph.nodes, gf.graph.nodes):
        mt_, mf_ = nt.meta.get("tensor_meta"), nf.meta.get("tensor_meta")
        assert (mt_ is None) == (mf_ is None)
        if mt_ is not None:
            assert tuple(mf_.shape) == tuple(mt_.shape) and mf_.stride == mt_.stride
            assert str(mf_.dtype).split(".")[-1] == str(mt_.dtype).split(".")[-1]
            assert mf_.requires_grad == mt_.requires_grad
    assert gf.print_readable(print_output=False) == gt.print_readable(print_output=False)


# ---------------------------------------------------------------- graph editing
def _edit(lib):
    torch, fx = lib.torch, lib.fx

    def f(x, y):
        a = torch.add(x, y)
        b = a.contiguous()
        unused = torch.exp(b)  # noqa: F841
        return b * 2
    gm = fx.symbolic_trace(f)
    g = gm.graph
    for n in list(g.nodes):
        if n.op == "call_method" and n.target == "contiguous":
            n.replace_all_uses_with(n.args[0])
            g.erase_node(n) if not n.users else None
    out = next(n for n in g.nodes if n.op == "output")
    with g.inserting_before(out):
        extra = g.call_function(torch.mul, (out.args[0], 3.0))
        g.create_node("call_method", "relu", (extra,), name="dead_relu")
    out.args = (extra,)
    changed = g.eliminate_dead_code()
    g.lint()
    gm.recompile()
    return gm, changed


def test_graph_editing_dce_lint():
    (gt, ct), (gf, cf) = _edit(T), _edit(FL)
    assert cf == ct
    assert gf.code == gt.code
    assert str(gf.graph) == str(gt.graph)
    _run_both(gt, gf, _rand(3), _rand(3))


def test_lint_and_erase_errors_match_pytorch():
    for lib in (T, FL):
        g = lib.fx.Graph()
        x = g.placeholder("x")
        y = g.call_function(lib.torch.relu, (x,))
        g.output(y)
        with pytest.raises(RuntimeError, match="still had 1 users"):
            g.erase_node(x)
        with g.inserting_before(x):
            bad = g.call_function(lib.torch.neg, (y,))
        with pytest.raises(RuntimeError, match="used before it has been defined"):
            g.lint()
        g.erase_node(bad)
        g.lint()


def test_graph_built_by_hand_and_deepcopy():
    def build(lib):
        g = lib.fx.Graph()
        a, b = g.placeholder("a"), g.placeholder("b")
        c = g.create_node("call_function", operator.mul, (a, b), name="prod")
        d = g.call_function(lib.torch.sum, (c,), {"dim": 0})
        g.output((c, d))
        return lib.fx.GraphModule(lib.nn.Module(), g)
    gt, gf = build(T), build(FL)
    assert gf.code == gt.code and str(gf.graph) == str(gt.graph)
    _run_both(gt, gf, _rand(2, 3), _rand(2, 3))
    mf = _mlp(FL)
    gm = FL.fx.symbolic_trace(mf)
    gm2 = copy.deepcopy(gm)
    assert gm2.code == gm.code and gm2.fc1.weight is not gm.fc1.weight
    a = flambeau.from_numpy(_rand(2, 7))
    np.testing.assert_array_equal(_np(gm(a)), _np(gm2(a)))


def test_replace_pattern():
    def make(lib):
        torch = lib.torch

        class M(torch.nn.Module):
            def forward(self, x, w1, w2):
                m1 = torch.cat([w1, w2]).sum()
                m2 = torch.cat([w1, w2]).sum()
                return x + torch.max(m1) + torch.max(m2)

        def pattern(w1, w2):
            return torch.cat([w1, w2]).sum()

        def replacement(w1, w2):
            return torch.stack([w1, w2])
        gm = lib.fx.symbolic_trace(M())
        matches = lib.fx.replace_pattern(gm, pattern, replacement)

        class N(torch.nn.Module):
            def forward(self, a):
                b = torch.relu(a) * 2
                c = torch.relu(b) * 2
                return b + c + torch.relu(c) * 3
        gn = lib.fx.symbolic_trace(N())
        n2 = lib.fx.replace_pattern(gn, lambda x: torch.relu(x) * 2, lambda x: torch.sigmoid(x) + x)
        return gm, matches, gn, n2
    gt, mt, nt, n2t = make(T)
    gf, mf, nf, n2f = make(FL)
    assert gf.code == gt.code and nf.code == nt.code
    assert len(mf) == len(mt) == 2 and len(n2f) == len(n2t) == 2
    assert sorted((k.name, v.name) for k, v in mf[1].nodes_map.items()) == \
        sorted((k.name, v.name) for k, v in mt[1].nodes_map.items())
    _run_both(gt, gf, _rand(2), _rand(2), _rand(2))
    _run_both(nt, nf, _rand(4))


# ---------------------------------------------------------------- leaf modules with tuple outputs, containers, constants
def _encoder(lib):
    torch, nn = lib.torch, lib.nn

    class Enc(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(11, 8)
            self.layers = nn.ModuleList([nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
                                         for _ in range(2)])
            self.lstm = nn.LSTM(8, 8, batch_first=True)
            self.heads = nn.ModuleDict({"a": nn.Linear(8, 3), "b": nn.Linear(8, 2)})
            self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, tok):
            x = self.emb(tok)
            n = x.size(1)
            causal = torch.triu(x.new_ones(n, n), diagonal=1).bool()
            for layer in self.layers:
                x = layer(x, src_mask=causal)
            out, (h, c) = self.lstm(x)
            att, w = self.mha(out, out, out, need_weights=True)
            pooled = att.masked_fill(att > 1.0, float("-inf")).clamp(min=-5).mean(1)
            return {k: head(pooled) for k, head in self.heads.items()}, h[-1], w
    return Enc()


def test_encoder_with_leaf_tuple_outputs_and_containers():
    mt, mf, gt, gf = _trace_both(_encoder)
    gt.eval()
    gf.eval()
    tok = np.random.randint(0, 11, (2, 5)).astype(np.int64)
    with torch.no_grad(), flambeau.no_grad():
        ot, of = gt(torch.from_numpy(tok)), gf(flambeau.from_numpy(tok))
    assert ot[0].keys() == of[0].keys()
    for k in ot[0]:
        _assert_close(ot[0][k], of[0][k])
    _assert_close(ot[1:], of[1:])


def _constants(lib):
    torch, nn = lib.torch, lib.nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("pe", torch.arange(24.0).reshape(1, 4, 6) / 24)
            self.w = nn.Parameter(torch.ones(6) * 0.5)
            self.k = torch.full((6,), 2.0)  # a plain tensor attribute

        def forward(self, x):
            x = x + self.pe[:, :2]  # (indexed outside the graph: a constant, as in PyTorch)
            y = self.w.mul(x) + self.k.expand_as(x)  # real tensors' methods given a Proxy record call_method
            return y * math.sqrt(6) + self.k
    return M()


def test_tensor_constants_attributes_and_methods_of_real_tensors():
    mt, mf, gt, gf = _trace_both(_constants)
    assert sorted(gf.state_dict()) == sorted(gt.state_dict())
    _run_both(gt, gf, _rand(2, 2, 6))


def test_functions_imported_by_name_are_recorded():
    # `from torch.nn.functional import relu` at the top of a script: the name in the module's globals
    ns_t, ns_f = {}, {}
    src = ("from {lib}.nn.functional import relu, softmax\nfrom {lib} import flatten\n"
           "import {lib}.nn as nn\n"
           "class Inner(nn.Module):\n    def forward(self, x):\n        return softmax(x, dim=-1)\n"
           "class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.inner = Inner()\n"
           "    def forward(self, x):\n        return self.inner(flatten(relu(x), 1))\n")
    exec(src.format(lib="torch"), ns_t)
    exec(src.format(lib="flambeau"), ns_f)
    gt, gf = T.fx.symbolic_trace(ns_t["M"]()), FL.fx.symbolic_trace(ns_f["M"]())
    assert gf.code == gt.code
    assert ns_f["relu"] is flambeau.nn.functional.relu  # restored
    _run_both(gt, gf, _rand(2, 3, 4))


def test_erasing_the_next_node_while_iterating_and_unbound_method_error():
    def f(x):
        return x.relu().neg().exp().sigmoid() + 1

    def edit(lib):
        gm = lib.fx.symbolic_trace(f)
        for n in gm.graph.nodes:
            if n.op == "call_method" and n.target == "relu":
                nxt = n.next
                nxt.replace_all_uses_with(n)
                gm.graph.erase_node(nxt)
        gm.recompile()
        return gm
    gt, gf = edit(T), edit(FL)
    assert gf.code == gt.code and len(gf.graph.nodes) == len(gt.graph.nodes) == 6
    _run_both(gt, gf, _rand(5))

    def unbound(lib):
        return lambda x: lib.torch.Tensor.sigmoid(x)
    with pytest.raises(TypeError, match="descriptor 'sigmoid'"):
        T.fx.symbolic_trace(unbound(T))
    with pytest.raises(TypeError, match="descriptor 'sigmoid'"):
        FL.fx.symbolic_trace(unbound(FL))


# PyTorch's Python F functions hand __torch_function__ their defaulted parameters as keywords, so fx
# records F.relu(x) as relu(x, inplace=False); flambeau records the same arguments.
_F_CALLS = {
    "max_pool2d": lambda F, x: F.max_pool2d(x, 2),
    "adaptive_avg_pool2d": lambda F, x: F.adaptive_avg_pool2d(x, 1),
    "interpolate": lambda F, x: F.interpolate(x, scale_factor=2),
    "silu": lambda F, x: F.silu(x),
    "leaky_relu": lambda F, x: F.leaky_relu(x, 0.2),
    "normalize": lambda F, x: F.normalize(x, dim=1),
    "pad": lambda F, x: F.pad(x, (1, 1)),
    "softmax": lambda F, x: F.softmax(x, 1),
    "log_softmax": lambda F, x: F.log_softmax(x, dim=1),
    "layer_norm": lambda F, x: F.layer_norm(x, (4,)),
    "group_norm": lambda F, x: F.group_norm(x, 1),
    "batch_norm": lambda F, x: F.batch_norm(x, None, None, training=True),
    "mse_loss": lambda F, x: F.mse_loss(x, x * 2),
    "cross_entropy": lambda F, x: F.cross_entropy(x.flatten(1), x.flatten(1).softmax(-1)),
    "sigmoid_tanh": lambda F, x: F.tanh(F.sigmoid(x)),
    "hardswish_mish": lambda F, x: F.mish(F.hardswish(x)),
    "conv2d": lambda F, x: F.conv2d(x, x[:1]),
    "glu": lambda F, x: F.glu(x, dim=1),
}


@pytest.mark.parametrize("name", sorted(_F_CALLS))
def test_functional_calls_record_pytorchs_arguments(name):
    fn = _F_CALLS[name]
    gt = T.fx.symbolic_trace(lambda x: fn(T.F, x))
    gf = FL.fx.symbolic_trace(lambda x: fn(FL.F, x))
    assert str(gf.graph) == str(gt.graph)
    _run_both(gt, gf, _rand(2, 2, 4, 4))


def test_dead_code_elimination_keeps_what_pytorch_keeps():
    def make(lib):
        torch = lib.torch

        def f(x, flag):
            y = x.clone()
            y.add_(1)  # a method: pure to PyTorch's DCE, removed
            torch.relu(x)
            noise = torch.rand_like(x)  # RNG state moves: kept  # noqa: F841
            return y
        gm = lib.fx.symbolic_trace(f, concrete_args={"flag": True})  # torch._assert: kept
        changed = gm.graph.eliminate_dead_code()
        gm.recompile()
        return gm, changed
    (gt, ct), (gf, cf) = make(T), make(FL)
    assert cf == ct and gf.code == gt.code
    assert "torch._assert" in gf.code and "torch.rand_like(x)" in gf.code and "add_" not in gf.code


def test_feature_extraction_by_rewiring_the_output():
    def extract(lib, model):
        gm = lib.fx.symbolic_trace(model)
        nodes = {n.name: n for n in gm.graph.nodes}
        out = next(n for n in gm.graph.nodes if n.op == "output")
        out.args = ({"stem": nodes["stem_2"], "block0": nodes["relu_1"]},)
        gm.graph.eliminate_dead_code()
        gm.delete_all_unused_submodules()
        gm.recompile()
        return gm
    mt, mf = _pair(_cnn)
    gt, gf = extract(T, mt), extract(FL, mf)
    assert gf.code == gt.code
    assert sorted(n for n, _ in gf.named_modules()) == sorted(n for n, _ in gt.named_modules())
    a = _rand(2, 3, 5, 5)
    ot, of = gt(torch.from_numpy(a)), gf(flambeau.from_numpy(a))
    assert ot.keys() == of.keys()
    for k in ot:
        _assert_close(ot[k], of[k])

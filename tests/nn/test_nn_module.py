"""nn.Module semantics against PyTorch: registration, traversal, modes, conversion, state_dict keys
and strict loading, hooks, containers and __repr__."""
import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch

import flambeau
from flambeau import nn
from nn_helpers import assert_close, check_module, copy_state, t2f, to_np


def build(lib):
    """The same composite model in torch or flambeau (layer types covering every registration
    path: parameters, persistent and non-persistent buffers, nested containers)."""
    n = lib.nn

    class Block(n.Module):
        def __init__(self):
            super().__init__()
            self.conv = n.Conv2d(3, 4, 3, padding=1, bias=False)
            self.bn = n.BatchNorm2d(4)
            self.act = n.PReLU(4)
            self.register_buffer("scale", lib.ones(1))
            self.register_buffer("cache", lib.zeros(2), persistent=False)

        def forward(self, x):
            return self.act(self.bn(self.conv(x))) * self.scale

    class Net(n.Module):
        def __init__(self):
            super().__init__()
            self.features = n.Sequential(Block(), n.MaxPool2d(2), n.Dropout(0.1))
            self.heads = n.ModuleList([n.Linear(16, 5), n.Linear(16, 5, bias=False)])
            self.norms = n.ModuleDict({"ln": n.LayerNorm(5), "gn": n.GroupNorm(1, 5)})
            self.emb = n.Embedding(7, 3, padding_idx=0)
            self.flat = n.Flatten()

        def forward(self, x):
            h = self.flat(self.features(x).mean(1))
            return self.norms["ln"](self.heads[0](h) + self.heads[1](h))

    return Net()


def test_state_dict_keys_and_order_match_pytorch():
    fm, tm = build(flambeau), build(torch)
    assert list(fm.state_dict().keys()) == list(tm.state_dict().keys())
    assert [n for n, _ in fm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in fm.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert [n for n, _ in fm.named_modules()] == [n for n, _ in tm.named_modules()]
    assert [n for n, _ in fm.named_children()] == [n for n, _ in tm.named_children()]
    for (fk, fv), (tk, tv) in zip(fm.state_dict().items(), tm.state_dict().items()):
        assert tuple(fv.shape) == tuple(tv.shape), fk
        assert str(fv.dtype).split(".")[-1] == str(tv.dtype).split(".")[-1], fk
    assert "features.0.cache" not in fm.state_dict()
    assert fm.state_dict()._metadata.keys() == tm.state_dict()._metadata.keys()


def test_repr_matches_pytorch():
    assert repr(build(flambeau)) == repr(build(torch))
    fl = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.ReLU()])
    tl = torch.nn.ModuleList([torch.nn.Linear(2, 2) for _ in range(3)] + [torch.nn.ReLU()])
    assert repr(fl) == repr(tl)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())
    assert repr(nn.Sequential()) == repr(torch.nn.Sequential())


def test_forward_backward_of_composite_model_matches_pytorch():
    fm, tm = build(flambeau), build(torch)
    x = np.random.randn(2, 3, 8, 8).astype(np.float32)
    check_module(tm.eval(), fm.eval(), [x])
    fm.train(), tm.train()
    fm.features[2].p = tm.features[2].p = 0.0  # dropout off for an exact comparison
    check_module(tm, fm, [x], copy=False)


def test_state_dict_round_trip_and_values():
    tm = build(torch)
    fm = copy_state(tm, build(flambeau))
    for k, v in tm.state_dict().items():
        assert_close(fm.state_dict()[k], v, "float64", k)
    fm2 = build(flambeau)
    result = fm2.load_state_dict(fm.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for k, v in fm.state_dict().items():
        assert np.array_equal(to_np(fm2.state_dict()[k]), to_np(v))


def test_state_dict_detaches_and_keep_vars():
    m = nn.Linear(2, 3)
    sd = m.state_dict()
    assert not sd["weight"].requires_grad
    assert sd["weight"].data_ptr() == m.weight.data_ptr()  # shares memory, like PyTorch
    assert m.state_dict(keep_vars=True)["weight"] is m.weight
    sd2 = m.state_dict(prefix="p.")
    assert list(sd2.keys()) == ["p.weight", "p.bias"]


def _error_text(fn):
    with pytest.raises(RuntimeError) as e:
        fn()
    return str(e.value)


def test_strict_loading_errors_match_pytorch():
    fm, tm = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)), \
        torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    tsd = {k: v.clone() for k, v in tm.state_dict().items()}
    del tsd["1.bias"]
    tsd["extra"] = torch.zeros(1)
    tsd["1.weight"] = torch.zeros(2, 3)
    fsd = {k: t2f(v) for k, v in tsd.items()}
    fmsg = _error_text(lambda: fm.load_state_dict(fsd))
    tmsg = _error_text(lambda: tm.load_state_dict(tsd))
    assert fmsg.replace("flambeau.Size", "torch.Size") == tmsg
    assert 'Missing key(s) in state_dict: "1.bias"' in fmsg
    assert 'Unexpected key(s) in state_dict: "extra"' in fmsg
    assert "size mismatch for 1.weight" in fmsg


def test_non_strict_loading_reports_keys():
    fm = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    sd = {k: v for k, v in fm.state_dict().items() if k != "0.bias"}
    sd["junk.weight"] = flambeau.zeros(1)
    before = to_np(fm[0].bias).copy()
    res = fm.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["0.bias"]
    assert res.unexpected_keys == ["junk.weight"]
    assert np.array_equal(to_np(fm[0].bias), before)
    # a shape mismatch is an error even when strict=False
    bad = dict(fm.state_dict())
    bad["0.weight"] = flambeau.zeros(5, 5)
    with pytest.raises(RuntimeError, match="size mismatch for 0.weight"):
        fm.load_state_dict(bad, strict=False)


def test_load_state_dict_copies_in_place_or_assigns():
    m = nn.Linear(2, 2)
    w = m.weight
    new = {"weight": flambeau.ones(2, 2), "bias": flambeau.zeros(2)}
    m.load_state_dict(new)
    assert m.weight is w and float(m.weight.sum()) == 4.0
    m.load_state_dict(new, assign=True)
    assert isinstance(m.weight, nn.Parameter) and m.weight.requires_grad
    assert m.weight is not w


def test_batchnorm_old_checkpoint_without_num_batches_tracked():
    bn = nn.BatchNorm1d(3)
    sd = OrderedDict((k, v) for k, v in bn.state_dict().items() if k != "num_batches_tracked")
    sd._metadata = OrderedDict({"": {"version": 1}})
    bn.load_state_dict(sd)  # version 1 checkpoints may lack it
    sd._metadata = OrderedDict({"": {"version": 2}})
    with pytest.raises(RuntimeError, match="num_batches_tracked"):
        bn.load_state_dict(sd)


def test_attribute_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(flambeau.ones(2))
    m.sub = nn.Linear(1, 1)
    m.register_buffer("buf", flambeau.zeros(1))
    m.plain = flambeau.zeros(3)          # plain tensors are not registered
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"]
    assert list(m._buffers) == ["buf"]
    assert "plain" not in dict(m.named_buffers())
    with pytest.raises(TypeError, match="cannot assign"):
        m.w = flambeau.zeros(2)          # a parameter slot takes Parameters or None
    m.w = None
    assert m.w is None and list(m.parameters(recurse=False)) == []
    m.buf = flambeau.ones(1)             # re-assigning a buffer keeps it a buffer
    assert float(m.buf) == 1.0 and "buf" in m._buffers
    m.b2 = nn.Buffer(flambeau.ones(2), persistent=False)
    assert "b2" in m._buffers and "b2" not in m.state_dict()
    with pytest.raises(KeyError):
        m.register_parameter("a.b", None)
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("sub", flambeau.zeros(1))
    with pytest.raises(TypeError):
        m.add_module("x", 3)
    del m.sub
    assert "sub" not in m._modules
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        m.nothing
    with pytest.raises(AttributeError, match="before Module.__init__"):
        class Bad(nn.Module):
            def __init__(self):
                self.p = nn.Parameter(flambeau.ones(1))
        Bad()


def test_shared_parameters_and_modules_are_deduplicated():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.named_parameters(remove_duplicate=False))) == 4
    assert len(list(seq.modules())) == 3
    assert list(seq.state_dict().keys()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_get_submodule_parameter_buffer():
    m = build(flambeau)
    assert m.get_submodule("features.0.conv") is m.features[0].conv
    assert m.get_parameter("heads.0.weight") is m.heads[0].weight
    assert m.get_buffer("features.0.bn.running_mean") is m.features[0].bn.running_mean
    with pytest.raises(AttributeError):
        m.get_submodule("features.9")
    new = nn.Identity()
    m.set_submodule("features.1", new)
    assert m.features[1] is new


def test_train_eval_requires_grad_and_apply():
    m = build(flambeau)
    m.eval()
    assert all(not mod.training for mod in m.modules())
    m.train()
    assert all(mod.training for mod in m.modules())
    m.requires_grad_(False)
    assert all(not p.requires_grad for p in m.parameters())
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == "Net" and seen[0] == "Conv2d"  # children first, like PyTorch

    def init(mod):
        if isinstance(mod, nn.Linear):
            nn.init.constant_(mod.weight, 0.5)
    m.apply(init)
    assert float(m.heads[0].weight.mean()) == 0.5


def test_zero_grad():
    m = nn.Linear(3, 2)
    m(flambeau.ones(1, 3)).sum().backward()
    assert m.weight.grad is not None
    m.zero_grad(set_to_none=False)
    assert float(m.weight.grad.abs().sum()) == 0.0
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_to_dtype_keeps_parameter_identity():
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    w = m[0].weight
    m.double()
    assert m[0].weight is w and w.dtype == flambeau.float64
    assert m[1].running_mean.dtype == flambeau.float64
    assert m[1].num_batches_tracked.dtype == flambeau.int64  # integer buffers keep their dtype
    m.to(flambeau.float32)
    assert w.dtype == flambeau.float32
    m.to("cpu")
    m.cpu()
    m.float()
    with pytest.raises(TypeError):
        m.to(flambeau.int64)
    x = flambeau.randn(4, 2, dtype=flambeau.float64)
    m.to(x)
    assert w.dtype == flambeau.float64


def test_to_device(device):
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    w = m[0].weight
    m.to(device)
    assert m[0].weight is w
    assert str(w.device).startswith(device)
    assert str(m[1].running_var.device).startswith(device)
    out = m(flambeau.randn(4, 2, device=device))
    assert str(out.device).startswith(device)
    m.cpu()
    assert str(w.device) == "cpu"


def test_forward_hooks():
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: calls.append("pre"))
    h2 = m.register_forward_hook(lambda mod, args, out: out * 0)
    h3 = m.register_forward_pre_hook(lambda mod, args, kwargs: (args, kwargs), with_kwargs=True,
                                     prepend=True)
    h4 = m.register_forward_hook(lambda mod, args, kwargs, out: calls.append("post_kw"),
                                 with_kwargs=True)
    out = m(flambeau.ones(1, 2))
    assert calls == ["pre", "post_kw"]
    assert float(out.abs().sum()) == 0.0
    for h in (h1, h2, h3, h4):
        h.remove()
    out = m(flambeau.ones(1, 2))
    assert float(out.abs().sum()) > 0 and calls == ["pre", "post_kw"]
    # a pre-hook may replace the input
    m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    assert_close(m(flambeau.ones(1, 2)), m.bias.detach().reshape(1, 2))
    # always_call hooks run when forward raises
    got = []
    m2 = nn.Linear(2, 2)
    m2.register_forward_hook(lambda mod, a, o: got.append(o), always_call=True)
    with pytest.raises(Exception):
        m2(flambeau.ones(1, 5))
    assert got == [None]


def test_sequential_container_operations():
    a, b, c = nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c
    assert isinstance(s[1:], nn.Sequential) and list(s[1:]) == [b, c]
    s2 = nn.Sequential(OrderedDict([("first", a), ("act", b)]))
    assert s2.first is a and list(s2.state_dict()) == ["first.weight", "first.bias"]
    s.append(nn.Tanh())
    assert len(s) == 4
    del s[1]
    assert [type(m).__name__ for m in s] == ["Linear", "Linear", "Tanh"]
    assert list(s._modules) == ["0", "1", "2"]
    s.insert(1, nn.ReLU())
    assert type(s[1]).__name__ == "ReLU"
    s[0] = nn.Identity()
    assert type(s[0]).__name__ == "Identity"
    assert len(s + nn.Sequential(nn.ReLU())) == 5
    out = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))(flambeau.randn(4, 2))
    assert tuple(out.shape) == (4, 1)


def test_modulelist_and_moduledict():
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh(), nn.Sigmoid()])
    ml.insert(0, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "Linear", "ReLU", "Tanh", "Sigmoid"]
    assert len(ml[1:3]) == 2 and isinstance(ml[1:3], nn.ModuleList)
    del ml[0]
    assert type(ml[0]).__name__ == "Linear" and list(ml._modules) == ["0", "1", "2", "3"]
    assert len(list(ml.parameters())) == 2
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    md["b"] = nn.ReLU()
    md.update([("c", nn.Tanh())])
    assert list(md.keys()) == ["a", "b", "c"] and "b" in md and len(md) == 3
    assert md.pop("b") is not None and list(md) == ["a", "c"]
    pl = nn.ParameterList([nn.Parameter(flambeau.ones(1)), flambeau.zeros(2)])
    assert all(isinstance(p, nn.Parameter) for p in pl)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1"]
    pd = nn.ParameterDict({"x": flambeau.ones(1)})
    assert isinstance(pd["x"], nn.Parameter) and list(dict(pd.named_parameters())) == ["x"]


def test_identity_flatten_unflatten():
    x = flambeau.randn(2, 3, 4, 5)
    tx = torch.from_numpy(to_np(x))
    assert nn.Identity(54, unused="x")(x) is x
    assert_close(nn.Flatten()(x), torch.nn.Flatten()(tx))
    assert_close(nn.Flatten(0, 2)(x), torch.nn.Flatten(0, 2)(tx))
    assert_close(nn.Unflatten(1, (3, 1))(x), torch.nn.Unflatten(1, (3, 1))(tx))
    assert_close(nn.Unflatten(-1, (-1, 5))(x), torch.nn.Unflatten(-1, (-1, 5))(tx))
    assert repr(nn.Unflatten(1, (3, 1))) == repr(torch.nn.Unflatten(1, (3, 1)))
    with pytest.raises(TypeError):
        nn.Unflatten(1, 3)
    with pytest.raises(RuntimeError):
        nn.Unflatten(1, (2, 2))(x)


def test_parameter_basics():
    p = nn.Parameter(flambeau.ones(2, 2))
    assert p.requires_grad and p.is_leaf and isinstance(p, flambeau.Tensor)
    assert repr(p).startswith("Parameter containing:\n")
    q = nn.Parameter(flambeau.ones(2), requires_grad=False)
    assert not q.requires_grad
    data = flambeau.zeros(3)
    r = nn.Parameter(data)
    assert r.data_ptr() == data.data_ptr()  # shares memory
    assert tuple(nn.Parameter().shape) == (0,)
    y = (p * 2).sum()
    assert not isinstance(p * 2, nn.Parameter)
    y.backward()
    assert_close(p.grad, np.full((2, 2), 2.0, np.float32))


def test_deepcopy_module():
    m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    m2 = copy.deepcopy(m)
    assert m2[0].weight is not m[0].weight
    assert isinstance(m2[0].weight, nn.Parameter)
    assert np.array_equal(to_np(m2[0].weight), to_np(m[0].weight))
    with flambeau.no_grad():
        m2[0].weight.add_(1)
    assert not np.array_equal(to_np(m2[0].weight), to_np(m[0].weight))


def test_extra_state():
    class WithExtra(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(1, 1)
            self.counter = 3

        def get_extra_state(self):
            return {"counter": self.counter}

        def set_extra_state(self, state):
            self.counter = state["counter"]

    a, b = WithExtra(), WithExtra()
    a.counter = 7
    sd = a.state_dict()
    assert list(sd) == ["_extra_state", "lin.weight", "lin.bias"]  # own state first, as PyTorch
    b.load_state_dict(sd)
    assert b.counter == 7


def test_dir_and_named_modules_prefix():
    m = nn.Sequential(nn.Linear(1, 1))
    assert "0" not in dir(m)
    assert [n for n, _ in m.named_modules(prefix="model")] == ["model", "model.0"]
    assert [n for n, _ in m.named_parameters(prefix="x")] == ["x.0.weight", "x.0.bias"]

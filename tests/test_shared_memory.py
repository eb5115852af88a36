"""Tensors in shared memory across processes (flambeau/_shared_memory.py): share_memory_() in place, fork and
spawn processes and Queues seeing one another's writes, Hogwild training of a shared model (the same weights as
PyTorch's Hogwild run one process after another), and what stays by value (ordinary pickling, non-leaf tensors
that require grad are refused as PyTorch refuses them)."""
import multiprocessing as std_mp
import pickle

import numpy as np
import pytest
import torch

import flambeau
import shared_memory_workers as workers

TIMEOUT = 120


def _run(ctx, target, *args):
    p = ctx.Process(target=target, args=args)
    p.start()
    p.join(TIMEOUT)
    assert p.exitcode == 0, f"worker exit code {p.exitcode}"


def test_share_memory_in_place_keeps_views_and_values():
    t = flambeau.arange(10.0)
    v = t[2:6]
    assert not t.is_shared() and not v.is_shared()
    assert t.share_memory_() is t
    assert t.is_shared() and v.is_shared()
    np.testing.assert_array_equal(t.numpy(), np.arange(10.0, dtype=np.float32))
    v.fill_(-1)  # the view writes into the shared pages too
    assert t[2:6].tolist() == [-1.0] * 4
    assert t.share_memory_() is t and t.untyped_storage().is_shared()
    assert t.storage().is_shared()


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool", "bfloat16", "uint8"])
@pytest.mark.parametrize("start", ["spawn", "fork"])
def test_process_writes_reach_the_parent(dtype, start):
    ctx = std_mp.get_context(start)
    t = flambeau.zeros(3, 5, dtype=getattr(flambeau, dtype))
    t.share_memory_()
    _run(ctx, workers.add_in_place, t[1], True if dtype == "bool" else 2)
    expected = np.zeros((3, 5), dtype=np.float32)
    expected[1] = 1 if dtype == "bool" else 2
    np.testing.assert_array_equal(t.float().numpy(), expected)


def test_spawn_argument_is_moved_to_shared_memory_as_pytorch_does():
    # PyTorch moves a CPU tensor to shared memory when multiprocessing pickles it: the child's write is seen
    for lib in (torch, flambeau):
        t = lib.zeros(4)
        _run(std_mp.get_context("spawn"), workers.add_in_place, t, 3)
        assert t.tolist() == [3.0] * 4 and t.is_shared(), lib.__name__


def test_fork_without_sharing_stays_private():
    t = flambeau.zeros(4)
    _run(std_mp.get_context("fork"), workers.add_in_place, t, 3)  # fork: no pickling, copy-on-write pages
    assert t.tolist() == [0.0] * 4 and not t.is_shared()


def test_queue_hands_over_views_and_parameters():
    ctx = std_mp.get_context("spawn")
    q, out = ctx.Queue(), ctx.Queue()
    base = flambeau.arange(24.0).reshape(4, 6)
    view = base.t()[1:4]  # non-contiguous, with an offset
    p = ctx.Process(target=workers.describe, args=(view, out))
    p.start()
    got = out.get(timeout=TIMEOUT)
    p.join(TIMEOUT)
    assert got == ("Tensor", (3, 4), (1, 6), 1, False, True, float(view.sum()))
    param = flambeau.nn.Parameter(flambeau.ones(2, 3))
    p = ctx.Process(target=workers.describe, args=(param, out))
    p.start()
    got = out.get(timeout=TIMEOUT)
    p.join(TIMEOUT)
    assert got == ("Parameter", (2, 3), (3, 1), 0, True, True, 6.0)
    t = flambeau.zeros(2, 2)
    p = ctx.Process(target=workers.fill_from_queue, args=(q, out))
    p.start()
    q.put(t)
    assert out.get(timeout=TIMEOUT) == (2, 2)
    p.join(TIMEOUT)
    assert t.tolist() == [[7.0, 7.0], [7.0, 7.0]]


def test_hogwild_training_updates_the_shared_model_like_pytorch():
    # pytorch/examples' mnist_hogwild pattern: model.share_memory(), then processes train it in place; run one
    # after another so the result is deterministic and comparable with PyTorch's
    ctx = std_mp.get_context("spawn")
    rng = np.random.default_rng()
    w = rng.standard_normal((1, 4)).astype(np.float32)
    b = rng.standard_normal(1).astype(np.float32)
    finals = {}
    for lib in (flambeau, torch):
        model = lib.nn.Linear(4, 1)
        with lib.no_grad():
            model.weight.copy_(lib.tensor(w))
            model.bias.copy_(lib.tensor(b))
        assert model.share_memory() is model
        assert all(p.is_shared() for p in model.parameters())
        for seed in range(2):
            _run(ctx, workers.sgd_steps, lib.__name__, model, 5, seed)
        finals[lib.__name__] = np.concatenate([model.weight.detach().numpy().ravel(), model.bias.detach().numpy()])
    assert not np.allclose(finals["flambeau"][:4], w.ravel())
    np.testing.assert_allclose(finals["flambeau"], finals["torch"], rtol=1e-5, atol=1e-6)


def test_what_stays_by_value():
    t = flambeau.arange(6.0).share_memory_()
    u = pickle.loads(pickle.dumps(t))  # ordinary pickling copies, as torch.save does
    assert not u.is_shared() and u.tolist() == t.tolist()
    u.add_(1)
    assert t.tolist() == list(map(float, range(6)))
    x = flambeau.ones(3, requires_grad=True)
    ctx = std_mp.get_context("spawn")
    with pytest.raises(RuntimeError, match="Cowardly refusing to serialize non-leaf tensor"):
        ctx.Process(target=workers.add_in_place, args=(x * 2, 1)).start()
    e = flambeau.empty(0).share_memory_()
    assert e.is_shared() and e.numel() == 0

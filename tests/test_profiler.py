"""flambeau.profiler and flambeau.autograd.profiler: what is recorded, the summaries, the schedule
(against torch.profiler.schedule), the trace files, and that profiling leaves no trace on the code."""
import json
import os

import pytest

import flambeau
import flambeau.nn as nn
from flambeau import _C
from flambeau.profiler import profile, record_function, schedule, ProfilerActivity

torch = pytest.importorskip("torch")


def _small_step(seed=0):
    flambeau.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    opt = flambeau.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = flambeau.randn(2, 3, 8, 8)

    def step():
        opt.zero_grad()
        loss = model(x).square().mean()
        loss.backward()
        opt.step()
        return loss
    return step


def _names(events):
    return [e.name for e in events]


def test_ops_backward_and_optimizer_are_recorded_and_nested():
    step = _small_step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        with record_function("forward_block"):
            step()
    events = prof.events()
    names = _names(events)
    for expected in ("forward_block", "flambeau::conv2d", "flambeau::linear", "flambeau::conv2d_backward",
                     "autograd::engine::evaluate_function: ConvolutionBackward0", "Optimizer.step#SGD.step"):
        assert expected in names, expected
    block = next(e for e in events if e.name == "forward_block")
    conv = next(e for e in events if e.name == "flambeau::conv2d")
    assert conv.cpu_parent is block and conv in block.cpu_children
    assert conv.input_shapes[0] == [2, 3, 8, 8] and conv.input_shapes[1] == [4, 3, 3, 3]
    for e in events:
        assert 0 <= e.self_cpu_time_total <= e.cpu_time_total + 1e-6
        if e.cpu_parent is not None:
            p = e.cpu_parent
            assert p.time_range_start <= e.time_range_start + 1e-3
            assert e.time_range_end <= p.time_range_end + 1e-3
    # self times partition the recording: the top-level totals add up to the sum of self times
    top = sum(e.cpu_time_total for e in events if e.cpu_parent is None)
    assert abs(top - events.self_cpu_time_total) <= 1e-3 * max(top, 1.0) + 1e-3
    # the block's self time is its total minus its children's
    kids = sum(c.cpu_time_total for c in block.cpu_children)
    assert block.self_cpu_time_total == pytest.approx(block.cpu_time_total - kids, abs=1e-2)


def test_key_averages_counts_and_table():
    a = flambeau.randn(7, 5)
    with profile(record_shapes=True) as prof:
        for _ in range(3):
            (a * 2.0).sum()
        b = flambeau.randn(2, 2)
        b.sum()
    avg = {e.key: e for e in prof.key_averages()}
    assert avg["flambeau::sum"].count == 4
    assert avg["flambeau::sum"].cpu_time == pytest.approx(avg["flambeau::sum"].cpu_time_total / 4)
    by_shape = prof.key_averages(group_by_input_shape=True)
    sums = sorted((e.count, e.input_shapes[0]) for e in by_shape if e.key == "flambeau::sum")
    assert sums == [(1, [2, 2]), (3, [7, 5])]
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=3)
    lines = table.splitlines()
    assert "Self CPU %" in lines[1] and "# of Calls" in lines[1] and "Input Shapes" not in lines[1]
    assert lines[-1].startswith("Self CPU time total: ")
    assert len(lines) == 3 + 3 + 2  # header block, three rows, separator, total
    selfs = [e.self_cpu_time_total for e in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)][:3]
    assert selfs == sorted(selfs, reverse=True)
    assert "Input Shapes" in by_shape.table(row_limit=2)
    with pytest.raises(AttributeError):
        prof.key_averages().table(sort_by="no_such_key")
    total = prof.key_averages().total_average()
    assert total.count == len(prof.events())


def test_group_by_input_shape_needs_record_shapes():
    with profile() as prof:
        flambeau.ones(3).sum()
    with pytest.raises(AssertionError):
        prof.key_averages(group_by_input_shape=True)
    assert prof.events()[0].input_shapes == []


def test_profile_memory_counts_allocations():
    with profile(profile_memory=True) as prof:
        big = flambeau.zeros(1000, 1000)  # noqa: F841 (alive to the end: its 4 MB are not freed inside)
    ev = next(e for e in prof.events() if e.name == "flambeau::zeros" or e.name == "flambeau::full")
    assert ev.cpu_memory_usage >= 4 * 1000 * 1000
    assert "CPU Mem" in prof.key_averages().table()


def test_schedule_matches_torch():
    for kw in [dict(wait=1, warmup=1, active=2), dict(wait=0, warmup=2, active=1, repeat=2),
               dict(wait=2, warmup=1, active=3, repeat=1, skip_first=3),
               dict(wait=3, warmup=1, active=2, repeat=2, skip_first=1, skip_first_wait=1)]:
        ours, theirs = schedule(**kw), torch.profiler.schedule(**kw)
        for step in range(25):
            assert ours(step).name == theirs(step).name, (kw, step)


def test_scheduled_profile_saves_each_active_cycle():
    step = _small_step()
    saved = []

    def on_ready(p):
        saved.append(sorted({e.name for e in p.events() if e.name.startswith("ProfilerStep#")}))

    with profile(schedule=schedule(wait=1, warmup=1, active=2, repeat=2), on_trace_ready=on_ready) as prof:
        for _ in range(10):
            step()
            prof.step()
    assert saved == [["ProfilerStep#2", "ProfilerStep#3"], ["ProfilerStep#6", "ProfilerStep#7"]]
    names = _names(prof.events())
    assert names.count("Optimizer.step#SGD.step") == 2


def test_stop_inside_an_active_cycle_saves_it():
    saved = []
    with profile(schedule=schedule(wait=0, warmup=1, active=3), on_trace_ready=lambda p: saved.append(1)) as prof:
        for _ in range(3):
            flambeau.ones(2).sum()
            prof.step()
    assert saved == [1]
    assert {e.name for e in prof.events()} >= {"ProfilerStep#1", "ProfilerStep#2", "flambeau::sum"}


def test_chrome_trace_and_tensorboard_handler(tmp_path):
    step = _small_step()
    with profile(record_shapes=True) as prof:
        step()
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())
    evs = trace["traceEvents"]
    assert len(evs) == len(prof.events())
    conv = next(e for e in evs if e["name"] == "flambeau::conv2d")
    assert conv["ph"] == "X" and conv["cat"] == "cpu_op" and conv["dur"] >= 0
    assert conv["args"]["Input Dims"][0] == [2, 3, 8, 8]
    logdir = tmp_path / "tb"
    handler = flambeau.profiler.tensorboard_trace_handler(str(logdir), worker_name="w0")
    with profile(schedule=schedule(wait=0, warmup=1, active=1, repeat=1), on_trace_ready=handler) as prof:
        for _ in range(3):
            step()
            prof.step()
    files = os.listdir(logdir)
    assert len(files) == 1 and files[0].startswith("w0.") and files[0].endswith(".pt.trace.json")
    json.loads((logdir / files[0]).read_text())


def test_legacy_autograd_profiler():
    step = _small_step()
    with flambeau.autograd.profiler.profile(record_shapes=True) as prof:
        with flambeau.autograd.profiler.record_function("blk"):
            step()
    assert "blk" in _names(prof.function_events)
    assert "flambeau::linear" in {e.key for e in prof.key_averages()}
    assert prof.self_cpu_time_total > 0
    assert "Self CPU time total" in prof.table(sort_by="cpu_time_total")
    with flambeau.autograd.profiler.profile(enabled=False) as off:
        step()
    with pytest.raises(RuntimeError):
        off.key_averages()


def test_record_function_decorator_and_outside_profiling():
    @record_function("my_fn")
    def f(x):
        return x * 2

    y = f(flambeau.ones(3))  # nothing records: plain call
    assert y.tolist() == [2.0, 2.0, 2.0]
    with profile() as prof:
        f(flambeau.ones(3))
    ev = next(e for e in prof.events() if e.name == "my_fn")
    assert [c.name for c in ev.cpu_children] == ["flambeau::mul"]


def test_profiling_leaves_the_code_as_it_was():
    from flambeau._functions import conv as conv_mod
    before_c = {n: getattr(_C, n) for n in dir(_C) if not n.startswith("_")}
    before_kernels = dict(conv_mod._KERNELS)
    step = _small_step(seed=3)
    ref = [step().item() for _ in range(2)]
    step = _small_step(seed=3)
    with profile(profile_memory=True, record_shapes=True):
        got = [step().item()]
    got.append(step().item())
    assert got == ref  # same numbers with and without profiling
    assert {n: getattr(_C, n) for n in dir(_C) if not n.startswith("_")} == before_c
    assert conv_mod._KERNELS == before_kernels
    # one profiler at a time, and an exception inside still stops it
    with pytest.raises(RuntimeError, match="already enabled"):
        with profile():
            with profile():
                pass
    with pytest.raises(ValueError):
        with profile():
            raise ValueError("boom")
    assert _C.conv2d is before_c["conv2d"]
    with profile() as prof:
        flambeau.ones(1).sum()
    assert "flambeau::sum" in _names(prof.events())


def test_device_activity_warns():
    with pytest.warns(UserWarning, match="CPU time only"):
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]):
            flambeau.ones(2).sum()
    assert flambeau.profiler.supported_activities() == {ProfilerActivity.CPU}


def test_events_from_threads_keep_their_own_parents():
    import threading
    a = flambeau.randn(50, 50)
    # Both threads alive at once: a thread's id can be given to a later thread once the first has exited
    # (under load the first could finish before the second started, and the two blocks shared an id).
    both_started = threading.Barrier(2)
    with profile() as prof:
        def work():
            both_started.wait()
            with record_function("thread_block"):
                for _ in range(5):
                    a.matmul(a)
        ts = [threading.Thread(target=work) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    blocks = [e for e in prof.events() if e.name == "thread_block"]
    assert len(blocks) == 2 and blocks[0].thread != blocks[1].thread
    for b in blocks:
        assert len(b.cpu_children) == 5 and all(c.thread == b.thread for c in b.cpu_children)

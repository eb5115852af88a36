"""torch.cuda's device queries, memory counters, Streams and Events (flambeau/cuda/streams.py,
csrc/cuda/device_api.cu). Without a usable GPU they raise as PyTorch's lazy init does; the GPU part
runs on a machine with one (compared with PyTorch's CUDA build when it is installed there)."""
import time

import pytest

import flambeau

HAS_GPU = flambeau.cuda.is_available()
TORCH_CUDA = False
try:
    import torch
    TORCH_CUDA = torch.cuda.is_available()
except ImportError:  # pragma: no cover
    torch = None


@pytest.mark.skipif(HAS_GPU, reason="checks the no-GPU behaviour")
def test_without_gpu_queries_raise_and_counters_are_zero():
    expected = AssertionError if not flambeau.cuda.is_built() else RuntimeError
    for fn in (flambeau.cuda.get_device_name, flambeau.cuda.get_device_capability, flambeau.cuda.get_device_properties,
               flambeau.cuda.mem_get_info, flambeau.cuda.Stream, flambeau.cuda.current_stream):
        with pytest.raises(expected):
            fn()
    ev = flambeau.cuda.Event(enable_timing=True)
    assert ev.query() is True  # never recorded: complete, as PyTorch's
    with pytest.raises(expected):
        ev.record()
    with pytest.raises(RuntimeError, match="Both events must be recorded"):
        ev.elapsed_time(flambeau.cuda.Event(enable_timing=True))
    assert flambeau.cuda.memory_reserved() == 0
    assert flambeau.cuda.memory_stats()["allocated_bytes.all.current"] == 0
    assert flambeau.cuda.is_bf16_supported() is False
    with flambeau.cuda.stream(None):
        pass


@pytest.mark.skipif(not HAS_GPU, reason="needs a GPU")
def test_device_properties_match_the_driver():
    p = flambeau.cuda.get_device_properties(0)
    assert p.name and p.total_memory > 0 and p.multi_processor_count > 0 and p.warp_size == 32
    assert flambeau.cuda.get_device_name(0) == p.name
    assert flambeau.cuda.get_device_capability(0) == (p.major, p.minor) and p.major >= 3
    free, total = flambeau.cuda.mem_get_info(0)
    assert 0 < free <= total == p.total_memory
    if TORCH_CUDA:
        tp = torch.cuda.get_device_properties(0)
        assert (p.name, p.major, p.minor, p.total_memory, p.multi_processor_count) == (
            tp.name, tp.major, tp.minor, tp.total_memory, tp.multi_processor_count)


@pytest.mark.skipif(not HAS_GPU, reason="needs a GPU")
def test_memory_counters():
    flambeau.cuda.synchronize()
    x = flambeau.ones(1 << 20, device="cuda")
    assert flambeau.cuda.memory_reserved() >= flambeau.cuda.memory_allocated() >= 4 << 20
    s = flambeau.cuda.memory_stats()
    assert s["allocated_bytes.all.current"] == flambeau.cuda.memory_allocated()
    assert s["allocated_bytes.all.peak"] >= s["allocated_bytes.all.current"]
    del x
    assert "reserved" in flambeau.cuda.memory_summary()


@pytest.mark.skipif(not HAS_GPU, reason="needs a GPU")
def test_events_time_gpu_work_and_streams_order_it():
    a = flambeau.randn(2048, 2048, device="cuda")
    start, end = flambeau.cuda.Event(enable_timing=True), flambeau.cuda.Event(enable_timing=True)
    s = flambeau.cuda.current_stream()
    assert s == flambeau.cuda.default_stream() == flambeau.cuda.Stream()
    start.record()
    t0 = time.perf_counter()
    for _ in range(5):
        a = a @ a / 2048.0
    end.record(s)
    end.synchronize()
    wall_ms = (time.perf_counter() - t0) * 1e3
    assert end.query() and s.query()
    ms = start.elapsed_time(end)
    assert 0 < ms <= wall_ms + 1.0
    other = flambeau.cuda.Stream()
    with flambeau.cuda.stream(other):
        b = a + 1
    other.wait_stream(s)
    s.wait_event(other.record_event())
    flambeau.cuda.synchronize()
    assert flambeau.allclose(b.cpu(), a.cpu() + 1)
    with pytest.raises(RuntimeError, match="enable_timing"):
        e1, e2 = flambeau.cuda.Event(), flambeau.cuda.Event()
        e1.record()
        e2.record()
        e1.elapsed_time(e2)

"""flambeau.accelerator (torch.accelerator's device-agnostic API) over flambeau.cuda; without a GPU,
the same answers and errors as PyTorch's CPU build."""
import pytest
import torch

import flambeau


def test_tutorial_device_line():
    device = (flambeau.accelerator.current_accelerator().type if flambeau.accelerator.is_available()
              else "cpu")
    assert device == ("cuda" if flambeau.cuda.is_available() else "cpu")
    x = flambeau.ones(2, 3).to(device)
    assert x.device.type == device


def test_queries_follow_cuda():
    assert flambeau.accelerator.is_available() == flambeau.cuda.is_available()
    acc = flambeau.accelerator.current_accelerator()
    if flambeau.cuda.is_built():
        assert acc == flambeau.device("cuda")
    else:
        assert acc is None
    if not flambeau.cuda.is_available():
        assert flambeau.accelerator.current_accelerator(check_available=True) is None
        assert flambeau.accelerator.device_count() == 0
    else:
        assert flambeau.accelerator.device_count() == flambeau.cuda.device_count()
        assert flambeau.accelerator.current_device_index() == flambeau.cuda.current_device()
        flambeau.accelerator.synchronize()
        with flambeau.accelerator.device_index(0):
            assert flambeau.accelerator.current_device_idx() == 0


@pytest.mark.skipif(flambeau.cuda.is_available(), reason="the errors are for machines without a GPU")
@pytest.mark.parametrize("call", ["current_device_index()", "synchronize()", "empty_cache()",
                                  "memory_allocated()", "set_device_index(0)"])
def test_no_accelerator_errors_match_pytorch(call):
    with pytest.raises(RuntimeError, match="Cannot access accelerator device when none is available."):
        eval("flambeau.accelerator." + call)
    if not torch.accelerator.is_available():
        with pytest.raises(RuntimeError, match="Cannot access accelerator device when none is available."):
            eval("torch.accelerator." + call)


def test_channels_last_3d_is_accepted():
    x = flambeau.ones(1, 2, 3, 4, 5)
    assert tuple(x.to(memory_format=flambeau.channels_last_3d).shape) == (1, 2, 3, 4, 5)
    assert tuple(x.contiguous(memory_format=flambeau.channels_last_3d).shape) == (1, 2, 3, 4, 5)


def test_cpu_library_backends_report_what_flambeau_uses():
    import flambeau.backends.mkldnn
    import flambeau.backends.opt_einsum
    assert flambeau.backends.openmp.is_available() == bool(flambeau._C.has_openmp) == flambeau.has_openmp
    assert not flambeau.backends.mkldnn.is_available() and not flambeau.backends.mkl.is_available()
    assert not flambeau.backends.opt_einsum.is_available() and flambeau.backends.opt_einsum.get_opt_einsum() is None
    flambeau.backends.mkldnn.enabled = False  # scripts set it; nothing changes

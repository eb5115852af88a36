"""The torch.nn submodule paths vision code imports from: nn.modules.utils (_pair ...),
nn.modules.batchnorm / instancenorm, nn.common_types -- same names, same behaviour as PyTorch's."""
import importlib

import pytest
import torch.nn.modules.utils as TU

import flambeau.nn as fnn
import flambeau.nn.modules.utils as FU


@pytest.mark.parametrize("name", ["_single", "_pair", "_triple", "_quadruple"])
@pytest.mark.parametrize("arg", [3, (1, 2), [4, 5, 6], range(2)])
def test_ntuple_helpers(name, arg):
    assert getattr(FU, name)(arg) == getattr(TU, name)(arg)
    assert getattr(FU, name).__name__ == getattr(TU, name).__name__


def test_reverse_repeat_tuple_and_list_with_default():
    assert FU._reverse_repeat_tuple((1, 2, 3), 2) == TU._reverse_repeat_tuple((1, 2, 3), 2)
    assert FU._list_with_default([None, 3], [1, 2, 7, 8]) == TU._list_with_default([None, 3], [1, 2, 7, 8])
    assert FU._list_with_default(5, [1, 2]) == 5


@pytest.mark.parametrize("path,names", [
    ("nn.modules.batchnorm", ["_BatchNorm", "_NormBase", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
                              "SyncBatchNorm", "LazyBatchNorm2d"]),
    ("nn.modules.instancenorm", ["_InstanceNorm", "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"]),
    ("nn.common_types", ["_size_1_t", "_size_2_t", "_size_3_t", "_size_any_t", "_ratio_2_t"]),
    ("nn.modules.utils", ["_pair", "_ntuple"]),
])
def test_paths_exist_like_torch(path, names):
    t = importlib.import_module("torch." + path)
    f = importlib.import_module("flambeau." + path)
    for n in names:
        assert hasattr(t, n) and hasattr(f, n), n
    assert isinstance(fnn.InstanceNorm2d(3), f._InstanceNorm if hasattr(f, "_InstanceNorm") else object)

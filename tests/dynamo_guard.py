"""PyTorch's first torch.compile (and torch.cond / torch.while_loop / opcheck, which compile internally)
runs torch._dynamo's one-time patch(), which switches PyTorch's distributions argument validation off
for the whole process (torch/_dynamo/eval_frame.py: Distribution.set_default_validate_args(False)).
Tests that run later and expect PyTorch's validation errors (test_distributions.py) would then see
PyTorch raise nothing. Test modules that drive dynamo import this autouse fixture, which puts the
setting back after them."""
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def keep_torch_distribution_validation():
    before = torch.distributions.Distribution._validate_args
    yield
    torch.distributions.Distribution.set_default_validate_args(before)

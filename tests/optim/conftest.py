"""Fixtures shared by the optimizer tests."""
import pytest

from flambeau.optim import _fused


@pytest.fixture
def fused_calls(monkeypatch):
    """Counts the calls of each _fused function (the optimizers look them up at step time)."""
    calls = {name: 0 for name in _fused.__all__}
    for name in _fused.__all__:
        fn = getattr(_fused, name)

        def counting(*args, _fn=fn, _name=name, **kwargs):
            calls[_name] += 1
            return _fn(*args, **kwargs)

        monkeypatch.setattr(_fused, name, counting)
    return calls

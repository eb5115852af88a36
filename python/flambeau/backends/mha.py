"""flambeau.backends.mha: PyTorch's switch for the multi-head-attention "fast path".

flambeau has one attention path, so the switch changes no kernel; it matters where the fast path changes
what PyTorch returns: nn.TransformerEncoder in inference writes 0 at padded positions through its nested
tensors only while the fast path is enabled (see nn/modules/transformer.py)."""

_fastpath_enabled = True


def get_fastpath_enabled():
    """Whether the fast path may be used (True by default, as in PyTorch)."""
    return _fastpath_enabled


def set_fastpath_enabled(value):
    """Enable or disable the fast path."""
    global _fastpath_enabled
    _fastpath_enabled = bool(value)

"""Differentiable ops, one autograd Function per op, grouped by family. Each module also holds the
public functions (flambeau.add, Tensor.add, ...) that dispatch to the Function or, when no graph
is recorded, straight to `_C`."""

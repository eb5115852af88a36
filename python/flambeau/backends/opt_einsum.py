"""flambeau.backends.opt_einsum: flambeau's einsum contracts the operands pairwise in the order given, without the
opt_einsum package, so it reports itself unavailable, as PyTorch does when opt_einsum is not installed."""
enabled = False
strategy = None


def is_available():
    return False


def get_opt_einsum():
    return None

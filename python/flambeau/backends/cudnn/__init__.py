"""flambeau.backends.cudnn: flambeau does not use cuDNN; the flags exist so scripts that set them run."""
enabled = False
benchmark = False
deterministic = True
allow_tf32 = False


def is_available():
    return False


def version():
    return None

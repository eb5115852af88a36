"""flambeau.backends.mkldnn: flambeau's CPU kernels are its own (no oneDNN); the flags exist so that
scripts which set them run, and setting them changes nothing."""
enabled = False
deterministic = True
allow_tf32 = False


def is_available():
    return False

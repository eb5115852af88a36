"""torch.distributed.elastic's names that training scripts use (multiprocessing.errors.record); flambeau's
launcher (flambeau.distributed.run) is static, without elastic membership changes."""

"""torch.nn.modules.batchnorm's names (scripts test `isinstance(m, nn.modules.batchnorm._BatchNorm)`):
the batch norms of normalization.py, and SyncBatchNorm.

SyncBatchNorm, in training mode with an initialised process group of more than one rank, normalises with
the statistics of the whole batch across the ranks (_sync_batch_norm.py); otherwise (evaluation, one rank,
no process group) it is plain batch norm over the local batch, as PyTorch's. Either way it has
SyncBatchNorm's any-rank input check (at least 2-D) and its state_dict.
"""
from .normalization import _BatchNorm, _NormBase, BatchNorm1d, BatchNorm2d, BatchNorm3d  # noqa: F401
from .lazy import LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d  # noqa: F401

__all__ = ["SyncBatchNorm"]


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation over (N, C, ...) input with statistics over the ranks of process_group (the
    default group when None) in training; the local-batch BatchNorm otherwise."""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 process_group=None, device=None, dtype=None, *, bias=True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype,
                         bias=bias)
        self.process_group = process_group

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        if input.shape[1] == 0:
            raise ValueError("SyncBatchNorm number of input channels should be non-zero")
        if not self.training:
            return super().forward(input)
        from flambeau import distributed as dist
        if not dist.is_initialized():
            return super().forward(input)
        pg = dist.group.WORLD if self.process_group is None else self.process_group
        if dist.get_world_size(pg) <= 1:
            return super().forward(input)
        from ._sync_batch_norm import sync_batch_norm
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            import flambeau
            with flambeau.no_grad():
                self.num_batches_tracked.add_(1)
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked)
        track = self.track_running_stats
        return sync_batch_norm(input, self.weight, self.bias, self.running_mean if track else None,
                               self.running_var if track else None, self.eps, factor, pg)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """Every BatchNorm*d in module replaced by a SyncBatchNorm sharing its parameters and
        buffers (a BatchNorm module itself comes back as a new SyncBatchNorm)."""
        import flambeau
        module_output = module
        if isinstance(module, _BatchNorm):
            module_output = SyncBatchNorm(module.num_features, module.eps, module.momentum,
                                          module.affine, module.track_running_stats, process_group,
                                          bias=module.bias is not None)
            if module.affine:
                with flambeau.no_grad():
                    module_output.weight = module.weight
                    module_output.bias = module.bias
            module_output.running_mean = module.running_mean
            module_output.running_var = module.running_var
            module_output.num_batches_tracked = module.num_batches_tracked
            module_output.training = module.training
            if hasattr(module, "qconfig"):
                module_output.qconfig = module.qconfig
        for name, child in module.named_children():
            module_output.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        del module
        return module_output


"""torch.distributed.fsdp.wrap: the auto-wrap policies FSDP takes. They decide which submodules FSDP would wrap;
with no FSDP in flambeau they are only ever passed to a FullyShardedDataParallel, which refuses."""
__all__ = ["size_based_auto_wrap_policy", "transformer_auto_wrap_policy", "lambda_auto_wrap_policy"]


def size_based_auto_wrap_policy(module, recurse, nonwrapped_numel, min_num_params=int(1e8), force_leaf_modules=None,
                                exclude_wrap_modules=None):
    """PyTorch's rule: recurse into a module with at least min_num_params unwrapped parameters unless it is a
    forced leaf (MultiheadAttention by default); wrap one that large unless its class is excluded (ModuleList,
    ModuleDict by default)."""
    from ...nn import ModuleDict, ModuleList, MultiheadAttention
    force_leaf = (MultiheadAttention,) if force_leaf_modules is None else tuple(force_leaf_modules)
    exclude = (ModuleList, ModuleDict) if exclude_wrap_modules is None else tuple(exclude_wrap_modules)
    big = nonwrapped_numel >= min_num_params
    if recurse:
        return big and not isinstance(module, force_leaf)
    return big and not isinstance(module, exclude)


def transformer_auto_wrap_policy(module, recurse, nonwrapped_numel, transformer_layer_cls=(), **kwargs):
    """PyTorch's rule: recurse always; wrap instances of the given transformer layer classes."""
    return True if recurse else isinstance(module, tuple(transformer_layer_cls))


def lambda_auto_wrap_policy(module, recurse, nonwrapped_numel, lambda_fn=None, **kwargs):
    return True if recurse else bool(lambda_fn(module))


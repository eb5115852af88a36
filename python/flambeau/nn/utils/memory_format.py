"""convert_conv2d_weight_memory_format / convert_conv3d_weight_memory_format: put the weights of every
Conv2d/ConvTranspose2d (Conv3d/ConvTranspose3d) in a module tree in the given memory format, in place
(the Parameter objects keep their identity; only their layout changes), as PyTorch's do."""
import flambeau

__all__ = ["convert_conv2d_weight_memory_format", "convert_conv3d_weight_memory_format"]


def _convert(module, memory_format, kinds):
    if isinstance(module, kinds):
        module.weight.data = module.weight.detach().clone(memory_format=memory_format)
    for child in module.children():
        _convert(child, memory_format, kinds)
    return module


def convert_conv2d_weight_memory_format(module, memory_format):
    """The weights of module's Conv2d and ConvTranspose2d layers in `memory_format` (e.g.
    flambeau.channels_last); returns module."""
    return _convert(module, memory_format, (flambeau.nn.Conv2d, flambeau.nn.ConvTranspose2d))


def convert_conv3d_weight_memory_format(module, memory_format):
    """The weights of module's Conv3d and ConvTranspose3d layers in `memory_format` (e.g.
    flambeau.channels_last_3d); returns module."""
    return _convert(module, memory_format, (flambeau.nn.Conv3d, flambeau.nn.ConvTranspose3d))

"""torch.__future__: two switches for how nn.Module converts and loads its parameters (nn/modules/module.py
reads them in _apply and _load_from_state_dict).

- overwrite: `model.to()`/`.double()`/`.cuda()`/`to_empty()` put new Parameter objects in the module instead
  of replacing `param.data` (an optimizer built before then still holds the old ones, as in PyTorch).
- swap: those conversions, and `load_state_dict`, exchange the old and new tensors' contents with
  flambeau.utils.swap_tensors (the Parameter objects keep their identity; a state dict's tensor goes
  through `param.module_load(value, assign=...)` first). Takes precedence over overwrite.
Both default to False, PyTorch 2.13's defaults.
"""
_overwrite_module_params_on_conversion = False
_swap_module_params_on_conversion = False

__all__ = ["set_overwrite_module_params_on_conversion", "get_overwrite_module_params_on_conversion",
           "set_swap_module_params_on_conversion", "get_swap_module_params_on_conversion"]


def set_overwrite_module_params_on_conversion(value):
    """Whether module conversions assign new Parameter objects instead of replacing their .data."""
    global _overwrite_module_params_on_conversion
    _overwrite_module_params_on_conversion = value


def get_overwrite_module_params_on_conversion():
    return _overwrite_module_params_on_conversion


def set_swap_module_params_on_conversion(value):
    """Whether module conversions and load_state_dict swap tensors (utils.swap_tensors) in place."""
    global _swap_module_params_on_conversion
    _swap_module_params_on_conversion = value


def get_swap_module_params_on_conversion():
    return _swap_module_params_on_conversion

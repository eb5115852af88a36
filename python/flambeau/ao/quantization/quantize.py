"""The eager-mode flow (torch.ao.quantization.quantize): propagate_qconfig_, prepare, prepare_qat,
convert, quantize, quantize_qat, quantize_dynamic. Same module walks, hooks and swaps as PyTorch's."""
import copy
import itertools
import warnings

import flambeau as torch
from flambeau import nn

from .stubs import DeQuantStub
from .quantization_mappings import (get_default_static_quant_module_mappings, get_default_qat_module_mappings,
                                    get_default_dynamic_quant_module_mappings, get_default_qconfig_propagation_list)
from .qconfig import default_dynamic_qconfig


def _is_fused(m):
    from flambeau.ao.nn.intrinsic import _FusedModule
    return isinstance(m, _FusedModule)


def _propagate_qconfig_helper(module, qconfig_dict, qconfig_parent=None, prefix=""):
    module_qconfig = qconfig_dict.get(type(module), qconfig_parent)
    module_qconfig = qconfig_dict.get(prefix, module_qconfig)
    module_qconfig = getattr(module, "qconfig", module_qconfig)
    module.qconfig = module_qconfig
    for name, child in module.named_children():
        _propagate_qconfig_helper(child, qconfig_dict, module_qconfig, prefix + "." + name if prefix else name)


def propagate_qconfig_(module, qconfig_dict=None, prepare_custom_config_dict=None):
    """Gives every submodule a `qconfig`: its own, the one qconfig_dict names for its type or its
    qualified name, or its parent's."""
    if prepare_custom_config_dict:
        raise NotImplementedError("propagate_qconfig_: prepare_custom_config_dict is not supported by flambeau")
    _propagate_qconfig_helper(module, qconfig_dict or {})


def _observer_forward_hook(self, input, output):
    return self.activation_post_process(output)


def _needs_observation(m):
    return hasattr(m, "qconfig") and m.qconfig is not None


def _insert_activation_post_process(m):
    if _needs_observation(m) and not isinstance(m, DeQuantStub):
        m.add_module("activation_post_process", m.qconfig.activation())
        m.register_forward_hook(_observer_forward_hook)


def _add_observer_(module, qconfig_propagation_list=None, non_leaf_module_list=None):
    if qconfig_propagation_list is None:
        qconfig_propagation_list = get_default_qconfig_propagation_list()
    for name, child in module.named_children():
        if non_leaf_module_list is not None and type(child) in non_leaf_module_list:
            _insert_activation_post_process(child)
        elif _is_fused(child):
            _insert_activation_post_process(child)
        else:
            _add_observer_(child, qconfig_propagation_list, non_leaf_module_list)
    if (len(module._modules) == 0 and not isinstance(module, nn.Sequential)
            and type(module) in qconfig_propagation_list):
        _insert_activation_post_process(module)


def prepare(model, inplace=False, allow_list=None, observer_non_leaf_module_list=None,
            prepare_custom_config_dict=None):
    """Attaches observers (qconfig.activation()) after every quantizable module, for calibration."""
    if prepare_custom_config_dict:
        raise NotImplementedError("prepare: custom module classes (prepare_custom_config_dict) are not supported by "
                                  "flambeau")
    if not inplace:
        model = copy.deepcopy(model)
    qconfig_propagation_list = allow_list if allow_list is not None else get_default_qconfig_propagation_list()
    propagate_qconfig_(model)
    if not any(hasattr(m, "qconfig") and m.qconfig for m in model.modules()):
        warnings.warn("None of the submodule got qconfig applied. Make sure you passed correct configuration "
                      "through `qconfig_dict` or by assigning the `.qconfig` attribute directly on submodules",
                      stacklevel=2)
    _add_observer_(model, qconfig_propagation_list, observer_non_leaf_module_list)
    return model


def prepare_qat(model, mapping=None, inplace=False):
    """Swaps Linear/Conv2d (and fused LinearReLU/ConvReLU2d) for their QAT versions, which fake-quantize
    their weight, and attaches fake-quantize observers to activations."""
    if not model.training:
        raise AssertionError("prepare_qat only works on models in training mode")
    if mapping is None:
        mapping = get_default_qat_module_mappings()
    if not inplace:
        model = copy.deepcopy(model)
    propagate_qconfig_(model)
    convert(model, mapping=mapping, inplace=True, remove_qconfig=False)
    prepare(model, observer_non_leaf_module_list=set(mapping.values()), inplace=True)
    return model


def _remove_activation_post_process(module):
    if hasattr(module, "activation_post_process"):
        del module.activation_post_process
    for key in [k for k, hook in module._forward_hooks.items() if hook is _observer_forward_hook]:
        del module._forward_hooks[key]


def _remove_qconfig(module):
    for child in module.children():
        _remove_qconfig(child)
    if hasattr(module, "qconfig"):
        del module.qconfig
    _remove_activation_post_process(module)


def swap_module(mod, mapping, custom_module_class_mapping=None, use_precomputed_fake_quant=False):
    """mapping[type(mod)].from_float(mod) for a module with a qconfig; other modules are kept."""
    new_mod = mod
    if hasattr(mod, "qconfig") and mod.qconfig is not None and type(mod) in mapping:
        new_mod = mapping[type(mod)].from_float(mod, use_precomputed_fake_quant=use_precomputed_fake_quant)
        # the user's hooks move to the new module; the observer hook stays behind
        for hook in mod._forward_pre_hooks.values():
            new_mod.register_forward_pre_hook(hook)
        for hook in mod._forward_hooks.values():
            if hook is not _observer_forward_hook:
                new_mod.register_forward_hook(hook)
        if not hasattr(new_mod, "qconfig") and type(new_mod) in set(get_default_qat_module_mappings().values()):
            new_mod.qconfig = mod.qconfig
    return new_mod


def _convert(module, mapping, inplace, is_reference, use_precomputed_fake_quant):
    if is_reference:
        raise NotImplementedError("convert: reference quantized models (is_reference=True) are not supported by "
                                  "flambeau")
    reassign = {}
    for name, mod in module.named_children():
        if not _is_fused(mod):
            _convert(mod, mapping, True, is_reference, use_precomputed_fake_quant)
        reassign[name] = swap_module(mod, mapping, use_precomputed_fake_quant=use_precomputed_fake_quant)
    for key, value in reassign.items():
        module._modules[key] = value
    return module


def convert(module, mapping=None, inplace=False, remove_qconfig=True, is_reference=False,
            convert_custom_config_dict=None, use_precomputed_fake_quant=False):
    """Swaps each observed (or QAT) module for its quantized version built from the observed qparams."""
    if convert_custom_config_dict:
        raise NotImplementedError("convert: custom module classes (convert_custom_config_dict) are not supported by "
                                  "flambeau")
    if mapping is None:
        mapping = get_default_static_quant_module_mappings()
    if not inplace:
        module = copy.deepcopy(module)
    _convert(module, mapping, True, is_reference, use_precomputed_fake_quant)
    if remove_qconfig:
        _remove_qconfig(module)
    return module


def quantize(model, run_fn, run_args, mapping=None, inplace=False):
    """prepare, calibrate with run_fn(model, *run_args), convert (static post-training quantization)."""
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    prepare(model, inplace=True)
    run_fn(model, *run_args)
    convert(model, mapping, inplace=True)
    return model


def quantize_qat(model, run_fn, run_args, inplace=False):
    if not inplace:
        model = copy.deepcopy(model)
    model.train()
    prepare_qat(model, inplace=True)
    run_fn(model, *run_args)
    convert(model, inplace=True)
    return model


def quantize_dynamic(model, qconfig_spec=None, dtype=torch.qint8, mapping=None, inplace=False):
    """Replaces nn.Linear (or the types / names in qconfig_spec) by dynamically quantized versions:
    int8 weights, activations quantized on the fly from their own range."""
    if dtype is not torch.qint8:
        raise NotImplementedError(f"quantize_dynamic: dtype {dtype} is not supported by flambeau (qint8 only; float16 "
                                  "dynamic quantization is not implemented)")
    if qconfig_spec is None:
        qconfig_spec = {nn.Linear: default_dynamic_qconfig}
    elif isinstance(qconfig_spec, set):
        qconfig_spec = dict(zip(qconfig_spec, itertools.repeat(default_dynamic_qconfig)))
    if mapping is None:
        mapping = get_default_dynamic_quant_module_mappings()
    for key in qconfig_spec:
        if isinstance(key, type) and key not in mapping and key is not nn.Sequential:
            raise NotImplementedError(f"quantize_dynamic: {key.__name__} has no dynamically quantized version in "
                                      "flambeau (nn.Linear only; LSTM/GRU/Embedding are not implemented)")
    if not inplace:
        model = copy.deepcopy(model)
    model.eval()
    propagate_qconfig_(model, qconfig_spec)
    convert(model, mapping, inplace=True)
    return model

"""fuse_modules / fuse_modules_qat (torch.ao.quantization.fuse_modules): conv-bn(-relu), conv-relu,
linear-bn, linear-relu into one module (BatchNorm folded into the weights in eval mode)."""
import copy

from flambeau import nn
from flambeau.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval
import flambeau.ao.nn.intrinsic as nni


def _check_modes(a, b):
    if a.training != b.training:
        raise AssertionError(f"{type(a).__name__} and {type(b).__name__} both must be in the same mode (train or eval).")


def fuse_conv_bn(is_qat, conv, bn):
    _check_modes(conv, bn)
    if is_qat:
        raise NotImplementedError("fuse_modules_qat: Conv2d + BatchNorm2d gives ConvBn2d, a QAT module that "
                                  "flambeau does not implement; fuse in eval mode (fuse_modules) instead")
    if conv.training:
        raise AssertionError("Fusion only for eval!")
    return fuse_conv_bn_eval(conv, bn)


def fuse_conv_bn_relu(is_qat, conv, bn, relu):
    _check_modes(conv, bn)
    if is_qat:
        raise NotImplementedError("fuse_modules_qat: Conv2d + BatchNorm2d + ReLU gives ConvBnReLU2d, a QAT module "
                                  "that flambeau does not implement; fuse in eval mode (fuse_modules) instead")
    if conv.training:
        raise AssertionError("Fusion only for eval!")
    if type(conv) is not nn.Conv2d:
        raise NotImplementedError(f"Cannot fuse eval modules: {(conv, bn, relu)}")
    return nni.ConvReLU2d(fuse_conv_bn_eval(conv, bn), relu)


def fuse_linear_bn(is_qat, linear, bn):
    _check_modes(linear, bn)
    if is_qat:
        raise NotImplementedError("fuse_modules_qat: Linear + BatchNorm1d (LinearBn1d) is not implemented by flambeau")
    if linear.training:
        raise AssertionError("Fusion only for eval!")
    return fuse_linear_bn_eval(linear, bn)


_FUSER = {
    (nn.Conv2d, nn.BatchNorm2d): fuse_conv_bn,
    (nn.Conv2d, nn.BatchNorm2d, nn.ReLU): fuse_conv_bn_relu,
    (nn.Conv2d, nn.ReLU): lambda is_qat, conv, relu: nni.ConvReLU2d(conv, relu),
    (nn.Linear, nn.BatchNorm1d): fuse_linear_bn,
    (nn.Linear, nn.ReLU): lambda is_qat, linear, relu: nni.LinearReLU(linear, relu),
}


def get_fuser_method(op_list):
    return _FUSER.get(op_list)


def fuse_known_modules(mod_list, is_qat, additional_fuser_method_mapping=None):
    types = tuple(type(m) for m in mod_list)
    mapping = dict(_FUSER)
    mapping.update(additional_fuser_method_mapping or {})
    fuser = mapping.get(types)
    if fuser is None:
        raise NotImplementedError(f"Cannot fuse modules: {types}")
    fused = fuser(is_qat, *mod_list)
    new_mod = [None] * len(mod_list)
    for hook in mod_list[0]._forward_pre_hooks.values():
        fused.register_forward_pre_hook(hook)
    for hook in mod_list[-1]._forward_hooks.values():
        fused.register_forward_hook(hook)
    new_mod[0] = fused
    for i in range(1, len(mod_list)):
        identity = nn.Identity()
        identity.training = mod_list[0].training
        new_mod[i] = identity
    return new_mod


def _get_module(model, name):
    for part in name.split("."):
        model = getattr(model, part)
    return model


def _set_module(model, name, new):
    parts = name.split(".")
    for part in parts[:-1]:
        model = getattr(model, part)
    setattr(model, parts[-1], new)


def _fuse_modules(model, modules_to_fuse, is_qat, inplace=False, fuser_func=fuse_known_modules,
                  fuse_custom_config_dict=None):
    if not inplace:
        model = copy.deepcopy(model)
    if all(isinstance(m, str) for m in modules_to_fuse):
        modules_to_fuse = [modules_to_fuse]
    additional = (fuse_custom_config_dict or {}).get("additional_fuser_method_mapping", {})
    for names in modules_to_fuse:
        mods = [_get_module(model, n) for n in names]
        new_mods = fuser_func(mods, is_qat, additional)
        for n, m in zip(names, new_mods):
            _set_module(model, n, m)
    return model


def fuse_modules(model, modules_to_fuse, inplace=False, fuser_func=fuse_known_modules, fuse_custom_config_dict=None):
    """Fuses lists of submodule names (eval mode): [['conv', 'bn', 'relu'], ['fc', 'relu']]."""
    return _fuse_modules(model, modules_to_fuse, False, inplace, fuser_func, fuse_custom_config_dict)


def fuse_modules_qat(model, modules_to_fuse, inplace=False, fuser_func=fuse_known_modules,
                     fuse_custom_config_dict=None):
    """fuse_modules for QAT (training mode): conv-relu and linear-relu only in flambeau."""
    return _fuse_modules(model, modules_to_fuse, True, inplace, fuser_func, fuse_custom_config_dict)

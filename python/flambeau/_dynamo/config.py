"""torch._dynamo.config as far as scripts set it (suppress_errors, cache_size_limit, ...). flambeau has
no graph compiler, so the values are kept and read back but change nothing; an unknown name raises
AttributeError, as PyTorch's config module does, so a typo is not silently accepted."""
import sys
import types

_DEFAULTS = {
    "suppress_errors": False, "recompile_limit": 8, "accumulated_recompile_limit": 256, "capture_scalar_outputs": False, "capture_dynamic_output_shape_ops": False,
    "optimize_ddp": True, "verbose": False, "automatic_dynamic_shapes": True, "assume_static_by_default": True,
    "inline_inbuilt_nn_modules": True, "specialize_int": False, "force_parameter_static_shapes": True,
    "guard_nn_modules": True, "error_on_recompile": False, "skip_nnmodule_hook_guards": True,
    "allow_unspec_int_on_nn_module": False, "dynamic_shapes": True, "replay_record_enabled": False,
    "raise_on_ctx_manager_usage": True, "compiled_autograd": False, "allow_rnn": False,
    "enable_compiler_collectives": False, "capture_func_transforms": True,
    "prefer_deferred_runtime_asserts_over_guards": False, "do_not_emit_runtime_asserts": False,
    "use_lazy_graph_module": True, "log_compilation_metrics": True, "repro_after": None, "repro_level": 2,
}


# old names that PyTorch keeps as aliases of the new ones (setting either changes both)
_ALIASES = {"cache_size_limit": "recompile_limit", "accumulated_cache_size_limit": "accumulated_recompile_limit"}


class _ConfigModule(types.ModuleType):
    def __getattr__(self, name):
        name = _ALIASES.get(name, name)
        values = self.__dict__["_values"]
        if name in values:
            return values[name]
        raise AttributeError(f"{self.__name__}.{name} does not exist")

    def __setattr__(self, name, value):
        if name.startswith("__") or name == "_values":
            return super().__setattr__(name, value)
        name = _ALIASES.get(name, name)
        if name not in self._values:
            raise AttributeError(f"{self.__name__}.{name} does not exist")
        self._values[name] = value

    def get_config_copy(self):
        return dict(self._values, **{old: self._values[new] for old, new in _ALIASES.items()})

    def patch(self, *args, **kwargs):
        """config.patch(name=value) / patch({name: value}): a context manager (and decorator) setting values
        for its duration."""
        import contextlib
        changes = dict(args[0]) if args else {}
        changes.update(kwargs)

        @contextlib.contextmanager
        def _patch():
            old = {k: getattr(self, k) for k in changes}
            for k, v in changes.items():
                setattr(self, k, v)
            try:
                yield
            finally:
                for k, v in old.items():
                    setattr(self, k, v)
        return _patch()


_module = sys.modules[__name__]
_module.__class__ = _ConfigModule
_module._values = dict(_DEFAULTS)

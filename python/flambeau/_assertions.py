"""torch._assert: `assert condition, message` as a function (fx records it when concrete_args
specialise an input)."""


def _assert(condition, message):
    assert condition, message

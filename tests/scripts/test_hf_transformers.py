"""Hugging Face transformers on flambeau: tiny GPT-2 (sdpa and eager attention), BERT for sequence
classification, T5, Llama (grouped-query attention), Mistral (sliding-window attention) and ViT, built from
configs, run by hf_models.py once with PyTorch and once under `python -m flambeau.run` (so `import torch`
inside transformers is flambeau), from the same initial weights. Compared: loss and logits, every gradient,
the parameters after one AdamW step, the loss after it, the tokens of greedy and beam-search generate
(exactly), and the losses of three more steps with gradient checkpointing, gradient clipping and
transformers' warmup schedule.

Needs transformers importable (CI's venv lacks it: skipped there). Each model runs in two subprocesses, as a
process cannot hold transformers bound to both libraries.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import flambeau

pytest.importorskip("transformers")

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "hf_models.py")
PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(flambeau.__file__)))  # the imported flambeau's folder


def _run(args, out):
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([PYTHON_DIR] + [p for p in sys.path if p])
    r = subprocess.run([sys.executable] + args, cwd=out, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"{' '.join(args)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"


def _scale(x):
    return float(np.abs(x).max()) if x.size else 0.0


@pytest.mark.parametrize("name", ["gpt2", "gpt2_eager", "bert", "t5", "llama", "mistral", "vit"])
def test_model_matches_pytorch(name, tmp_path):
    out = str(tmp_path)
    _run([SCRIPT, name, out], out)                       # PyTorch: writes the initial weights
    _run(["-m", "flambeau.run", SCRIPT, name, out], out)  # flambeau under the torch alias: loads them
    ref = np.load(os.path.join(out, f"{name}_torch.npz"))
    got = np.load(os.path.join(out, f"{name}_flambeau.npz"))
    assert sorted(ref.files) == sorted(got.files)
    grads = [k for k in ref.files if k.startswith("grad.")]
    grad_scale = max(_scale(ref[k]) for k in grads)
    for k in ref.files:
        a, b = ref[k], got[k]
        assert a.shape == b.shape and a.dtype == b.dtype, (k, a.shape, b.shape, a.dtype, b.dtype)
        if k.startswith("generate"):
            np.testing.assert_array_equal(b, a, err_msg=k)
        elif k.startswith("grad."):
            # gradients that are zero in exact arithmetic (a key projection's bias under softmax) are rounding
            # noise in both libraries: compared against the scale of all gradients, not their own
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6 * grad_scale, err_msg=k)
        elif k.startswith("param."):
            # the first AdamW step moves each weight by about lr * sign(grad); where the gradient is rounding
            # noise that sign is arbitrary, so only the weights with a gradient above the noise are compared
            g = ref["grad." + k[len("param."):]]
            real = np.abs(g) > 1e-5 * grad_scale
            np.testing.assert_allclose(b[real], a[real], rtol=1e-5, atol=1e-6, err_msg=k)
        else:
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6 * max(_scale(a), 1.0), err_msg=k)


PRETRAINED = os.path.join(HERE, "hf_pretrained.py")


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
@pytest.mark.parametrize("name", ["gpt2", "bert"])
def test_from_pretrained_matches_pytorch(name, fmt, tmp_path):
    """save_pretrained with PyTorch, then from_pretrained of that directory by both libraries (transformers
    builds the model on the meta device and assigns the checkpoint's tensors): the same weights exactly, no
    parameter left on meta, the same logits and greedy tokens."""
    out = str(tmp_path)
    _run([PRETRAINED, name, out, fmt], out)                       # PyTorch: saves, then loads
    _run(["-m", "flambeau.run", PRETRAINED, name, out, fmt], out)  # flambeau loads the same directory
    ref = np.load(os.path.join(out, f"{name}_{fmt}_torch.npz"))
    got = np.load(os.path.join(out, f"{name}_{fmt}_flambeau.npz"))
    assert sorted(ref.files) == sorted(got.files)
    assert not got["is_meta"].any() and got["is_meta"].size == ref["is_meta"].size
    for k in ref.files:
        a, b = ref[k], got[k]
        assert a.shape == b.shape and a.dtype == b.dtype, (k, a.shape, b.shape, a.dtype, b.dtype)
        if k == "logits":
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6 * max(_scale(a), 1.0), err_msg=k)
        else:
            np.testing.assert_array_equal(b, a, err_msg=k)


def _both(script_name, out):
    """Runs tests/scripts/<script_name> with PyTorch, then under flambeau.run (which loads the initial weights
    the first run saved); returns the two runs' results (<stem>_torch.npz, <stem>_flambeau.npz)."""
    script = os.path.join(HERE, script_name)
    _run([script, out], out)
    _run(["-m", "flambeau.run", script, out], out)
    stem = script_name[len("hf_"):-len(".py")]
    return (np.load(os.path.join(out, f"{stem}_torch.npz")), np.load(os.path.join(out, f"{stem}_flambeau.npz")))


def test_pipeline_and_tokenizer_match_pytorch(tmp_path):
    """pipeline("text-classification") over a BertTokenizer and a model from config (padding, attention mask,
    softmax over labels), then a training step on tokenized input: the same scores, loss and gradient."""
    ref, got = _both("hf_pipeline.py", str(tmp_path))
    for k in ref.files:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_trainer_matches_pytorch(tmp_path):
    """transformers' Trainer over accelerate (AdamW, linear warmup schedule, weight decay, gradient clipping,
    logging every 2 steps): the same logged losses and gradient norms, the same final classifier weights."""
    pytest.importorskip("accelerate")
    ref, got = _both("hf_trainer.py", str(tmp_path))
    assert ref["losses"].size == got["losses"].size == 6
    for k in ref.files:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-4, atol=1e-5, err_msg=k)

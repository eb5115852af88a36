"""save_pretrained / from_pretrained of tiny Hugging Face models (no downloads). `python3 hf_pretrained.py
MODEL OUT FORMAT` with PyTorch builds the model from hf_models.py's config and saves it to OUT/MODEL_FORMAT
(FORMAT: "safetensors" or "bin", the pickled state dict); then, under either library, it loads that
directory with from_pretrained (which builds the model on the meta device and assigns the checkpoint's
tensors to it) and writes what the loaded model gives to OUT/MODEL_FORMAT_<torch|flambeau>.npz: the logits
in eval mode, every parameter and buffer, and where the model generates, the tokens of greedy search.
tests/scripts/test_hf_transformers.py runs it and compares.
"""
import os
import sys

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_models  # noqa: E402
import transformers  # noqa: E402


def main(name, out, fmt):
    backend = torch.__name__  # "torch", or "flambeau" under the alias
    model_dir = os.path.join(out, f"{name}_{fmt}")
    torch.manual_seed(0)
    model, inputs, prompt = hf_models.MODELS[name](np.random.default_rng(0))
    if not os.path.exists(model_dir):
        model.save_pretrained(model_dir, safe_serialization=(fmt == "safetensors"))
    loaded = type(model).from_pretrained(model_dir)
    rec = {"is_meta": np.array([p.is_meta for p in loaded.parameters()])}
    for k, v in loaded.state_dict().items():
        rec["state." + k] = v.detach().numpy()
    loaded.eval()
    inputs = {k: v for k, v in inputs.items() if k != "labels"}
    with torch.no_grad():
        rec["logits"] = loaded(**inputs).logits.numpy()
        if prompt is not None:
            rec["generate"] = loaded.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=0).numpy()
    np.savez(os.path.join(out, f"{name}_{fmt}_{backend}.npz"), **rec)
    print(name, fmt, backend, "logits", rec["logits"].shape)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])

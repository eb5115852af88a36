"""Tiny Hugging Face transformers models built from configs (no downloads), trained one step and asked to
generate; run once with PyTorch (`python3 hf_models.py MODEL OUT`) and once with flambeau under the torch
alias (`python3 -m flambeau.run hf_models.py MODEL OUT`). The first run writes the initial weights
(OUT/MODEL_init.npz), the second loads them, so both start from the same numbers; each writes what it saw
to OUT/MODEL_<torch|flambeau>.npz: the loss and logits with labels, every parameter's gradient, the
parameters after one AdamW step, the loss after it, (for the generating models) the tokens of greedy
search and of beam search, then the losses of three steps with gradient checkpointing, clipping and a
warmup schedule.
tests/scripts/test_hf_transformers.py runs both and compares.
"""
import os
import sys

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import transformers  # noqa: E402

transformers.logging.set_verbosity_error()
VOCAB = 100


def _ids(rng, batch, length):
    return torch.from_numpy(rng.integers(1, VOCAB, size=(batch, length)).astype(np.int64))


def _padding_mask(batch, length):
    # the last row is padded on the right by 3 tokens, so the mask paths are exercised
    mask = np.ones((batch, length), dtype=np.int64)
    mask[-1, -3:] = 0
    return torch.from_numpy(mask)


def gpt2(rng, attn="sdpa"):
    cfg = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=VOCAB, n_positions=64, resid_pdrop=0.0,
                                  embd_pdrop=0.0, attn_pdrop=0.0)
    model = transformers.GPT2LMHeadModel._from_config(cfg, attn_implementation=attn)
    ids = _ids(rng, 2, 10)
    return model, dict(input_ids=ids, attention_mask=_padding_mask(2, 10), labels=ids), ids[:, :4]


def gpt2_eager(rng):
    return gpt2(rng, attn="eager")


def bert(rng):
    cfg = transformers.BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=37, max_position_embeddings=64, hidden_dropout_prob=0.0,
                                  attention_probs_dropout_prob=0.0, num_labels=3)
    model = transformers.BertForSequenceClassification(cfg)
    ids = _ids(rng, 3, 9)
    token_types = torch.from_numpy((np.arange(9)[None, :] >= 5).repeat(3, 0).astype(np.int64))
    labels = torch.from_numpy(rng.integers(0, 3, size=(3,)).astype(np.int64))
    return model, dict(input_ids=ids, attention_mask=_padding_mask(3, 9), token_type_ids=token_types,
                       labels=labels), None


def t5(rng):
    cfg = transformers.T5Config(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                                dropout_rate=0.0, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    model = transformers.T5ForConditionalGeneration(cfg)
    ids = _ids(rng, 2, 8)
    labels = _ids(rng, 2, 5)
    return model, dict(input_ids=ids, attention_mask=_padding_mask(2, 8), labels=labels), ids


def llama(rng):
    cfg = transformers.LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                   pad_token_id=0, bos_token_id=1, eos_token_id=2)
    model = transformers.LlamaForCausalLM(cfg)
    ids = _ids(rng, 2, 10)
    return model, dict(input_ids=ids, attention_mask=_padding_mask(2, 10), labels=ids), ids[:, :4]


def mistral(rng):
    # sliding-window attention (window 4 over 10 tokens) through the same mask functions
    cfg = transformers.MistralConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                                     sliding_window=4, pad_token_id=0, bos_token_id=1, eos_token_id=2)
    model = transformers.MistralForCausalLM(cfg)
    ids = _ids(rng, 2, 10)
    return model, dict(input_ids=ids, attention_mask=_padding_mask(2, 10), labels=ids), ids[:, :4]


def vit(rng):
    cfg = transformers.ViTConfig(image_size=16, patch_size=4, num_channels=3, hidden_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, intermediate_size=37, hidden_dropout_prob=0.0,
                                 attention_probs_dropout_prob=0.0, num_labels=3)
    model = transformers.ViTForImageClassification(cfg)
    pixels = torch.from_numpy(rng.standard_normal((2, 3, 16, 16)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 3, size=(2,)).astype(np.int64))
    return model, dict(pixel_values=pixels, labels=labels), None


MODELS = {f.__name__: f for f in (gpt2, gpt2_eager, bert, t5, llama, mistral, vit)}


def main(name, out):
    backend = torch.__name__  # "torch", or "flambeau" under the alias
    torch.manual_seed(0)
    model, inputs, prompt = MODELS[name](np.random.default_rng(0))
    init = os.path.join(out, f"{name}_init.npz")
    if os.path.exists(init):
        with np.load(init) as f:
            model.load_state_dict({k: torch.from_numpy(f[k]) for k in f.files})
    else:
        np.savez(init, **{k: v.detach().numpy() for k, v in model.state_dict().items()})
    rec = {}
    model.train()
    out_ = model(**inputs)
    rec["loss"] = out_.loss.detach().numpy()
    rec["logits"] = out_.logits.detach().numpy()
    out_.loss.backward()
    for k, p in model.named_parameters():
        rec["grad." + k] = p.grad.numpy()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    opt.step()
    opt.zero_grad()
    for k, p in model.named_parameters():
        rec["param." + k] = p.detach().numpy().copy()
    rec["loss_after_step"] = model(**inputs).loss.detach().numpy()
    if prompt is not None:
        model.eval()
        with torch.no_grad():
            rec["generate"] = model.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=0).numpy()
            rec["generate_beams"] = model.generate(prompt, max_new_tokens=5, num_beams=3, do_sample=False,
                                                   pad_token_id=0).numpy()
    # a few more steps the way fine-tuning scripts take them: gradient checkpointing (non-reentrant),
    # gradient clipping, and transformers' warmup-then-linear schedule over torch.optim.lr_scheduler.LambdaLR
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    sched = transformers.get_linear_schedule_with_warmup(opt, 2, 10)
    losses = []
    for _ in range(3):
        loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        losses.append(loss.detach().numpy())
    rec["checkpointed_losses"] = np.stack(losses)
    rec["lr"] = np.array(sched.get_last_lr())
    np.savez(os.path.join(out, f"{name}_{backend}.npz"), **rec)
    print(name, backend, "loss", float(rec["loss"]), "after step", float(rec["loss_after_step"]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

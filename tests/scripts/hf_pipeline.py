"""A Hugging Face pipeline on a tokenizer and a model from config: run by test_hf_transformers.py once with
PyTorch and once under `python -m flambeau.run`, from the same initial weights (the PyTorch run saves them).

    python hf_pipeline.py OUT_DIR
"""
import os
import sys

import numpy as np
import torch
from hf_shared_weights import library, share_initial_weights
from transformers import BertConfig, BertForSequenceClassification, BertTokenizer, pipeline

out = sys.argv[1]
lib = library()
words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "a", "dog", "ran"]
os.makedirs(os.path.join(out, "tok"), exist_ok=True)
with open(os.path.join(out, "tok", "vocab.txt"), "w") as f:
    f.write("\n".join(words))
tok = BertTokenizer(os.path.join(out, "tok", "vocab.txt"))
model = BertForSequenceClassification(BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=2,
                                                 num_attention_heads=2, intermediate_size=64, num_labels=3,
                                                 hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
share_initial_weights(model, out, "pipeline")
model.eval()
clf = pipeline("text-classification", model=model, tokenizer=tok, device="cpu", top_k=None)
scores = clf(["the cat sat on the mat", "a dog ran", "the dog sat on a cat"])
table = np.array([[d["score"] for d in sorted(row, key=lambda d: d["label"])] for row in scores])
enc = tok(["the cat sat", "a dog ran on the mat"], padding=True, return_tensors="pt")
model.train()  # (dropout 0: the two libraries draw different masks)
loss = model(**enc, labels=torch.tensor([0, 2])).loss
loss.backward()
np.savez(os.path.join(out, f"pipeline_{lib}.npz"), scores=table, loss=np.array(float(loss)),
         grad=model.classifier.weight.grad.numpy())

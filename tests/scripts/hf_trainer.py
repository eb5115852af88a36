"""transformers' Trainer (over accelerate) training a small BERT classifier: run by test_hf_transformers.py once
with PyTorch and once under `python -m flambeau.run`, from the same initial weights and the same batch order
(a sequential sampler: the two libraries' shuffles draw from different generators).

    python hf_trainer.py OUT_DIR
"""
import os
import sys

import numpy as np
import torch
from hf_shared_weights import library, share_initial_weights
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

out = sys.argv[1]
lib = library()
model = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2,
                                                 num_attention_heads=2, intermediate_size=64, num_labels=2,
                                                 hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
share_initial_weights(model, out, "trainer")


class Tokens(torch.utils.data.Dataset):
    def __len__(self):
        return 48

    def __getitem__(self, i):
        ids = np.random.default_rng(i).integers(5, 50, 12)
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.ones(12, dtype=torch.long),
                "labels": torch.tensor(int(ids[0] > 27))}


class InOrder(Trainer):
    def _get_train_sampler(self, *args, **kwargs):
        return torch.utils.data.SequentialSampler(self.train_dataset)


args = TrainingArguments(output_dir=os.path.join(out, f"run_{lib}"), per_device_train_batch_size=8,
                         num_train_epochs=2, learning_rate=1e-3, warmup_steps=2, weight_decay=0.01,
                         max_grad_norm=1.0, logging_steps=2, report_to=[], save_strategy="no", use_cpu=True,
                         seed=0, dataloader_num_workers=0, disable_tqdm=True)
trainer = InOrder(model=model, args=args, train_dataset=Tokens())
trainer.train()
losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
norms = [h["grad_norm"] for h in trainer.state.log_history if "grad_norm" in h]
np.savez(os.path.join(out, f"trainer_{lib}.npz"), losses=np.array(losses), grad_norms=np.array(norms),
         classifier=model.classifier.weight.detach().numpy())

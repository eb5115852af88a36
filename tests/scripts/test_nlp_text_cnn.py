"""Script parity: convolutional sentence classifiers (Kim 2014, as in the popular "pytorch-sentiment-analysis"
tutorials). Embedding(padding_idx) -> unsqueeze(1) -> Conv2d(1, n_filters, (fs, emb_dim)) per filter size ->
relu -> squeeze(3) -> F.max_pool1d(x, x.shape[2]) -> cat -> Dropout -> Linear, trained with BCEWithLogitsLoss
and Adam; the Conv1d version (permute to (batch, emb, len)) with CrossEntropyLoss; pretrained vectors loaded with
embedding.weight.data.copy_ and the pad/unk rows zeroed; binary accuracy with torch.round(torch.sigmoid(...)).

Runs with PyTorch and with flambeau from the same initial weights and data; losses, gradients and predictions are
compared step by step. Dropout is 0 for the parity run."""
import numpy as np
import pytest

from script_parity import FLAMBEAU, TORCH, assert_records_close, load_numpy_state, numpy_state, to_np
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)

PAD_IDX, UNK_IDX, VOCAB, EMB = 1, 0, 60, 16


def run(lib, tokens, labels, pretrained, conv, init_state=None, epochs=2):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim

    class CNN(nn.Module):
        def __init__(self, vocab_size, embedding_dim, n_filters, filter_sizes, output_dim, dropout, pad_idx):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
            self.convs = nn.ModuleList([nn.Conv2d(in_channels=1, out_channels=n_filters,
                                                  kernel_size=(fs, embedding_dim)) for fs in filter_sizes])
            self.fc = nn.Linear(len(filter_sizes) * n_filters, output_dim)
            self.dropout = nn.Dropout(dropout)

        def forward(self, text):
            embedded = self.embedding(text)  # [batch, sent len, emb dim]
            embedded = embedded.unsqueeze(1)  # [batch, 1, sent len, emb dim]
            conved = [F.relu(conv(embedded)).squeeze(3) for conv in self.convs]
            pooled = [F.max_pool1d(conv, conv.shape[2]).squeeze(2) for conv in conved]
            cat = self.dropout(torch.cat(pooled, dim=1))
            return self.fc(cat)

    class CNN1d(nn.Module):
        def __init__(self, vocab_size, embedding_dim, n_filters, filter_sizes, output_dim, dropout, pad_idx):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
            self.convs = nn.ModuleList([nn.Conv1d(in_channels=embedding_dim, out_channels=n_filters,
                                                  kernel_size=fs, padding=fs // 2) for fs in filter_sizes])
            self.fc = nn.Linear(len(filter_sizes) * n_filters, output_dim)
            self.dropout = nn.Dropout(dropout)

        def forward(self, text):
            embedded = self.embedding(text).permute(0, 2, 1)  # [batch, emb dim, sent len]
            conved = [F.relu(conv(embedded)) for conv in self.convs]
            pooled = [F.adaptive_max_pool1d(c, 1).squeeze(-1) for c in conved]
            return self.fc(self.dropout(torch.cat(pooled, dim=1)))

    if conv == "2d":
        model = CNN(VOCAB, EMB, 8, [2, 3, 4], 1, 0.0, PAD_IDX)
    else:
        model = CNN1d(VOCAB, EMB, 8, [2, 3, 5], 2, 0.0, PAD_IDX)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    model.embedding.weight.data.copy_(torch.from_numpy(pretrained))
    model.embedding.weight.data[UNK_IDX] = torch.zeros(EMB)
    model.embedding.weight.data[PAD_IDX] = torch.zeros(EMB)
    if init_state is not None:
        load_numpy_state(lib, model, init_state)
    start_state = numpy_state(model)
    optimizer = optim.Adam(model.parameters())
    criterion = nn.BCEWithLogitsLoss() if conv == "2d" else nn.CrossEntropyLoss()

    def binary_accuracy(preds, y):
        rounded_preds = torch.round(torch.sigmoid(preds))
        correct = (rounded_preds == y).float()
        return correct.sum() / len(correct)

    X, Y = torch.from_numpy(tokens), torch.from_numpy(labels)
    rec = {"n_params": n_params, "loss": [], "acc": [], "pad_row_grad": [], "conv_grad": []}
    for epoch in range(epochs):
        model.train()
        for i in range(0, len(X), 16):
            text, label = X[i:i + 16], Y[i:i + 16]
            optimizer.zero_grad()
            if conv == "2d":
                predictions = model(text).squeeze(1)
                loss = criterion(predictions, label.float())
                acc = binary_accuracy(predictions, label.float())
            else:
                predictions = model(text)
                loss = criterion(predictions, label)
                acc = (predictions.argmax(1) == label).float().mean()
            loss.backward()
            rec["pad_row_grad"].append(to_np(model.embedding.weight.grad[PAD_IDX]))
            rec["conv_grad"].append(to_np(model.convs[0].weight.grad))
            optimizer.step()
            rec["loss"].append(loss.item())
            rec["acc"].append(acc.item())
    model.eval()
    with torch.no_grad():
        rec["eval"] = to_np(model(X))
    return rec, start_state


@pytest.mark.parametrize("conv", ["2d", "1d"])
def test_text_cnn_matches_torch(conv):
    rng = np.random.default_rng(81)
    n, length = 48, 12
    tokens = np.full((n, length), PAD_IDX, np.int64)
    labels = rng.integers(0, 2, n).astype(np.int64)
    for i in range(n):
        k = int(rng.integers(5, length + 1))
        # positive documents use the upper half of the vocabulary more often
        hi = rng.random(k) < (0.7 if labels[i] else 0.3)
        tokens[i, :k] = np.where(hi, rng.integers(30, VOCAB, k), rng.integers(2, 30, k))
    pretrained = rng.standard_normal((VOCAB, EMB)).astype(np.float32) * 0.3
    want, state = run(TORCH, tokens, labels, pretrained, conv)
    got, _ = run(FLAMBEAU, tokens, labels, pretrained, conv, init_state=state)
    assert_records_close(got, want, atol=5e-5, rtol=5e-4)
    assert not want["pad_row_grad"][0].any()  # padding_idx row gets no gradient

"""Script parity: word embeddings and bag-of-words text classification.

1. Skip-gram with negative sampling (the pattern of the popular word2vec PyTorch implementations): input and
   output nn.Embedding tables, a unigram^0.75 noise distribution, positive and negative scores through torch.bmm,
   the loss written both as .sigmoid().log() and with F.logsigmoid, SparseAdam-free Adam, and nearest neighbours
   by cosine similarity (F.normalize, matmul, topk).
2. The torchtext tutorial's TextClassificationModel: nn.EmbeddingBag(mode='mean') over flat token ids with
   offsets (torch.cumsum), a Linear head, SGD(lr=5) with StepLR, clip_grad_norm_(0.1), accuracy under no_grad.
3. A word-level language model whose output layer is nn.AdaptiveLogSoftmaxWithLoss.

Each runs with PyTorch and with flambeau from the same initial weights and data; losses, gradients and results
are compared step by step. The negative samples are drawn once in numpy so both libraries see the same."""
import numpy as np
import pytest

from script_parity import FLAMBEAU, TORCH, assert_records_close, load_numpy_state, numpy_state, to_np
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)


def corpus(rng, n=600, vocab=40):
    # Zipf-like unigram frequencies with local structure: word w tends to be followed by w+1
    words = [int(rng.integers(vocab))]
    for _ in range(n - 1):
        words.append((words[-1] + 1) % vocab if rng.random() < 0.6 else int(min(rng.zipf(1.5), vocab) - 1))
    return np.array(words, np.int64)


def skipgram_pairs(words, window=2):
    centers, contexts = [], []
    for i, w in enumerate(words):
        for j in range(max(0, i - window), min(len(words), i + window + 1)):
            if j != i:
                centers.append(w)
                contexts.append(words[j])
    return np.array(centers, np.int64), np.array(contexts, np.int64)


def run_skipgram(lib, words, noise_ids, loss_form, init_state=None, vocab=40, dim=16, steps=8, batch=64):
    torch, nn, F, optim = lib.torch, lib.nn, lib.F, lib.optim

    class SkipGramNeg(nn.Module):
        def __init__(self, n_vocab, n_embed, noise_dist=None):
            super().__init__()
            self.n_vocab, self.n_embed, self.noise_dist = n_vocab, n_embed, noise_dist
            self.in_embed = nn.Embedding(n_vocab, n_embed)
            self.out_embed = nn.Embedding(n_vocab, n_embed)
            self.in_embed.weight.data.uniform_(-1, 1)
            self.out_embed.weight.data.uniform_(-1, 1)

        def forward_input(self, input_words):
            return self.in_embed(input_words)

        def forward_output(self, output_words):
            return self.out_embed(output_words)

        def forward_noise(self, noise_words, batch_size, n_samples):
            return self.out_embed(noise_words).view(batch_size, n_samples, self.n_embed)

    class NegativeSamplingLoss(nn.Module):
        def forward(self, input_vectors, output_vectors, noise_vectors):
            batch_size, embed_size = input_vectors.shape
            input_vectors = input_vectors.view(batch_size, embed_size, 1)
            output_vectors = output_vectors.view(batch_size, 1, embed_size)
            if loss_form == "sigmoid_log":
                out_loss = torch.bmm(output_vectors, input_vectors).sigmoid().log()
                out_loss = out_loss.squeeze()
                noise_loss = torch.bmm(noise_vectors.neg(), input_vectors).sigmoid().log()
                noise_loss = noise_loss.squeeze().sum(1)
            else:
                out_loss = F.logsigmoid(torch.bmm(output_vectors, input_vectors)).squeeze(-1).squeeze(-1)
                noise_loss = F.logsigmoid(-torch.bmm(noise_vectors, input_vectors)).squeeze(-1).sum(1)
            return -(out_loss + noise_loss).mean()

    freqs = np.bincount(words, minlength=vocab).astype(np.float64)
    unigram = freqs / freqs.sum()
    noise_dist = torch.from_numpy(unigram ** 0.75 / np.sum(unigram ** 0.75)).float()
    model = SkipGramNeg(vocab, dim, noise_dist=noise_dist)
    if init_state is not None:
        load_numpy_state(lib, model, init_state)
    start_state = numpy_state(model)
    criterion = NegativeSamplingLoss()
    optimizer = optim.Adam(model.parameters(), lr=0.003)
    centers, contexts = skipgram_pairs(words)
    n_samples = noise_ids.shape[1]
    rec = {"loss": [], "in_grad": []}
    for step in range(steps):
        sl = slice(step * batch, (step + 1) * batch)
        inputs, targets = torch.from_numpy(centers[sl]), torch.from_numpy(contexts[sl])
        input_vectors = model.forward_input(inputs)
        output_vectors = model.forward_output(targets)
        noise_vectors = model.forward_noise(torch.from_numpy(noise_ids[sl].reshape(-1)), inputs.size(0), n_samples)
        loss = criterion(input_vectors, output_vectors, noise_vectors)
        optimizer.zero_grad()
        loss.backward()
        rec["in_grad"].append(to_np(model.in_embed.weight.grad))
        optimizer.step()
        rec["loss"].append(loss.item())
    # nearest neighbours by cosine similarity
    with torch.no_grad():
        embeddings = F.normalize(model.in_embed.weight, p=2, dim=1)
        valid = torch.tensor([0, 3, 7])
        sims = torch.mm(embeddings[valid], embeddings.t())
        values, closest = sims.topk(4, dim=1)
    rec["sims"] = to_np(values)
    rec["closest"] = to_np(closest)
    rec["noise_dist"] = to_np(model.noise_dist)
    return rec, start_state


@pytest.mark.parametrize("loss_form", ["sigmoid_log", "logsigmoid"])
def test_skipgram_negative_sampling_matches_torch(loss_form):
    rng = np.random.default_rng(41)
    words = corpus(rng)
    freqs = np.bincount(words, minlength=40) ** 0.75
    noise_ids = rng.choice(40, size=(8 * 64, 5), p=freqs / freqs.sum())
    want, state = run_skipgram(TORCH, words, noise_ids, loss_form)
    got, _ = run_skipgram(FLAMBEAU, words, noise_ids, loss_form, init_state=state)
    assert_records_close(got, want, atol=5e-5, rtol=5e-4)


def test_noise_sampling_with_replacement_follows_the_distribution():
    """forward_noise's torch.multinomial(noise_dist, B * n, replacement=True): flambeau's draws follow the
    distribution (PyTorch's generator differs, so only the frequencies are compared)."""
    import flambeau
    import torch
    dist = np.array([0.5, 0.2, 0.15, 0.1, 0.05], np.float32)
    for lib in (torch, flambeau):
        lib.manual_seed(3)
        draws = lib.multinomial(lib.from_numpy(dist.copy()), 20000, replacement=True)
        assert tuple(draws.shape) == (20000,)
        freq = np.bincount(to_np(draws), minlength=5) / 20000
        np.testing.assert_allclose(freq, dist, atol=0.015)
    with pytest.raises(RuntimeError):
        flambeau.multinomial(flambeau.from_numpy(dist), 6, replacement=False)


def run_text_classifier(lib, docs, labels, init_state=None, epochs=3):
    torch, nn, optim = lib.torch, lib.nn, lib.optim

    class TextClassificationModel(nn.Module):
        def __init__(self, vocab_size, embed_dim, num_class):
            super().__init__()
            self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, sparse=False)
            self.fc = nn.Linear(embed_dim, num_class)
            self.init_weights()

        def init_weights(self):
            initrange = 0.5
            self.embedding.weight.data.uniform_(-initrange, initrange)
            self.fc.weight.data.uniform_(-initrange, initrange)
            self.fc.bias.data.zero_()

        def forward(self, text, offsets):
            embedded = self.embedding(text, offsets)
            return self.fc(embedded)

    def collate_batch(batch):
        label_list, text_list, offsets = [], [], [0]
        for _label, _text in batch:
            label_list.append(_label)
            processed_text = torch.tensor(_text, dtype=torch.int64)
            text_list.append(processed_text)
            offsets.append(processed_text.size(0))
        label_list = torch.tensor(label_list, dtype=torch.int64)
        offsets = torch.tensor(offsets[:-1]).cumsum(dim=0)
        text_list = torch.cat(text_list)
        return label_list, text_list, offsets

    data = list(zip(labels, docs))
    n_train = int(len(data) * 0.75)
    train_data, valid_data = torch.utils.data.random_split(
        data, [n_train, len(data) - n_train], generator=torch.Generator().manual_seed(42))
    # random_split's permutation comes from each library's generator; pin the split for the parity run
    train_data, valid_data = data[:n_train], data[n_train:]
    train_dataloader = torch.utils.data.DataLoader(train_data, batch_size=8, shuffle=False, collate_fn=collate_batch)
    valid_dataloader = torch.utils.data.DataLoader(valid_data, batch_size=8, shuffle=False, collate_fn=collate_batch)

    model = TextClassificationModel(50, 16, 4)
    if init_state is not None:
        load_numpy_state(lib, model, init_state)
    start_state = numpy_state(model)
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=5)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.1)
    rec = {"loss": [], "acc": [], "lr": [], "emb_grad": []}

    def evaluate(dataloader):
        model.eval()
        total_acc, total_count = 0, 0
        with torch.no_grad():
            for idx, (label, text, offsets) in enumerate(dataloader):
                predicted_label = model(text, offsets)
                total_acc += (predicted_label.argmax(1) == label).sum().item()
                total_count += label.size(0)
        return total_acc / total_count

    total_accu = None
    for epoch in range(epochs):
        model.train()
        for idx, (label, text, offsets) in enumerate(train_dataloader):
            optimizer.zero_grad()
            predicted_label = model(text, offsets)
            loss = criterion(predicted_label, label)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            rec["emb_grad"].append(to_np(model.embedding.weight.grad))
            optimizer.step()
            rec["loss"].append(loss.item())
        accu_val = evaluate(valid_dataloader)
        if total_accu is not None and total_accu > accu_val:
            scheduler.step()
        else:
            total_accu = accu_val
        rec["acc"].append(accu_val)
        rec["lr"].append(scheduler.get_last_lr()[0])
    return rec, start_state


def test_embeddingbag_text_classifier_matches_torch():
    rng = np.random.default_rng(51)
    docs, labels = [], []
    for _ in range(64):
        label = int(rng.integers(4))
        n = int(rng.integers(3, 12))
        # each class prefers its own block of the vocabulary
        toks = np.where(rng.random(n) < 0.6, rng.integers(label * 12, label * 12 + 12, n), rng.integers(0, 50, n))
        docs.append([int(t) for t in toks])
        labels.append(label)
    want, state = run_text_classifier(TORCH, docs, labels)
    got, _ = run_text_classifier(FLAMBEAU, docs, labels, init_state=state)
    assert_records_close(got, want, atol=5e-5, rtol=5e-4)


def run_adaptive_lm(lib, words, init_state=None, steps=5):
    torch, nn, optim = lib.torch, lib.nn, lib.optim

    class WordLM(nn.Module):
        def __init__(self, ntoken, ninp, nhid):
            super().__init__()
            self.encoder = nn.Embedding(ntoken, ninp)
            self.rnn = nn.LSTM(ninp, nhid, batch_first=True)
            self.crit = nn.AdaptiveLogSoftmaxWithLoss(nhid, ntoken, cutoffs=[8, 20], div_value=2.0)

        def forward(self, x, y, hidden=None):
            out, hidden = self.rnn(self.encoder(x), hidden)
            return self.crit(out.reshape(-1, out.size(-1)), y.reshape(-1)), hidden

    model = WordLM(40, 12, 24)
    if init_state is not None:
        load_numpy_state(lib, model, init_state)
    start_state = numpy_state(model)
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    data = torch.from_numpy(words[:4 * 100].reshape(4, 100))
    rec = {"loss": [], "output": []}
    hidden = None
    for step in range(steps):
        x, y = data[:, step * 10:step * 10 + 10], data[:, step * 10 + 1:step * 10 + 11]
        if hidden is not None:
            hidden = tuple(h.detach() for h in hidden)
        (output, loss), hidden = model(x, y, hidden)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        rec["loss"].append(loss.item())
        rec["output"].append(to_np(output))
    model.eval()
    with torch.no_grad():
        out, _ = model.rnn(model.encoder(data[:, :10]))
        flat = out.reshape(-1, out.size(-1))
        rec["log_prob"] = to_np(model.crit.log_prob(flat))
        rec["predict"] = to_np(model.crit.predict(flat))
    return rec, start_state


def test_adaptive_softmax_language_model_matches_torch():
    words = corpus(np.random.default_rng(61))
    want, state = run_adaptive_lm(TORCH, words)
    got, _ = run_adaptive_lm(FLAMBEAU, words, init_state=state)
    assert_records_close(got, want, atol=5e-5, rtol=5e-4)

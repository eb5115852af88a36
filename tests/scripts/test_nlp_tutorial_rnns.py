"""Script parity: PyTorch's classic NLP tutorials, close to their own code.

1. "Classifying names with a character-level RNN": a hand-written RNN cell (Linear over torch.cat((input,
   hidden), 1), nn.LogSoftmax(dim=1)), one-hot letter tensors filled by indexing, NLLLoss, the manual update
   p.data.add_(p.grad.data, alpha=-lr), and prediction with output.topk(1) / .item(); plus the nn.RNN version.
2. "Advanced: Making Dynamic Decisions and the Bi-LSTM CRF": a BiLSTM emitting tag scores, a CRF with a
   transitions Parameter, the forward algorithm with the hand-written log_sum_exp (max + log(sum(exp))),
   the gold-path score, Viterbi decoding with torch.max / argmax, SGD with weight_decay.

Each runs with PyTorch and with flambeau from the same initial weights and data; losses, gradients and decoded
results are compared step by step."""
import string

import numpy as np

from script_parity import FLAMBEAU, TORCH, assert_records_close, load_numpy_state, numpy_state, to_np
from script_parity import torch_single_thread  # noqa: F401  (autouse fixture)

ALL_LETTERS = string.ascii_letters + " .,;'"
N_LETTERS = len(ALL_LETTERS)


def name_data(rng, n=30):
    cats = ["English", "Italian", "Japanese"]
    syll = {"English": ["th", "son", "ley", "ham", "wood"], "Italian": ["ini", "etti", "ucci", "ello", "ari"],
            "Japanese": ["ka", "mo", "shi", "ta", "ro"]}
    out = []
    for _ in range(n):
        c = cats[int(rng.integers(3))]
        name = "".join(syll[c][int(rng.integers(5))] for _ in range(int(rng.integers(2, 4)))).capitalize()
        out.append((c, name))
    return cats, out


def run_name_rnn(lib, cats, data, init_state=None, use_nn_rnn=False):
    torch, nn = lib.torch, lib.nn

    def letterToIndex(letter):
        return ALL_LETTERS.find(letter)

    def lineToTensor(line):
        tensor = torch.zeros(len(line), 1, N_LETTERS)
        for li, letter in enumerate(line):
            tensor[li][0][letterToIndex(letter)] = 1
        return tensor

    class RNN(nn.Module):
        def __init__(self, input_size, hidden_size, output_size):
            super(RNN, self).__init__()
            self.hidden_size = hidden_size
            self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
            self.h2o = nn.Linear(hidden_size, output_size)
            self.softmax = nn.LogSoftmax(dim=1)

        def forward(self, input, hidden):
            combined = torch.cat((input, hidden), 1)
            hidden = torch.tanh(self.i2h(combined))
            output = self.h2o(hidden)
            output = self.softmax(output)
            return output, hidden

        def initHidden(self):
            return torch.zeros(1, self.hidden_size)

    class CharRNN(nn.Module):
        def __init__(self, input_size, hidden_size, output_size):
            super(CharRNN, self).__init__()
            self.rnn = nn.RNN(input_size, hidden_size, nonlinearity="tanh")
            self.h2o = nn.Linear(hidden_size, output_size)
            self.softmax = nn.LogSoftmax(dim=1)

        def forward(self, line_tensor):
            rnn_out, hidden = self.rnn(line_tensor)
            output = self.h2o(hidden[0])
            output = self.softmax(output)
            return output

    n_hidden = 32
    rnn = CharRNN(N_LETTERS, n_hidden, len(cats)) if use_nn_rnn else RNN(N_LETTERS, n_hidden, len(cats))
    if init_state is not None:
        load_numpy_state(lib, rnn, init_state)
    start_state = numpy_state(rnn)
    criterion = nn.NLLLoss()
    learning_rate = 0.005

    def train(category_tensor, line_tensor):
        rnn.zero_grad()
        if use_nn_rnn:
            output = rnn(line_tensor)
        else:
            hidden = rnn.initHidden()
            for i in range(line_tensor.size()[0]):
                output, hidden = rnn(line_tensor[i], hidden)
        loss = criterion(output, category_tensor)
        loss.backward()
        for p in rnn.parameters():
            p.data.add_(p.grad.data, alpha=-learning_rate)
        return output, loss.item()

    def categoryFromOutput(output):
        top_n, top_i = output.topk(1)
        category_i = top_i[0].item()
        return cats[category_i], category_i

    rec = {"loss": [], "guess": [], "output": []}
    for category, line in data:
        category_tensor = torch.tensor([cats.index(category)], dtype=torch.long)
        line_tensor = lineToTensor(line)
        output, loss = train(category_tensor, line_tensor)
        rec["loss"].append(loss)
        rec["guess"].append(categoryFromOutput(output)[0])
        rec["output"].append(to_np(output))
    return rec, start_state


def test_name_classification_rnn_matches_torch():
    cats, data = name_data(np.random.default_rng(71))
    for use_nn_rnn in (False, True):
        want, state = run_name_rnn(TORCH, cats, data, use_nn_rnn=use_nn_rnn)
        got, _ = run_name_rnn(FLAMBEAU, cats, data, init_state=state, use_nn_rnn=use_nn_rnn)
        assert_records_close(got, want, atol=2e-5, rtol=2e-4)


def run_bilstm_crf(lib, training_data, init_state=None, epochs=2):
    torch, nn, optim = lib.torch, lib.nn, lib.optim
    START_TAG, STOP_TAG = "<START>", "<STOP>"

    def argmax(vec):
        _, idx = torch.max(vec, 1)
        return idx.item()

    def prepare_sequence(seq, to_ix):
        idxs = [to_ix[w] for w in seq]
        return torch.tensor(idxs, dtype=torch.long)

    def log_sum_exp(vec):
        max_score = vec[0, argmax(vec)]
        max_score_broadcast = max_score.view(1, -1).expand(1, vec.size()[1])
        return max_score + torch.log(torch.sum(torch.exp(vec - max_score_broadcast)))

    class BiLSTM_CRF(nn.Module):
        def __init__(self, vocab_size, tag_to_ix, embedding_dim, hidden_dim):
            super(BiLSTM_CRF, self).__init__()
            self.embedding_dim = embedding_dim
            self.hidden_dim = hidden_dim
            self.vocab_size = vocab_size
            self.tag_to_ix = tag_to_ix
            self.tagset_size = len(tag_to_ix)
            self.word_embeds = nn.Embedding(vocab_size, embedding_dim)
            self.lstm = nn.LSTM(embedding_dim, hidden_dim // 2, num_layers=1, bidirectional=True)
            self.hidden2tag = nn.Linear(hidden_dim, self.tagset_size)
            self.transitions = nn.Parameter(torch.randn(self.tagset_size, self.tagset_size))
            self.transitions.data[tag_to_ix[START_TAG], :] = -10000
            self.transitions.data[:, tag_to_ix[STOP_TAG]] = -10000
            self.hidden = self.init_hidden()

        def init_hidden(self):
            # the tutorial draws torch.randn here; zeros keep the two libraries' runs identical
            return (torch.zeros(2, 1, self.hidden_dim // 2), torch.zeros(2, 1, self.hidden_dim // 2))

        def _forward_alg(self, feats):
            init_alphas = torch.full((1, self.tagset_size), -10000.)
            init_alphas[0][self.tag_to_ix[START_TAG]] = 0.
            forward_var = init_alphas
            for feat in feats:
                alphas_t = []
                for next_tag in range(self.tagset_size):
                    emit_score = feat[next_tag].view(1, -1).expand(1, self.tagset_size)
                    trans_score = self.transitions[next_tag].view(1, -1)
                    next_tag_var = forward_var + trans_score + emit_score
                    alphas_t.append(log_sum_exp(next_tag_var).view(1))
                forward_var = torch.cat(alphas_t).view(1, -1)
            terminal_var = forward_var + self.transitions[self.tag_to_ix[STOP_TAG]]
            alpha = log_sum_exp(terminal_var)
            return alpha

        def _get_lstm_features(self, sentence):
            self.hidden = self.init_hidden()
            embeds = self.word_embeds(sentence).view(len(sentence), 1, -1)
            lstm_out, self.hidden = self.lstm(embeds, self.hidden)
            lstm_out = lstm_out.view(len(sentence), self.hidden_dim)
            lstm_feats = self.hidden2tag(lstm_out)
            return lstm_feats

        def _score_sentence(self, feats, tags):
            score = torch.zeros(1)
            tags = torch.cat([torch.tensor([self.tag_to_ix[START_TAG]], dtype=torch.long), tags])
            for i, feat in enumerate(feats):
                score = score + self.transitions[tags[i + 1], tags[i]] + feat[tags[i + 1]]
            score = score + self.transitions[self.tag_to_ix[STOP_TAG], tags[-1]]
            return score

        def _viterbi_decode(self, feats):
            backpointers = []
            init_vvars = torch.full((1, self.tagset_size), -10000.)
            init_vvars[0][self.tag_to_ix[START_TAG]] = 0
            forward_var = init_vvars
            for feat in feats:
                bptrs_t = []
                viterbivars_t = []
                for next_tag in range(self.tagset_size):
                    next_tag_var = forward_var + self.transitions[next_tag]
                    best_tag_id = argmax(next_tag_var)
                    bptrs_t.append(best_tag_id)
                    viterbivars_t.append(next_tag_var[0][best_tag_id].view(1))
                forward_var = (torch.cat(viterbivars_t) + feat).view(1, -1)
                backpointers.append(bptrs_t)
            terminal_var = forward_var + self.transitions[self.tag_to_ix[STOP_TAG]]
            best_tag_id = argmax(terminal_var)
            path_score = terminal_var[0][best_tag_id]
            best_path = [best_tag_id]
            for bptrs_t in reversed(backpointers):
                best_tag_id = bptrs_t[best_tag_id]
                best_path.append(best_tag_id)
            start = best_path.pop()
            assert start == self.tag_to_ix[START_TAG]
            best_path.reverse()
            return path_score, best_path

        def neg_log_likelihood(self, sentence, tags):
            feats = self._get_lstm_features(sentence)
            forward_score = self._forward_alg(feats)
            gold_score = self._score_sentence(feats, tags)
            return forward_score - gold_score

        def forward(self, sentence):
            lstm_feats = self._get_lstm_features(sentence)
            score, tag_seq = self._viterbi_decode(lstm_feats)
            return score, tag_seq

    word_to_ix = {}
    for sentence, tags in training_data:
        for word in sentence:
            if word not in word_to_ix:
                word_to_ix[word] = len(word_to_ix)
    tag_to_ix = {"B": 0, "I": 1, "O": 2, START_TAG: 3, STOP_TAG: 4}
    model = BiLSTM_CRF(len(word_to_ix), tag_to_ix, 5, 4)
    if init_state is not None:
        load_numpy_state(lib, model, init_state)
    start_state = numpy_state(model)
    optimizer = optim.SGD(model.parameters(), lr=0.01, weight_decay=1e-4)
    rec = {"loss": [], "decode": [], "trans_grad": []}
    with torch.no_grad():
        precheck_sent = prepare_sequence(training_data[0][0], word_to_ix)
        score, path = model(precheck_sent)
        rec["decode"].append((score.item(), path))
    for epoch in range(epochs):
        for sentence, tags in training_data:
            model.zero_grad()
            sentence_in = prepare_sequence(sentence, word_to_ix)
            targets = torch.tensor([tag_to_ix[t] for t in tags], dtype=torch.long)
            loss = model.neg_log_likelihood(sentence_in, targets)
            loss.backward()
            rec["trans_grad"].append(to_np(model.transitions.grad))
            optimizer.step()
            rec["loss"].append(loss.item())
    with torch.no_grad():
        for sentence, _ in training_data:
            score, path = model(prepare_sequence(sentence, word_to_ix))
            rec["decode"].append((score.item(), path))
    return rec, start_state


def test_bilstm_crf_matches_torch():
    training_data = [(
        "the wall street journal reported today that apple corporation made money".split(),
        "B I I I O O O B I O O".split()
    ), (
        "georgia tech is a university in georgia".split(),
        "B I O O O O B".split()
    )]
    want, state = run_bilstm_crf(TORCH, training_data)
    got, _ = run_bilstm_crf(FLAMBEAU, training_data, init_state=state)
    assert_records_close(got, want, atol=5e-5, rtol=5e-4)
    assert want["loss"][-1] < want["loss"][0]

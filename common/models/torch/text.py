"""Neural text models on the shared PyTorch trainer: a fastText-style bag of embeddings, a TextCNN and a BiGRU
with attention pooling.

All take the text role (several text columns are joined, as for tfidf_linear) and treat a document as
whitespace-separated tokens (the news contest's character ids, or words). Fitted on the training fold:

- the vocabulary: tokens seen in at least `min_count` documents (`auto`: the rule tfidf_linear uses, so a
  small corpus keeps its rare tokens), the `max_vocab` most frequent; id 0 pads, id 1 is any other token;
- the length a document is cut to: the `length_quantile` of the fold's lengths, capped by `max_len`. A longer
  document keeps its head and its tail (`head_share` of the length from the start, the rest from the end):
  news states its topic at the start and sums up at the end.

Batches are padded to their longest document (`collate`), not to the cap. Regression targets are standardised
on the training fold, as the MLP does. Sizes are small by default (a test-size corpus trains in seconds on a
CPU); `embed_dim`, `channels`, `hidden`, `max_len`, `max_vocab` and `bigram_buckets` scale them up.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from common.models.base import MODELS
from common.models.tfidf import documents
from common.models.torch.trainer import TorchModel

PAD, UNKNOWN = 0, 1


def auto_min_count(n_docs: int) -> int:
    """The fewest documents (or occurrences) a token needs to enter a vocabulary: the rule tfidf_linear uses,
    so a small corpus keeps its rare tokens."""
    return min(max(2, n_docs // 20_000), max(1, n_docs // 10))


def cut_length(lengths: np.ndarray, quantile: float, max_len: int) -> int:
    """The length documents are cut to: the `quantile` of their lengths, capped by `max_len`."""
    lengths = lengths if len(lengths) else np.array([1])
    return max(1, min(int(max_len), int(np.ceil(np.quantile(lengths, quantile)))))


def head_and_tail(ids: np.ndarray, length: int, head_share: float) -> np.ndarray:
    """A document longer than `length` keeps its head (`head_share` of the length) and its tail."""
    if len(ids) <= length:
        return ids
    head = round(length * head_share)
    return np.concatenate([ids[:head], ids[len(ids) - (length - head):]])


def pad_ids(rows: list[np.ndarray], width: int, pad: int = PAD) -> np.ndarray:
    """Token id rows padded with `pad` to `width` (at least the longest row) as one (rows, width) array."""
    padded = np.full((len(rows), max([width, *map(len, rows)])), pad, dtype=np.int64)
    for row, ids in enumerate(rows):
        padded[row, : len(ids)] = ids
    return padded


def network_targets(model, y) -> np.ndarray | None:
    """The targets as a text network learns them: class codes, 0/1, or the value standardised with the training
    fold's mean and std (`model.y_mean_`, `model.y_std_`); None without labels."""
    if y is None:
        return None
    targets = np.asarray(y, dtype=np.int64 if model.task == "multiclass" else np.float32)
    return (targets - model.y_mean_) / model.y_std_ if model.task == "regression" else targets


class _Documents:
    """A torch-style dataset of (token ids, target)."""

    def __init__(self, ids: list[np.ndarray], targets: np.ndarray | None):
        self.ids, self.targets = ids, targets

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return self.ids[i], 0 if self.targets is None else self.targets[i]


class TokenModel(TorchModel):
    """The vocabulary, truncation, padding and target scaling the text networks share."""

    tasks = ("regression", "binary", "multiclass")
    takes = frozenset({"text"})
    min_length = 2  # a batch is padded to at least this many tokens (a bigram; a convolution's widest kernel)

    def __init__(self, task="multiclass", seed=0, n_classes=None, max_vocab=30_000, min_count="auto", max_len=512,
                 length_quantile=0.9, head_share=0.5, embed_dim=64, dropout=0.2, epochs=10, batch_size=64,
                 lr=3e-3, weight_decay=0.0, patience=3, **params):
        super().__init__(task, seed, n_classes, epochs=epochs, batch_size=batch_size, lr=lr,
                         weight_decay=weight_decay, patience=patience, **params)
        self.max_vocab, self.min_count, self.max_len = max_vocab, min_count, max_len
        self.length_quantile, self.head_share = length_quantile, head_share
        self.embed_dim, self.dropout = embed_dim, dropout

    def fit(self, X, y, X_valid=None, y_valid=None, workdir=None):
        tokens = [doc.split() for doc in documents(X)]
        counts = Counter(t for doc in tokens for t in set(doc))  # document frequency
        min_count = auto_min_count(len(tokens)) if self.min_count == "auto" else int(self.min_count)
        kept = [t for t, c in sorted(counts.items(), key=lambda tc: (-tc[1], tc[0])) if c >= min_count]
        self.vocab_ = {t: i + 2 for i, t in enumerate(kept[: self.max_vocab])}
        self.length_ = cut_length(np.array([len(doc) for doc in tokens]), self.length_quantile, self.max_len)
        if self.task == "regression":
            self.y_mean_, self.y_std_ = float(np.mean(y)), float(np.std(y) or 1.0)
        self._encoded = (X, [self._encode(doc) for doc in tokens])  # fit's own rows: encoded once
        super().fit(X, y, X_valid, y_valid, workdir)
        self._encoded = None
        self.info.update(vocabulary=len(self.vocab_) + 2, max_len=self.length_, min_count=min_count)
        return self

    def _encode(self, tokens: list[str]) -> np.ndarray:
        ids = np.fromiter((self.vocab_.get(t, UNKNOWN) for t in tokens), dtype=np.int64, count=len(tokens))
        ids = head_and_tail(ids, self.length_, self.head_share)
        return ids if len(ids) else np.array([PAD], dtype=np.int64)

    def make_dataset(self, X, y, training):
        cached = getattr(self, "_encoded", None)
        ids = cached[1] if cached is not None and cached[0] is X else [self._encode(d.split()) for d in documents(X)]
        return _Documents(ids, network_targets(self, y))

    def collate(self, batch):
        """Token ids padded (with 0) to the longest document of the batch."""
        import torch

        padded = pad_ids([ids for ids, _ in batch], self.min_length)
        return torch.from_numpy(padded), torch.as_tensor(np.array([t for _, t in batch]))

    def predict(self, X):
        out = super().predict(X)
        return out * self.y_std_ + self.y_mean_ if self.task == "regression" else out

    @property
    def n_tokens_(self) -> int:
        return len(self.vocab_) + 2


@MODELS.register("fasttext")
class FastText(TokenModel):
    """fastText: the mean of the embeddings of a document's tokens plus the mean of its hashed token bigrams,
    then a linear layer. Bigrams are hashed from the ids into `bigram_buckets` rows; `auto`: none below 5,000
    training documents (too few to learn them), else two per vocabulary token up to 100,000; 0: unigrams only."""

    def __init__(self, task="multiclass", seed=0, n_classes=None, bigram_buckets="auto", lr=1e-2, epochs=30,
                 **params):
        # a mean of embeddings learns slowly: a higher rate and more epochs (early stopping ends them on big data)
        super().__init__(task, seed, n_classes, lr=lr, epochs=epochs, **params)
        self.bigram_buckets = bigram_buckets

    def build_network(self, X, y, out_dim):
        import torch
        from torch import nn

        buckets = self.bigram_buckets
        if buckets == "auto":  # a bigram table needs many documents: on 400 generated news ones it costs macro-F1
            buckets = 0 if len(y) < 5_000 else min(100_000, 2 * self.n_tokens_)  # 0.81 -> 0.54
        buckets = int(buckets)
        vocab, dim, dropout = self.n_tokens_, self.embed_dim, self.dropout
        self.info["bigram_buckets"] = buckets

        class BagOfEmbeddings(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.EmbeddingBag(vocab + buckets, dim, mode="mean", padding_idx=PAD)
                with torch.no_grad():  # bigrams start at zero: each joins as it learns, instead of adding noise
                    self.embed.weight[vocab:] = 0
                self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, out_dim))

            def forward(self, ids):
                bag = self.embed(ids)
                if buckets:  # a mean of its own, added: bigrams do not dilute the unigrams' mean
                    a, b = ids[:, :-1], ids[:, 1:]
                    bigrams = vocab + (a * 1_000_003 + b) % buckets  # the same pair, the same row
                    bag = bag + self.embed(bigrams.masked_fill((a == PAD) | (b == PAD), PAD))
                return self.out(bag)

        return BagOfEmbeddings()


@MODELS.register("textcnn")
class TextCNN(TokenModel):
    """TextCNN (Kim, 2014): token embeddings, 1-D convolutions of several widths, max over time, a linear
    layer. `kernel_sizes` are the widths (token n-grams), `channels` the filters per width."""

    def __init__(self, task="multiclass", seed=0, n_classes=None, kernel_sizes=(2, 3, 4), channels=64, lr=1e-2,
                 epochs=20, **params):
        # macro-F1 on 400 generated news documents: 0.22 at lr 3e-3 and 10 epochs, 0.65 at 1e-2 and 20
        super().__init__(task, seed, n_classes, lr=lr, epochs=epochs, **params)
        self.kernel_sizes, self.channels = tuple(int(k) for k in kernel_sizes), int(channels)
        self.min_length = max(self.kernel_sizes)

    def build_network(self, X, y, out_dim):
        import torch
        from torch import nn

        vocab, dim, dropout, kernels, channels = self.n_tokens_, self.embed_dim, self.dropout, self.kernel_sizes, self.channels

        class ConvText(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(vocab, dim, padding_idx=PAD)
                self.convs = nn.ModuleList(nn.Conv1d(dim, channels, k) for k in kernels)
                self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels * len(kernels), out_dim))

            def forward(self, ids):
                x = self.embed(ids).transpose(1, 2)  # (batch, dim, tokens)
                pad = (ids == PAD).unsqueeze(1)
                pooled = []
                for conv in self.convs:
                    h = conv(x).relu()
                    # windows reaching into the padding count 0, which ReLU outputs never fall below
                    h = h.masked_fill(pad[..., conv.kernel_size[0] - 1:], 0.0)
                    pooled.append(h.amax(dim=-1))
                return self.out(torch.cat(pooled, dim=1))

        return ConvText()


def reverse_within(x, lengths):
    """Each row of `x` (batch, tokens, ...) reversed over its first `lengths` positions; the padding after them
    stays in place. Its own inverse."""
    import torch

    positions = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    index = torch.where(positions < lengths.unsqueeze(1), lengths.unsqueeze(1) - 1 - positions, positions)
    return x.gather(1, index.view(*index.shape, *(1,) * (x.dim() - 2)).expand_as(x))


@MODELS.register("bigru")
class BiGRU(TokenModel):
    """A bidirectional GRU over the token embeddings, pooled by additive attention (Yang et al., 2016): each
    state h_t gets the score v . tanh(W h_t + b), a softmax over the document's own tokens weights the states,
    and a linear layer reads their sum. `hidden` units per direction, `layers` stacked (each reads both
    directions of the one below).

    Padding never reaches a document's prediction: batches are padded at the end, so the forward GRU has read
    every token before the first pad, the backward one reads each document reversed within its own length
    (`reverse_within`; packed sequences would do the same but torch.export cannot trace them), and attention
    masks the pad positions. A document's prediction is the same alone or beside a longer one.

    Sized for a CPU: a GRU steps token by token, so `max_len` is 256 (1,024 or more on a GPU), embeddings and
    states 64 wide, one layer. Gradients are clipped at norm 1 (`clip_grad`): a recurrent network's can
    explode over long documents."""

    def __init__(self, task="multiclass", seed=0, n_classes=None, hidden=64, layers=1, max_len=256, clip_grad=1.0,
                 lr=1e-2, epochs=20, **params):
        # macro-F1 on 400 generated news documents (max_len 128, 10 epochs): 0.29 at lr 3e-3, 0.41 at 1e-2
        super().__init__(task, seed, n_classes, max_len=max_len, clip_grad=clip_grad, lr=lr, epochs=epochs, **params)
        self.hidden, self.layers = int(hidden), int(layers)

    def build_network(self, X, y, out_dim):
        import torch
        from torch import nn

        vocab, dim, hidden, layers, dropout = self.n_tokens_, self.embed_dim, self.hidden, self.layers, self.dropout

        class AttentiveBiGRU(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(vocab, dim, padding_idx=PAD)
                widths = [dim] + [2 * hidden] * (layers - 1)
                self.forward_grus = nn.ModuleList(nn.GRU(w, hidden, batch_first=True) for w in widths)
                self.backward_grus = nn.ModuleList(nn.GRU(w, hidden, batch_first=True) for w in widths)
                self.drop = nn.Dropout(dropout)
                self.score = nn.Sequential(nn.Linear(2 * hidden, 2 * hidden), nn.Tanh(), nn.Linear(2 * hidden, 1))
                self.out = nn.Linear(2 * hidden, out_dim)

            def forward(self, ids):
                # an empty document is one pad token: it counts as length 1, so its softmax has a position
                lengths = (ids != PAD).sum(1).clamp(min=1)
                x = self.embed(ids)
                for forward_gru, backward_gru in zip(self.forward_grus, self.backward_grus):
                    ahead, _ = forward_gru(x)
                    behind, _ = backward_gru(reverse_within(x, lengths))
                    x = self.drop(torch.cat([ahead, reverse_within(behind, lengths)], dim=-1))
                scores = self.score(x).squeeze(-1)
                inside = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0) < lengths.unsqueeze(1)
                weights = torch.softmax(scores.masked_fill(~inside, float("-inf")), dim=1)
                return self.out(torch.bmm(weights.unsqueeze(1), x).squeeze(1))

        return AttentiveBiGRU()

    def _export(self, loader, path):
        import warnings

        with warnings.catch_warnings():
            # nn.GRU re-assigns its flat weight list while torch.export traces it; the saved program still
            # gives the network's outputs (checked on generated documents), so the warning is noise
            warnings.filterwarnings("ignore", message="The tensor attributes .*_flat_weights")
            super()._export(loader, path)

"""BERT pre-trained on the contest's own text: a word-level tokenizer, masked-LM pre-training, fine-tuning.

The news contest's documents are anonymised ids, so no published BERT knows its vocabulary; this one learns
it from the corpus. Takes the text role (several text columns are joined, as for tfidf_linear):

1. the tokenizer (HF `tokenizers`, saved as tokenizer.json): a WordLevel model over the corpus's whitespace
   tokens, specials [PAD] [UNK] [CLS] [SEP] [MASK] first (ids 0-4), then tokens seen at least `min_count`
   times (`auto`: the rule the other text models use, so a small corpus keeps its rare tokens), the
   `max_vocab` most frequent;
2. masked-LM pre-training of a `transformers.BertForMaskedLM` built from the params (no download) on ALL the
   text there is: the training and validation folds and the unlabelled rows (`model.unlabelled`, the test
   inputs the fold loop hands over: masked-LM reads no labels). It runs once per corpus: the corpus digest
   (order-free, so every fold has the same one) and the pre-training params name a folder under
   `model.cache_dir` (the contest's cache/pretrained) or, outside a fold loop, the workdir (else nothing is
   kept). The folder holds tokenizer.json, encoder.safetensors, pretrained.json and mlm/, the engine's workdir
   of the pre-training fit: it checkpoints each epoch and a killed pre-training resumes where it stopped;
3. fine-tuning per fold on the shared engine: the pre-trained encoder, the mean of its last hidden states over
   the document, a linear layer.

Documents are cut to the `length_quantile` of the corpus's lengths (capped by `max_len`, [CLS] and [SEP]
included) keeping head and tail; batches are padded to their longest document. CPU-sized defaults (hidden
128, 2 layers, 2 heads, 256 tokens); BERT-base is hidden 768, 12 layers, 12 heads, 512 tokens.
On 1,000 generated news documents + 200 test ones (5 stratified folds, 2 shared CPU cores, max_len 128), macro-F1:
tfidf_linear 0.869; bert 0.878 without pre-training, 0.881 after 3 masked-LM epochs (41 s, once), 0.899 after 10
(112 s); fine-tuning about 55 s a fold. (The generator draws tokens independently: little for masked-LM to learn.)
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from common.data.io import atomic_path, read_json, stable_hash, write_json
from common.models.base import MODELS
from common.models.tfidf import documents
from common.models.torch.text import auto_min_count, cut_length, head_and_tail, network_targets, pad_ids
from common.models.torch.trainer import TorchModel

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
PAD, UNK, CLS, SEP, MASK = range(len(SPECIALS))
IGNORE = -100  # a label cross-entropy skips: the positions masked-LM does not predict


def build_tokenizer(texts: list[str], max_vocab: int, min_count="auto"):
    """A WordLevel tokenizer over the whitespace tokens of `texts`: the specials, then the tokens seen at least
    `min_count` times (`auto`: from the corpus size), the `max_vocab` most frequent."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    least = auto_min_count(len(texts)) if min_count == "auto" else int(min_count)
    trainer = trainers.WordLevelTrainer(vocab_size=int(max_vocab) + len(SPECIALS), min_frequency=least,
                                        special_tokens=list(SPECIALS), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def encode(tokenizer, texts: list[str], length: int, head_share: float) -> list[np.ndarray]:
    """[CLS] + the document's ids (head and tail when longer than `length` - 2) + [SEP]."""
    out = []
    for enc in tokenizer.encode_batch(texts, add_special_tokens=False):
        ids = head_and_tail(np.asarray(enc.ids, dtype=np.int64), length - 2, head_share)
        out.append(np.concatenate([[CLS], ids, [SEP]]).astype(np.int64))
    return out


def corpus_digest(texts: list[str]) -> tuple[str, list[int]]:
    """A digest of the documents as a multiset (every fold of one contest has the same) and the order that
    sorts them by their own hash (so the pre-training sees them in one order whatever the fold)."""
    hashes = [hashlib.blake2b(t.encode(), digest_size=16).digest() for t in texts]
    order = sorted(range(len(texts)), key=hashes.__getitem__)
    return hashlib.blake2b(b"".join(hashes[i] for i in order), digest_size=16).hexdigest(), order


class _Rows:
    """A torch-style dataset of (token ids, target)."""

    def __init__(self, ids, targets):
        self.ids, self.targets = ids, targets

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return self.ids[i], self.targets[i]


class MaskedLM(TorchModel):
    """Masked-LM pre-training as a fit on the engine: X is a list of encoded documents, y is unused. Each batch
    masks `mask_prob` of its tokens (80% [MASK], 10% a random token, 10% kept); the network returns, per
    document, the summed cross-entropy over its masked positions and their count, so the loss is the mean over
    masked tokens. Validation batches are masked the same way every epoch (seeded by their rows)."""

    tasks = ("mlm",)

    def __init__(self, bert_config, mask_prob=0.15, **params):
        super().__init__("mlm", monitor="loss", export=False, **params)
        self.bert_config, self.mask_prob = bert_config, mask_prob

    def out_dim(self, y):
        return 2

    def build_network(self, X, y, out_dim):
        import torch
        import torch.nn.functional as F
        from torch import nn
        from transformers import BertForMaskedLM

        class MaskedLoss(nn.Module):
            def __init__(self, config):
                super().__init__()
                self.mlm = BertForMaskedLM(config)

            def forward(self, batch):
                ids, labels = batch[:, 0], batch[:, 1]
                hidden = self.mlm.bert(input_ids=ids, attention_mask=(ids != PAD).long()).last_hidden_state
                masked = labels != IGNORE
                logits = self.mlm.cls(hidden[masked])  # only where a token is predicted: (masked, vocabulary)
                ce = F.cross_entropy(logits.float(), labels[masked], reduction="none")
                rows = torch.nonzero(masked)[:, 0]
                sums = torch.zeros(len(ids), device=ids.device, dtype=ce.dtype).index_add(0, rows, ce)
                return torch.stack([sums, masked.sum(1).to(ce.dtype)], dim=1)

        return MaskedLoss(self.bert_config)

    def make_dataset(self, X, y, training):
        return _Rows(X, np.full(len(X), -1) if training else np.arange(len(X)))

    def collate(self, batch):
        import torch

        ids = torch.from_numpy(pad_ids([ids for ids, _ in batch], 1))
        rows = [int(r) for _, r in batch]
        generator = None if rows[0] < 0 else torch.Generator().manual_seed(self.seed * 1_000_003 + sum(rows))
        draw = torch.rand(ids.shape, generator=generator)
        how = torch.rand(ids.shape, generator=generator)
        random_ids = torch.randint(len(SPECIALS), self.bert_config.vocab_size, ids.shape, generator=generator)
        candidates = ids >= len(SPECIALS)
        chosen = candidates & (draw < self.mask_prob)
        if not chosen.any() and candidates.any():  # a batch predicts at least one token
            chosen.view(-1)[torch.nonzero(candidates.view(-1))[0]] = True
        labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
        inputs = torch.where(chosen & (how < 0.8), torch.full_like(ids, MASK), ids)
        inputs = torch.where(chosen & (how >= 0.8) & (how < 0.9), random_ids, inputs)
        return torch.stack([inputs, labels], dim=1), torch.zeros(len(batch))

    def loss(self, out, target):
        return out[:, 0].sum() / out[:, 1].sum().clamp(min=1)


@MODELS.register("bert")
class Bert(TorchModel):
    """BERT from the contest's own text. Encoder: `hidden` units, `layers` blocks, `heads` attention heads,
    `intermediate` feed-forward units (None: 4 x hidden), `dropout`. Pre-training: `pretrain_epochs` (0: none,
    the encoder starts random), `pretrain_lr`, `mask_prob`. Fine-tuning: the engine's params (`epochs`, `lr`,
    `batch_size`, ...), `classifier_dropout`."""

    tasks = ("regression", "binary", "multiclass")
    takes = frozenset({"text"})

    def __init__(self, task="multiclass", seed=0, n_classes=None, max_vocab=30_000, min_count="auto", max_len=256,
                 length_quantile=0.9, head_share=0.5, hidden=128, layers=2, heads=2, intermediate=None, dropout=0.1,
                 classifier_dropout=0.1, pretrain_epochs=3, pretrain_lr=1e-3, mask_prob=0.15, epochs=10,
                 batch_size=16, lr=2e-3, weight_decay=0.01, patience=3, **params):
        # macro-F1 on 400 generated news documents (CPU, max_len 128): 0.18 at lr 5e-4, batch 32 and 8 epochs;
        # 0.79 at 3e-3, batch 16 and 10 epochs (a small encoder on little text wants a high rate)
        super().__init__(task, seed, n_classes, epochs=epochs, batch_size=batch_size, lr=lr,
                         weight_decay=weight_decay, patience=patience, **params)
        self.max_vocab, self.min_count, self.max_len = max_vocab, min_count, max_len
        self.length_quantile, self.head_share = length_quantile, head_share
        self.hidden, self.layers, self.heads, self.intermediate = int(hidden), int(layers), int(heads), intermediate
        self.dropout, self.classifier_dropout = dropout, classifier_dropout
        self.pretrain_epochs, self.pretrain_lr, self.mask_prob = int(pretrain_epochs), pretrain_lr, mask_prob
        if self.hidden % self.heads:
            raise ValueError(f"bert: hidden ({hidden}) must be a multiple of heads ({heads})")

    # ---- the pre-trained encoder, shared by every fold of a corpus
    def _config(self, vocab_size: int, **extra):
        from common.torch_compat import ensure_torchvision

        ensure_torchvision()
        from transformers import BertConfig

        return BertConfig(vocab_size=vocab_size, hidden_size=self.hidden, num_hidden_layers=self.layers,
                          num_attention_heads=self.heads, intermediate_size=int(self.intermediate or 4 * self.hidden),
                          hidden_dropout_prob=self.dropout, attention_probs_dropout_prob=self.dropout,
                          max_position_embeddings=int(self.max_len), type_vocab_size=1, pad_token_id=PAD, **extra)

    def _pretrain_key(self, digest: str) -> str:
        return stable_hash(digest, self.max_vocab, self.min_count, self.max_len, self.length_quantile,
                           self.head_share, self.hidden, self.layers, self.heads, self.intermediate, self.dropout,
                           self.pretrain_epochs, self.pretrain_lr, self.mask_prob, self.batch_size, self.seed)

    def pretrain(self, texts: list[str], folder: Path | None) -> dict:
        """The tokenizer, length and encoder weights for this corpus: read from `folder` when a previous fit
        finished them, else made (and, with a folder, saved: the masked-LM fit checkpoints in folder/mlm)."""
        from safetensors.torch import load_file, save_file
        from tokenizers import Tokenizer

        weights = folder / "encoder.safetensors" if folder is not None else None
        if weights is not None and weights.is_file():
            meta = read_json(folder / "pretrained.json")
            return {**meta, "tokenizer": Tokenizer.from_file(str(folder / "tokenizer.json")),
                    "encoder": load_file(str(weights)), "pretrained": "cached"}
        began = time.perf_counter()
        _, order = corpus_digest(texts)
        texts = [texts[i] for i in order]
        tokenizer = build_tokenizer(texts, self.max_vocab, self.min_count)
        lengths = np.array([len(t.split()) for t in texts])
        length = cut_length(lengths + 2, self.length_quantile, self.max_len)
        meta = {"length": max(3, length), "vocabulary": tokenizer.get_vocab_size(), "documents": len(texts)}
        encoder, info = None, {}
        if self.pretrain_epochs > 0:
            ids = encode(tokenizer, texts, meta["length"], self.head_share)
            held = np.random.default_rng(self.seed).permutation(len(ids))[: max(1, min(2_000, len(ids) // 20))]
            train = [ids[i] for i in np.setdiff1d(np.arange(len(ids)), held)] or ids
            mlm = MaskedLM(self._config(meta["vocabulary"]), self.mask_prob, seed=self.seed,
                           epochs=self.pretrain_epochs, patience=self.pretrain_epochs + 1, lr=self.pretrain_lr,
                           batch_size=self.batch_size, weight_decay=self.weight_decay, device=self.device,
                           amp=self.amp, grad_accum=self.grad_accum, clip_grad=self.clip_grad or 1.0,
                           warmup_epochs=min(1, self.pretrain_epochs - 1), progress=self.progress)
            mlm.fit(train, np.zeros(len(train)), [ids[i] for i in held], np.zeros(len(held)),
                    workdir=folder / "mlm" if folder is not None else None)
            encoder = {k: v.detach().cpu().contiguous() for k, v in mlm.net_.mlm.bert.state_dict().items()}
            info = {"mlm_val_loss": mlm.info["best_val_loss"], "mlm_best_epoch": mlm.info["best_epoch"]}
        meta.update(info, pretrain_seconds=round(time.perf_counter() - began, 2))
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(folder / "tokenizer.json") as tmp:
                tokenizer.save(str(tmp))
            write_json(folder / "pretrained.json", meta)
            if encoder is not None:
                with atomic_path(weights) as tmp:  # last: its presence says the folder is complete
                    save_file(encoder, str(tmp))
        return {**meta, "tokenizer": tokenizer, "encoder": encoder, "pretrained": "trained" if encoder is not None else "none"}

    # ---- fine-tuning
    def fit(self, X, y, X_valid=None, y_valid=None, workdir=None):
        texts = documents(X)
        corpus = texts + (documents(X_valid) if X_valid is not None else [])
        corpus += documents(self.unlabelled) if self.unlabelled is not None else []
        digest, _ = corpus_digest(corpus)
        workdir = Path(workdir) if workdir is not None else None
        base = Path(self.cache_dir) if self.cache_dir is not None else workdir / "pretrained" if workdir else None
        pre = self.pretrain(corpus, base / f"bert-{self._pretrain_key(digest)}" if base is not None else None)
        self.tokenizer_, self.length_, self.encoder_ = pre.pop("tokenizer"), pre["length"], pre.pop("encoder")
        if self.task == "regression":
            self.y_mean_, self.y_std_ = float(np.mean(y)), float(np.std(y) or 1.0)
        self._encoded = (X, encode(self.tokenizer_, texts, self.length_, self.head_share))
        super().fit(X, y, X_valid, y_valid, workdir)
        self._encoded = None
        self.info.update(pre)
        return self

    def build_network(self, X, y, out_dim):
        from torch import nn
        from transformers import BertModel

        encoder = BertModel(self._config(self.tokenizer_.get_vocab_size()), add_pooling_layer=False)
        if self.encoder_ is not None:
            encoder.load_state_dict(self.encoder_)
        hidden, dropout = self.hidden, self.classifier_dropout

        class Classifier(nn.Module):
            """The mean of the encoder's last hidden states over a document's tokens, then a linear layer (a
            mean learns from a few hundred documents; the [CLS] state needs many more)."""

            def __init__(self):
                super().__init__()
                self.bert = encoder
                self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, out_dim))

            def forward(self, ids):
                mask = (ids != PAD).unsqueeze(-1)
                states = self.bert(input_ids=ids, attention_mask=mask.squeeze(-1).long()).last_hidden_state
                return self.out((states * mask).sum(1) / mask.sum(1).clamp(min=1))

        return Classifier()

    def make_dataset(self, X, y, training):
        cached = getattr(self, "_encoded", None)
        ids = cached[1] if cached is not None and cached[0] is X else encode(
            self.tokenizer_, documents(X), self.length_, self.head_share)
        targets = network_targets(self, y)
        return _Rows(ids, np.zeros(len(ids), dtype=np.float32) if targets is None else targets)

    def collate(self, batch):
        """Token ids padded with [PAD] to the longest document of the batch."""
        import torch

        ids = pad_ids([ids for ids, _ in batch], 1, PAD)
        return torch.from_numpy(ids), torch.as_tensor(np.array([t for _, t in batch]))

    def predict(self, X):
        out = super().predict(X)
        return out * self.y_std_ + self.y_mean_ if self.task == "regression" else out

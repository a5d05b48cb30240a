"""TF-IDF of token n-grams at corpus scale: polars splits and counts, numpy builds the terms, scipy holds the matrix.

scikit-learn's TfidfVectorizer makes n-grams in Python, one document at a time: 100 s for 10,000 generated news
documents (9 M tokens, unigrams and bigrams) on the 2-core VM, so about 40 minutes per fit on the news contest's
250,000. Here documents are split and counted by polars in chunks (all cores), a token is an integer code and an
n-gram one integer (its codes in base V, V the number of distinct tokens), and the matrix is the one
`TfidfVectorizer(token_pattern=r"\\S+", lowercase, ngram_range, min_df, max_features, sublinear_tf=True)`
gives, up to the order of the columns (tested against it). Tokens are whitespace-separated.

`fit_transform` makes two passes over the token codes (kept as int32, 4 bytes a token): document frequencies,
then counts of the kept terms only, so memory follows the kept matrix (8 bytes a stored value), not every n-gram.
`transform` drops tokens and n-grams the fitted corpus did not keep.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    import scipy.sparse as sp  # imported where a matrix is made: a stage that makes none skips its ~0.2 s


class NgramTfidf:
    """Sublinear TF-IDF (smooth idf, l2-normalised rows) of whitespace-token n-grams; see the module docstring.

    `threads`: chunks counted at once. One by default: each holds about 0.6 GB of n-gram keys at 10,000 news
    documents, and polars' sort of them already uses every core; on the full news corpus two threads cut
    the fit from 220 to 187 s but raised the 5-fold run's peak from 7.5 to 8.3 GB
    (benchmarks/news_tfidf_full.py)."""

    def __init__(self, ngram_range=(1, 2), min_df: int = 1, max_features: int | None = None,
                 sublinear_tf: bool = True, lowercase: bool = False, chunk_size: int = 10_000, threads: int = 1):
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        if not 1 <= self.ngram_range[0] <= self.ngram_range[1] <= 3:
            raise ValueError(f"ngram_range must lie within (1, 3); got {ngram_range}")
        self.min_df, self.max_features = int(min_df), max_features
        self.sublinear_tf, self.lowercase, self.chunk_size = sublinear_tf, lowercase, int(chunk_size)
        self.threads = int(threads)

    # ---------------------------------------------------------------- public
    def fit_transform(self, docs, rows: np.ndarray | None = None) -> sp.csr_matrix:
        """Learn the tokens, the kept n-grams (min_df, then the max_features most frequent) and their idf.
        `rows`: the documents to take, in this order (default: all), gathered a chunk at a time (a polars
        Series of the full news corpus is 1.2 GB: no second copy of it is made)."""
        self.tokens_ = pl.Series("token", [], dtype=pl.String)
        chunks = [self._codes(part, grow=True) for part in self._parts(docs, rows)]
        self.n_tokens_ = max(len(self.tokens_), 1)
        if (self._offset(self.ngram_range[1] + 1) << max(1, self.chunk_size.bit_length())) >= 2 ** 63:
            raise ValueError(f"{self.n_tokens_:,} distinct tokens are too many for {self.ngram_range[1]}-grams as "
                             "64-bit integer keys; lower ngram_range's upper bound (or chunk_size)")
        stats = pl.DataFrame(schema={"term": pl.Int64, "df": pl.Int64, "tf": pl.Int64})
        with ThreadPoolExecutor(self.threads) as pool:  # numpy and polars release the GIL: chunks at once
            for part in pool.map(lambda chunk: self._term_stats(*chunk), chunks):
                # merged as they come: one chunk's terms are mostly the corpus' again, so this stays small
                stats = pl.concat([stats, part]).group_by("term").agg(pl.col("df", "tf").sum())
        stats = stats.filter(pl.col("df") >= self.min_df)
        if self.max_features is not None and len(stats) > self.max_features:
            stats = stats.sort(["tf", "term"], descending=[True, False]).head(int(self.max_features))
        stats = stats.sort("term")
        self.terms_ = stats["term"].to_numpy()
        n_docs = sum(len(lengths) for _, lengths in chunks)
        self.idf_ = (np.log((1 + n_docs) / (1 + stats["df"].to_numpy())) + 1).astype(np.float32)
        return self._weighted(chunks)  # consumes `chunks`: each chunk's codes are freed once counted

    def transform(self, docs) -> sp.csr_matrix:
        return self._weighted([self._codes(part, grow=False) for part in self._parts(docs)])

    @property
    def vocabulary_size(self) -> int:
        return len(self.terms_)

    def get_feature_names_out(self) -> np.ndarray:
        """Each column's n-gram as text ("12 7"), in column order."""
        tokens, V, names = self.tokens_.to_numpy(), self.n_tokens_, []
        for term in self.terms_.tolist():
            n, rest = self._order(term)
            names.append(" ".join(tokens[(rest // V ** (n - 1 - j)) % V] for j in range(n)))
        return np.array(names, dtype=object)

    # ---------------------------------------------------------------- steps
    def _parts(self, docs, rows: np.ndarray | None = None):
        if rows is not None:
            docs = docs if isinstance(docs, pl.Series) else pl.Series("doc", list(docs), dtype=pl.String)
            for start in range(0, len(rows), self.chunk_size):
                yield docs.gather(rows[start:start + self.chunk_size])
            return
        docs = list(docs) if not isinstance(docs, (list, pl.Series)) else docs
        for start in range(0, len(docs), self.chunk_size):
            yield pl.Series("doc", docs[start:start + self.chunk_size], dtype=pl.String)

    def _codes(self, docs: pl.Series, grow: bool) -> tuple[np.ndarray, np.ndarray]:
        """Each token's code (-1 for a token unknown to a fitted vocabulary) and each document's token count."""
        docs = docs.fill_null("")
        split = (docs.str.to_lowercase() if self.lowercase else docs).str.extract_all(r"\S+")
        lengths = split.list.len().to_numpy().astype(np.int64)
        tokens = split.explode().drop_nulls()
        if grow:
            seen = tokens.unique()
            new = seen.filter(~seen.is_in(self.tokens_.implode())).sort()
            self.tokens_ = pl.concat([self.tokens_, new.rename("token")])
        codes = tokens.replace_strict(self.tokens_, pl.int_range(len(self.tokens_), eager=True),
                                      default=-1, return_dtype=pl.Int32)
        return codes.to_numpy(), lengths

    def _term_stats(self, codes: np.ndarray, lengths: np.ndarray) -> pl.DataFrame:
        """Per n-gram of one chunk: the documents it occurs in (df) and its occurrences (tf)."""
        _, terms, counts = self._pairs(codes, lengths)  # term-major, so each term's pairs are one run
        first = np.flatnonzero(np.concatenate([[True], terms[1:] != terms[:-1]])) if len(terms) else np.zeros(0, np.int64)
        return pl.DataFrame({"term": terms[first], "df": np.diff(np.append(first, len(terms))),
                             "tf": np.add.reduceat(counts, first) if len(first) else np.zeros(0, np.int64)})

    def _order(self, term: int) -> tuple[int, int]:
        """An n-gram's length and its codes as one base-V number (terms of length n start at offset(n))."""
        for n in range(3, 0, -1):
            if term >= self._offset(n):
                return n, term - self._offset(n)
        raise ValueError(term)

    def _offset(self, n: int) -> int:
        return sum(self.n_tokens_ ** k for k in range(1, n))  # unigrams from 0, bigrams from V, trigrams from V + V^2

    def _pairs(self, codes: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, term, n) arrays, term-major: how often each n-gram occurs in each document of the chunk.

        Counted by sorting one int64 key per n-gram (term above the row's bits): on 18 M n-grams a sort takes
        2 s where a polars group_by on (row, term) took 20 s.
        """
        row_bits = max(1, int(len(lengths)).bit_length())
        rows = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
        V, keys = self.n_tokens_, []
        for n in range(self.ngram_range[0], self.ngram_range[1] + 1):
            m = len(codes) - n + 1
            if m <= 0:
                continue
            valid = rows[: m] == rows[n - 1:]  # the n-gram does not cross into the next document
            term = np.full(m, self._offset(n), dtype=np.int64)
            for j in range(n):
                window = codes[j: j + m]
                valid &= window >= 0
                term += window.astype(np.int64) * V ** (n - 1 - j)
            keys.append((term[valid] << row_bits) | rows[: m][valid])
            del term, valid
        key = pl.Series(np.concatenate(keys) if keys else np.zeros(0, np.int64)).sort().to_numpy()  # all cores
        first = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]])) if len(key) else np.zeros(0, np.int64)
        counts = np.diff(np.append(first, len(key))).astype(np.int32)
        unique = key[first]
        del key
        return (unique & ((1 << row_bits) - 1)).astype(np.int32), unique >> row_bits, counts

    def _weighted(self, chunks: list[tuple[np.ndarray, np.ndarray]]) -> sp.csr_matrix:
        import scipy.sparse as sp
        from sklearn.preprocessing import normalize

        def block(codes: np.ndarray, lengths: np.ndarray) -> sp.csr_matrix:
            rows, terms, counts = self._pairs(codes, lengths)
            col = np.searchsorted(self.terms_, terms)
            kept = col < len(self.terms_)
            kept[kept] = self.terms_[col[kept]] == terms[kept]
            return sp.csr_matrix((counts[kept].astype(np.float32), (rows[kept], col[kept].astype(np.int32))),
                                 shape=(len(lengths), len(self.terms_)))

        with ThreadPoolExecutor(self.threads) as pool:
            blocks = list(pool.map(lambda chunk: block(*chunk), _drained(chunks)))
        matrix = _stacked(blocks, len(self.terms_))
        matrix.sort_indices()
        if self.sublinear_tf:
            np.log(matrix.data, out=matrix.data)
            matrix.data += 1
        step = 1 << 24  # idf gathered a slice at a time: at once it is a second copy of the values (1.2 GB at news' full size)
        for start in range(0, matrix.nnz, step):
            matrix.data[start:start + step] *= self.idf_[matrix.indices[start:start + step]]
        return normalize(matrix, copy=False)


def _drained(items: list):
    """The list's items, each removed as it is taken (the list no longer holds what a worker has finished)."""
    while items:
        yield items.pop(0)


def _stacked(blocks: list[sp.csr_matrix], width: int) -> sp.csr_matrix:
    """The blocks' rows as one matrix, each block freed once copied: memory peaks near one matrix, not the two
    a `scipy.sparse.vstack` holds at its end (2 GB more at the news contest's full size)."""
    import scipy.sparse as sp

    nnz = sum(b.nnz for b in blocks)
    data, indices = np.empty(nnz, dtype=np.float32), np.empty(nnz, dtype=np.int32)  # pages come as they are written
    indptr, at, row = np.zeros(sum(b.shape[0] for b in blocks) + 1, dtype=np.int64), 0, 0
    while blocks:
        b = blocks.pop(0)
        data[at: at + b.nnz], indices[at: at + b.nnz] = b.data, b.indices
        indptr[row + 1: row + 1 + b.shape[0]] = b.indptr[1:] + at
        at, row = at + b.nnz, row + b.shape[0]
    return sp.csr_matrix((data, indices, indptr), shape=(row, width))

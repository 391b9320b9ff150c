"""Vectors for texts, reused from a cache by text, and the sentence stages' encodings: each
sentence's vector and the word matcher's token vectors, from as few model passes as give them.

    vectors, keys, encoded = embed_cached(texts, model, embedder, cache, batch_size=32, progress=False)
    encodings = sentence_encodings(data, embedder, model, cache, batch_size=32)
    encodings.vectors, encodings.tokens      # one vector per sentence row; the compressed token table

Used by the build (:mod:`crps_qa.index.batches`, batch by batch) and the BEIR evaluation.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

import numpy as np

from crps_qa.index.embed import Embedder, TokenEncoder
from crps_qa.index.match_text import match_text
from crps_qa.index.store import IndexData, SentenceEncodings, vector_key
from crps_qa.index.tokens import TokenTable, TokenWriter
from crps_qa.ingest.abbrev import QueryExpander

# Bump when the sentence text the word matcher reads changes shape (crps_qa.index.match_text.match_text),
# so cached token vectors are not reused.
MATCH_TEMPLATE = "caption-expanded/1"


def token_capable(embedder: Embedder) -> bool:
    """Whether ``embedder`` gives token vectors of its own dimension (which an index stores)."""
    if not isinstance(embedder, TokenEncoder):
        return False
    probe = embedder.encode_tokens(["probe"])[0].vectors
    return probe.ndim == 2 and probe.shape[1] == embedder.dimension


def _document_texts(data: IndexData) -> dict[str, tuple[str, Sequence[Any]]]:
    """Each document's text and sections; a document indexed without its cleaned text (BEIR) is
    its one passage, from offset 0."""
    documents = {p.doc_id: (p.text, ()) for p in data.passages if p.doc_id not in data.texts and not p.char_start}
    documents.update({d: (t.text, t.sections) for d, t in data.texts.items()})
    return documents


def sentence_encodings(
    data: IndexData, embedder: Embedder, model: str, cache: MutableMapping[str, np.ndarray],
    previous: TokenTable | None = None, previous_keys: Sequence[str] = (), *, batch_size: int,
    with_vectors: bool = True,
) -> SentenceEncodings:
    """The vector of every sentence of ``data.sentences`` and the token vectors of every distinct
    sentence as the word matcher reads it (:func:`crps_qa.index.match_text.match_text`: after its
    table's caption, expanded with the corpus's abbreviations), compressed (:mod:`crps_qa.index.tokens`).

    One model pass gives a text's vector and its token vectors, so a sentence that the matcher
    reads as it is (the same word pieces: 58 % of the CRPS corpus's sentences, 17 % of SciFact-like
    text, where abbreviations abound) is encoded once for both; one it reads
    expanded or captioned is encoded again, on its own, for its vector. Vectors in ``cache`` (by
    cache key, :func:`~crps_qa.index.store.vector_key`; new ones are added) and sentences of the
    ``previous`` table (cache keys ``previous_keys``, reused as codes, with their codec) are not
    encoded again. ``with_vectors=False``: the token table only (the vectors are ``data.sentences``')."""
    table = data.sentences
    if table is None:
        return SentenceEncodings(np.zeros((0, embedder.dimension), np.float32), [], None, [], 0, 0)
    documents = _document_texts(data)
    located = [(data.passages[int(r)].doc_id, int(a), int(b))
               for r, a, b in zip(table.rows, table.starts, table.ends, strict=True)]
    sentence_texts = [documents[d][0][a:b] for d, a, b in located]
    keys = [vector_key(model, text) for text in sentence_texts]
    tokens, token_keys, tokens_encoded, shared = None, [], 0, 0
    if len(table) and token_capable(embedder):
        expander = QueryExpander(dict(data.expansions))
        distinct = sorted(set(located))
        texts = [match_text(*documents[d], a, b, expander) for d, a, b in distinct]
        token_keys = [vector_key(model, f"{MATCH_TEMPLATE}|{text}") for text in texts]
        writer = TokenWriter(embedder.dimension, previous.codec if previous is not None else None)
        if previous is not None:
            wanted = set(token_keys)
            for i, key in enumerate(previous_keys):
                if key in wanted and key not in writer:
                    if previous.codec is not None:
                        writer.add_codes(key, previous.row_codes(i))
                    else:
                        writer.add(key, previous.row(i))
        todo = list(dict.fromkeys(k for k in token_keys if k not in writer))
        first = {k: i for i, k in reversed(list(enumerate(token_keys)))}
        pooled: dict[str, np.ndarray] = {}  # token cache key -> the text's vector, from the same pass
        for start in range(0, len(todo), batch_size * 64):  # long runs: an encoder sorts each by length
            batch = todo[start : start + batch_size * 64]
            vectors, encoded = embedder.encode_with_tokens(  # type: ignore[attr-defined]
                [texts[first[k]] for k in batch], batch_size=batch_size)
            for key, vector, tv in zip(batch, vectors, encoded, strict=True):
                writer.add(key, tv.vectors)
                pooled[key] = vector
        tokens, tokens_encoded = writer.table(distinct, token_keys), len(todo)
        if with_vectors:
            position = {key: i for i, key in enumerate(distinct)}
            shared = _share_pooled(embedder, cache, pooled, keys, sentence_texts,
                                   [token_keys[position[key]] for key in located],
                                   [texts[position[key]] for key in located])
    if not with_vectors:
        return SentenceEncodings(np.asarray(table.vectors), keys, tokens, token_keys, 0, tokens_encoded)
    vectors, _, embedded = embed_cached(sentence_texts, model, embedder, cache, batch_size=batch_size, progress=False)
    return SentenceEncodings(vectors, keys, tokens, token_keys, embedded + shared, tokens_encoded)


def _share_pooled(embedder: Embedder, cache: MutableMapping[str, np.ndarray], pooled: dict[str, np.ndarray],
                  keys: Sequence[str], texts: Sequence[str], match_keys: Sequence[str],
                  match_texts: Sequence[str]) -> int:
    """Put in ``cache`` the vector of each sentence (``keys[i]``, ``texts[i]``) whose matcher text
    (``match_keys[i]``, ``match_texts[i]``) the token pass encoded (``pooled``) with the same word
    pieces as the sentence's own, so from the same model input: the vector encoding the sentence
    would give. Returns how many sentences' vectors were taken."""
    candidates: dict[str, tuple[str, str, str]] = {}
    for key, text, match_key, read in zip(keys, texts, match_keys, match_texts, strict=True):
        if key not in cache and match_key in pooled:
            candidates.setdefault(key, (text, match_key, read))
    if not candidates:
        return 0
    wanted = list(candidates.values())
    own = embedder.word_pieces([text for text, _, _ in wanted])  # type: ignore[attr-defined]
    read = embedder.word_pieces([read for _, _, read in wanted])  # type: ignore[attr-defined]
    shared = 0
    for key, (_, match_key, _), a, b in zip(candidates, wanted, own, read, strict=True):
        if a == b:
            cache[key] = pooled[match_key]
            shared += 1
    return shared


def token_table(
    data: IndexData, embedder: Embedder, model: str, previous: TokenTable | None = None,
    previous_keys: Sequence[str] = (), *, batch_size: int,
) -> tuple[TokenTable | None, list[str], int]:
    """The token table of :func:`sentence_encodings` alone, for sentences whose vectors are in
    ``data.sentences`` already: (table or None, its cache keys, sentences encoded)."""
    encodings = sentence_encodings(data, embedder, model, {}, previous, previous_keys, batch_size=batch_size,
                                   with_vectors=False)
    return encodings.tokens, encodings.token_keys, encodings.tokens_encoded


def embed_cached(
    texts: list[str], model: str, embedder: Embedder, cache: MutableMapping[str, np.ndarray], *, batch_size: int,
    progress: bool,
) -> tuple[np.ndarray, list[str], int]:
    """Vectors of ``texts`` (cached ones reused, each distinct new text encoded once), their cache
    keys, and how many texts were encoded. New vectors are added to ``cache``."""
    keys = [vector_key(model, text) for text in texts]
    todo = list(dict.fromkeys(key for key in keys if key not in cache))
    first = {key: i for i, key in reversed(list(enumerate(keys)))}
    fresh = embedder.encode([texts[first[key]] for key in todo], batch_size=batch_size, progress=progress)
    cache.update(zip(todo, fresh, strict=True))
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    for i, key in enumerate(keys):
        vectors[i] = cache[key]
    return vectors, keys, len(todo)

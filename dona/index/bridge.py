"""The language bridge: a shopper's words the catalog does not use, mapped to catalog words
that mean the same, through a multilingual embedder (USE multilingual v3 by default).

At ingest every frequent word of the catalog is embedded once (a few seconds). At query
time each query word the catalog does not know ("auriculares" on an English catalog,
"headphones" on a Spanish one) is embedded (about a millisecond) and replaced by the
nearest catalog words above a similarity floor; known words, numbers, model codes and
brands pass unchanged. Lexical and dense retrieval then read the bridged query, so a
Spanish query on an English catalog is searched with the catalog's own words, and an
English query is left exactly as it was (it has nothing to bridge).

This is word-level, not sentence translation: measured on the dev queries (README,
"Across languages"), it is what keeps cross-language search within reach of same-language
search at a query cost of ~1-2 ms.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from dona.catalog.text import fold_accents
from dona.embed.base import Embedder
from dona.index.lexical import stopwords

BRIDGE_VERSION = "use-words+pairs/v4"  # what the files hold; a different one is rebuilt
BRIDGE_DIR = "bridge"
BRIDGE_FILES = [f"{BRIDGE_DIR}/terms.json", f"{BRIDGE_DIR}/vectors.i8.npy"]
MAX_TERMS = 40_000  # the catalog's most frequent words; rarer ones are names and typos
PRIOR = 0.03  # similarity bonus per log(1 + document frequency): shop words over one-offs
WIDE_MARGIN = 0.25  # how far a candidate found beside the query's other words may trail
MARGIN = 0.05  # candidates this close to the best are synonyms (headphones / headset)
MIN_PHRASE_FREQ = 3  # two-word catalog phrases ("power bank", "docking station")
PHRASE_SIM = 0.6  # a whole query mapped to one catalog phrase needs this much
CANDIDATES = 4  # nearest catalog words considered per query word
SYNONYMS = 1  # extra near-synonyms kept beside the chosen word
MIN_DOC_FREQ = 2  # a word in one product only is more likely a name than a shop word
MAX_KNOWN = 500_000  # words never bridged (the whole vocabulary of any real shop)
MAX_PAIRS_COUNTED = 2_000_000
MAX_QUERY_WORDS = 16  # words bridged per query (queries are capped at 500 chars anyway)
_TEXT_CHARS = 2_000  # per product text, before the regex
_WORD = re.compile(r"[^\W\d_]{3,40}")  # letters only: numbers and model codes never bridge
_QUERY_TOKEN = re.compile(r"\w+(?:[-.]\w+)*")


def _key(word: str) -> str:
    return fold_accents(word.lower())


# Words that carry no product meaning in a shopper's sentence, in either language: never
# bridged, and never a translation (the model happily maps "something" to "the").
_FILLERS = frozenset(
    " ".join(
        (
            "something anything thing things stuff item items want wanted need needed",
            "looking look buy get good best better great nice cheap cheaper new one ones",
            "some please thanks hello algo cosa cosas quiero necesito busco buscando",
            "comprar bueno buena mejor barato barata nuevo nueva hola gracias tenes",
            "tienen tienes hay alguno alguna",
        )
    ).split()
)


@lru_cache(maxsize=1)
def _never_bridged() -> frozenset[str]:
    import bm25s.stopwords as lists

    plus = frozenset(fold_accents(w) for w in lists.STOPWORDS_EN_PLUS)
    return stopwords("en") | stopwords("es") | plus | _FILLERS


_VOWEL = re.compile(r"[aeiouy]")
_ACRONYM = re.compile(r"^[^\W\d_]+[A-Z]|^[A-Z]+$")  # a capital after the first letter
_TRIPLE = re.compile(r"(.)\1\1")


def _wordlike(key: str) -> bool:
    """Looks like a word of a language, not an acronym, a code or keyboard mash: the
    multilingual model maps anything to something, so "zzzz", "sdxc" or "hjkl" must not
    take part (as query words or as catalog words to map to)."""
    return (
        bool(_VOWEL.search(key))
        and not _TRIPLE.search(key)
        and len(_VOWEL.findall(key)) / len(key) >= 0.2
    )


@dataclass
class BridgedQuery:
    """A query as the catalog reads it. `text` is what retrieval uses; `mapped` says which
    words were bridged to which catalog words (shown to shoppers as "searched for")."""

    original: str
    text: str
    mapped: dict[str, list[str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.mapped)


class TermBridge:
    def __init__(
        self,
        terms: list[str],
        known: list[str],
        doc_freq: list[int],
        codes: np.ndarray,
        scale: float,
        embedder: Embedder,
        min_similarity: float,
    ):
        self.terms = terms
        self._known = frozenset(known)  # every word of the catalog, even once
        # int8 rows on disk (a quarter of float32); float32 in RAM for the product
        self._vectors = np.asarray(codes, dtype=np.float32) * scale
        self._prior = PRIOR * np.log1p(np.asarray(doc_freq, dtype=np.float32))
        self._embedder = embedder
        self.min_similarity = min_similarity

    @staticmethod
    def vocabulary(
        texts: Sequence[str], names: frozenset[str] = frozenset()
    ) -> tuple[list[tuple[str, int]], list[str]]:
        """(terms, known): the catalog's frequent words, most frequent first, which queries
        are bridged to; and every word it uses (accent-folded, lower case), never bridged.
        `names` (the catalog's brand words) are never a translation: "trípode" must not
        become "Tripp" because the two look alike."""
        stop = _never_bridged()
        counts: Counter[str] = Counter()
        pairs: Counter[str] = Counter()
        acronym: Counter[str] = Counter()  # written as an acronym or a code ("SATA", "mAh")
        for number, text in enumerate(texts, 1):
            raw = _WORD.findall(text[:_TEXT_CHARS])
            words = [_key(w) for w in raw]
            counts.update(set(words))
            acronym.update({k for w, k in zip(raw, words, strict=True) if _ACRONYM.search(w)})
            pairs.update({f"{a} {b}" for a, b in zip(words, words[1:], strict=False) if a != b})
            if number % 50_000 == 0 and len(pairs) > MAX_PAIRS_COUNTED:
                # memory stays bounded on huge catalogs: one-off pairs never become phrases
                pairs = Counter({p: n for p, n in pairs.items() if n > 1})
        frequent = [
            (w, n)
            for w, n in counts.most_common(MAX_TERMS)
            if n >= MIN_DOC_FREQ
            and _wordlike(w)
            and w not in names
            and w not in stop
            and acronym[w] * 2 < n
        ]
        frequent += [
            (p, n)
            for p, n in pairs.most_common(MAX_TERMS)
            if n >= MIN_PHRASE_FREQ
            and all(
                _wordlike(w) and w not in names and acronym[w] * 2 < counts[w] for w in p.split()
            )
            and not all(w in stop for w in p.split())
        ]
        return frequent, [w for w, _ in counts.most_common(MAX_KNOWN)]

    @classmethod
    def build(
        cls,
        texts: Sequence[str],
        directory: Path,
        embedder: Embedder,
        brands: Sequence[str | None] = (),
    ) -> dict:
        """Embed the catalog's vocabulary and save it; returns the manifest part."""
        names = frozenset(_key(w) for brand in brands if brand for w in _WORD.findall(brand))
        frequent, known = cls.vocabulary(texts, names)
        terms = [w for w, _ in frequent]
        vectors = (
            embedder.embed_documents(terms)
            if terms
            else np.zeros((0, embedder.dims), dtype=np.float32)
        )
        # int8 rows: a quarter of the float32 size, similarities within ~0.01
        scale = float(np.abs(vectors).max()) / 127 if vectors.size else 1.0
        codes = np.clip(np.rint(vectors / scale), -127, 127).astype(np.int8)
        (directory / BRIDGE_DIR).mkdir(parents=True, exist_ok=True)
        (directory / BRIDGE_FILES[0]).write_text(
            json.dumps(
                {
                    "terms": terms,
                    "doc_freq": [n for _, n in frequent],
                    "known": known,
                    "scale": scale,
                },
                ensure_ascii=False,
            )
        )
        np.save(directory / BRIDGE_FILES[1], codes)
        return {
            "embedder": embedder.model_id,
            "terms": len(terms),
            "version": BRIDGE_VERSION,
            "files": list(BRIDGE_FILES),
        }

    @classmethod
    def load(
        cls, directory: Path, part: dict, embedder: Embedder, min_similarity: float
    ) -> TermBridge:
        meta = json.loads((directory / BRIDGE_FILES[0]).read_text())
        codes = np.load(directory / BRIDGE_FILES[1], mmap_mode="r")
        return cls(
            meta["terms"],
            meta["known"],
            meta["doc_freq"],
            codes,
            meta["scale"],
            embedder,
            min_similarity,
        )

    def _nearest(self, words: list[str]) -> list[list[tuple[str, float]]]:
        vectors = self._embedder.embed_documents(words)
        sims = self._vectors @ vectors.T
        out = []
        for column in range(len(words)):
            # similarity, nudged towards words the shop uses often: on a near tie
            # "watch" (many products) beats a one-off spelling that looks alike
            score = sims[:, column] + self._prior
            best = np.argsort(-score)[:CANDIDATES]
            out.append([(self.terms[i], float(sims[i, column]), float(score[i])) for i in best])
        return out

    def bridge(
        self,
        query: str,
        keep: frozenset[str] = frozenset(),
        together: Callable[[list[str]], int] | None = None,
    ) -> BridgedQuery:
        """Replace the query's unknown words by the nearest catalog words (see module
        docstring). `keep`: words never bridged (e.g. the catalog's brands). `together`:
        how many products contain all of some words; with it, a candidate that appears
        beside the rest of the query wins over a closer one that never does ("reloj con
        gps": watches are sold with GPS, clocks are not)."""
        tokens = _QUERY_TOKEN.findall(query)
        stop = _never_bridged()
        wanted: dict[str, str] = {}  # key -> the word as typed (accents help the model)
        for token in tokens:
            key = _key(token)
            if (
                key not in self._known
                and key not in stop
                and key not in keep
                and _WORD.fullmatch(token)
                and _wordlike(key)
                and len(wanted) < MAX_QUERY_WORDS
            ):
                wanted.setdefault(key, token.lower())
        if not wanted or not self.terms:
            return BridgedQuery(query, query)
        phrase = ""
        content = [t for t in tokens if _key(t) not in stop]
        if len(content) >= 2:
            (best,) = self._nearest([" ".join(content).lower()])
            if best[0][1] >= PHRASE_SIM and " " in best[0][0]:
                phrase = best[0][0]
        mapped: dict[str, list[str]] = {}
        options: dict[str, list[str]] = {}
        context = [t.lower() for t in content if _key(t) not in wanted]
        for word, candidates in zip(wanted, self._nearest(list(wanted.values())), strict=True):
            top = candidates[0][2]
            kept = [
                t
                for t, s, score in candidates
                if s >= self.min_similarity and score >= top - MARGIN
            ]
            if together is not None and context:
                beside = [
                    t
                    for t, s, score in candidates
                    if s >= self.min_similarity
                    and score >= top - WIDE_MARGIN
                    and together([t, *context])
                ]
                if beside and not any(t in beside for t in kept):
                    kept = beside
            if kept:
                options[word] = kept
        if not options:
            return BridgedQuery(query, f"{query} {phrase}".strip() if phrase else query)
        # In context: of each word's candidates, the one that brings the whole query
        # closest to the original in the multilingual space ("reloj con gps": watch, not
        # clock). One word at a time, each choice kept for the next.
        chosen = {word: kept[0] for word, kept in options.items()}
        target = None
        for word, kept in options.items():
            if len(kept) == 1:
                continue
            if target is None:
                target = self._embedder.embed_query(query)
            variants = [self._render(tokens, {**chosen, word: c}, stop) for c in kept]
            sims = self._embedder.embed_documents(variants) @ target
            chosen[word] = kept[int(np.argmax(sims))]
        for word, kept in options.items():
            mapped[word] = [chosen[word]] + [k for k in kept if k != chosen[word]][:SYNONYMS]
        text = self._render(tokens, {w: " ".join(m) for w, m in mapped.items()}, stop)
        if phrase:
            mapped[" ".join(content).lower()] = [phrase]
            text = f"{text} {phrase}"
        return BridgedQuery(query, text, mapped)

    @staticmethod
    def _render(tokens: list[str], replace: dict[str, str], stop: frozenset[str]) -> str:
        words = []
        for token in tokens:
            key = _key(token)
            if key in replace:
                words.append(replace[key])
            elif key not in stop:
                words.append(token)
        return " ".join(words)

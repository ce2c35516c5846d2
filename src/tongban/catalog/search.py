"""Search over the service catalogue as citizens type it: colloquial words (社保转移, 迁户口),
pinyin in full or as initials (shebaoka, hkqy), homophone typos (公基金, 户口前移) and slips
(gongjijn). Pure Python — no Django: the caller builds a `SearchIndex` from `SearchEntry`
values and a synonym mapping (the SearchSynonym table, shipped as `search_data.SYNONYMS`).

How a query is read
-------------------
1. Normalise (NFKC, lower case, truncate to MAX_QUERY_LENGTH) and split into Chinese runs and
   latin/digit runs; anything else (punctuation, emoji, SQL noise) is a separator.
2. Chinese: jieba splits the run; filler words (怎么, 我要, 的 …) are dropped; windows whose
   text occurs nowhere in the catalogue but whose pinyin is that of a catalogue word are
   repaired (公基金 → 公积金), then lesser pinyin look-alikes through rapidfuzz (迁徙 → 迁移).
3. Latin: segmented into catalogue words by full pinyin (shebao zhuanyi), "fuzzy" pinyin
   (zh/z, ing/in …), initials (hkqy) or, failing those, a rapidfuzz match on pinyin keys.
4. Every word the query yields becomes a *slot* with weighted alternatives: the literal word,
   its synonym expansions (a little lower), the words inside it (lower still).
5. Score: per slot the best alternative's BM25F (name ≫ themes > text), plus a bonus for the
   share of slots the item *name* contains and one when the name contains the whole query (as
   typed or expanded); a rapidfuzz partial ratio breaks near-ties; then the code breaks ties.
"""

from __future__ import annotations

import csv
import html
import itertools
import logging
import math
import re
import time
import unicodedata
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pypinyin import Style, lazy_pinyin
from rapidfuzz import fuzz, process

with warnings.catch_warnings():
    # jieba's _compat imports pkg_resources, which warns on recent setuptools; its sources have
    # invalid escape sequences (DeprecationWarning/SyntaxWarning when compiled without a .pyc).
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", SyntaxWarning)
    warnings.filterwarnings("ignore", message=".*pkg_resources.*")
    import jieba

logging.getLogger("jieba").setLevel(logging.WARNING)

__all__ = [
    "MAX_QUERY_LENGTH",
    "EvalCase",
    "EvalReport",
    "Hit",
    "SearchEntry",
    "SearchIndex",
    "evaluate",
    "load_eval_cases",
    "normalize",
]

MAX_QUERY_LENGTH = 100

# BM25F: field weights, length normalisation, saturation.
_FIELD_WEIGHTS = (4.0, 1.5, 1.0)  # name, themes, text
_FIELD_B = (0.3, 0.0, 0.5)
_K1 = 2.0
_NAME_BONUS = 8.0  # × (share of the query's slots the name contains)²
_WHOLE_BONUS = 5.0  # the name contains the whole query (literal or expanded)
_TIE_BREAK = 0.05  # × rapidfuzz partial_ratio / 100

# Alternative weights relative to the literal word.
_W_SYNONYM = 0.8  # a synonym key's expansions
_W_KEY_INSIDE = 0.9  # a synonym key found inside a longer word
_W_SYNONYM_INSIDE = 0.7  # … and its expansions
_W_SUBWORD = 0.7  # × sqrt(share of the slot) for words inside a longer word
_W_SINGLE = 0.3  # single-character slots
_W_HOMOPHONE = 0.9
_W_HOMOPHONE_FUZZY = 0.85  # equal after zh/z, ch/c, sh/s, ing/in, eng/en, ang/an
_W_FUZZY = 0.75  # × similarity: pinyin look-alike (rapidfuzz)
_W_PINYIN = 0.9
_W_PINYIN_FUZZY = 0.85
_W_INITIALS = 0.75
_W_OTHER_CANDIDATE = 0.7  # second and later candidates for one pinyin key

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_RUN_RE = re.compile(f"[{_CJK}]+|[a-z0-9]+")
_CJK_ONLY_RE = re.compile(f"[{_CJK}]+")
_LATIN_GLUE_RE = re.compile(r"[\s'’]*")
_ALPHA_OR_DIGITS_RE = re.compile(r"[a-z]+|[0-9]+")
_VOWELS = frozenset("aeiouv")
_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cn", "Cs"})

_STOPWORDS = frozenset(
    {
        "的", "了", "吗", "呢", "吧", "啊", "呀", "哦", "嘛", "么", "我", "我们", "我要", "我想",
        "想", "要", "想要", "需要", "怎么", "怎么办", "怎样", "咋", "咋办", "如何", "哪里", "哪儿",
        "在哪", "在哪里", "在哪儿", "去哪", "什么", "啥", "可以", "能", "能否", "能不能", "办",
        "可不可以", "办理", "办一下", "去", "到", "给", "和", "与", "及", "或", "或者", "在",
        "请问", "一下", "咨询", "有", "是", "把", "被", "这", "那", "个", "该", "应该", "手续",
        "流程", "如何办理", "怎么弄", "弄", "搞", "帮", "帮我", "您好", "你好",
    }
)  # fmt: skip

_FUZZY_PINYIN = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("ing", "in"), ("eng", "en"), ("ang", "an"))


def normalize(text: str) -> str:
    """NFKC, lower case, control and format characters (zero-width space, NUL …) dropped or made
    spaces, stripped."""
    text = unicodedata.normalize("NFKC", text).lower()
    if not text.isprintable():
        text = "".join(
            " " if ch.isspace() else ch
            for ch in text
            if ch.isspace() or unicodedata.category(ch) not in _INVISIBLE
        )
    return text.strip()


def _fuzzy_pinyin(pinyin: str) -> str:
    for old, new in _FUZZY_PINYIN:
        pinyin = pinyin.replace(old, new)
    return pinyin


def _syllables(text: str) -> list[str] | None:
    """One toneless syllable per character of a Chinese-only text (None if that fails)."""
    syllables = lazy_pinyin(text, style=Style.NORMAL)
    if len(syllables) == len(text) and all(s.isascii() and s.isalpha() for s in syllables):
        return syllables
    per_char = [lazy_pinyin(ch, style=Style.NORMAL) for ch in text]
    if all(len(s) == 1 and s[0].isascii() and s[0].isalpha() for s in per_char):
        return [s[0] for s in per_char]
    return None


def _initials(text: str) -> str:
    """First letters of the syllables of a Chinese-only text (户口迁移 → hkqy)."""
    return "".join(s[:1] for s in lazy_pinyin(text, style=Style.FIRST_LETTER))


def _is_cjk(text: str) -> bool:
    return _CJK_ONLY_RE.fullmatch(text) is not None


def _new_tokenizer() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*pkg_resources.*")
        tokenizer = jieba.Tokenizer()
        tokenizer.initialize()
    return tokenizer


# --------------------------------------------------------------------------------------------
# Public value types


@dataclass(frozen=True)
class SearchEntry:
    code: str
    name: str
    text: str = ""  # the 应用场景 sentence and other descriptive text
    themes: tuple[str, ...] = ()  # theme display names, e.g. ("社保", "公积金")


@dataclass(frozen=True)
class Hit:
    code: str
    name: str
    score: float  # higher is better, comparable within one query
    highlight: str  # the name, HTML-escaped, with matched parts wrapped in <em>…</em>


# --------------------------------------------------------------------------------------------
# Internals


@dataclass(frozen=True)
class _Doc:
    code: str
    name: str
    name_norm: str
    name_map: tuple[int, ...]  # index in name_norm → index in name
    themes: str
    text: str


@dataclass
class _Slot:
    """One word of the query and what it may stand for: alternative → weight."""

    alts: dict[str, float] = field(default_factory=dict)
    primary: dict[str, float] = field(default_factory=dict)  # alternatives for whole-query match
    # Phrases the catalogue never writes as such (企业设立登记) count as the sum of their words.
    compounds: dict[tuple[str, ...], float] = field(default_factory=dict)
    importance: float = 1.0

    def add(self, term: str, weight: float, *, primary: bool = False) -> None:
        if not term or weight <= 0:
            return
        if weight > self.alts.get(term, 0.0):
            self.alts[term] = weight
        if primary and weight > self.primary.get(term, 0.0):
            self.primary[term] = weight


@dataclass(frozen=True)
class _Posting:
    idf: float
    docs: tuple[tuple[int, float, bool], ...]  # (doc index, weighted term frequency, in name)


def _normalize_mapped(text: str) -> tuple[str, tuple[int, ...]]:
    """Normalise character by character, remembering where each output character came from."""
    out: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        norm = unicodedata.normalize("NFKC", ch).lower()
        out.append(norm)
        origin.extend([index] * len(norm))
    return "".join(out), tuple(origin)


def _maximal_spans(
    text: str, words: Mapping[str, object], lengths: Sequence[int]
) -> list[tuple[int, int]]:
    """Non-overlapping occurrences of `words` in `text`, longest first, then leftmost."""
    found: list[tuple[int, int]] = []
    taken = [False] * len(text)
    for length in lengths:  # descending
        if length > len(text):
            continue
        for start in range(len(text) - length + 1):
            end = start + length
            if any(taken[start:end]) or text[start:end] not in words:
                continue
            found.append((start, end))
            for i in range(start, end):
                taken[i] = True
    return sorted(found)


class SearchIndex:
    """An immutable in-memory index; build once (≈1 s: jieba's dictionary), query many times."""

    def __init__(self) -> None:  # use SearchIndex.build
        self._docs: list[_Doc] = []
        self._tokenizer: Any = None
        self._synonyms: dict[str, tuple[str, ...]] = {}
        self._synonym_lengths: list[int] = []
        # Synonym keys that are not purely Chinese (app, ETC卡) are looked for in the raw query.
        self._latin_synonyms: dict[str, tuple[str, ...]] = {}
        self._latin_synonym_lengths: list[int] = []
        self._postings: dict[str, _Posting] = {}
        self._corpus = ""
        self._corpus_chars: frozenset[str] = frozenset()
        self._corpus_bigrams: frozenset[str] = frozenset()
        self._full_keys: dict[str, tuple[str, ...]] = {}
        self._fuzzy_keys: dict[str, tuple[str, ...]] = {}
        self._initial_keys: dict[str, tuple[str, ...]] = {}
        self._full_by_chars: dict[int, list[str]] = {}  # word length → full pinyin keys
        self._full_key_list: list[str] = []
        self._initial_key_list: list[str] = []
        self._max_key_length = 0
        self._max_initials_length = 0
        self._n = 0
        self._avg_lengths = (1.0, 1.0, 1.0)

    # ---------------------------------------------------------------- building

    @classmethod
    def build(
        cls, entries: Iterable[SearchEntry], synonyms: Mapping[str, Iterable[str]]
    ) -> SearchIndex:
        index = cls()
        index._load(list(entries), synonyms)
        return index

    def _load(self, entries: list[SearchEntry], synonyms: Mapping[str, Iterable[str]]) -> None:
        for entry in entries:
            name_norm, name_map = _normalize_mapped(entry.name)
            self._docs.append(
                _Doc(
                    code=entry.code,
                    name=entry.name,
                    name_norm=name_norm,
                    name_map=name_map,
                    themes=" ".join(normalize(t) for t in entry.themes),
                    text=normalize(entry.text),
                )
            )
        self._n = len(self._docs)
        if self._n:
            self._avg_lengths = (
                max(1.0, sum(len(d.name_norm) for d in self._docs) / self._n),
                max(1.0, sum(len(d.themes) for d in self._docs) / self._n),
                max(1.0, sum(len(d.text) for d in self._docs) / self._n),
            )

        for raw_key, raw_words in synonyms.items():
            if isinstance(raw_words, str):  # the table's space-separated column, passed as is
                raw_words = raw_words.split()
            key = normalize(raw_key)
            words = tuple(dict.fromkeys(w for w in (normalize(x) for x in raw_words) if w))
            if key and words:
                self._synonyms[key] = words
        self._synonym_lengths = sorted({len(k) for k in self._synonyms}, reverse=True)
        self._latin_synonyms = {k: v for k, v in self._synonyms.items() if not _is_cjk(k)}
        self._latin_synonym_lengths = sorted({len(k) for k in self._latin_synonyms}, reverse=True)

        tokenizer = _new_tokenizer()
        synonym_terms = set(self._synonyms) | {w for ws in self._synonyms.values() for w in ws}
        for term in sorted(synonym_terms):
            if _is_cjk(term):
                tokenizer.add_word(term)

        # Vocabulary with a priority (0 synonyms, 1 names and themes, 2 text) for pinyin keys.
        priority: dict[str, int] = {}

        def note(word: str, rank: int) -> None:
            if len(word) >= 2 and _is_cjk(word) and word not in _STOPWORDS:
                priority[word] = min(rank, priority.get(word, rank))

        for term in synonym_terms:
            note(term, 0)
        name_runs: set[str] = set()
        for doc in self._docs:
            for run in _CJK_ONLY_RE.findall(doc.name_norm):
                name_runs.add(run)
                note(run, 1)
                for word in tokenizer.cut(run, HMM=False):
                    note(word, 1)
                for word in tokenizer.cut_for_search(run, HMM=False):
                    note(word, 1)
            for theme in doc.themes.split():
                note(theme, 1)
            for run in _CJK_ONLY_RE.findall(doc.text):
                for word in tokenizer.cut_for_search(run, HMM=False):
                    note(word, 2)
        # Now teach jieba the names themselves (after cutting them, so their inner words count).
        for run in sorted(name_runs):
            if len(run) >= 2:
                tokenizer.add_word(run)
        self._tokenizer = tokenizer

        corpus_parts = [d.name_norm for d in self._docs] + [d.themes for d in self._docs]
        corpus_parts += [d.text for d in self._docs] + sorted(synonym_terms)
        self._corpus = "\n".join(corpus_parts)
        self._corpus_chars = frozenset(self._corpus)
        self._corpus_bigrams = frozenset(
            self._corpus[i : i + 2] for i in range(len(self._corpus) - 1)
        )

        for word in sorted(priority):
            self._postings[word] = self._compute_posting(word)
        for ch in sorted(self._corpus_chars):
            if _is_cjk(ch):
                self._postings[ch] = self._compute_posting(ch)

        full: dict[str, list[str]] = {}
        fuzzy: dict[str, list[str]] = {}
        initials: dict[str, list[str]] = {}
        for word in sorted(priority):
            syllables = _syllables(word)
            if syllables is None:
                continue
            key = "".join(syllables)
            full.setdefault(key, []).append(word)
            fuzzy.setdefault(_fuzzy_pinyin(key), []).append(word)
            if priority[word] <= 1:
                initials.setdefault(_initials(word), []).append(word)

        def ranked(table: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
            def order(word: str) -> tuple[int, int, int, str]:
                posting = self._postings.get(word)
                df = len(posting.docs) if posting else 0
                return (priority[word], -df, -len(word), word)

            return {key: tuple(sorted(words, key=order)[:3]) for key, words in table.items()}

        self._full_keys = ranked(full)
        self._fuzzy_keys = ranked(fuzzy)
        self._initial_keys = {k: v for k, v in ranked(initials).items() if len(k) >= 2}
        self._full_key_list = sorted(self._full_keys)
        self._initial_key_list = sorted(self._initial_keys)
        for key, words in self._full_keys.items():
            for length in {len(w) for w in words}:
                self._full_by_chars.setdefault(length, []).append(key)
        self._max_key_length = max((len(k) for k in self._full_keys), default=0)
        self._max_initials_length = max((len(k) for k in self._initial_keys), default=0)

    def _compute_posting(self, term: str) -> _Posting:
        docs: list[tuple[int, float, bool]] = []
        for i, doc in enumerate(self._docs):
            tf = 0.0
            in_name = False
            for field_index, (field_text, weight, b, avg) in enumerate(
                zip(
                    (doc.name_norm, doc.themes, doc.text),
                    _FIELD_WEIGHTS,
                    _FIELD_B,
                    self._avg_lengths,
                    strict=True,
                )
            ):
                count = field_text.count(term)
                if count:
                    tf += weight * count / (1.0 - b + b * len(field_text) / avg)
                    in_name = in_name or field_index == 0
            if tf:
                docs.append((i, tf, in_name))
        df = len(docs)
        idf = math.log(1.0 + (self._n - df + 0.5) / (df + 0.5))
        return _Posting(idf, tuple(docs))

    def _posting(self, term: str) -> _Posting | None:
        posting = self._postings.get(term)
        if posting is None and term in self._corpus:
            posting = self._compute_posting(term)  # rare: a substring no word list holds
        if posting is None or not posting.docs:
            return None
        return posting

    # ---------------------------------------------------------------- query analysis

    def _expand(self, slot: _Slot, text: str, factor: float) -> None:
        """Add `text` to `slot` with its synonyms and the words inside it."""
        slot.add(text, factor, primary=True)
        expansions = self._synonyms.get(text)
        if expansions:
            for word in expansions:
                slot.add(word, factor * _W_SYNONYM, primary=True)
        else:
            for start, end in _maximal_spans(text, self._synonyms, self._synonym_lengths):
                key = text[start:end]
                slot.add(key, factor * _W_KEY_INSIDE)
                for word in self._synonyms[key]:
                    slot.add(word, factor * _W_SYNONYM_INSIDE)
                    variant = text[:start] + word + text[end:]
                    slot.add(variant, factor * _W_SYNONYM_INSIDE, primary=True)
        if len(text) > 2 and not expansions:  # a synonym key means its expansions, not its parts
            for word in self._tokenizer.cut_for_search(text, HMM=False):
                if word != text and len(word) >= 2:
                    slot.add(word, factor * _W_SUBWORD * math.sqrt(len(word) / len(text)))
            if len(text) > 4:
                for start, end in _maximal_spans(
                    text, self._postings, range(min(8, len(text) - 1), 1, -1)
                ):
                    word = text[start:end]
                    slot.add(word, factor * _W_SUBWORD * math.sqrt(len(word) / len(text)))
        for word in list(slot.alts):
            if word in self._synonyms and word != text:
                for expansion in self._synonyms[word]:
                    slot.add(expansion, slot.alts[word] * _W_SYNONYM)
        for phrase, weight in list(slot.primary.items()):
            if len(phrase) < 3 or self._posting(phrase) is not None:
                continue
            lengths = range(min(24, len(phrase) - 1), 1, -1)
            spans = _maximal_spans(phrase, self._postings, lengths)
            parts = tuple(
                dict.fromkeys(
                    word
                    for word in (phrase[start:end] for start, end in spans)
                    if word not in _STOPWORDS and self._posting(word) is not None
                )
            )
            if len(parts) >= 2 and weight > slot.compounds.get(parts, 0.0):
                slot.compounds[parts] = weight

    def _repair(self, segment: str) -> tuple[str, list[float]]:
        """Replace windows that occur nowhere in the catalogue by catalogue words that sound the
        same (or nearly). Returns the repaired text and a confidence per character."""
        factors = [1.0] * len(segment)
        # Only windows spanning a pair of characters the catalogue never writes side by side
        # can be typos; most queries have none and skip the pinyin work.
        odd = [segment[i : i + 2] not in self._corpus_bigrams for i in range(len(segment) - 1)]
        if not any(odd):
            return segment, factors
        syllables = _syllables(segment)
        if syllables is None:
            return segment, factors
        chars = list(segment)
        taken = [False] * len(segment)
        for length in range(min(6, len(segment)), 1, -1):
            for start in range(len(segment) - length + 1):
                end = start + length
                if not any(odd[start : end - 1]):
                    continue
                key = "".join(syllables[start:end])
                weight = _W_HOMOPHONE
                candidates = self._full_keys.get(key, ())
                if not candidates:
                    weight = _W_HOMOPHONE_FUZZY
                    candidates = self._fuzzy_keys.get(_fuzzy_pinyin(key), ())
                    if not candidates:
                        continue
                window = segment[start:end]
                if any(taken[start:end]) or window in self._corpus or window in _STOPWORDS:
                    continue
                replacement = self._plausible_typo(window, candidates)
                if replacement is None:
                    continue
                chars[start:end] = replacement
                for i in range(start, end):
                    taken[i] = True
                    factors[i] = weight
        # Not homophones: rapidfuzz on the pinyin of windows holding a character the catalogue
        # never uses (户口迁徙 → 户口迁移).
        budget = 24
        for length in range(min(6, len(segment)), 1, -1):
            for start in range(len(segment) - length + 1):
                end = start + length
                window = segment[start:end]
                if budget <= 0 or any(taken[start:end]) or not any(odd[start : end - 1]):
                    continue
                if all(ch in self._corpus_chars for ch in window) or window in self._corpus:
                    continue
                keys = self._full_by_chars.get(length)
                if not keys or (length < 3 and len("".join(syllables[start:end])) < 5):
                    continue
                budget -= 1
                key = "".join(syllables[start:end])
                match = process.extractOne(key, keys, scorer=fuzz.ratio, score_cutoff=85)
                if match is None:
                    continue
                word = next((w for w in self._full_keys[match[0]] if len(w) == length), None)
                if word is None or self._plausible_typo(window, (word,)) is None:
                    continue
                chars[start:end] = word
                for i in range(start, end):
                    taken[i] = True
                    factors[i] = _W_FUZZY * match[1] / 100.0
        return "".join(chars), factors

    @staticmethod
    def _plausible_typo(window: str, candidates: Sequence[str]) -> str | None:
        """A candidate of the same length sharing a character with the window and differing in
        at most half of them."""
        for word in candidates:
            if len(word) != len(window) or word == window:
                continue
            differing = sum(a != b for a, b in zip(word, window, strict=True))
            if 0 < differing <= max(1, len(window) // 2):
                return word
        return None

    def _chinese_slots(self, run: str) -> list[_Slot]:
        slots: list[_Slot] = []
        # Drop filler words first; what remains falls into segments that are repaired apart.
        segments: list[str] = []
        current = ""
        for word in self._tokenizer.cut(run, HMM=False):
            if word in _STOPWORDS:
                if current:
                    segments.append(current)
                current = ""
            else:
                current += word
        if current:
            segments.append(current)
        for segment in segments:
            repaired, factors = self._repair(segment)
            # Synonym keys that jieba split apart join back into one slot.
            key_spans = _maximal_spans(repaired, self._synonyms, self._synonym_lengths)
            words: list[tuple[int, int]] = []
            position = 0
            for word in self._tokenizer.cut(repaired, HMM=False):
                words.append((position, position + len(word)))
                position += len(word)
            merged: list[tuple[int, int]] = []
            for start, end in words:
                for key_start, key_end in key_spans:
                    if key_start < end and start < key_end:
                        start, end = min(start, key_start), max(end, key_end)
                if merged and merged[-1][1] > start:
                    start = merged.pop()[0]
                merged.append((start, end))
            for start, end in merged:
                text = repaired[start:end]
                if text in _STOPWORDS:
                    continue
                factor = min(factors[start:end])
                slot = _Slot()
                if len(text) == 1:
                    slot.importance = _W_SINGLE
                    slot.add(text, factor * _W_SINGLE, primary=True)
                    expansions = self._synonyms.get(text, ())
                    for word in expansions:
                        slot.add(word, factor * _W_SINGLE * _W_SYNONYM, primary=True)
                else:
                    self._expand(slot, text, factor)
                slots.append(slot)
        return slots

    def _take_latin_synonyms(self, query: str, slots: list[_Slot]) -> str:
        """Synonym keys with latin letters or digits (app, ETC卡) become slots of their own and
        leave the query; a latin edge must be a word edge (app is not in happy)."""
        spans = _maximal_spans(query, self._latin_synonyms, self._latin_synonym_lengths)
        kept: list[tuple[int, int]] = []
        for start, end in spans:
            key = query[start:end]
            before = query[start - 1] if start else " "
            after = query[end] if end < len(query) else " "
            if (
                key[0].isascii() and key[0].isalnum() and before.isascii() and before.isalnum()
            ) or (key[-1].isascii() and key[-1].isalnum() and after.isascii() and after.isalnum()):
                continue
            slot = _Slot()
            for word in self._latin_synonyms[key]:
                self._expand(slot, word, _W_SYNONYM)
            slots.append(slot)
            kept.append((start, end))
        for start, end in reversed(kept):
            query = query[:start] + " " + query[end:]
        return query

    def _latin_slots(self, group: str) -> list[_Slot]:
        slots: list[_Slot] = []
        if group in self._synonyms:
            slot = _Slot()
            for word in self._synonyms[group]:
                slot.add(word, _W_SYNONYM, primary=True)
            return [slot]
        for piece in _ALPHA_OR_DIGITS_RE.findall(group):
            if piece.isdigit():
                if len(piece) >= 2 and piece in self._corpus:
                    slot = _Slot()
                    slot.add(piece, 1.0, primary=True)
                    slots.append(slot)
                continue
            slots.extend(self._pinyin_slots(piece))
        return slots

    def _pinyin_slots(self, letters: str) -> list[_Slot]:
        if len(letters) < 2:
            return []
        literal: list[_Slot] = []
        if len(letters) >= 3 and letters in self._corpus:
            slot = _Slot()
            slot.add(letters, 1.0, primary=True)
            literal.append(slot)

        exact = self._segment(letters, self._full_keys, self._max_key_length)
        fuzzy_letters = _fuzzy_pinyin(letters)
        near = self._segment(fuzzy_letters, self._fuzzy_keys, self._max_key_length)
        best, weight, length = exact, _W_PINYIN, len(letters)
        if near[0] < exact[0] - 1e-9:
            best, weight, length = near, _W_PINYIN_FUZZY, len(fuzzy_letters)
        _cost, pieces, covered = best
        coverage = covered / length
        if coverage >= 1.0:
            return literal + [self._candidates_slot(words, weight) for words in pieces]

        spelled = self._initials_parse(letters)
        if spelled:
            return literal + [self._candidates_slot(words, _W_INITIALS) for words in spelled]

        if set(letters) & _VOWELS:
            keys, table = self._full_key_list, self._full_keys
        else:
            keys, table = self._initial_key_list, self._initial_keys
        slack = max(2, len(letters) // 4)
        match = process.extractOne(
            letters,
            keys,
            scorer=fuzz.ratio,
            score_cutoff=78,
            processor=None,
        )
        if match is not None and abs(len(match[0]) - len(letters)) <= slack:
            similarity = match[1] / 100.0
            if similarity >= coverage:
                return [*literal, self._candidates_slot(table[match[0]], _W_FUZZY * similarity)]
        if coverage >= 0.5:
            return literal + [self._candidates_slot(words, weight * coverage) for words in pieces]
        return literal

    def _candidates_slot(self, words: Sequence[str], weight: float) -> _Slot:
        slot = _Slot()
        for rank, word in enumerate(words):
            self._expand(slot, word, weight * (1.0 if rank == 0 else _W_OTHER_CANDIDATE))
        return slot

    @staticmethod
    def _segment(
        letters: str, keys: Mapping[str, tuple[str, ...]], max_length: int
    ) -> tuple[float, list[tuple[str, ...]], int]:
        """Cheapest cover of `letters` by pinyin keys (1 per key) and skipped letters (1 each).
        Returns (cost, the candidate words per key, letters covered)."""
        n = len(letters)
        cost = [math.inf] * (n + 1)
        back: list[tuple[int, str | None]] = [(0, None)] * (n + 1)
        cost[0] = 0.0
        for i in range(n):
            if cost[i] == math.inf:
                continue
            if cost[i] + 1.0 < cost[i + 1]:
                cost[i + 1] = cost[i] + 1.0
                back[i + 1] = (i, None)
            for j in range(i + 2, min(n, i + max_length) + 1):
                key = letters[i:j]
                if key in keys and cost[i] + 1.0 <= cost[j]:
                    cost[j] = cost[i] + 1.0
                    back[j] = (i, key)
        pieces: list[tuple[str, ...]] = []
        covered = 0
        j = n
        while j > 0:
            i, piece = back[j]
            if piece is not None:
                pieces.append(keys[piece])
                covered += j - i
            j = i
        pieces.reverse()
        return cost[n], pieces, covered

    def _initials_parse(self, letters: str) -> list[tuple[str, ...]] | None:
        """Fewest initials keys that spell `letters` exactly, or None."""
        n = len(letters)
        if n > 12:
            return None
        best: list[list[str] | None] = [None] * (n + 1)
        best[0] = []
        for i in range(n):
            current = best[i]
            if current is None:
                continue
            for j in range(i + 2, min(n, i + self._max_initials_length) + 1):
                key = letters[i:j]
                if key in self._initial_keys:
                    candidate = [*current, key]
                    existing = best[j]
                    if existing is None or len(candidate) < len(existing):
                        best[j] = candidate
        parse = best[n]
        return [self._initial_keys[k] for k in parse] if parse else None

    def _analyse(self, query: str) -> list[_Slot]:
        """The query's slots in order; a word typed twice counts once."""
        slots: list[_Slot] = []
        seen: set[tuple[str, ...]] = set()
        for slot in self._slots(query):
            signature = tuple(sorted(slot.alts))
            if signature not in seen:
                seen.add(signature)
                slots.append(slot)
        return slots

    def _slots(self, query: str) -> list[_Slot]:
        slots: list[_Slot] = []
        if self._latin_synonyms:
            query = self._take_latin_synonyms(query, slots)
        runs = list(_RUN_RE.finditer(query))
        i = 0
        while i < len(runs):
            run = runs[i]
            text = run.group()
            if _is_cjk(text):
                # Chinese runs split only by spaces are one phrase (社保 转移 → 社保转移).
                end = run.end()
                while (
                    i + 1 < len(runs)
                    and _is_cjk(runs[i + 1].group())
                    and not query[end : runs[i + 1].start()].strip()
                ):
                    i += 1
                    text += runs[i].group()
                    end = runs[i].end()
                slots.extend(self._chinese_slots(text))
            else:
                # Latin runs split by spaces or apostrophes are one group (she bao ka, xi'an).
                end = run.end()
                while (
                    i + 1 < len(runs)
                    and not _is_cjk(runs[i + 1].group())
                    and _LATIN_GLUE_RE.fullmatch(query[end : runs[i + 1].start()])
                ):
                    i += 1
                    text += runs[i].group()
                    end = runs[i].end()
                slots.extend(self._latin_slots(text))
            i += 1
        return slots

    # ---------------------------------------------------------------- searching

    def search(self, query: str, limit: int = 10) -> list[Hit]:
        if limit <= 0 or not self._docs:
            return []
        normalized = normalize(query[:MAX_QUERY_LENGTH])[:MAX_QUERY_LENGTH]
        if not normalized:
            return []
        slots = self._analyse(normalized)
        if not slots:
            return []

        scores: dict[int, float] = {}
        name_cover: dict[int, float] = {}
        matched_in_name: dict[int, set[str]] = {}
        total_importance = 0.0
        for slot in slots:
            best: dict[int, float] = {}
            best_name: dict[int, float] = {}
            for term in sorted(slot.alts):
                weight = slot.alts[term]
                posting = self._posting(term)
                if posting is None:
                    continue
                for doc, tf, in_name in posting.docs:
                    value = weight * posting.idf * tf * (_K1 + 1.0) / (tf + _K1)
                    if value > best.get(doc, 0.0):
                        best[doc] = value
                    if in_name:
                        if weight > best_name.get(doc, 0.0):
                            best_name[doc] = weight
                        if len(term) >= 2 or len(slots) == 1:
                            matched_in_name.setdefault(doc, set()).add(term)
            for parts in sorted(slot.compounds):
                weight = slot.compounds[parts]
                sums: dict[int, float] = {}
                in_names: dict[int, int] = {}
                for term in parts:
                    posting = self._posting(term)
                    if posting is None:
                        continue
                    for doc, tf, in_name in posting.docs:
                        value = posting.idf * tf * (_K1 + 1.0) / (tf + _K1)
                        sums[doc] = sums.get(doc, 0.0) + value
                        if in_name:
                            in_names[doc] = in_names.get(doc, 0) + 1
                            matched_in_name.setdefault(doc, set()).add(term)
                for doc, total in sums.items():
                    if weight * total > best.get(doc, 0.0):
                        best[doc] = weight * total
                for doc, count in in_names.items():
                    share = weight * count / len(parts)
                    if share > best_name.get(doc, 0.0):
                        best_name[doc] = share
            if not best:
                continue  # a word that matches nothing does not dilute the others
            total_importance += slot.importance
            for doc, value in best.items():
                scores[doc] = scores.get(doc, 0.0) + value
            for doc, weight in best_name.items():
                name_cover[doc] = name_cover.get(doc, 0.0) + slot.importance * weight
        if not scores:
            return []

        wholes = self._whole_variants(slots)
        probe = wholes[0][0] if wholes else normalized
        ranked: list[tuple[float, str, int]] = []
        for doc_index, score in scores.items():
            entry = self._docs[doc_index]
            coverage = name_cover.get(doc_index, 0.0) / total_importance
            score += _NAME_BONUS * coverage * coverage
            whole = 0.0
            for text, weight in wholes:
                if len(text) >= 2 and text in entry.name_norm:
                    whole = max(whole, weight * (0.5 + 0.5 * len(text) / len(entry.name_norm)))
            score += _WHOLE_BONUS * whole
            score += _TIE_BREAK * fuzz.partial_ratio(probe, entry.name_norm) / 100.0
            ranked.append((-round(score, 6), entry.code, doc_index))
        ranked.sort()
        hits = []
        for negative, _code, doc_index in ranked[:limit]:
            entry = self._docs[doc_index]
            terms = matched_in_name.get(doc_index, set())
            hits.append(Hit(entry.code, entry.name, -negative, self._highlight(entry, terms)))
        return hits

    @staticmethod
    def _whole_variants(slots: Sequence[_Slot]) -> list[tuple[str, float]]:
        """The whole query as typed, repaired or expanded: slot alternatives in order."""
        choices: list[list[tuple[str, float]]] = []
        for slot in slots:
            primary = sorted(slot.primary.items(), key=lambda item: (-item[1], item[0]))[:3]
            if primary:
                choices.append(primary)
        if not choices:
            return []
        variants: dict[str, float] = {}
        for combination in itertools.islice(itertools.product(*choices), 27):
            text = "".join(word for word, _weight in combination)
            weight = min(weight for _word, weight in combination)
            if weight > variants.get(text, 0.0):
                variants[text] = weight
        return sorted(variants.items(), key=lambda item: (-item[1], item[0]))

    @staticmethod
    def _highlight(doc: _Doc, terms: Iterable[str]) -> str:
        marked = [False] * len(doc.name)
        for term in terms:
            start = doc.name_norm.find(term)
            while start >= 0:
                for i in range(start, start + len(term)):
                    marked[doc.name_map[i]] = True
                start = doc.name_norm.find(term, start + 1)
        parts: list[str] = []
        i = 0
        while i < len(doc.name):
            j = i
            while j < len(doc.name) and marked[j] == marked[i]:
                j += 1
            chunk = html.escape(doc.name[i:j])
            parts.append(f"<em>{chunk}</em>" if marked[i] else chunk)
            i = j
        return "".join(parts)


# --------------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class EvalCase:
    query: str
    expected: tuple[str, ...]  # item NAMES; a top-k hit if any expected name is in the top k


def load_eval_cases(path: Path) -> list[EvalCase]:
    """Cases from a CSV with columns `query,expected` (expected names separated by `|`)."""
    cases = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            query = row["query"]
            expected = tuple(name.strip() for name in row["expected"].split("|") if name.strip())
            if query.strip() and expected:
                cases.append(EvalCase(query, expected))
    return cases


@dataclass(frozen=True)
class EvalReport:
    cases: int
    top1: float
    top3: float
    zero_results: float
    p50_ms: float
    p99_ms: float
    misses: list[tuple[str, list[str]]]  # (query, top-3 names) for cases not hit in the top 3


def _percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def evaluate(index: SearchIndex, cases: Sequence[EvalCase], *, repeat: int = 20) -> EvalReport:
    """Hit rates over `cases`; latency over `repeat` passes over all of them (nearest rank)."""
    top1 = top3 = zero = 0
    misses: list[tuple[str, list[str]]] = []
    for case in cases:
        names = [hit.name for hit in index.search(case.query, limit=10)]
        if not names:
            zero += 1
        if names[:1] and names[0] in case.expected:
            top1 += 1
        if any(name in case.expected for name in names[:3]):
            top3 += 1
        else:
            misses.append((case.query, names[:3]))
    timings: list[float] = []
    for _ in range(max(0, repeat)):
        for case in cases:
            started = time.perf_counter()
            index.search(case.query, limit=10)
            timings.append((time.perf_counter() - started) * 1000.0)
    timings.sort()
    count = len(cases)
    return EvalReport(
        cases=count,
        top1=top1 / count if count else 0.0,
        top3=top3 / count if count else 0.0,
        zero_results=zero / count if count else 0.0,
        p50_ms=_percentile(timings, 0.50),
        p99_ms=_percentile(timings, 0.99),
        misses=misses,
    )

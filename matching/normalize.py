"""Text normalisation shared by both matchers: what was asked, without Slack markup, filler or case.

``normalize`` is what both backends see; ``terms`` (stop words dropped, lightly stemmed) and
``features`` (word and character 3-gram features) feed the string fallback.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections import Counter

from matching.glossary import expand

# Longest text looked at (titles are at most 150 characters; this only bounds the work).
MAX_TEXT = 2000

_SLACK_LABELLED_LINK = re.compile(r"<(?:https?|mailto|ftp):[^|>]*\|([^>]*)>", re.IGNORECASE)
_SLACK_SPECIAL = re.compile(r"<[^>]*>")  # <@U1>, <#C1|name>, <!channel>, <!subteam^S1>, bare <http://..>
_BARE_URL = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_EMOJI_CODE = re.compile(r":[a-z0-9_+\-']+:", re.IGNORECASE)
_APOSTROPHE = re.compile(r"(?<=\w)['’](?=\w)")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_SPACES = re.compile(r"\s+")

# Generic request chatter (not topic words): what people wrap around the actual need.
_FILLER_PHRASES = [
    "it would be great if",
    "it would be nice if",
    "it would be nice to",
    "would be great if",
    "would be great",
    "would be nice",
    "would be awesome",
    "would love to have",
    "would love",
    "would like to have",
    "would like",
    "we really need to",
    "we really need",
    "we need to",
    "we need",
    "they need to",
    "they need",
    "we want",
    "they want to",
    "they want",
    "customer wants to",
    "customer wants",
    "customers want",
    "client wants",
    "clients want",
    "customer is asking for",
    "customer asked for",
    "customer asks for",
    "customer requested",
    "customer request",
    "client is asking for",
    "client asked for",
    "is asking for",
    "are asking for",
    "asked again for",
    "asked for",
    "asking for",
    "is it possible to",
    "is there a way to",
    "any chance we can",
    "any chance",
    "can we please",
    "can we get",
    "can we have",
    "can we",
    "could we get",
    "could we",
    "can you",
    "could you",
    "feature request",
    "hey team",
    "hi team",
    "hello team",
    "hey all",
    "hi all",
    "heads up",
    "please",
    "pls",
    "plz",
    "thanks",
    "thank you",
    "thx",
    "fyi",
    "hey",
    "hello",
    "hi",
]
_FILLER = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in _FILLER_PHRASES) + r")\b")

# Common English function words; dropped from the string features (not from normalize()).
_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "being",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "don",
        "done",
        "down",
        "each",
        "even",
        "ever",
        "every",
        "few",
        "for",
        "from",
        "further",
        "get",
        "gets",
        "got",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "let",
        "lets",
        "like",
        "make",
        "many",
        "me",
        "more",
        "most",
        "much",
        "my",
        "need",
        "needs",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "one",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "really",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "us",
        "very",
        "via",
        "want",
        "wants",
        "was",
        "way",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "yes",
        "yet",
        "you",
        "your",
        "yours",
    ]
)


def normalize(text: str, *, spell_out: bool = True) -> str:
    """Casefolded, accent-free words of what was asked, without Slack markup, punctuation or filler,
    with the trade's shorthand spelt out after it (matching.glossary; ``spell_out=False``: not).

    ``"<@U1> Hey team, customer wants *RBAC* for <https://x.io/r|admins> please!"`` gives
    ``"rbac role based access control permissions for admins"``. When the text is nothing but filler,
    the filler is kept rather than returning nothing.
    """
    if not text:
        return ""
    text = text[:MAX_TEXT]
    text = _SLACK_LABELLED_LINK.sub(r" \1 ", text)
    text = _SLACK_SPECIAL.sub(" ", text)
    text = html.unescape(text)
    text = _BARE_URL.sub(" ", text)
    text = _EMOJI_CODE.sub(" ", text)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _APOSTROPHE.sub("", text)
    text = _SPACES.sub(" ", _NON_WORD.sub(" ", text)).strip()
    stripped = _SPACES.sub(" ", _FILLER.sub(" ", text)).strip() or text
    return expand(stripped) if spell_out else stripped


def stem(word: str) -> str:
    """Very light suffix stripping so plurals and -ing/-ed forms meet (exports/exporting/exported)."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
        word = word[:-1]
    return word


def terms(normalized: str) -> list[str]:
    words = normalized.split()
    kept = [stem(w) for w in words if w not in _STOPWORDS]
    return kept or [stem(w) for w in words]


def features(words: list[str]) -> Counter[str]:
    """Word features ("w:" prefix) and character 3-grams of each padded word."""
    feats: Counter[str] = Counter()
    for term in words:
        feats["w:" + term] += 1
        padded = f" {term} "
        for i in range(len(padded) - 2):
            feats[padded[i : i + 3]] += 1
    return feats


_WORD_WEIGHT = 1.5


def feature_weights(feats: Counter[str]) -> dict[str, float]:
    return {f: (1.0 + math.log(c)) * (_WORD_WEIGHT if f.startswith("w:") else 1.0) for f, c in feats.items()}

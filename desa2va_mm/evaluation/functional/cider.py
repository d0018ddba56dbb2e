"""CIDEr-D (Vedantam et al., CVPR 2015) in pure Python, as the COCO caption toolkit scores it.

For n = 1..4, every caption becomes a TF-IDF vector over its n-grams: raw n-gram counts
times ``log(N) - log(max(1, df))``, where N is the number of images and ``df`` the number
of images whose references contain the n-gram. A candidate c and a reference r score, per
n, ``sum_g min(c_g, r_g) * r_g / (|c| |r|)`` (0 when either vector is empty) times the
length penalty ``exp(-(len(c) - len(r))^2 / (2 * 6^2))``, lengths counted in bigrams as
the toolkit counts them (words - 1). An image's CIDEr-D is 10 x the
mean over n and over its references; the corpus score is the mean over images.

Tokenisation: lower-case words with punctuation removed (:func:`simple_tokenize`), an
approximation of the PTB tokenizer the toolkit runs through Java.
"""
import math
import re
from collections import Counter
from typing import Dict, List, Sequence, Tuple

__all__ = ['simple_tokenize', 'cider_d']

_PUNCT = re.compile(r"[^\w\s]")


def simple_tokenize(text: str) -> List[str]:
    """Lower-cased words, punctuation dropped (``"A man, walking."`` -> ``['a', 'man',
    'walking']``)."""
    return _PUNCT.sub(' ', text.lower()).split()


def _ngrams(words: Sequence[str], max_n: int) -> List[Counter]:
    return [Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
            for n in range(1, max_n + 1)]


def _vector(counts: List[Counter], df: Dict[tuple, int], log_n: float
            ) -> Tuple[List[Dict[tuple, float]], List[float]]:
    vec, norms = [], []
    for per_n in counts:
        v = {g: tf * (log_n - math.log(max(1.0, df.get(g, 0)))) for g, tf in per_n.items()}
        vec.append(v)
        norms.append(math.sqrt(sum(x * x for x in v.values())))
    return vec, norms


def cider_d(candidates: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4,
            sigma: float = 6.0) -> Tuple[float, List[float]]:
    """Corpus CIDEr-D of one candidate per image against its references.

    Args:
        candidates: One caption per image (N).
        references: The reference captions of each image (N lists, each non-empty).
        max_n: Longest n-gram.
        sigma: Width of the length penalty.

    Returns:
        ``(corpus score, per-image scores)`` on the toolkit's scale (x 10).

    Raises:
        ValueError: Lengths differ or an image has no reference.
    """
    if len(candidates) != len(references):
        raise ValueError(f'cider_d: {len(candidates)} candidates but {len(references)} '
                         'reference lists')
    if not candidates:
        return 0.0, []
    ref_counts, ref_lens = [], []
    df: Counter = Counter()
    for i, refs in enumerate(references):
        if not refs:
            raise ValueError(f'cider_d: image {i} has no reference caption')
        words = [simple_tokenize(r) for r in refs]
        counts = [_ngrams(w, max_n) for w in words]
        ref_counts.append(counts)
        ref_lens.append([max(0, len(w) - 1) for w in words])
        df.update({g for c in counts for per_n in c for g in per_n})
    log_n = math.log(float(len(candidates)))
    scores = []
    for cand, counts, lens in zip(candidates, ref_counts, ref_lens):
        words = simple_tokenize(cand)
        c_vec, c_norm = _vector(_ngrams(words, max_n), df, log_n)
        total = 0.0
        for r_counts, r_len in zip(counts, lens):
            r_vec, r_norm = _vector(r_counts, df, log_n)
            delta = max(0, len(words) - 1) - r_len
            penalty = math.exp(-(delta ** 2) / (2 * sigma ** 2))
            for n in range(max_n):
                val = sum(min(x, r_vec[n][g]) * r_vec[n][g]
                          for g, x in c_vec[n].items() if g in r_vec[n])
                if c_norm[n] != 0 and r_norm[n] != 0:
                    val /= c_norm[n] * r_norm[n]
                total += val * penalty
        scores.append(10.0 * total / max_n / len(counts))
    return sum(scores) / len(scores), scores

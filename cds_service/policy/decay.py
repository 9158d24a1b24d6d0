"""Documentation decay: notes copied forward across encounters.

Auditors cite procedure notes that repeat an earlier encounter's note nearly word for word (cloned
documentation: SMRC 01-034 attributes 86.7% of TEI errors to insufficient documentation). painpa
compares the inline text of DocumentReference notes (``content.attachment.data``; a ``url`` to a
Binary is never fetched) with word shingles and Jaccard similarity:
J(A, B) = |A ∩ B| / |A ∪ B| over the sets of k-word shingles. Notes of the same encounter are not
compared (addenda legitimately repeat). The threshold, k and caps are policy data.

Speed: exact prefix filtering (Chaudhuri et al. 2006) — under any fixed global order of shingles (here
their hash values), two sets with J ≥ t must share one of the first |A| − ⌈t·|A|⌉ + 1 shingles of
each — so only candidate pairs are scored, instead of every pair of notes. Results are computed once per evaluation (all
orders of one hook call share the chart) and then filtered to each order's look-back window.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

from cds_service.policy.chart import Chart, Item, note_text
from cds_service.policy.checks.core import Ctx, Outcome, check, evidence, met, missing, unmet

_WORD = re.compile(r"[a-z0-9]+")


def shingles(text: str, k: int) -> frozenset[int]:
    """The set of k-word shingles as ints (hash of the word tuple; zip over shifted lists runs in C)."""
    return _shingled(_WORD.findall(text.lower()), k)


def _shingled(words: list[str], k: int) -> frozenset[int]:
    if len(words) < k:
        return frozenset()
    return frozenset(map(hash, zip(*(words[i:] for i in range(k)), strict=False)))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def _same_visit(a: Item, b: Item) -> bool:
    return bool(a.extra and a.extra == b.extra) or (not a.extra and a.when == b.when)


def similar_pairs(chart: Chart, notes: list[Item], p: dict) -> list[tuple[float, Item, Item]]:
    """(similarity, newer, older) for every note that repeats an earlier note (first match only)."""
    t, k = p["similarity"], p["shingle_words"]
    sigs = []
    for item in notes:
        words = _WORD.findall(note_text(chart.raw_documents[item.ref]).lower())
        if len(words) < p["min_words"]:                 # too short to judge: no shingles needed
            continue
        sig = _shingled(words, k)
        if len(sig) >= p["min_words"] - k + 1:          # as many distinct shingles as min_words words give
            sigs.append((item, sig))
    # Any fixed global order keeps prefix filtering exact; the shingle hashes are one, for free.
    index: dict[int, list[int]] = {}
    ordered = sorted(range(len(sigs)), key=lambda n: (sigs[n][0].when, sigs[n][0].ref))   # oldest first
    best: dict[int, tuple[float, int]] = {}
    for n in ordered:
        item, sig = sigs[n]
        prefix = sorted(sig)[: len(sig) - math.ceil(t * len(sig)) + 1]
        candidates = {m for r in prefix for m in index.get(r, ())}
        for m in candidates:
            older, other = sigs[m]
            if _same_visit(item, older) or not (t * len(sig) <= len(other) <= len(sig) / t):
                continue
            score = jaccard(sig, other)
            if score >= t and score > best.get(n, (0.0, -1))[0]:
                best[n] = (score, m)
        for r in prefix:
            index.setdefault(r, []).append(n)
    return [(score, sigs[n][0], sigs[m][0]) for n, (score, m) in best.items()]


@check("cloned_notes")
def cloned_notes(p: dict, ctx: Ctx) -> Outcome:
    lo = ctx.dos - timedelta(days=p["lookback_days"])
    notes = sorted((i for i in ctx.chart.items["documents"] if i.when and lo <= i.when <= ctx.dos),
                   key=lambda i: (i.when, i.ref), reverse=True)[: p["max_notes"]]
    key = ("cloned_notes", tuple(sorted((k, v) for k, v in p.items())), tuple(i.ref for i in notes))
    if key not in ctx.chart.memo:
        ctx.chart.memo[key] = similar_pairs(ctx.chart, notes, p)
    pairs = sorted(ctx.chart.memo[key], key=lambda x: (-x[0], x[1].ref))
    if pairs:
        score = pairs[0][0]
        ev = [e for _, n, o in pairs[:3] for e in (evidence(n), evidence(o))]
        noun = "note repeats an earlier note" if len(pairs) == 1 else "notes repeat earlier notes"
        return unmet(f"{len(pairs)} {noun} nearly word for word ({round(100 * score)}% identical)", *ev)
    if ctx.incomplete("DocumentReference"):
        return missing(ctx, ("DocumentReference",), "Notes not checked")
    return met(f"No copied-forward notes among {len(notes)} notes")

"""Documentation decay: notes copied forward across encounters (issue 3 "Documentation decay").

Auditors cite procedure notes that repeat an earlier encounter's note nearly word for word (cloned
documentation: SMRC 01-034 attributes 86.7% of TEI errors to insufficient documentation). painpa
compares the inline text of DocumentReference notes (``content.attachment.data``; a ``url`` to a
Binary is never fetched) with word shingles and Jaccard similarity:
J(A, B) = |A ∩ B| / |A ∪ B| over the sets of k-word shingles. Notes of the same encounter are not
compared (addenda legitimately repeat). The threshold, k and caps are policy data.
"""

from __future__ import annotations

import re
from datetime import timedelta

from cds_service.policy.chart import note_text
from cds_service.policy.checks.core import Ctx, Outcome, check, evidence, met, missing, unmet

_WORD = re.compile(r"[a-z0-9]+")


def shingles(text: str, k: int) -> frozenset[int]:
    words = _WORD.findall(text.lower())
    if len(words) < k:
        return frozenset()
    return frozenset(hash(tuple(words[i:i + k])) for i in range(len(words) - k + 1))


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


@check("cloned_notes")
def cloned_notes(p: dict, ctx: Ctx) -> Outcome:
    lo = ctx.dos - timedelta(days=p["lookback_days"])
    notes = sorted((i for i in ctx.chart.items["documents"] if i.when and lo <= i.when <= ctx.dos),
                   key=lambda i: (i.when, i.ref), reverse=True)[: p["max_notes"]]
    sigs = []
    for item in notes:
        text = note_text(ctx.chart.raw_documents[item.ref])
        if len(_WORD.findall(text.lower())) >= p["min_words"]:
            sigs.append((item, shingles(text, p["shingle_words"])))
    pairs = []
    for i, (newer, a) in enumerate(sigs):
        for older, b in sigs[i + 1:]:
            same_visit = newer.extra and newer.extra == older.extra
            if same_visit or (not newer.extra and newer.when == older.when):
                continue
            score = jaccard(a, b)
            if score >= p["similarity"]:
                pairs.append((score, newer, older))
                break      # one match per newer note is enough to flag it
    if pairs:
        score = max(s for s, _, _ in pairs)
        ev = [e for _, n, o in pairs[:3] for e in (evidence(n), evidence(o))]
        noun = "note repeats an earlier note" if len(pairs) == 1 else "notes repeat earlier notes"
        return unmet(f"{len(pairs)} {noun} nearly word for word ({round(100 * score)}% identical)", *ev)
    if ctx.incomplete("DocumentReference"):
        return missing(ctx, ("DocumentReference",), "Notes not checked")
    return met(f"No copied-forward notes among {len(sigs)} notes with text")

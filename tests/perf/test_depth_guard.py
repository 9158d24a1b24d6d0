"""The fast depth check on the request text (cds_service/security/limits.py, standards.md §8.15)
gives the same answer as the walk over the parsed value: the 400 for nesting bombs must not move.
Random documents with brackets, quotes and backslashes inside strings and keys, non-ASCII text,
duplicate keys that hide a deep subtree, and UTF-16 bodies (the walk decides those)."""

from __future__ import annotations

import json
import random

import pytest

from cds_service.security.limits import MAX_DEPTH, depth_exceeds, depth_exceeds_raw

_STRINGS = ["x", 'a\\"[{', "]}\"", "\\\\", "ü{[", "", "\u005c", "[]", "\\u005b"]


def _value(rng: random.Random, depth: int, target: int) -> object:
    if depth >= target or rng.random() < 0.25:
        return rng.choice([1, None, 2.5, True, *_STRINGS])
    width = rng.randint(1, 3) if depth < 4 else 1   # bushy near the root, then chains: small documents
    if rng.random() < 0.55:
        return {rng.choice(["k", "a[", '"{', "\\", "é]"]) + str(i): _value(rng, depth + 1, target)
                for i in range(width)}
    return [_value(rng, depth + 1, target) for _ in range(width)]


@pytest.mark.parametrize("seed", range(4))
def test_text_check_agrees_with_walk(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(500):
        value = _value(rng, 0, rng.randint(1, MAX_DEPTH + 6))
        raw = json.dumps(value, ensure_ascii=rng.random() < 0.5).encode()
        parsed = json.loads(raw)
        for limit in (2, 5, MAX_DEPTH):
            assert depth_exceeds_raw(raw, parsed, limit) == depth_exceeds(parsed, limit), raw[:200]


def test_duplicate_key_hiding_a_deep_subtree_is_not_refused() -> None:
    deep = "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    raw = ('{"a": ' + deep + ', "a": 1}').encode()
    parsed = json.loads(raw)
    assert not depth_exceeds(parsed) and not depth_exceeds_raw(raw, parsed)


def test_deep_body_refused_in_any_encoding() -> None:
    text = '{"x": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}"
    for raw in (text.encode(), text.encode("utf-16"), text.encode("utf-8-sig")):
        assert depth_exceeds_raw(raw, json.loads(raw))
    shallow = '{"x": "' + "[" * 100 + '"}'
    assert not depth_exceeds_raw(shallow.encode("utf-16"), json.loads(shallow.encode("utf-16")))



@pytest.mark.parametrize("leaf", [1, {}, [], "[]{}"])
@pytest.mark.parametrize("shape", ["list-dict", "dict-list", "lists", "dicts"])
def test_mixed_bracket_chains_are_counted_level_by_level(shape: str, leaf: object) -> None:
    # "[{}]" must count as two levels: a one-pass removal that let "{}" and then the "[]" it
    # exposes go together would halve the depth of a nesting bomb and let it through.
    value: object = leaf
    for level in range(MAX_DEPTH + 1):
        as_list = {"list-dict": level % 2 == 0, "dict-list": level % 2 == 1, "lists": True, "dicts": False}[shape]
        value = [value] if as_list else {"k": value}
    for limit in (MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 2):
        raw = json.dumps(value).encode()
        assert depth_exceeds_raw(raw, json.loads(raw), limit) == depth_exceeds(value, limit), (shape, limit)
    assert depth_exceeds_raw(json.dumps(value).encode(), value)

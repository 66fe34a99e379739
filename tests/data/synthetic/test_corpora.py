from __future__ import annotations

import re
from collections import Counter

import pytest

from lam_envs.data.scenes import Scene
from lam_envs.data.synthetic import synthetic_samples
from lam_envs.data.synthetic.corpora import PairedCorpus, PairedText, TextCorpus, text_messages
from lam_envs.data.synthetic.questions import answer_words, content_words, parse_question
from lam_envs.data.synthetic.roster import CHARACTERS, INDIVIDUALS

N = 2000


def _vocab(texts) -> Counter:
    return Counter(w for t in texts for w in re.findall(r"[a-z']+", t.lower()))


@pytest.fixture(scope="module")
def paired() -> list[PairedText]:
    return PairedCorpus(seed=0, size=N)[:]


@pytest.fixture(scope="module")
def text() -> list[str]:
    return TextCorpus(seed=0, size=N)[:]


def test_indexable_deterministic_and_seeded(paired, text) -> None:
    corpus = PairedCorpus(seed=0, size=N)
    assert len(corpus) == N and corpus[17] == paired[17] and corpus[-1] == paired[-1]
    assert TextCorpus(seed=0, size=N)[5] == text[5]
    assert TextCorpus(seed=1)[5] != text[5] and PairedCorpus(seed=1)[5] != paired[5]
    with pytest.raises(IndexError, match="out of range"):
        corpus[N]
    with pytest.raises(ValueError, match="non-negative"):
        TextCorpus(seed=-1)


def test_paired_items_are_true_of_their_scene(paired) -> None:
    kinds = Counter(p.kind for p in paired)
    assert set(kinds) == {"caption", "facts", "qa", "layout", "persona", "advice"}
    for p in paired:
        assert isinstance(p.scene, Scene) and p.prompt and p.answer and p.text.startswith(p.prompt)
        words = set(content_words(p.answer))
        assert {w for w in words if w in {"circle", "square", "triangle", "diamond", "star", "cross"}} <= p.scene.shapes
        assert {w for w in words if w in {"red", "green", "blue", "yellow", "purple", "pink"}} <= p.scene.colors
        if p.kind in ("qa", "persona"):
            assert answer_words(parse_question(p.prompt), p.scene) <= words, p


def test_variety_and_modest_vocabulary(paired, text) -> None:
    paired_texts = [p.text for p in paired]
    assert len(set(paired_texts)) >= 0.95 * N and len(set(text)) >= 0.95 * N
    paired_vocab, text_vocab = _vocab(paired_texts), _vocab(text)
    assert len(paired_vocab) >= 500 and len(text_vocab) >= 500
    assert len(set(paired_vocab) | set(text_vocab)) <= 3000


def test_corpora_cover_the_task_references(paired, text) -> None:
    refs = [s.reference for task in ("mmrole", "pcogalign") for s in synthetic_samples(task, "rl", n=200)]
    ref_vocab = _vocab(refs)
    corpus_vocab = set(_vocab([p.text for p in paired])) | set(_vocab(text))
    covered = sum(n for w, n in ref_vocab.items() if w in corpus_vocab) / sum(ref_vocab.values())
    assert covered >= 0.99


def test_held_out_personas_never_appear(paired, text) -> None:
    names = [c.name for c in CHARACTERS if c.held_out] + [i.name for i in INDIVIDUALS if i.held_out]
    roles = [role for i in INDIVIDUALS if i.held_out for _, role in i.role_set]
    blob = " ".join(text + [p.text for p in paired])
    for word in names + roles:
        assert not re.search(rf"\b{re.escape(word)}\b", blob), word


def test_text_items_become_one_question_one_answer() -> None:
    assert text_messages("Where am I? You are home. Rest.") == ((("user", "Where am I?"),), "You are home. Rest.")
    assert text_messages("Just one line.") == ((("user", "Say something."),), "Just one line.")

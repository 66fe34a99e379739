"""Pretraining corpora for the tiny VLM and the latent-action model: paired image-text and text-only.

Both are lazily generated, indexable sequences: item ``i`` is built from a generator seeded by ``(seed, i)``, so it
is the same every time and nothing is held in memory. They speak the same language as the task references (the
same grammar, scene phrasing, personas and situations), because the model trained on them later writes those
references; their vocabulary stays at a few thousand words so a small BPE tokenizer covers it.

Only in-distribution characters and individuals appear, so the held-out personas of the out-of-distribution
tests are never seen in pretraining.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from lam_envs.data.scenes import Scene, random_scene
from lam_envs.data.synthetic.grammar import (
    article,
    expand,
    group_phrase,
    group_positions,
    join_sentences,
    pick,
    place_phrase,
    position_phrase,
    sample_distinct,
    scene_facts,
    scene_summary,
    there_be,
    join_words,
    number_word,
    plural,
)
from lam_envs.data.synthetic.mmrole import IN_DISTRIBUTION_CHARACTERS, answer_sentence, flavour_sentence, mmrole_reply
from lam_envs.data.synthetic.pcogalign import IN_DISTRIBUTION_INDIVIDUALS, pcogalign_reply
from lam_envs.data.synthetic.questions import question_text, random_question
from lam_envs.data.synthetic.seeding import sample_rng
from lam_envs.data.synthetic.situations import SITUATIONS


@dataclass(frozen=True)
class PairedText:
    """One image-text pair.

    Attributes:
        scene: the image (a :class:`Scene` renders itself).
        prompt: what is asked about the image (an instruction or a question).
        answer: the true text about the image that answers it.
        kind: ``"caption"``, ``"facts"``, ``"qa"``, ``"layout"`` (plain descriptions), ``"persona"`` (a character
            answering a question about the image in its voice) or ``"advice"`` (situated advice to a person whose
            role depends on the place shown).
    """

    scene: Scene
    prompt: str
    answer: str
    kind: str

    @property
    def text(self) -> str:
        """Prompt and answer as one text."""
        return f"{self.prompt} {self.answer}"


class _LazyCorpus(Sequence):
    """An indexable, deterministic, lazily generated corpus: what :class:`PairedCorpus` and :class:`TextCorpus` share.

    Args:
        seed: corpus seed; item ``i`` depends only on ``(seed, i)``.
        size: number of items.
    """

    _task = ""

    def __init__(self, seed: int = 0, size: int = 60_000) -> None:
        if seed < 0 or size < 0:
            raise ValueError(f"seed and size must be non-negative, got seed={seed}, size={size}")
        self.seed = seed
        self.size = size

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, index: int) -> object: ...

    @overload
    def __getitem__(self, index: slice) -> list: ...

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.size))]
        i = int(index)
        if i < 0:
            i += self.size
        if not 0 <= i < self.size:
            raise IndexError(f"index {index} out of range for a corpus of {self.size} items")
        return self._make(sample_rng(self.seed, self._task, "corpus", i))

    @abc.abstractmethod
    def _make(self, rng: np.random.Generator) -> object:
        """Generate one item from its own generator."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed}, size={self.size})"


_CAPTION_PROMPTS = (
    "Describe the [picture|image|scene].",
    "What is in this [picture|image]?",
    "Caption this [picture|image].",
    "What do you see?",
    "Write a short caption.",
)
_CAPTIONS = (
    "{Summary} {at_place}.",
    "A [picture|photo|scene] {at_place} [with|showing] {summary}.",
    "[This is|Here is] the {place}, with {summary}.",
    "{At_place} there {be} {summary}.",
    "[A simple|A colourful|A plain|A neat] [drawing|picture|image] of {summary} {at_place}.",
    "{Summary}, [drawn|shown|placed] {at_place}.",
    "[In this picture|In the image], {at_place}, [we can see|you can spot|there {be}] {summary}.",
    "[The image shows|We see|I see] {summary} {at_place}.",
)
_LAYOUT_PROMPTS = (
    "Where is everything in the [picture|image]?",
    "Describe where the objects are.",
    "Explain the layout of the [picture|scene].",
)


class PairedCorpus(_LazyCorpus):
    """Image-text pairs about random scenes: captions, facts, Q&A, layouts, persona comments and situated advice."""

    _task = "paired"

    def _make(self, rng: np.random.Generator) -> PairedText:
        r = rng.random()
        if r >= 0.7:
            return self._voiced(rng, advice=r >= 0.85)
        r /= 0.7  # the plain kinds share the remaining 70%
        scene = random_scene(rng, side=64)
        if r < 0.35:
            summary = scene_summary(scene, rng)
            at_place = place_phrase(scene.background)
            slots = {
                "summary": summary,
                "Summary": summary[0].upper() + summary[1:],
                "place": scene.background,
                "at_place": at_place,
                "At_place": at_place[0].upper() + at_place[1:],
                "be": there_be(scene),
            }
            caption = expand(pick(rng, _CAPTIONS), rng, slots)
            if rng.random() < 0.3:
                caption = join_sentences([caption, feature_sentence(scene, rng)])
            return PairedText(scene, expand(pick(rng, _CAPTION_PROMPTS), rng), caption, "caption")
        if r < 0.45:
            facts = sample_distinct(rng, true_facts(scene, rng), 2 + int(rng.random() < 0.5))
            return PairedText(scene, expand(pick(rng, _FACT_PROMPTS), rng), join_sentences(facts), "facts")
        if r < 0.85:
            q = random_question(scene, rng)
            return PairedText(scene, question_text(q, scene, rng), answer_sentence(q, scene, rng), "qa")
        sentences = []
        for g in scene.groups():
            where = position_phrase(group_positions(scene, g), rng)
            phrase = group_phrase(g, rng)
            sentences.append(
                expand(
                    pick(
                        rng,
                        (
                            "{what} {be} {where}",
                            "{Where} [there {be}|I see|you can find] {what}",
                            "[You can find|Look for] {what} {where}",
                            "{what} {sit} {where}",
                        ),
                    ),
                    rng,
                    {
                        "what": phrase,
                        "where": where,
                        "Where": where[0].upper() + where[1:],
                        "be": "is" if g.count == 1 else "are",
                        "sit": "sits" if g.count == 1 else "sit",
                    },
                )
            )
        sentences.append(expand("[The background is|It is all] {at_place}", rng,
                                {"at_place": place_phrase(scene.background)}))
        return PairedText(scene, expand(pick(rng, _LAYOUT_PROMPTS), rng), join_sentences(sentences), "layout")


    @staticmethod
    def _voiced(rng: np.random.Generator, advice: bool) -> PairedText:
        if advice:
            person = pick(rng, IN_DISTRIBUTION_INDIVIDUALS)
            scene = random_scene(rng, background=pick(rng, person.locations), side=64)
            situation = pick(rng, SITUATIONS)
            query = expand(pick(rng, situation.query_templates), rng)
            return PairedText(scene, query, pcogalign_reply(person, situation, scene, rng), "advice")
        spec = pick(rng, IN_DISTRIBUTION_CHARACTERS)
        scene = random_scene(rng, side=64)
        q = random_question(scene, rng)
        question = question_text(q, scene, rng)
        prompt = f"{spec.name}, {question[0].lower()}{question[1:]}"
        return PairedText(scene, prompt, mmrole_reply(spec, scene, q, rng), "persona")


_FACT_PROMPTS = (
    "Tell me [something|a few things] about this [picture|image].",
    "What can you say about this [picture|scene]?",
    "Give me some facts about the [image|picture].",
)
_FEATURES = {
    "home": "a window",
    "office": "a lamp",
    "park": "a tree",
    "street": "road markings",
    "beach": "the sea",
    "classroom": "a board",
    "hospital": "a stripe along the wall",
    "store": "shelves",
}


def feature_sentence(scene: Scene, rng: np.random.Generator) -> str:
    """A true sentence about the background's landmark (every background draws one)."""
    return expand(
        "[Behind them|In the background|Further back] [you can see|there is|I notice] {feature}[, as {at_place}|].",
        rng,
        {"feature": _FEATURES[scene.background], "at_place": "usual " + place_phrase(scene.background)},
    )


def true_facts(scene: Scene, rng: np.random.Generator) -> list[str]:
    """Several true sentences about ``scene``: total, comparisons, sizes, place and background landmark."""
    groups = scene.groups()
    n = len(scene.objects)
    facts = [
        expand("[In total|Altogether] there {be} {n} {objects}.", rng,
               {"be": "is" if n == 1 else "are", "n": number_word(n), "objects": plural("object", n)}),
        expand("[The place is|It is set|This is] {at_place}.", rng, {"at_place": place_phrase(scene.background)}),
        feature_sentence(scene, rng),
    ]
    if len(groups) >= 2 and groups[0].count > groups[-1].count:
        a, b = groups[0], groups[-1]
        facts.append(
            expand("There are more {a} than {b}.", rng,
                   {"a": f"{a.color} {plural(a.shape)}", "b": f"{b.color} {plural(b.shape)}"})
        )
    for g in groups:
        if len(g.sizes) == 1:
            facts.append(
                expand("The {color} {shape} {be} {size}[| in size].", rng,
                       {"color": g.color, "shape": plural(g.shape, g.count), "be": "is" if g.count == 1 else "are",
                        "size": g.sizes[0]})
            )
    colors = sorted(scene.colors)
    facts.append(expand("The [colours|colors] [here|in it] are {colors}.", rng, {"colors": join_words(colors)})
                 if len(colors) > 1 else expand("Everything [here|in it] is {color}.", rng, {"color": colors[0]}))
    return facts


_STORY = (
    "{Name} [went|walked|came] [to|into] the {place} [one morning|after work|on a rainy day|late in the afternoon]. "
    "[There|Around] {they} [saw|noticed] {summary}. {Name}, {a_role}, felt {feeling}[ and a little {feeling2}|]. "
    "[So|In the end|After a while] {they} decided to {suggestion}, and [things felt better|the day went on|it helped]."
)


class TextCorpus(_LazyCorpus):
    """Text-only samples: persona monologues, imagined scenes, short stories, situated advice and scene Q&A."""

    _task = "text"

    def _make(self, rng: np.random.Generator) -> str:
        r = rng.random()
        scene = random_scene(rng, side=64)
        if r < 0.25:
            spec = pick(rng, IN_DISTRIBUTION_CHARACTERS)
            memory = expand(
                "[Once|Only yesterday|Not long ago] I [saw|came across] {summary} {at_place}.", rng,
                {"summary": scene_summary(scene, rng), "at_place": place_phrase(scene.background)},
            )
            parts = [f"{pick(rng, spec.tone_markers).capitalize()}!", f"I am {spec.name}.", memory]
            parts += [flavour_sentence(spec, rng, n_words=1 + int(rng.random() < 0.5)) for _ in range(2)]
            if rng.random() < 0.5:
                parts.append(spec.profile.catchphrase)
            return join_sentences(parts)
        if r < 0.4:
            spec = pick(rng, IN_DISTRIBUTION_CHARACTERS)
            reply = mmrole_reply(spec, scene, random_question(scene, rng), rng)
            return f"{spec.name}: {reply}"
        if r < 0.55:
            at_place = place_phrase(scene.background)
            parts = [
                expand("[Imagine|Picture|Think of] a scene {at_place}", rng, {"at_place": at_place}),
                expand("[There {be}|It has|In it there {be}] {summary}", rng,
                       {"summary": scene_summary(scene, rng), "be": there_be(scene)}),
            ]
            parts += [expand("[Look closely and you find|Notice] {fact}", rng, {"fact": f}) for f in
                      scene_facts(scene, rng, k=2, position_p=1.0)]
            return join_sentences(parts)
        person = pick(rng, IN_DISTRIBUTION_INDIVIDUALS)
        location = pick(rng, person.locations)
        scene = random_scene(rng, background=location, side=64)
        situation = pick(rng, SITUATIONS)
        if r < 0.75:
            role = person.role_at(location)
            feeling, feeling2 = sample_distinct(rng, situation.feeling_words, 2)
            they = pick(rng, ("she", "he", "they"))
            return expand(
                _STORY,
                rng,
                {
                    "Name": person.name,
                    "place": location,
                    "they": they,
                    "summary": scene_summary(scene, rng),
                    "a_role": f"{article(role)} {role}",
                    "feeling": feeling,
                    "feeling2": feeling2,
                    "suggestion": pick(rng, situation.suggestions).replace(" your ", " their ").replace(
                        " you ", " " + they + " "
                    ),
                },
            )
        if r < 0.9:
            return join_sentences([expand(pick(rng, situation.query_templates), rng),
                                   pcogalign_reply(person, situation, scene, rng)])
        q = random_question(scene, rng, kinds=("count", "color", "shape", "position"))
        context = expand("[In a picture|In an image] {at_place} there {be} {summary}.", rng,
                         {"at_place": place_phrase(scene.background), "summary": scene_summary(scene, rng),
                          "be": there_be(scene)})
        return join_sentences([context, question_text(q, scene, rng), answer_sentence(q, scene, rng)])



def text_messages(text: str) -> tuple[tuple[tuple[str, str], ...], str]:
    """A :class:`TextCorpus` item as a dialogue without an image: its first sentence asks, the rest answers.

    Returns:
        ``(messages, answer)``: one user message, and the answer that continues it.
    """
    cut = next((i + 1 for i, ch in enumerate(text) if ch in ".?!" and i + 1 < len(text)), len(text))
    head, tail = text[:cut].strip(), text[cut:].strip()
    if not tail:
        return (("user", "Say something."),), head
    return (("user", head),), tail

"""The synthetic PCogAlign task: a person shows a picture of their situation and asks for help.

Each individual has a role set over scene locations (e.g. parent at home, accountant in the office). A sample
picks one of their locations, draws a scene with that background, and a situation (lost, tired, ...). The query
never names the place: the agent must read the image to know which role applies. The reference, built by
:func:`pcogalign_reply`:

* names the person's role at the location shown (never another role of the set);
* acknowledges one or two of the situation's feelings;
* gives one or two concrete body/behaviour suggestions (the situation's behaviour words);
* mentions the location and one or two true facts of the scene.

Splits are by individual: the 12 in-distribution individuals share a training pool cut 50% SFT / 20% RL (the
rest unused, as in the paper) and a separate in-distribution test pool; the 4 held-out individuals appear only
in :attr:`Split.TEST_OOD`.
"""

from __future__ import annotations

import numpy as np

from lam_envs.data.scenes import LOCATIONS, Scene, random_scene
from lam_envs.data.splits import PCOGALIGN_FRACTIONS
from lam_envs.data.synthetic.grammar import (
    article,
    expand,
    join_sentences,
    pick,
    place_phrase,
    sample_distinct,
    scene_facts,
    scene_summary,
)
from lam_envs.data.dialogue import Exchange
from lam_envs.data.synthetic.roster import INDIVIDUALS, IndividualSpec, individual
from lam_envs.data.synthetic.seeding import split_indices, split_samples
from lam_envs.data.synthetic.situations import SITUATIONS, SituationSpec, situation_for
from lam_envs.data.types import Sample, Split, Turn, UserProfile


PCOGALIGN_SIZES: dict[Split, int] = {Split.SFT: 3000, Split.RL: 1200, Split.TEST_ID: 800, Split.TEST_OOD: 800}
"""Samples per split (SFT and RL are 50% and 20% of a 6000-sample training pool)."""
_TRAIN_POOL = 6000
MAX_REPLY_WORDS = 60

IN_DISTRIBUTION_INDIVIDUALS: tuple[IndividualSpec, ...] = tuple(i for i in INDIVIDUALS if not i.held_out)
HELD_OUT_INDIVIDUALS: tuple[IndividualSpec, ...] = tuple(i for i in INDIVIDUALS if i.held_out)

_SCENE_NOUNS = {
    "home": "a room at home",
    "office": "an office",
    "park": "a park",
    "street": "a street",
    "beach": "a beach",
    "classroom": "a classroom",
    "hospital": "a hospital ward",
    "store": "a store",
}


def situation_description(scene: Scene, situation: SituationSpec, rng: np.random.Generator) -> str:
    """What the image shows, as the dataset's image description would say it."""
    return join_sentences(
        [
            expand(
                "[The picture shows|The image shows|A picture of] {where} with {summary}",
                rng,
                {"where": _SCENE_NOUNS.get(scene.background, scene.background), "summary": scene_summary(scene, rng)},
            ),
            f"The person {situation.description}",
        ]
    )


_ROLE_OPENERS = (
    "[As|Being] {a_role} {at_place}, [it makes sense that you feel|you may well feel|no wonder you feel] {feelings}.",
    "[I can see you are|You seem to be|It looks like you are] {at_place}, and as {a_role} "
    "[it is|that is] [understandable|natural|completely normal] to feel {feelings}.",
    "[Feeling|To feel] {feelings} {at_place} is [hard|tough|no fun], [especially|all the more] as {a_role}.",
    "[Hey|Hi there|Okay], {a_role} [like you|in your position] can [easily|sometimes] feel {feelings} {at_place}.",
)
_FEELINGS_ONLY = (
    "It is [okay|fine|natural] to feel {feelings} [here|for a while].",
    "[Anyone|Most people] would feel {feelings} [in your shoes|in this moment].",
)
_ROLE_ONLY = (
    "[Right now|For now] you are {a_role} {at_place}, so [let us|we can] [keep it simple|take it step by step].",
    "[Since|Because] you are {at_place} as {a_role}, [let us|we can] keep it practical.",
)
_CONTEXT = (
    "[Look around|Take a look around] you: [there is|I can see|you can see] {facts}.",
    "[Even|Just] {facts} [nearby|around you] [can be|might be] a [small|useful] point of reference.",
    "[I notice|The picture shows] {facts} {at_place}, [so you are not alone in this|which helps me picture it].",
)
_SUGGEST_ONE = (
    "[It might help to|Try to|You could] {s1}.",
    "[My advice|My suggestion] is to {s1}.",
)
_SUGGEST_TWO = (
    "[First|To start], {s1}[.|;] [Then|After that|Next], {s2}.",
    "[It might help to|Try to|You could] {s1}, and {s2}.",
    "[My advice|My suggestion]: {s1}, then {s2}.",
)
_CLOSERS = (
    "[That way|This way] you can [carry on|get back to] being {a_role} [at your own pace|without the stress].",
    "[You have got this|You will manage], and [being|as] {a_role} you [know this place|know your way here] "
    "[well|better than most].",
    "[Take care|Be kind to yourself], {role}.",
    "",
)


def pcogalign_reply(
    person: IndividualSpec,
    situation: SituationSpec,
    scene: Scene,
    rng: np.random.Generator,
) -> str:
    """The situated, personalised answer to ``person`` in ``situation`` at the place ``scene`` shows.

    Calling it again with another generator state gives a different but equally good reply (a paraphrase).

    Args:
        person: the user; their role at ``scene.location`` is the one addressed.
        situation: what the person is going through.
        scene: the image's ground truth (its background is one of the person's locations).
        rng: the caller's generator.

    Raises:
        KeyError: if the person has no role at the scene's location.
    """
    role = person.role_at(scene.background)
    slots = {
        "role": role,
        "a_role": f"{article(role)} {role}",
        "at_place": place_phrase(scene.background),
    }
    feelings = sample_distinct(rng, situation.feeling_words, 1 + int(rng.random() < 0.5))
    slots["feelings"] = " and ".join(feelings)
    if rng.random() < 0.75:
        opening = [expand(pick(rng, _ROLE_OPENERS), rng, slots)]
    else:
        opening = [expand(pick(rng, _ROLE_ONLY), rng, slots), expand(pick(rng, _FEELINGS_ONLY), rng, slots)]
        if rng.random() < 0.5:
            opening.reverse()
    chosen = sample_distinct(rng, situation.suggestions, 1 + int(rng.random() < 0.6))
    if len(chosen) == 1:
        advice = expand(pick(rng, _SUGGEST_ONE), rng, {"s1": chosen[0]})
    else:
        advice = expand(pick(rng, _SUGGEST_TWO), rng, {"s1": chosen[0], "s2": chosen[1]})
    facts = scene_facts(scene, rng, k=1 + int(rng.random() < 0.3), position_p=0.3)
    context = expand(pick(rng, _CONTEXT), rng, {**slots, "facts": " and ".join(facts)})
    middle = [context, advice] if rng.random() < 0.5 else [advice, context]
    closer = expand(pick(rng, _CLOSERS), rng, slots)
    text = join_sentences([*opening, *middle, closer])
    if len(text.split()) > MAX_REPLY_WORDS:
        # Too long (several facts with positions): keep one plain fact and drop the closing line.
        fact = scene_facts(scene, rng, k=1, position_p=0.0)[0]
        context = expand(pick(rng, _CONTEXT), rng, {**slots, "facts": fact})
        middle = [context, advice] if rng.random() < 0.5 else [advice, context]
        text = join_sentences([*opening, *middle])
    return text


def pcogalign_query(person: IndividualSpec, situation: SituationSpec, rng: np.random.Generator) -> str:
    """The user's question: sometimes a greeting, then one of the situation's query templates."""
    query = expand(pick(rng, situation.query_templates), rng)
    r = rng.random()
    if r < 0.25:
        query = expand("[Hi|Hello|Hey], I'm {name}.", rng, {"name": person.name}) + " " + query
    elif r < 0.4:
        query = expand("[Quick question|Help me out|Please help].", rng) + " " + query
    return query


# --- follow-ups of dialogue episodes -------------------------------------------------------------------------

_FOLLOWUPS: dict[str, tuple[str, ...]] = {
    # The user reacts to the advice: it never quotes it, so it reads well after any reply.
    "react": (
        "[Thanks|Thank you|Okay], I [will try that|can try that]. [What else could help|Is there anything else I can "
        "do]?",
        "[Hmm|Well], I am still {feeling}. [What else can I do|How do I handle it]?",
    ),
    # The user asks about the next step.
    "next": (
        "[Alright|Okay|Got it]. What should I do [next|after that|once that is done]?",
        "And [then|after that]? [I want to get this right|I do not want to mess this up].",
    ),
    # The user points at a second detail of the picture.
    "detail": (
        "[Also|Oh, and] there is {fact} [here|next to me|in front of me]. [Does that change anything|What should I do "
        "about that]?",
        "I [just noticed|can also see] {fact}. [Should I do something about it|Does it matter]?",
    ),
}


def pcogalign_followups(sample: Sample, rng: np.random.Generator) -> tuple[Exchange, ...]:
    """One or two follow-up exchanges of a synthetic PCogAlign dialogue: the user reacts, asks about the next step or
    shows a second detail of the picture; each reference is another good answer to the same person in the same
    situation (:func:`pcogalign_reply` with fresh draws), so the rule judge scores it like the first.

    Raises:
        KeyError: for a sample that is not synthetic PCogAlign (its person or situation is unknown).
    """
    assert isinstance(sample.persona, UserProfile) and sample.scene is not None
    person, situation, scene = individual(sample.persona.individual_id), situation_for(sample.persona), sample.scene
    kinds = [str(k) for k in rng.permutation(list(_FOLLOWUPS))[: 1 + int(rng.integers(2))]]
    exchanges = []
    for kind in kinds:
        slots = {"feeling": pick(rng, situation.feeling_words), "fact": scene_facts(scene, rng, k=1)[0]}
        text = expand(pick(rng, _FOLLOWUPS[kind]), rng, slots)
        exchanges.append(Exchange((Turn("user", person.name, text),), pcogalign_reply(person, situation, scene, rng)))
    return tuple(exchanges)


def _make_sample(person: IndividualSpec, rng: np.random.Generator, sample_id: str, split: Split) -> Sample:
    location = pick(rng, person.locations)
    scene = random_scene(rng, background=location, side=64)
    situation = pick(rng, SITUATIONS)
    profile = UserProfile(
        individual_id=person.individual_id,
        role_set=person.role_set,
        location=location,
        situation=situation_description(scene, situation, rng),
        expectation=situation.expectation,
    )
    query = pcogalign_query(person, situation, rng)
    reference = pcogalign_reply(person, situation, scene, rng)
    return Sample(sample_id, "pcogalign", scene, (Turn("user", person.name, query),), profile, reference, split, scene)


def _plan(split: Split, seed: int) -> tuple[str, tuple[IndividualSpec, ...], tuple[int, ...]]:
    if split is Split.TEST_OOD:
        return "test_ood", HELD_OUT_INDIVIDUALS, tuple(range(PCOGALIGN_SIZES[split]))
    if split is Split.TEST_ID:
        return "test_id", IN_DISTRIBUTION_INDIVIDUALS, tuple(range(PCOGALIGN_SIZES[split]))
    indices = split_indices(seed, "pcogalign", _TRAIN_POOL, tuple(PCOGALIGN_FRACTIONS.items()))[split]
    return "train", IN_DISTRIBUTION_INDIVIDUALS, indices


def pcogalign_samples(split: Split | str, *, seed: int = 0, n: int | None = None) -> list[Sample]:
    """The samples ``synthetic_samples("pcogalign", split, seed=seed, n=n)`` returns (see
    :func:`~lam_envs.data.synthetic.synthetic_samples`): :data:`PCOGALIGN_SIZES` per split, the held-out
    individuals only in ``test_ood``, each scene's background the profile's location."""
    return split_samples("pcogalign", PCOGALIGN_SIZES, _plan, _make_sample, split, seed, n)


assert set(_SCENE_NOUNS) == set(LOCATIONS), "every scene background needs a noun phrase"

"""PCogAlign situations: what the person in the picture is going through and what a good answer attends to.

Each :class:`SituationSpec` is one kind of situation with the feelings a person likely has in it, the concrete
body/behaviour suggestions that help, and the one-sentence expectation the user has of the answer. The expectation
is unique per kind, so :func:`situation_for` can recover the situation from a
:class:`~lam_envs.data.types.UserProfile` alone (this is how the rule-based judge finds the lexicons to score).

Lexicons are disjoint across kinds and avoid scene vocabulary and the MMRole characters' words (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

from lam_envs.data.types import UserProfile


@dataclass(frozen=True)
class SituationSpec:
    """One kind of situation.

    Attributes:
        kind: short identifier (``"lost"``, ``"tired"``...).
        feeling_words: emotions the person likely feels (judge: mind-feelings awareness).
        behavior_words: key words of concrete body/behaviour suggestions (judge: body-behaviour awareness).
        suggestions: one imperative phrase per behaviour word, containing it (``suggestions[i]`` uses
            ``behavior_words[i]``); what the references propose.
        expectation: what the user expects from the answer (unique per kind).
        description: how the person looks in the picture, completing "The person ...".
        query_templates: how the user asks for help (grammar templates, see
            :func:`lam_envs.data.synthetic.grammar.expand`); they never name the place, so the agent has to read
            it from the image.
    """

    kind: str
    feeling_words: tuple[str, ...]
    behavior_words: tuple[str, ...]
    suggestions: tuple[str, ...]
    expectation: str
    description: str
    query_templates: tuple[str, ...]


def _situation(
    kind: str, feelings: str, suggestions: dict[str, str], expectation: str, description: str, queries: tuple[str, ...]
) -> SituationSpec:
    return SituationSpec(
        kind, tuple(feelings.split()), tuple(suggestions), tuple(suggestions.values()), expectation, description,
        queries,
    )


SITUATIONS: tuple[SituationSpec, ...] = (
    _situation(
        "lost",
        "disoriented confused uneasy bewildered",
        {
            "pause": "pause for a moment just where you are",
            "ask": "ask someone nearby for directions",
            "map": "open the map on your phone",
            "retrace": "retrace your last few steps",
        },
        "Wants calm, practical help to get their bearings again.",
        "seems lost and unsure which way to go",
        (
            "I think I'm lost. What should I do [now|]?",
            "I have no idea where to go from here. [Any advice|Can you help]?",
            "Everything looks unfamiliar and I can't find my way. What do I do?",
        ),
    ),
    _situation(
        "overwhelmed",
        "overwhelmed swamped stressed frazzled",
        {
            "breathe": "breathe slowly in and out for a minute",
            "list": "list the most urgent tasks on paper",
            "prioritise": "prioritise just the very next task",
            "delegate": "delegate something if you can",
        },
        "Needs help calming down and breaking a heavy load into manageable steps.",
        "looks overwhelmed by too many things at once",
        (
            "There is too much going on and I can't cope. [What should I do|Any advice]?",
            "I feel like everything is piling up on me at the moment. How do I handle this?",
            "I have so much to do that I don't know where to start. Can you help?",
        ),
    ),
    _situation(
        "celebrating",
        "joyful delighted thrilled elated",
        {
            "share": "share the news with someone close to you",
            "savour": "savour the moment before rushing on",
            "thank": "thank the people who helped you get here",
            "dance": "dance a little, nobody will mind",
        },
        "Hopes the answer shares their joy and suggests a way to mark the moment.",
        "is celebrating good news",
        (
            "I just got some great news! How should I celebrate?",
            "Something wonderful happened today. [What should I do now|Any ideas to mark it]?",
            "I'm so happy at the moment! How can I make the most of this moment?",
        ),
    ),
    _situation(
        "waiting",
        "impatient fidgety antsy irritable",
        {
            "stretch": "stretch your legs and shoulders",
            "read": "read something light while you wait",
            "snack": "have a small snack to keep your energy up",
            "walk": "walk around for a couple of minutes",
        },
        "Wants ideas to make a long wait pass more pleasantly.",
        "has been waiting for a long time",
        (
            "I've been waiting here forever. How can I pass the time?",
            "This wait is taking ages. [Any ideas|What can I do meanwhile]?",
            "Nothing is happening and I'm stuck waiting. What should I do?",
        ),
    ),
    _situation(
        "broken_item",
        "frustrated annoyed disappointed helpless",
        {
            "inspect": "inspect the broken part calmly",
            "contact": "contact the seller or a repair service",
            "borrow": "borrow a replacement for now",
            "tidy": "tidy away any sharp pieces safely",
        },
        "Expects practical steps to deal with something that just broke.",
        "is dealing with something that just broke",
        (
            "Something I need just broke. What should I do?",
            "My things keep breaking today and this thing just snapped. [Any advice|Can you help]?",
            "Ugh, it broke just when I needed it. How do I deal with this?",
        ),
    ),
    _situation(
        "first_time",
        "nervous unsure jittery hopeful",
        {
            "observe": "observe how others do it first",
            "introduce": "introduce yourself to someone new",
            "smile": "smile and take it slowly",
            "prepare": "prepare a simple question to ask",
        },
        "Wants encouragement and simple tips for doing something for the first time.",
        "is trying something for the first time",
        (
            "It's my first time doing this here. Any tips?",
            "I've never done this before and I don't know how it works. [What should I do|Can you help]?",
            "This is all new to me today. How should I start?",
        ),
    ),
    _situation(
        "tired",
        "exhausted drained sleepy weary",
        {
            "sit": "sit down somewhere comfortable",
            "rest": "rest your eyes for a few minutes",
            "drink": "drink a glass of water",
            "nap": "nap briefly if you can",
        },
        "Needs gentle advice on recovering energy at the moment.",
        "looks worn out",
        (
            "I'm completely worn out. What should I do?",
            "I can barely keep my eyes open. [Any advice|Help]?",
            "I have no energy today. How can I get through this?",
        ),
    ),
    _situation(
        "conflict",
        "upset hurt angry tense",
        {
            "listen": "listen to the other side fully",
            "step": "step away until you cool off",
            "talk": "talk it through calmly later",
            "apologise": "apologise for your own part",
        },
        "Looks for a fair, level-headed way to handle a disagreement.",
        "has just had an argument with someone",
        (
            "I just had a big argument with someone. What should I do?",
            "Someone here was really rude to me and we fell out. [How do I handle it|Any advice]?",
            "We had a fight and now things are awkward. How can I fix this?",
        ),
    ),
    _situation(
        "lonely",
        "lonely isolated sad forgotten",
        {
            "call": "call a friend or family member",
            "join": "join a group activity nearby",
            "chat": "chat with someone around you",
            "write": "write a short message to someone you miss",
        },
        "Wants warmth and ideas for feeling connected to others.",
        "seems to be all alone",
        (
            "I feel so alone here. What can I do?",
            "Nobody seems to notice me today. [Any advice|How do I feel better]?",
            "I don't know anyone around and it feels empty. What should I do?",
        ),
    ),
    _situation(
        "rushed",
        "hurried panicked flustered pressured",
        {
            "slow": "slow down for ten seconds",
            "check": "check what truly must happen now",
            "skip": "skip anything that can wait",
            "plan": "plan just the next few minutes",
        },
        "Needs a quick way to regain control when short of time.",
        "is in a great hurry",
        (
            "I'm running really late. What should I do?",
            "I have almost no time and everything is urgent. [Help|Any advice]?",
            "I'm in such a rush that I keep making mistakes. How do I get it together?",
        ),
    ),
    _situation(
        "unwell",
        "queasy feverish achy miserable",
        {
            "lie": "lie down and keep yourself warm",
            "sip": "sip some water slowly",
            "tell": "tell someone nearby how you feel",
            "cancel": "cancel whatever can wait today",
        },
        "Expects caring advice about feeling ill and what to do next.",
        "is feeling ill",
        (
            "I suddenly feel sick. What should I do?",
            "I'm not feeling well at all at the moment. [Any advice|Can you help]?",
            "My head hurts and I feel awful. How should I take care of myself?",
        ),
    ),
    _situation(
        "bored",
        "bored listless unmotivated idle",
        {
            "explore": "explore a corner you have never noticed",
            "doodle": "doodle in a notebook",
            "learn": "learn something small and new",
            "organise": "organise your bag or desk",
        },
        "Hopes for fun, easy ideas to shake off boredom.",
        "looks bored with nothing to do",
        (
            "I'm so bored at the moment. Any ideas?",
            "There's nothing to do here. [What should I do|How do I make this fun]?",
            "Time is dragging and I feel like doing nothing. How can I liven things up?",
        ),
    ),
)

_BY_EXPECTATION = {s.expectation: s for s in SITUATIONS}
_BY_KIND = {s.kind: s for s in SITUATIONS}


def situation_for(profile: UserProfile) -> SituationSpec:
    """The situation a PCogAlign profile is in, found by its exact ``expectation``.

    Raises:
        KeyError: if the expectation is not one of :data:`SITUATIONS` (e.g. a real-data profile).
    """
    try:
        return _BY_EXPECTATION[profile.expectation]
    except KeyError:
        raise KeyError(
            f"no synthetic situation has the expectation {profile.expectation!r} (individual "
            f"{profile.individual_id!r}); situation_for only works on synthetic PCogAlign samples"
        ) from None


def situation(kind: str) -> SituationSpec:
    """The situation of kind ``kind``.

    Raises:
        KeyError: if there is no such kind (the message lists them).
    """
    try:
        return _BY_KIND[kind]
    except KeyError:
        raise KeyError(f"no situation kind {kind!r}; known: {', '.join(_BY_KIND)}") from None

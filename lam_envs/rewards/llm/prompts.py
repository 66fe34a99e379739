"""Pairwise rubric prompts for the LLM judge, one per task.

Both follow the paper's protocol: the judge sees the full context (the image, the persona, the dialogue and the turn
being answered), the reference reply as **Response A** and the candidate as **Response B**, and scores both on every
dimension of the task from 1 to 10. The reward is then the ratio of the summed scores. The reference always comes
first, as in the paper, so that scores stay comparable across training; that order is part of the reward's
definition.

* MMRole: the judge is an expert evaluator of role-playing agents.
* PCogAlign: the judge role-plays the user (their role set, location and expectation) and says how well each answer
  serves *them*, as the paper's evaluation does.

A turn without a reference (a simulated user's, ``Sample.reference == ""``) gets the *rubric* prompt of its task
instead: the same context and rubric, the candidate as the only response, and one block of 1-10 scores
(:func:`build_rubric_messages`).

The simulated user's prompts are here too (:func:`build_user_messages`): given the agent's reply, the user model writes
the user's next turn. MMRole's plays the human chatting with the character about the image and asking a natural
follow-up; PCogAlign's plays the person in the situation, with their role set, reacting to the advice and asking about
the next step or mentioning another detail.

Each task's prompts are named in its :mod:`lam_envs.tasks` entry (``judge_prompt``, ``rubric_prompt``,
``user_prompt``). The rubric texts below are this project's own wording of the paper's dimensions.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from PIL import Image

from lam_envs.data.personas import character_of, user_of
from lam_envs.data.types import CharacterProfile, Sample, UserProfile
from lam_envs.tasks import task_spec

MMROLE_RUBRIC: dict[str, str] = {
    "instruction_adherence": "Does the reply do what the user's turn asks (answer the question, take up the "
    "request) while staying in the role-play set-up, rather than drifting or refusing?",
    "fluency": "Is the language natural, grammatical and easy to read, without garbled words, repetition loops or "
    "broken sentences?",
    "coherency": "Does the reply follow logically from the dialogue so far and hang together internally, without "
    "contradicting itself or earlier turns?",
    "image_text_relevance": "Does the reply engage with what the image actually shows, referring to its content "
    "where it matters, rather than talking past it?",
    "response_accuracy": "Are the statements about the image and the world correct: no invented objects, wrong "
    "colours, counts or positions, or false facts?",
    "personality_consistency": "Does the reply show the character's personality traits as described in the "
    "profile (e.g. cheerful, grumpy, curious), consistently?",
    "knowledge_consistency": "Does the reply use the knowledge, experience and relationships the character would "
    "have, and avoid knowledge the character could not have?",
    "tone_consistency": "Does the reply sound like the character: their voice, style of speech and catchphrases, "
    "rather than a generic assistant?",
}
PCOGALIGN_RUBRIC: dict[str, str] = {
    "role_set_sensitivity": "Does the answer take into account who I am in this place, my role here and my other "
    "roles where they matter, and fit advice to those responsibilities?",
    "body_behavior_awareness": "Does the answer suggest concrete, physically sensible actions for my situation "
    "(what to do with my body and hands, where to go, what to avoid), consistent with what the image shows?",
    "mind_feelings_awareness": "Does the answer notice how I am likely feeling in this situation and respond to it "
    "with appropriate care, reassurance or encouragement?",
    "contextual_awareness": "Does the answer use the actual scene and place (what is in the image, where I am) "
    "rather than generic advice that would fit anywhere?",
    "conversational_flow": "Does the answer respond naturally to what I asked, in a clear and well-organised way "
    "that is pleasant to read and easy to act on?",
}


def image_data_url(image: Image.Image, max_side: int | None = 1024, fmt: str = "JPEG") -> str:
    """Encode an image as a ``data:`` URL for an ``image_url`` content part.

    Args:
        image: the image (converted to RGB).
        max_side: downscale so the longer side is at most this many pixels (``None`` keeps the size); judges
            resize large images themselves, so sending megapixels only costs bandwidth.
        fmt: ``"JPEG"`` (small for photos) or ``"PNG"`` (lossless).

    Returns:
        ``"data:image/<fmt>;base64,<...>"``.

    Raises:
        ValueError: if ``fmt`` is not JPEG or PNG.
    """
    fmt = fmt.upper()
    if fmt not in ("JPEG", "PNG"):
        raise ValueError(f"image format must be 'JPEG' or 'PNG', got {fmt!r}")
    img = image.convert("RGB")
    if max_side is not None and max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return f"data:image/{fmt.lower()};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def _answer_format(dimensions: tuple[str, ...]) -> str:
    example = {"analysis": "<one or two sentences comparing the responses>"}
    example.update({label: {d: "<integer 1-10>" for d in dimensions} for label in ("A", "B")})
    return (
        "Answer with exactly one JSON object and nothing else, in this format:\n"
        + json.dumps(example, indent=1)
        + "\nEvery dimension must have an integer score from 1 (very poor) to 10 (excellent) for both responses. "
        "Judge each response on its own merits; Response A is not automatically better or worse."
    )


def _single_answer_format(dimensions: tuple[str, ...]) -> str:
    example: dict[str, Any] = {"analysis": "<one or two sentences on the response's strengths and weaknesses>"}
    example["scores"] = {d: "<integer 1-10>" for d in dimensions}
    return (
        "Answer with exactly one JSON object and nothing else, in this format:\n"
        + json.dumps(example, indent=1)
        + "\nEvery dimension must have an integer score from 1 (very poor) to 10 (excellent). There is no reference "
        "answer to compare with: score the response against the rubric alone, 10 meaning it fully meets the dimension."
    )


def _rubric_text(rubric: dict[str, str]) -> str:
    return "\n".join(f"- {dim}: {text}" for dim, text in rubric.items())


def _dialogue_text(sample: Sample) -> str:
    history = sample.dialogue[:-1]
    if not history:
        return "(this is the first turn)"
    return "\n".join(f"{turn.speaker}: {turn.text}" for turn in history)


def _dialogue_with_reply(sample: Sample, reply: str, default_speaker: str) -> str:
    """The whole dialogue, the user's last turn included, then the agent's ``reply`` under the assistant's name."""
    speaker = next((t.speaker for t in sample.dialogue if t.role == "assistant"), default_speaker)
    return "\n".join([*(f"{t.speaker}: {t.text}" for t in sample.dialogue), f"{speaker}: {reply}"])


def _mmrole_context(sample: Sample, persona: CharacterProfile) -> str:
    """The character's profile, the dialogue so far and the turn to answer (what an MMRole judge sees)."""
    last = sample.dialogue[-1]
    return (
        f"## Character\nName: {persona.name}\nIntroduction: {persona.introduction}\n"
        f"Personality: {persona.personality}\nExperience: {persona.experience}\n"
        f"Relationship with the human: {persona.relationship}\nCatchphrase: {persona.catchphrase}\n\n"
        f"## Dialogue so far\n{_dialogue_text(sample)}\n\n"
        f"## Turn to answer\n{last.speaker}: {last.text}\n\n"
    )


def _who_you_are(persona: UserProfile) -> str:
    """The PCogAlign person's role set, place, situation and expectation, told to them in the second person."""
    roles = "; ".join(f"{role} at {place}" for place, role in persona.role_set)
    current = persona.current_role
    return (
        f"## Who you are\nYour role set: {roles}.\n"
        f"You are now at: {persona.location}" + (f" (here you are a {current})" if current else "") + ".\n"
        f"What is happening (the image): {persona.situation}\n"
        f"What you expect from an answer: {persona.expectation}\n\n"
    )


_MMROLE_EVALUATOR = (
    "You are an expert evaluator of multimodal role-playing agents. A role-playing agent plays a character "
    "talking with a human about an image. "
)
_PCOGALIGN_PERSON = (
    "You will role-play a real person who has just asked an AI assistant for help about the situation in the "
    "image. Stay in this person's shoes: judge how well "
)


def mmrole_judge_prompt(sample: Sample, reply: str) -> tuple[str, str]:
    """The MMRole judge's system prompt (expert evaluator of role-playing agents) and user text.

    Raises:
        TypeError: if the sample's persona is not a :class:`CharacterProfile`.
    """
    persona = character_of(sample)
    system = (
        _MMROLE_EVALUATOR + "You compare two responses of the character to the same turn and "
        "score both on the dimensions below.\n\nDimensions:\n" + _rubric_text(MMROLE_RUBRIC) + "\n\n"
        + _answer_format(tuple(MMROLE_RUBRIC))
    )
    user = (
        _mmrole_context(sample, persona)
        + f"## Response A ({persona.name})\n{sample.reference}\n\n"
        f"## Response B ({persona.name})\n{reply}\n\n"
        "Score both responses on every dimension. Reply with the JSON object only."
    )
    return system, user


def mmrole_rubric_prompt(sample: Sample, reply: str) -> tuple[str, str]:
    """The MMRole judge's prompt for a turn without a reference: ``reply`` alone, scored against the rubric.

    Raises:
        TypeError: if the sample's persona is not a :class:`CharacterProfile`.
    """
    persona = character_of(sample)
    system = (
        _MMROLE_EVALUATOR + "You score the character's response to the human's latest turn on the dimensions "
        "below.\n\nDimensions:\n" + _rubric_text(MMROLE_RUBRIC) + "\n\n" + _single_answer_format(tuple(MMROLE_RUBRIC))
    )
    user = (
        _mmrole_context(sample, persona)
        + f"## Response ({persona.name})\n{reply}\n\n"
        "Score the response on every dimension. Reply with the JSON object only."
    )
    return system, user


def pcogalign_judge_prompt(sample: Sample, reply: str) -> tuple[str, str]:
    """The PCogAlign judge's system prompt (role-playing the user) and user text.

    Raises:
        TypeError: if the sample's persona is not a :class:`UserProfile`.
    """
    persona = user_of(sample)
    system = (
        _PCOGALIGN_PERSON + "each answer serves you, given who you are, where you "
        "are and what you need. You compare two answers to your question and score both on the dimensions below "
        "(\"I\" and \"my\" mean you, the person).\n\nDimensions:\n" + _rubric_text(PCOGALIGN_RUBRIC) + "\n\n"
        + _answer_format(tuple(PCOGALIGN_RUBRIC))
    )
    user = (
        _who_you_are(persona)
        + f"## Conversation so far\n{_dialogue_text(sample)}\n\n"
        f"## Your question\n{sample.query}\n\n"
        f"## Response A\n{sample.reference}\n\n"
        f"## Response B\n{reply}\n\n"
        "As this person, score both answers on every dimension. Reply with the JSON object only."
    )
    return system, user


def pcogalign_rubric_prompt(sample: Sample, reply: str) -> tuple[str, str]:
    """The PCogAlign judge's prompt for a turn without a reference: the person scores ``reply`` alone.

    Raises:
        TypeError: if the sample's persona is not a :class:`UserProfile`.
    """
    persona = user_of(sample)
    system = (
        _PCOGALIGN_PERSON + "the answer serves you, given who you are, where you are and what you need. You score "
        "the assistant's answer to your latest message on the dimensions below (\"I\" and \"my\" mean you, the "
        "person).\n\nDimensions:\n" + _rubric_text(PCOGALIGN_RUBRIC) + "\n\n"
        + _single_answer_format(tuple(PCOGALIGN_RUBRIC))
    )
    user = (
        _who_you_are(persona)
        + f"## Conversation so far\n{_dialogue_text(sample)}\n\n"
        f"## Your latest message\n{sample.query}\n\n"
        f"## The assistant's answer\n{reply}\n\n"
        "As this person, score the answer on every dimension. Reply with the JSON object only."
    )
    return system, user


_USER_TURN_FORM = (
    "Write one to three sentences of plain text: no speaker name, no quotation marks, no stage directions, and "
    "never write the other side's lines."
)


def mmrole_user_prompt(sample: Sample, reply: str) -> tuple[str, str]:
    """The simulated MMRole user's prompt: the human chatting with the character about the image, who has just read
    the character's ``reply`` and asks a natural follow-up question.

    Raises:
        TypeError: if the sample's persona is not a :class:`CharacterProfile`.
    """
    persona = character_of(sample)
    human = sample.dialogue[-1].speaker
    system = (
        "You play the human in a conversation with a character about an image; an AI plays the character. Write "
        "the human's next message: react naturally to what the character just said and ask a natural follow-up "
        "question about the image or about what the character said, in the human's own voice and in keeping with "
        "their relationship. " + _USER_TURN_FORM
    )
    user = (
        f"## The character you are talking with\nName: {persona.name}\nIntroduction: {persona.introduction}\n"
        f"Personality: {persona.personality}\nRelationship with the human: {persona.relationship}\n\n"
        f"## Conversation so far\n{_dialogue_with_reply(sample, reply, persona.name)}\n\n"
        f"## Your next message\nWrite {human}'s next message to {persona.name}, and nothing else."
    )
    return system, user


def pcogalign_user_prompt(sample: Sample, reply: str) -> tuple[str, str]:
    """The simulated PCogAlign user's prompt: the person in the situation, with their role set, reacting to the
    assistant's ``reply`` and asking about the next step or mentioning another detail.

    Raises:
        TypeError: if the sample's persona is not a :class:`UserProfile`.
    """
    persona = user_of(sample)
    system = (
        "You will role-play a real person who is asking an AI assistant for help about the situation in the image. "
        "Stay in this person's shoes: who you are, where you are and what you need. Write your next message to the "
        "assistant: react to its latest answer as this person would (what fits your situation and your role here, "
        "what does not), then ask about the next step or mention another detail of the situation that matters. "
        "Speak in the first person. " + _USER_TURN_FORM
    )
    user = (
        _who_you_are(persona)
        + f"## Conversation so far\n{_dialogue_with_reply(sample, reply, 'Assistant')}\n\n"
        "## Your next message\nWrite your next message to the assistant, and nothing else."
    )
    return system, user


def _messages(system: str, text: str, image_url: str | None) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    if image_url is not None:
        content.append({"type": "text", "text": "The image of the conversation:"})
        content.append({"type": "image_url", "image_url": {"url": image_url}})
    content.append({"type": "text", "text": text})
    return [{"role": "system", "content": system}, {"role": "user", "content": content}]


def build_messages(sample: Sample, reply: str, image_url: str | None) -> list[dict[str, Any]]:
    """The chat messages asking the judge to score ``reply`` against ``sample.reference``.

    Args:
        sample: the turn being answered (its task picks the rubric).
        reply: the candidate reply (Response B).
        image_url: the sample's image as a data URL (see :func:`image_data_url`), or ``None`` for a text-only
            judgement.

    Returns:
        A system message with the rubric and answer format, and a user message whose content parts are the image
        (when given) and the context, reference and candidate.

    Raises:
        TypeError: if the sample's persona does not match its task.
        ValueError: if the sample's task is not registered.
    """
    return _messages(*task_spec(sample.task).prompt(sample, reply), image_url)


def build_rubric_messages(sample: Sample, reply: str, image_url: str | None) -> list[dict[str, Any]]:
    """The chat messages asking the judge to score ``reply`` alone against the rubric (a turn with no reference).

    Args:
        sample: the turn being answered (its task picks the rubric; its reference is not shown).
        reply: the reply to score.
        image_url: the sample's image as a data URL, or ``None``.

    Returns:
        A system message with the rubric and the single-response answer format, and a user message with the image
        (when given), the context and the reply.

    Raises:
        TypeError: if the sample's persona does not match its task.
        ValueError: if the sample's task is not registered or has no ``rubric_prompt``.
    """
    return _messages(*task_spec(sample.task).rubric_prompt_for(sample, reply), image_url)


def build_user_messages(sample: Sample, reply: str, image_url: str | None) -> list[dict[str, Any]]:
    """The chat messages asking the simulated user for their next turn after the agent's ``reply`` to ``sample``.

    Args:
        sample: the turn the agent answered (its dialogue ends with the user turn ``reply`` answers).
        reply: the agent's reply.
        image_url: the sample's image as a data URL, or ``None`` for a user model that sees no image.

    Returns:
        A system message (who the user is and what to write) and a user message with the image (when given), the
        persona or situation, and the dialogue ending with ``reply``.

    Raises:
        TypeError: if the sample's persona does not match its task.
        ValueError: if the sample's task is not registered or has no ``user_prompt``.
    """
    return _messages(*task_spec(sample.task).user_prompt_for(sample, reply), image_url)


def correction_messages(answer: str, problem: str) -> list[dict[str, Any]]:
    """Follow-up turns asking the judge to fix an answer that could not be parsed.

    Sending the bad answer back with the reason works better than repeating the same request, which at
    temperature 0 tends to return the same broken answer.

    Args:
        answer: the judge's unusable answer.
        problem: what was wrong with it.

    Returns:
        An assistant turn (the bad answer) and a user turn asking for a corrected JSON object.
    """
    return _correction(answer, problem, "for both Response A and Response B")


def rubric_correction_messages(answer: str, problem: str) -> list[dict[str, Any]]:
    """:func:`correction_messages` for a rubric judgement (one response, one ``"scores"`` block)."""
    return _correction(answer, problem, 'in the "scores" object')


def _correction(answer: str, problem: str, where: str) -> list[dict[str, Any]]:
    return [
        {"role": "assistant", "content": answer},
        {
            "role": "user",
            "content": f"Your answer could not be used: {problem}. Reply again with only the JSON object, with an "
            f"integer from 1 to 10 for every dimension {where}.",
        },
    ]

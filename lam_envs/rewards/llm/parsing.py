"""Reading the judge's scores out of its answer.

The judge is asked for one strict JSON object (see :mod:`lam_envs.rewards.llm.prompts`)::

    {"analysis": "...", "A": {"<dimension>": <1-10>, ...}, "B": {"<dimension>": <1-10>, ...}}

or, for a turn without a reference judged against the rubric alone, one score block::

    {"analysis": "...", "scores": {"<dimension>": <1-10>, ...}}

Chat models often wrap it in a code fence or add a sentence around it, so the parser looks for the first JSON object
that has both score blocks, wherever it is in the text. What it never does is guess: a score that is missing, not a
number, or out of range makes the whole answer invalid (:class:`ParseError`), and the caller retries or reports a
failure.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal, Mapping, Sequence

ParseCause = Literal["malformed_json", "missing_dimension", "out_of_range"]

SCORE_MIN = 1.0
SCORE_MAX = 10.0
# Keys the model may use for the two score blocks, after normalisation (see _norm_key).
_BLOCK_KEYS: dict[str, tuple[str, ...]] = {"A": ("a", "response_a"), "B": ("b", "response_b"), "scores": ("scores",)}
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)


class ParseError(ValueError):
    """The judge's answer does not contain a complete, in-range set of scores.

    Attributes:
        cause: ``"malformed_json"`` (no usable JSON object), ``"missing_dimension"`` (a score block or a dimension is
            absent, or a score is not a number) or ``"out_of_range"`` (a score outside 1-10).
    """

    def __init__(self, cause: ParseCause, message: str) -> None:
        super().__init__(message)
        self.cause: ParseCause = cause


@dataclass(frozen=True)
class PairScores:
    """The scores of the two responses of a pairwise judgement.

    Attributes:
        a: score of Response A on each dimension.
        b: score of Response B on each dimension.
    """

    a: dict[str, float]
    b: dict[str, float]


def _norm_key(key: str) -> str:
    """Normalise a key so that ``"Image-Text Relevance"`` matches ``"image_text_relevance"``."""
    return re.sub(r"[\s\-]+", "_", key.strip().lower())


def _candidate_texts(text: str) -> list[str]:
    """Fenced blocks first (the model's own framing of its JSON), then the whole answer."""
    return [m.group(1) for m in _FENCE.finditer(text)] + [text]


def _json_objects(text: str) -> list[dict[str, Any]]:
    """Every top-level JSON object that decodes somewhere in ``text``, in order of appearance."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    pos = text.find("{")
    while pos != -1:
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            pos = text.find("{", pos + 1)
            continue
        if isinstance(obj, dict):
            found.append(obj)
        pos = text.find("{", end)
    return found


def _find_block(obj: Mapping[str, Any], label: str) -> Any:
    """The value of the score block ``label`` (``"A"``, ``"B"`` or ``"scores"``), or ``None``."""
    matches = [v for k, v in obj.items() if isinstance(k, str) and _norm_key(k) in _BLOCK_KEYS[label]]
    if len(matches) > 1:
        raise ParseError("malformed_json", f"the answer has {len(matches)} score blocks for {_whose(label)}")
    return matches[0] if matches else None


def _whose(label: str) -> str:
    return "the response" if label == "scores" else f"Response {label}"


def _read_block(block: Any, label: str, dimensions: Sequence[str]) -> dict[str, float]:
    who = _whose(label)
    if not isinstance(block, dict):
        raise ParseError("missing_dimension", f"the score block for {who} is not a JSON object: {block!r}")
    normalised: dict[str, Any] = {}
    for key, value in block.items():
        k = _norm_key(str(key))
        if k in normalised:
            raise ParseError("malformed_json", f"{who} scores {k!r} twice")
        normalised[k] = value
    scores: dict[str, float] = {}
    for dim in dimensions:
        if dim not in normalised:
            raise ParseError("missing_dimension", f"{who} has no score for {dim!r}")
        value = normalised[dim]
        # bool is an int subclass; a JSON true is not a score.
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ParseError("missing_dimension", f"{who} score for {dim!r} is not a number: {value!r}")
        if not SCORE_MIN <= value <= SCORE_MAX:
            raise ParseError(
                "out_of_range",
                f"{who} score for {dim!r} is {value}, outside {SCORE_MIN:g}-{SCORE_MAX:g}",
            )
        scores[dim] = float(value)
    return scores


def parse_pair_scores(text: str, dimensions: Sequence[str]) -> PairScores:
    """Extract both responses' scores on every dimension from a judge answer.

    The first JSON object (in a code fence, or anywhere in the text) that has score blocks for both responses is the
    answer; keys are matched case-insensitively with spaces and hyphens read as underscores. Extra keys (such as the
    ``"analysis"`` the prompt asks for, or dimensions not requested) are ignored.

    Args:
        text: the judge's message content.
        dimensions: the dimensions every block must score.

    Returns:
        The scores of Response A and Response B.

    Raises:
        ParseError: if no JSON object with both blocks is found, a dimension is missing or not a number, or a score
            is outside 1-10.
    """
    a, b = _parse_blocks(text, ("A", "B"), dimensions, "scores for Responses A and B")
    return PairScores(a=a, b=b)


def parse_rubric_scores(text: str, dimensions: Sequence[str]) -> dict[str, float]:
    """Extract the one response's scores from a rubric judgement (a turn without a reference).

    The first JSON object (in a code fence, or anywhere in the text) with a ``"scores"`` block is the answer, read as
    :func:`parse_pair_scores` reads a block. Takes that function's arguments (``dimensions``: what the one block
    must score).

    Returns:
        The score of the response on each dimension.

    Raises:
        ParseError: if no JSON object with a ``"scores"`` block is found, a dimension is missing or not a number, or
            a score is outside 1-10.
    """
    (scores,) = _parse_blocks(text, ("scores",), dimensions, 'a "scores" block')
    return scores


def _parse_blocks(text: str, labels: Sequence[str], dimensions: Sequence[str], wanted: str) -> list[dict[str, float]]:
    """The scores of each block in ``labels``, read from the first JSON object (fenced blocks first, then the whole
    text) that has any of them; ``wanted`` names the blocks in the error when no object has one."""
    for chunk in _candidate_texts(text):
        for obj in _json_objects(chunk):
            blocks = [_find_block(obj, label) for label in labels]
            if all(block is None for block in blocks):
                continue
            missing = [label for label, block in zip(labels, blocks) if block is None]
            if missing:
                raise ParseError("missing_dimension", f"the answer has no score block for {_whose(missing[0])}")
            return [_read_block(block, label, dimensions) for label, block in zip(labels, blocks)]
    snippet = text if len(text) <= 200 else text[:200] + "..."
    raise ParseError("malformed_json", f"no JSON object with {wanted} in the answer: {snippet!r}")

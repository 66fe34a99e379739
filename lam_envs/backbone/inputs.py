"""Contexts and their token ids: chat rendering and image-placeholder expansion, shared by every family.

A context is rendered with the tokenizer's own chat template when it has one; otherwise with the Qwen/ChatML layout
``<|im_start|>role\\n...<|im_end|>\\n``. The image, if any, is announced by the family's marker text placed at the
start of the first user message (a plain string works with every template, unlike structured content parts), and
after tokenization the single image token inside that marker is expanded to the number of image features the vision
tower produces, which is what the model checks against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from PIL import Image
from transformers import PreTrainedTokenizerBase

ROLES: tuple[str, ...] = ("system", "user", "assistant")


@dataclass
class Context:
    """One conversation to continue: an optional image plus the dialogue so far.

    Attributes:
        image: RGB image shown with the first user message, or ``None`` for a text-only context.
        messages: ``(role, text)`` pairs with roles ``"system"``, ``"user"`` or ``"assistant"``, oldest first.
    """

    image: Image.Image | None = None
    messages: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("a Context needs at least one message, e.g. [('user', 'Describe the image.')]")
        for i, item in enumerate(self.messages):
            if not (isinstance(item, tuple) and len(item) == 2) or item[0] not in ROLES:
                raise ValueError(f"messages[{i}]={item!r} is not a (role, text) pair with role in {ROLES}")
        if self.image is not None and not any(role == "user" for role, _ in self.messages):
            raise ValueError("a Context with an image needs a user message to attach it to")


def render_chatml(messages: Sequence[dict[str, str]]) -> str:
    """Render messages in the ChatML layout that Qwen models use, with the assistant generation prompt.

    Args:
        messages: ``{"role", "content"}`` dicts.

    Returns:
        The prompt text.
    """
    parts = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    return "".join(parts) + "<|im_start|>assistant\n"


def render_prompt(context: Context, tokenizer: PreTrainedTokenizerBase, image_marker: str) -> str:
    """Render a context to prompt text ending with the assistant generation prompt.

    Args:
        context: The conversation.
        tokenizer: Tokenizer whose ``chat_template`` is used when set.
        image_marker: Text announcing the image (containing exactly one image token), prepended to the first user
            message when the context has an image.

    Returns:
        The prompt text, image marker not yet expanded.
    """
    messages = [{"role": role, "content": text} for role, text in context.messages]
    if context.image is not None:
        first_user = next(i for i, m in enumerate(messages) if m["role"] == "user")
        messages[first_user]["content"] = image_marker + messages[first_user]["content"]
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return render_chatml(messages)


def encode_context(
    context: Context,
    tokenizer: PreTrainedTokenizerBase,
    image_marker: str,
    image_token_id: int,
    num_image_tokens: int,
) -> list[int]:
    """Token ids of a rendered context with the image token expanded to ``num_image_tokens`` copies.

    Args:
        context: The conversation.
        tokenizer: The backbone's tokenizer.
        image_marker: See :func:`render_prompt`.
        image_token_id: Id of the image placeholder token.
        num_image_tokens: How many image features the vision tower yields per image.

    Returns:
        The prompt's token ids.

    Raises:
        ValueError: if the text itself contains image tokens, or the marker did not survive rendering as exactly one
            image token (a chat template that drops or rewrites message content).
    """
    text = render_prompt(context, tokenizer, image_marker)
    ids: list[int] = tokenizer(text, add_special_tokens=False)["input_ids"]
    count = ids.count(image_token_id)
    expected = 1 if context.image is not None else 0
    if count != expected:
        raise ValueError(
            f"the rendered prompt holds {count} image tokens (id {image_token_id}) but the context has "
            f"{expected} image(s); remove image placeholder text from the messages, or check that the chat "
            "template keeps message content verbatim"
        )
    if context.image is None:
        return ids
    at = ids.index(image_token_id)
    return ids[:at] + [image_token_id] * num_image_tokens + ids[at + 1 :]


def continuation_text(before: Context, after: Context, tokenizer: PreTrainedTokenizerBase, image_marker: str) -> str:
    """The prompt text that takes ``before``'s prompt plus the reply (``after``'s assistant turn at the end of
    ``before``'s messages) to ``after``'s prompt: the end of the assistant turn, the next user turns and the assistant
    generation prompt.

    Raises:
        ValueError: if ``after`` does not continue ``before`` with an assistant turn and a user turn, or the chat
            template rewrites earlier turns (``after``'s prompt does not start with ``before``'s and the reply).
    """
    n = len(before.messages)
    if after.messages[:n] != before.messages or len(after.messages) <= n + 1 or after.messages[n][0] != "assistant":
        raise ValueError("`after` must be `before`'s conversation followed by an assistant turn and a user turn")
    head, full = render_prompt(before, tokenizer, image_marker), render_prompt(after, tokenizer, image_marker)
    reply = after.messages[n][1]
    if not full.startswith(head + reply):
        raise ValueError(
            "the chat template renders the next exchange's prompt differently from the current one followed by the "
            "reply (it rewrites earlier turns), so the conversation cannot be continued in the KV cache; use "
            "single-reply episodes (dialogue=False) with this backbone"
        )
    return full[len(head) + len(reply):]


"""Prompts → the U-Net's text conditioning: CLIP's tokenizer and text encoder, as diffusers' pipelines use them.

The prompt is tokenized to the tokenizer's fixed length (77 for CLIP: a start token, up to 75 tokens
of text, an end token, then padding), truncating what does not fit, and the text encoder's last hidden
state is the conditioning ``encoder_hidden_states`` (N, 77, D). This is ``StableDiffusionPipeline.
encode_prompt`` step for step (no clip skip, no prompt weighting), so the same prompt gives the same
tensor. An empty prompt is allowed: it is the unconditional input of classifier-free guidance.

The text encoder stays on the CPU in float32: a prompt is encoded once per generation (≈ 0.1 s for
CLIP ViT-L on a laptop CPU), and an accelerator's memory is kept for the U-Net.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["EncodedPrompt", "PromptEncoder"]

#: Some tokenizer configs say model_max_length = 1e30 ("no limit"); the text encoder's positions decide then.
_UNBOUNDED = 100_000


@dataclass(frozen=True)
class EncodedPrompt:
    """A prompt's conditioning and how much of it the text encoder read."""

    text: str
    embeddings: "torch.Tensor"  # (1, max_length, hidden) float32 on the CPU
    num_tokens: int  # the prompt's tokens, without the start and end tokens
    max_tokens: int  # how many fit (max_length − 2)
    dropped: str  # the text past the limit, as the tokenizer reads it back ('' when everything fit)

    @property
    def truncated(self) -> bool:
        return self.num_tokens > self.max_tokens

    def notice(self, what: str = "prompt") -> str | None:
        """One sentence for people when the prompt was cut, else None."""
        if not self.truncated:
            return None
        dropped = self.dropped if len(self.dropped) <= 80 else self.dropped[:77] + "…"
        return (f"The {what} is {self.num_tokens} tokens long and the text encoder reads {self.max_tokens}: "
                f"“{dropped}” was left out.")


class PromptEncoder:
    """``encode(prompt)`` → :class:`EncodedPrompt`; ``count_tokens(prompt)`` for a live counter."""

    def __init__(self, tokenizer: Any, text_encoder: "torch.nn.Module"):
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder
        positions = int(getattr(text_encoder.config, "max_position_embeddings", 77))
        limit = int(min(getattr(tokenizer, "model_max_length", positions) or positions, _UNBOUNDED))
        self.max_length = min(limit, positions)
        self.use_attention_mask = bool(getattr(text_encoder.config, "use_attention_mask", False))

    @property
    def max_tokens(self) -> int:
        return self.max_length - 2

    @property
    def hidden_size(self) -> int:
        return int(self.text_encoder.config.hidden_size)

    def _token_ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` without the start and end tokens (what the limit counts)."""
        return len(self._token_ids(str(text)))

    def encode(self, text: str) -> EncodedPrompt:
        """The conditioning for ``text`` exactly as ``StableDiffusionPipeline.encode_prompt`` computes it."""
        import torch

        text = str(text)
        inputs = self.tokenizer(text, padding="max_length", max_length=self.max_length, truncation=True,
                                return_tensors="pt")
        ids = self._token_ids(text)
        dropped = self.tokenizer.decode(ids[self.max_tokens:]) if len(ids) > self.max_tokens else ""
        mask = inputs.attention_mask if self.use_attention_mask else None
        with torch.inference_mode():
            embeddings = self.text_encoder(inputs.input_ids, attention_mask=mask)[0]
        return EncodedPrompt(text, embeddings.float().clone(), len(ids), self.max_tokens, dropped.strip())

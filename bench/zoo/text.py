"""Text models: an `nn.TransformerEncoder` fed float embeddings (`text_encoder`) or int64 token
ids (`token_encoder`), and BERT/GPT-2-style models from Hugging Face transformers (the `hf`
extra) built from a config, never downloaded.

`text_encoder` and `hf_text` take already-embedded tokens, `[batch, sequence, d_model]`, and leave
out the token-embedding lookup (a gather: no MACs, a little memory). Any Hugging Face model fed
token ids is `bench.zoo:from_config` with an `inputs` table (see suites/text.toml); the sequence
length is swept with `dims`.
"""

from __future__ import annotations

import importlib.util

import torch
from torch import nn

from bench.errors import CaseUnsupported

HF_ARCHS = ("bert", "gpt2")


def text_encoder(
    d_model: int = 256,
    nhead: int = 4,
    num_layers: int = 4,
    dim_feedforward: int = 1024,
    dropout: float = 0.1,
    norm_first: bool = False,
) -> nn.TransformerEncoder:
    """`num_layers` TransformerEncoderLayers (batch first) and a final LayerNorm.

    Input `[batch, sequence, d_model]`; output the same shape. In eval under inference mode,
    PyTorch runs its fused encoder-layer kernel; the FLOP counter has a formula for it.
    """
    layer = nn.TransformerEncoderLayer(
        d_model, nhead, dim_feedforward, dropout, batch_first=True, norm_first=norm_first
    )
    return nn.TransformerEncoder(
        layer, num_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False
    )


class TokenEncoder(nn.Module):
    """Token ids in, hidden states out: an embedding (tokens + learned positions), a
    `text_encoder`, and the padding mask from `attention_mask` (1 = attend, 0 = padding)."""

    def __init__(
        self, vocab_size: int, max_positions: int, d_model: int, encoder: nn.TransformerEncoder
    ) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, d_model)
        self.positions = nn.Embedding(max_positions, d_model)
        self.encoder = encoder

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        hidden = self.tokens(input_ids) + self.positions(positions)
        padding = None if attention_mask is None else attention_mask == 0
        return self.encoder(hidden, src_key_padding_mask=padding)


def token_encoder(
    vocab_size: int = 30522,
    max_positions: int = 512,
    d_model: int = 256,
    nhead: int = 4,
    num_layers: int = 4,
    dim_feedforward: int = 1024,
) -> TokenEncoder:
    """A text model fed int64 token ids (`input_ids`, and optionally `attention_mask`) by
    keyword, as a tokenizer's output is passed: `model(**batch)`."""
    encoder = text_encoder(d_model, nhead, num_layers, dim_feedforward)
    return TokenEncoder(vocab_size, max_positions, d_model, encoder)


class EmbeddingsInput(nn.Module):
    """Calls a Hugging Face model with `inputs_embeds` and returns its last hidden state."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.model(inputs_embeds=embeddings).last_hidden_state


def hf_text(
    arch: str = "bert", hidden: int = 768, num_layers: int = 12, heads: int = 12
) -> EmbeddingsInput:
    """A BERT (encoder) or GPT-2 (decoder) model with random weights, from its config class.

    Input `[batch, sequence, hidden]` float embeddings; sequence at most 512 (BERT) or 1024
    (GPT-2) positions. Without `transformers` installed (`pip install bench[hf]`) the case is a
    skipped row saying so.
    """
    if arch not in HF_ARCHS:
        raise ValueError(f"arch must be one of {', '.join(HF_ARCHS)}, got {arch!r}")
    if importlib.util.find_spec("transformers") is None:
        raise CaseUnsupported(
            "transformers is not installed; install the hf extra (pip install 'bench[hf]')"
        )
    import transformers

    if arch == "bert":
        config = transformers.BertConfig(
            hidden_size=hidden,
            num_hidden_layers=num_layers,
            num_attention_heads=heads,
            intermediate_size=4 * hidden,
        )
        return EmbeddingsInput(transformers.BertModel(config, add_pooling_layer=False))
    config = transformers.GPT2Config(n_embd=hidden, n_layer=num_layers, n_head=heads)
    return EmbeddingsInput(transformers.GPT2Model(config))

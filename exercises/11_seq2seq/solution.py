"""Your solution for 11_seq2seq: a GRU encoder-decoder with teacher forcing and greedy decoding.

Read README.md for the task, then replace each `raise NotImplementedError`.
Grade it with:  grade exercises/11_seq2seq
"""
import torch
import torch.nn.functional as F  # noqa: F401  (F.cross_entropy, for the loss)
from torch import nn


class Seq2Seq(nn.Module):
    """GRU encoder -> final state -> GRU decoder (no attention).

    Dimensions: B batch, S source length (padded), T target length (padded), E embed_dim, H hidden,
    V tgt_vocab, N num_layers.

    Submodules (names and shapes are graded; the reference's state_dict must load strictly):
        src_embedding = nn.Embedding(src_vocab, embed_dim)
        encoder       = nn.GRU(embed_dim, hidden, num_layers, batch_first=True)
        tgt_embedding = nn.Embedding(tgt_vocab, embed_dim)
        decoder       = nn.GRU(embed_dim, hidden, num_layers, batch_first=True)
        out           = nn.Linear(hidden, tgt_vocab)
    Keep pad_id, bos_id and eos_id as attributes.
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, embed_dim: int, hidden: int, num_layers: int = 1,
                 pad_id: int = 0, bos_id: int = 1, eos_id: int = 2):
        super().__init__()
        raise NotImplementedError("store the special ids; create the five submodules")

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> torch.Tensor:
        """src (B, S) int64 right-padded, src_lengths (B,) int64 in 1..S (any order)
        -> the encoder's state (N, B, H) after the LAST REAL token of each sentence."""
        raise NotImplementedError("embed, run the encoder GRU on the real tokens only, return its final state")

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Teacher forcing. tgt (B, T) int64: target tokens, then eos_id, then pad_id.
        -> logits (B, T, V); step t is fed bos_id at t = 0, then tgt[:, t-1]; the decoder starts from encode(...)."""
        raise NotImplementedError("shift the target right behind BOS, run the decoder from the encoder's state")

    def loss(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """-> scalar (): mean cross-entropy of forward's logits over the positions where tgt != pad_id."""
        raise NotImplementedError("cross-entropy over the real target positions only")

    def greedy_decode(self, src: torch.Tensor, src_lengths: torch.Tensor, max_len: int) -> torch.Tensor:
        """-> (B, max_len) int64: token t is the argmax of step t's logits, fed back as step t+1's input
        (step 0 is fed bos_id); after a row has produced eos_id, the rest of that row is pad_id."""
        raise NotImplementedError("loop max_len steps carrying the decoder state; stop each row at EOS")

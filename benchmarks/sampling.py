"""Sampling implementations for the ``sample-loop`` and ``sample-batch`` cases.

charrnn draws in Rust (``_core.sample``); the PyTorch baseline is the loop a tutorial
writes: one step of the network per character, ``softmax`` + ``multinomial``, stopping at
the end marker. Both use the same weights; pad and start markers are never drawn.
"""

from __future__ import annotations

import numpy as np

PAD, BOS, EOS = 0, 1, 2


def charrnn_sample(cell: str, params: list[np.ndarray], n: int, batch: bool, max_len: int, seed: int = 0) -> int:
    """Draws ``n`` names (all at once, or one call per name); returns the steps computed."""
    from charrnn import _core

    kw = dict(temperature=1.0, banned=[PAD, BOS])
    model = _core.PreparedModel(cell, params)  # what CharRNN.sample keeps between calls
    if batch:
        names = model.sample(n, BOS, EOS, max_len, seed=seed, **kw)
    else:
        names = [model.sample(1, BOS, EOS, max_len, seed=seed + i, **kw)[0] for i in range(n)]
    return sum(min(len(s) + 1, max_len) for s in names)


def torch_sample(cell: str, params: list[np.ndarray], n: int, batch: bool, max_len: int, seed: int = 0) -> int:
    import torch

    from models import load_torch_weights

    torch.manual_seed(seed)
    vocab, embed = params[0].shape
    hidden = params[2].shape[1]
    layers = (len(params) - 3) // 4
    rnn_cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    emb, rnn, fc = torch.nn.Embedding(vocab, embed), rnn_cls(embed, hidden, layers), torch.nn.Linear(hidden, vocab)
    load_torch_weights(emb, rnn, fc, params)
    banned = torch.zeros(vocab, dtype=torch.bool)
    banned[[PAD, BOS]] = True
    steps = 0
    with torch.no_grad():
        if not batch:
            for _ in range(n):
                x, h = torch.tensor([[BOS]]), None
                for _t in range(max_len):
                    out, h = rnn(emb(x), h)
                    logits = fc(out[0, 0]).masked_fill(banned, float("-inf"))
                    idx = torch.multinomial(torch.softmax(logits, -1), 1)
                    steps += 1
                    if idx.item() == EOS:
                        break
                    x = idx.view(1, 1)
            return steps
        x, h = torch.full((1, n), BOS), None
        alive = torch.ones(n, dtype=torch.bool)
        for _t in range(max_len):
            out, h = rnn(emb(x), h)
            logits = fc(out[0]).masked_fill(banned, float("-inf"))
            idx = torch.multinomial(torch.softmax(logits, -1), 1).view(-1)
            steps += int(alive.sum())
            alive &= idx != EOS
            if not alive.any():
                break
            x = idx.view(1, n)
        return steps


SAMPLERS = {"charrnn": charrnn_sample, "torch": torch_sample}

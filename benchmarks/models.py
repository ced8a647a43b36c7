"""The three implementations the benchmark compares, on identical weights and batches.

* ``charrnn``: the Rust kernels (one ``forward_backward`` call per batch) and Adam on
  the float32 parameter arrays, exactly what ``charrnn.train`` runs per step;
* ``numpy``: ``charrnn.reference``, the plain numpy "from scratch" implementation of
  the same model (forward/backward through time in Python loops over time steps);
* ``torch``: ``nn.Embedding`` + ``nn.LSTM``/``nn.GRU``/``nn.RNN`` + ``nn.Linear`` with
  ``torch.optim.Adam``, the way a PyTorch user writes it (padded batches, the loss masked
  with ``ignore_index``), used only when torch is installed.

Every implementation starts from the same weights (PyTorch's layout is charrnn's) and
sees the same batches: padded, time-major ``ids``/``targets`` ``[T, B]`` int32 with pad
id 0, and ``lengths [B]``.
"""

from __future__ import annotations

import numpy as np

PAD = 0


def init_params(cell: str, vocab: int, embed: int, hidden: int, layers: int, seed: int = 0) -> list[np.ndarray]:
    """Parameters in ``_core`` list order, initialised like PyTorch."""
    rng = np.random.default_rng(seed)
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    k = 1.0 / np.sqrt(hidden)
    params = [rng.standard_normal((vocab, embed)).astype(np.float32)]
    for layer in range(layers):
        inp = embed if layer == 0 else hidden
        params += [
            rng.uniform(-k, k, (gates * hidden, inp)).astype(np.float32),
            rng.uniform(-k, k, (gates * hidden, hidden)).astype(np.float32),
            rng.uniform(-k, k, gates * hidden).astype(np.float32),
            rng.uniform(-k, k, gates * hidden).astype(np.float32),
        ]
    params += [rng.uniform(-k, k, (vocab, hidden)).astype(np.float32), rng.uniform(-k, k, vocab).astype(np.float32)]
    return params


class Adam:
    """Adam on a list of float32 arrays, in place (the update ``charrnn.train`` uses)."""

    def __init__(self, params: list[np.ndarray], lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            p -= (self.lr / c1) * m / (np.sqrt(v / c2) + self.eps)


def clip(grads: list[np.ndarray], max_norm: float) -> None:
    norm = float(np.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads)))
    if norm > max_norm:
        for g in grads:
            g *= max_norm / (norm + 1e-6)


class CharrnnTrainer:
    """One training step = one Rust ``forward_backward`` + charrnn's own clipping and
    Adam (``charrnn.training``: the fused Rust update), as ``charrnn.train`` runs it."""

    name = "charrnn"

    def __init__(self, cell: str, params: list[np.ndarray], stateful: bool = False) -> None:
        from charrnn import _core
        from charrnn.training import Adam as CharrnnAdam

        self.core, self.cell = _core, cell
        self.params = [p.copy() for p in params]
        self.opt = CharrnnAdam(self.params, lr=2e-3)
        self.stateful = stateful
        self.h = self.c = None

    def step(self, ids: np.ndarray, targets: np.ndarray, lengths: np.ndarray) -> float:
        loss, _, grads, h, c = self.core.forward_backward(self.cell, self.params, ids, targets, lengths, self.h, self.c)
        if self.stateful:  # truncated BPTT: carry the values, not the gradient
            self.h, self.c = h, c
        n = int(lengths.sum())
        self.update(grads, n)
        return loss / n

    def update(self, grads: list[np.ndarray], n: int) -> None:
        """Mean per character, clip to 5, Adam: charrnn's fused step."""
        self.opt.step(grads, grad_scale=1.0 / n, max_norm=5.0)


class NumpyTrainer(CharrnnTrainer):
    """The same step computed from scratch in numpy: ``charrnn.reference`` for the model,
    the numpy Adam and clipping above."""

    name = "numpy"

    def __init__(self, cell: str, params: list[np.ndarray], stateful: bool = False) -> None:
        super().__init__(cell, params, stateful)
        from charrnn import reference

        self.core = reference
        self.opt = Adam(self.params)

    def update(self, grads: list[np.ndarray], n: int) -> None:
        for g in grads:
            g /= n
        clip(grads, 5.0)
        self.opt.step(grads)


class TorchTrainer:
    """The PyTorch way: nn.Embedding + nn.LSTM/GRU/RNN + nn.Linear, Adam, masked loss."""

    name = "torch"

    def __init__(self, cell: str, params: list[np.ndarray], stateful: bool = False) -> None:
        import torch

        self.torch = torch
        vocab, embed = params[0].shape
        hidden = params[2].shape[1]
        layers = (len(params) - 3) // 4
        rnn_cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
        self.emb = torch.nn.Embedding(vocab, embed)
        self.rnn = rnn_cls(embed, hidden, layers)
        self.fc = torch.nn.Linear(hidden, vocab)
        load_torch_weights(self.emb, self.rnn, self.fc, params)
        self.modules = torch.nn.ModuleList([self.emb, self.rnn, self.fc])
        self.opt = torch.optim.Adam(self.modules.parameters(), lr=2e-3)
        self.cell, self.stateful, self.state = cell, stateful, None

    def step(self, ids: np.ndarray, targets: np.ndarray, lengths: np.ndarray) -> float:
        torch = self.torch
        x = torch.from_numpy(ids.astype(np.int64))
        y = torch.from_numpy(targets.astype(np.int64))
        if not self.stateful:
            y = y.masked_fill(torch.from_numpy(_mask(lengths, ids.shape[0])) == 0, -100)
        out, state = self.rnn(self.emb(x), self.state)
        logits = self.fc(out)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.modules.parameters(), 5.0)
        self.opt.step()
        if self.stateful:
            self.state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        return float(loss)


def _mask(lengths: np.ndarray, steps: int) -> np.ndarray:
    return (np.arange(steps)[:, None] < lengths[None, :]).astype(np.int8)


def load_torch_weights(emb, rnn, fc, params: list[np.ndarray]) -> None:
    import torch

    layers = (len(params) - 3) // 4
    with torch.no_grad():
        emb.weight.copy_(torch.from_numpy(params[0]))
        for layer in range(layers):
            base = 1 + 4 * layer
            for name, p in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), params[base : base + 4]):
                getattr(rnn, f"{name}_l{layer}").copy_(torch.from_numpy(p))
        fc.weight.copy_(torch.from_numpy(params[-2]))
        fc.bias.copy_(torch.from_numpy(params[-1]))


TRAINERS = {"charrnn": CharrnnTrainer, "numpy": NumpyTrainer, "torch": TorchTrainer}

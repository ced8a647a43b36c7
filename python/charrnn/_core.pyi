"""Type stubs for ``charrnn._core``, the Rust extension (kernels and sampler).

Conventions shared by every function here:

* Float arrays are ``float32`` and C-contiguous; id and length arrays are ``int32``.
  Anything else raises ``TypeError`` (wrong dtype) or ``ValueError`` (wrong shape,
  non-contiguous, out-of-range ids, inconsistent sizes).  No function panics.
* Sequences are time-major and padded: ``x[t, b]`` is step ``t`` of sequence ``b``;
  ``lengths[b]`` says how many leading steps of sequence ``b`` are real.  Positions
  ``t >= lengths[b]`` are padding: they are never computed, outputs there are zero,
  they add nothing to the loss or to any gradient.  The final state of sequence ``b``
  is its state after step ``lengths[b] - 1`` (its initial state when the length is 0).
* ``cell`` is ``"lstm"``, ``"rnn"`` (tanh) or ``"gru"``.  Weights use PyTorch's
  ``nn.LSTM``/``nn.RNN``/``nn.GRU`` layout: ``w_ih`` is ``[G*H, In]``, ``w_hh`` is
  ``[G*H, H]``, ``b_ih`` and ``b_hh`` are ``[G*H]`` with ``G`` = 4 (gates i, f, g, o),
  1 (rnn) or 3 (gates r, z, n).
* A model's parameters are passed as a list in this order::

      [embedding [V, E],
       w_ih_0, w_hh_0, b_ih_0, b_hh_0,      # layer 0, In = E
       ...,
       w_ih_{L-1}, w_hh_{L-1}, b_ih_{L-1}, b_hh_{L-1},   # In = H
       fc_weight [V, H], fc_bias [V]]

  The number of layers is inferred from the list length.
* The GIL is released while a kernel runs.  A kernel panic (a bug) raises RuntimeError.
  Long calls check for signals about every 100 ms: Ctrl-C raises KeyboardInterrupt.
"""

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

class LayerTape:
    """What a layer's forward pass keeps for its backward pass (opaque)."""

    @property
    def cell(self) -> str: ...

def layer_forward(
    cell: str,
    x: F32,
    lengths: I32,
    w_ih: F32,
    w_hh: F32,
    b_ih: F32,
    b_hh: F32,
    h0: F32,
    c0: Optional[F32] = None,
) -> tuple[F32, F32, Optional[F32], LayerTape]:
    """One recurrent layer over all time steps.

    ``x`` is ``[T, B, In]``, ``h0``/``c0`` are ``[B, H]`` (``c0`` only for LSTM).
    Returns ``(out [T, B, H], h_n [B, H], c_n [B, H] or None, tape)``.
    """

def layer_backward(
    tape: LayerTape,
    d_out: F32,
    d_h_n: Optional[F32] = None,
    d_c_n: Optional[F32] = None,
) -> dict[str, F32]:
    """Gradients of a layer given ``d_out [T, B, H]`` and the gradients w.r.t. the final
    state.  Keys: ``x``, ``w_ih``, ``w_hh``, ``b_ih``, ``b_hh``, ``h0`` and, for LSTM, ``c0``.
    """

def forward_backward(
    cell: str,
    params: list[F32],
    ids: I32,
    targets: I32,
    lengths: I32,
    h0: Optional[F32] = None,
    c0: Optional[F32] = None,
    compute_grad: bool = True,
    dropout: float = 0.0,
    seed: int = 0,
    categories: Optional[I32] = None,
    category_embedding: Optional[F32] = None,
    *,
    locked: bool = False,
    input_dropout: float = 0.0,
    embed_dropout: float = 0.0,
    weight_drop: float = 0.0,
    details: bool = False,
) -> tuple[Any, ...]:
    """Embedding -> L recurrent layers -> linear -> log-softmax cross-entropy.

    ``dropout`` (in [0, 1)) drops inputs of layers 1.. and of the output layer with
    inverted scaling (``locked``: one mask per sequence, the same at every step); the masks
    come from ChaCha8 seeded with ``seed``.  ``input_dropout`` drops each sequence's
    character embeddings (one mask per sequence), ``embed_dropout`` whole rows of the
    embedding table, ``weight_drop`` entries of every layer's ``w_hh`` (one mask per
    batch); see :mod:`charrnn.dropout`.  A conditional
    model passes ``category_embedding`` ``[K, C]`` (layer 0's ``w_ih`` is then
    ``[G*H, E + C]``: its input is the character embedding followed by the category
    embedding) and ``categories`` ``[B]`` int32; the category embedding's gradient is
    appended to ``grads``.

    ``ids`` and ``targets`` are ``[T, B]`` int32, ``lengths`` is ``[B]``.
    ``h0``/``c0`` are ``[L, B, H]`` (zeros when None; ``c0`` only for LSTM).
    Returns ``(loss_sum, seq_loss, grads, h_n, c_n)``:

    * ``loss_sum``: summed negative log-likelihood (nats) over all real positions;
    * ``seq_loss``: ``[B]`` float64, the same per sequence;
    * ``grads``: gradients of ``loss_sum`` for every parameter, in the parameter
      order, or None when ``compute_grad`` is False;
    * ``h_n``/``c_n``: final states ``[L, B, H]`` (``c_n`` None unless LSTM).
      Gradients never flow into ``h0``/``c0`` (truncated BPTT at the call boundary).

    With ``details`` a sixth element, a dict: ``masks`` (the dropout masks drawn: any of
    ``embedding [V]``, ``input [B, E]``, ``hidden`` (a list, ``[B, H]`` each when locked,
    else ``[T, B, H]``), ``recurrent`` (a list of ``[G*H, H]``)) and ``position_nll``
    (``[T, B]`` float64, the NLL of every position, 0 at padding).
    """

class Constraint:
    """Regular expressions every drawn string must match as a whole, and a length range
    in characters, compiled once over a vocabulary (``chars[i]``: the character of id
    ``i``, ``None`` for the markers).  ``ValueError`` for a bad pattern, or when no string
    of the model's characters can meet it."""

    def __init__(
        self, chars: list[Optional[str]], end_id: int, patterns: list[str], min_len: int, max_len: int
    ) -> None: ...
    def accepts(self, ids: list[int]) -> bool:
        """Whether a whole string of ids (no markers) meets the constraint."""
    @property
    def states(self) -> int:
        """The number of automaton states."""
    @property
    def max_len(self) -> int:
        """The longest string, in characters, the constraint allows."""

class NGramTable:
    """A fitted n-gram model as the sampler reads it (``charrnn.ngram.NGram.core_table``):
    per order the sorted ``keys`` (int64: ``context id * vocab + symbol``), ``alpha``
    (float64, one per key) and ``gamma`` (float64, one per context: 1 for order 1, else
    one per k-gram of the order below), and ``base`` (float64 ``[vocab]``, the order-0
    distribution).  ``ValueError`` for tables that do not fit together."""

    def __init__(self, vocab: int, base: F64, keys: list[I64], alpha: list[F64], gamma: list[F64]) -> None: ...
    def next_probs(self, history: list[int]) -> F64:
        """The distribution (float64 ``[vocab]``) of the next id after ``history`` (the
        start id, then the ids so far; only the last ``order - 1`` count): the same
        numbers, bit for bit, as ``NGram._next_probs``."""
    @property
    def vocab(self) -> int: ...
    @property
    def order(self) -> int: ...

class Mixture:
    """A network mixed with an n-gram model: at position ``t`` of a name (0: its first
    character) the next id has probability ``w[t] * softmax(logits) + (1 - w[t]) *
    P_ngram``, ``w = weights`` (each in [0, 1]; positions from ``len(weights) - 1`` on
    share the last).  ``ValueError`` for no weights or one outside [0, 1]."""

    def __init__(self, ngram: NGramTable, weights: list[float]) -> None: ...
    @property
    def weights(self) -> list[float]: ...

def sample(
    cell: str,
    params: list[F32],
    n: int,
    start_id: int,
    end_id: int,
    max_steps: int,
    temperature: float = 1.0,
    top_k: int = 0,
    prefix: list[int] = ...,
    seed: int = 0,
    banned: list[int] = ...,
    categories: Optional[list[int]] = None,
    category_embedding: Optional[F32] = None,
    top_p: float = 1.0,
    constraint: Optional[Constraint] = None,
    log_weights: bool = False,
    mixture: Optional[Mixture] = None,
) -> Any:
    """Draw ``n`` sequences at once.

    Each sequence starts from a zero state fed ``start_id`` then ``prefix``; then up to
    ``max_steps`` tokens are drawn from softmax(logits / temperature), restricted to the
    ``top_k`` most likely when ``top_k > 0`` and to the nucleus of probability ``top_p``
    (the fewest most likely ids whose probabilities add up to ``top_p``) when
    ``top_p < 1``; ``banned`` ids are never drawn.  A sequence
    stops when it draws ``end_id``.  Returns, per sequence, the drawn ids after the
    prefix, without the end id.  The generator is ChaCha8 seeded with ``seed``: the same
    seed gives the same result on any machine.  Conditional models take one category per
    sequence.  With a ``constraint`` (see :class:`Constraint`; the prefix counts towards
    it, and ``max_steps`` must leave room for its longest string and the end id) every id
    that cannot lead to a string meeting it is masked at each step, so the draw is from
    the model's distribution renormalised over the allowed ids, step by step.

    Returns ``list[list[int]]``; with ``log_weights=True`` the pair ``(ids, log_w)`` where
    ``log_w[i]`` is ``log ∏_t Z_t`` of sequence ``i`` (``Z_t``: the share of the tempered
    softmax the constraint left allowed at step ``t``; 0 without a constraint) — the
    importance weight, up to a constant, from constrained draws to the model's distribution
    conditioned on the constraint.

    With a ``mixture`` (models without categories; see :class:`Mixture`) every step draws
    from the mixture of the softmax and the n-gram's distribution after the sequence's
    history (``start_id``, prefix, ids drawn), with the weight of its position: the
    temperature (``mixture ** (1 / temperature)``, renormalised), ``top_k``, ``top_p``,
    ``banned``, the constraint and ``log_w`` then act on the mixture as they act on the
    softmax without one.  Where the weight is 1 the network's logits are used as they are.
    """

class Generator:
    """Stateful text generation for ``streams`` parallel streams: ``feed`` ids (the prime),
    then ``generate`` chunks; state, logits and the ChaCha8 generator carry over between
    calls, so chunked output equals one long call."""

    def __init__(
        self,
        cell: str,
        params: list[F32],
        streams: int = 1,
        seed: int = 0,
        categories: Optional[list[int]] = None,
        category_embedding: Optional[F32] = None,
    ) -> None: ...
    def feed(self, ids: list[int] | list[list[int]]) -> None: ...
    def generate(
        self,
        steps: int,
        temperature: float = 1.0,
        top_k: int = 0,
        banned: list[int] = ...,
        top_p: float = 1.0,
    ) -> list[list[int]]: ...
    @property
    def streams(self) -> int: ...

def beam_search(
    cell: str,
    params: list[F32],
    start_id: int,
    end_id: int,
    prefix: list[int],
    beam: int,
    max_steps: int,
    banned: list[int] = ...,
    category: Optional[int] = None,
    category_embedding: Optional[F32] = None,
    mixture: Optional[Mixture] = None,
) -> list[tuple[list[int], float]]:
    """The ``beam`` most likely completions of ``prefix`` (each ends with ``end_id`` within
    ``max_steps`` ids), best first: ``(ids after the prefix without the end id, natural
    log-probability of those ids and the end id given start + prefix)``.  Deterministic.
    With a ``mixture`` the log-probabilities are the mixture's (see :func:`sample`)."""

class PreparedModel:
    """A model prepared once (weights packed, input tables built) for repeated sampling
    from unchanged weights, e.g. one name at a time.  It keeps its own copy."""

    def __init__(self, cell: str, params: list[F32], category_embedding: Optional[F32] = None) -> None: ...
    def sample(
        self,
        n: int,
        start_id: int,
        end_id: int,
        max_steps: int,
        temperature: float = 1.0,
        top_k: int = 0,
        prefix: list[int] = ...,
        seed: int = 0,
        banned: list[int] = ...,
        categories: Optional[list[int]] = None,
        top_p: float = 1.0,
        constraint: Optional[Constraint] = None,
        log_weights: bool = False,
        mixture: Optional[Mixture] = None,
    ) -> Any:
        """Same as ``charrnn._core.sample``."""
    def beam_search(
        self,
        start_id: int,
        end_id: int,
        prefix: list[int],
        beam: int,
        max_steps: int,
        banned: list[int] = ...,
        category: Optional[int] = None,
        mixture: Optional[Mixture] = None,
    ) -> list[tuple[list[int], float]]:
        """Same as ``charrnn._core.beam_search``."""

def adam_step(
    params: list[F32],
    grads: list[F32],
    m: list[F32],
    v: list[F32],
    lr: float,
    step: int,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    grad_scale: float = 1.0,
    max_norm: Optional[float] = None,
    weight_decay: Optional[float | Sequence[float]] = None,
) -> float:
    """One Adam step in place on every parameter (``params``, ``m``, ``v`` must be
    writeable float32 arrays): gradients are scaled by ``grad_scale``, clipped to the
    global L2 norm ``max_norm`` when given, then ``m``, ``v`` and the parameters are
    updated with bias corrections for the 1-based ``step``.  ``weight_decay`` (one number,
    or one per array; finite, >= 0) first multiplies each weight by ``1 - lr *
    weight_decay`` (AdamW, as ``torch.optim.AdamW``).  Returns the gradient norm after
    scaling, before clipping; a non-finite norm raises ValueError and changes nothing."""

def ema_update(average: list[F32], params: list[F32], decay: float) -> None:
    """``average[i] = decay * average[i] + (1 - decay) * params[i]`` in place, element-wise
    (``average``: writeable float32 arrays of the parameters' sizes; ``0 <= decay <= 1``)."""

def set_num_threads(n: int) -> None:
    """Number of worker threads of the kernels (0: one per core).  With 1 thread every
    result is bit-for-bit reproducible."""

def get_num_threads() -> int: ...

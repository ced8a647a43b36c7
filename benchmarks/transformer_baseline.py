"""The transformer baseline: a small causal-attention character model (the shape of the GPT
in Karpathy's makemore) trained with PyTorch on exactly the split and the counting
``charrnn train`` uses, so that its validation NLL reads beside charrnn's and the 6-gram's.

    python benchmarks/transformer_baseline.py                        # first names, makemore's setup
    python benchmarks/transformer_baseline.py --time-budget 5m --threads 1
    python benchmarks/transformer_baseline.py --dropout 0.1 --lr 1e-3 --json
    python benchmarks/transformer_baseline.py --task surnames-198k --steps 100000

PyTorch is only a baseline here, never a dependency of charrnn: without it the script says
so and exits 0.

**What is measured.**  Validation NLL in nats per predicted character, counted as
:mod:`charrnn.ngram` and ``charrnn train`` count it: a name ``x1 .. xn`` is
``<s> x1 .. xn </s>``, the model predicts ``x1 .. xn`` and ``</s>`` (``n + 1``
predictions), and the NLL is the sum of ``-log P`` over every prediction of every
validation name divided by their number (padding is never counted).  The split is
``quality.task_data``'s, that is :func:`charrnn.data.training_split` with the names mode's
``val_fraction`` and seed 0; the vocabulary is the training names'.  The output layer
covers what can follow a history, the outcomes of the n-gram model: ``</s>`` and the
characters.  The tasks are those of ``benchmarks/quality.py``: ``first``
(``charrnn.datasets.russiannames("first")``, ~30K names, the stand-in for the list kept
aside), ``patronymics`` and ``surnames-198k`` (``charrnn.datasets.russian_names("surnames")``).

**The model and its training** are makemore's unless a flag says otherwise: token and
learned position embeddings (the context is the whole name), ``--layers`` pre-norm blocks
of ``--heads``-head causal self-attention and a 4x MLP with the tanh GELU, a final
LayerNorm and a linear head without bias; weights drawn from N(0, 0.02), biases 0; AdamW
(betas 0.9/0.99, eps 1e-8, the weight decay on every parameter), a constant learning
rate, the gradient norm clipped at 1, batches of ``--batch`` names drawn at random with
replacement; no dropout (``--dropout`` adds it after the embeddings, on the attention
weights and after each residual branch, as minGPT does).

**What is printed.**  Every ``--eval-every`` steps: the step, the wall seconds since
training began (evaluations included), the NLL on a fixed random sample of
``--train-eval`` training names (3,000 by default, all with 0) and on the whole
validation set.  At the end: the best validation NLL and its step and time, the last,
the steps per second of training alone, the CPU (and whether it has AVX-512), the torch
version and its threads; ``--json`` adds one machine-readable line.  ``--time-budget``
stops at a wall time (the evaluations count against it) and evaluates once more;
``--patience K`` stops after K evaluations without a new best.  Times are wall clock on
whatever machine runs it; on a shared machine the runs are slower than alone.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from charrnn.budget import parse_duration
from quality import cpu, task_data

try:
    import torch
    from torch import nn
    from torch.nn import functional as F
except ImportError:  # the baseline is optional: main() says so and exits 0
    torch = None  # type: ignore[assignment]

if TYPE_CHECKING:
    import charrnn

TASKS = ("first", "patronymics", "surnames-198k")
IGNORE = -1  # the target of a padding position: cross_entropy skips it


@dataclass
class Config:
    layers: int = 4
    heads: int = 4
    embed: int = 64
    dropout: float = 0.0
    lr: float = 5e-4
    weight_decay: float = 0.01
    batch: int = 32
    clip: float = 1.0


# -- data: names -> padded (inputs, targets) -------------------------------------------------


def encode(names: list[str], vocab: charrnn.Vocab, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(inputs, targets, lengths)``, one row per name, ``width`` columns.  Inputs are the
    vocabulary's ids (``<s> x1 .. xn``, then padding); targets are outcome numbers
    (``</s>`` = 0, the character of id ``i`` = ``i - eos_id``) for ``x1 .. xn </s>``, then
    ``IGNORE``.  ``lengths`` counts the predictions, ``n + 1``."""
    inputs = torch.full((len(names), width), vocab.pad_id, dtype=torch.long)
    targets = torch.full((len(names), width), IGNORE, dtype=torch.long)
    lengths = torch.empty(len(names), dtype=torch.long)
    for row, name in enumerate(names):
        ids = torch.tensor(vocab.encode(name), dtype=torch.long)
        n = len(ids)
        inputs[row, 0] = vocab.bos_id
        inputs[row, 1 : n + 1] = ids
        targets[row, :n] = ids - vocab.eos_id
        targets[row, n] = 0
        lengths[row] = n + 1
    return inputs, targets, lengths


# -- the model: modules in a ModuleDict, the forward pass a function that reads top to bottom --


def build(n_inputs: int, n_outputs: int, context: int, cfg: Config) -> nn.ModuleDict:
    if cfg.embed % cfg.heads:
        raise SystemExit(f"--embed {cfg.embed} must be a multiple of --heads {cfg.heads}")
    d = cfg.embed
    blocks = nn.ModuleList(
        nn.ModuleDict(
            {
                "ln_attn": nn.LayerNorm(d),
                "qkv": nn.Linear(d, 3 * d),
                "attn_out": nn.Linear(d, d),
                "ln_mlp": nn.LayerNorm(d),
                "mlp_in": nn.Linear(d, 4 * d),
                "mlp_out": nn.Linear(4 * d, d),
            }
        )
        for _ in range(cfg.layers)
    )
    model = nn.ModuleDict(
        {
            "tokens": nn.Embedding(n_inputs, d),
            "positions": nn.Embedding(context, d),
            "blocks": blocks,
            "ln_final": nn.LayerNorm(d),
            "head": nn.Linear(d, n_outputs, bias=False),
        }
    )
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
    return model


def forward(model: nn.ModuleDict, inputs: torch.Tensor, heads: int, dropout: float) -> torch.Tensor:
    """Logits ``(B, T, outcomes)``; position ``t`` sees ``inputs[:, : t + 1]`` only.  Padding
    comes after a name's end, so the causal mask alone keeps it out of every counted
    prediction."""
    batch, width = inputs.shape
    p = dropout if model.training else 0.0
    x = model["tokens"](inputs) + model["positions"](torch.arange(width))
    x = F.dropout(x, p, model.training)
    for block in cast("Iterable[nn.ModuleDict]", model["blocks"]):
        q, k, v = block["qkv"](block["ln_attn"](x)).chunk(3, dim=-1)
        q, k, v = (t.view(batch, width, heads, -1).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        y = y.transpose(1, 2).reshape(batch, width, -1)
        x = x + F.dropout(block["attn_out"](y), p, model.training)
        h = F.gelu(block["mlp_in"](block["ln_mlp"](x)), approximate="tanh")
        x = x + F.dropout(block["mlp_out"](h), p, model.training)
    return model["head"](model["ln_final"](x))


def nll(model: nn.ModuleDict, data: tuple[torch.Tensor, torch.Tensor, torch.Tensor], heads: int) -> float:
    """Nats per predicted character over all of ``data``: the summed ``-log P`` of every
    counted prediction over their number.  Batches of names of like length, each cut to its
    longest name."""
    inputs, targets, lengths = data
    was_training = model.training
    model.eval()
    order = torch.argsort(lengths)
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(order), 1024):
            rows = order[start : start + 1024]
            width = int(lengths[rows].max())
            logits = forward(model, inputs[rows, :width], heads, 0.0)
            y = targets[rows, :width]
            total += float(
                F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE, reduction="sum"
                )
            )
            count += int((y != IGNORE).sum())
    model.train(was_training)
    return total / count


# -- training ---------------------------------------------------------------------------------


def train(
    task: str,
    cfg: Config,
    steps: int,
    budget: float | None,
    eval_every: int,
    patience: int,
    seed: int,
    train_eval: int,
) -> dict[str, Any]:
    torch.manual_seed(seed)
    _, train_names, val_names, vocab = task_data(task, "")
    context = max(len(name) for name in train_names + val_names) + 1
    train_data = encode(train_names, vocab, context)
    val_data = encode(val_names, vocab, context)
    n_outputs = len(vocab) - vocab.eos_id  # </s> and the characters
    model = build(len(vocab), n_outputs, context, cfg)
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), eps=1e-8, weight_decay=cfg.weight_decay, foreach=True
    )
    sampler = torch.Generator().manual_seed(seed)
    if 0 < train_eval < len(train_names):  # a fixed sample of the training names, to keep evaluations cheap
        sample = torch.randperm(len(train_names), generator=torch.Generator().manual_seed(seed))[:train_eval]
        train_probe = (train_data[0][sample], train_data[1][sample], train_data[2][sample])
    else:
        train_probe = train_data
    print(
        f"{task}: {len(train_names):,} training names ({int(train_data[2].sum()):,} predictions), "
        f"{len(val_names):,} validation ({int(val_data[2].sum()):,}); vocabulary {len(vocab)} ids, "
        f"{n_outputs} outcomes; context {context}; {params:,} parameters; {cfg}",
        flush=True,
    )
    inputs, targets, lengths = train_data
    curve: list[dict[str, float]] = []
    best: dict[str, float] = {"val_nll": math.inf}
    evals_since_best = 0
    train_seconds = 0.0
    started = time.perf_counter()
    step = 0

    def evaluate() -> None:
        nonlocal best, evals_since_best
        point = {
            "step": step,
            "seconds": time.perf_counter() - started,
            "train_nll": nll(model, train_probe, cfg.heads),
            "val_nll": nll(model, val_data, cfg.heads),
        }
        curve.append(point)
        improved = point["val_nll"] < best["val_nll"]
        best, evals_since_best = (point, 0) if improved else (best, evals_since_best + 1)
        print(
            f"step {step:7d}  {point['seconds']:8.1f}s  train {point['train_nll']:.4f}  "
            f"val {point['val_nll']:.4f}{'  *' if improved else ''}",
            flush=True,
        )

    model.train()
    while step < steps:
        if budget is not None and time.perf_counter() - started >= budget:
            break
        t0 = time.perf_counter()
        rows = torch.randint(len(inputs), (cfg.batch,), generator=sampler)
        width = int(lengths[rows].max())
        logits = forward(model, inputs[rows, :width], cfg.heads, cfg.dropout)
        loss = F.cross_entropy(logits.reshape(-1, n_outputs), targets[rows, :width].reshape(-1), ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        optimizer.step()
        train_seconds += time.perf_counter() - t0
        step += 1
        if step % eval_every == 0:
            evaluate()
            if patience and evals_since_best >= patience:
                print(f"no new best in {patience} evaluations: stopping", flush=True)
                break
    if not curve or curve[-1]["step"] != step:
        evaluate()
    return {
        "task": task,
        "config": vars(cfg),
        "params": params,
        "seed": seed,
        "steps": step,
        "time_budget": budget,
        "seconds": time.perf_counter() - started,
        "train_seconds": train_seconds,
        "steps_per_second": step / train_seconds if train_seconds else 0.0,
        "best_val_nll": best["val_nll"],
        "best_step": best["step"],
        "best_seconds": best["seconds"],
        "last": curve[-1],
        "curve": curve,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Config()
    p.add_argument("--task", choices=TASKS, default="first")
    p.add_argument("--steps", type=int, default=100_000, help="the most optimizer steps (default %(default)s)")
    p.add_argument("--time-budget", help="stop at this wall time, e.g. 5m (evaluations count against it)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default %(default)s)")
    p.add_argument("--eval-every", type=int, default=1000, help="steps between evaluations (default %(default)s)")
    p.add_argument("--patience", type=int, default=0, help="stop after this many evaluations without a new best")
    p.add_argument(
        "--train-eval",
        type=int,
        default=3000,
        help="training names the train NLL is measured on, a fixed random sample (0: all; default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=3407, help="torch seed: weights and batches (default %(default)s)")
    p.add_argument("--layers", type=int, default=d.layers)
    p.add_argument("--heads", type=int, default=d.heads)
    p.add_argument("--embed", type=int, default=d.embed)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--json", action="store_true", help="end with one line of JSON")
    args = p.parse_args()
    if torch is None:
        print("PyTorch is not installed: the transformer baseline is skipped (pip install torch to run it)")
        return
    torch.set_num_threads(args.threads)
    cfg = Config(
        layers=args.layers,
        heads=args.heads,
        embed=args.embed,
        dropout=args.dropout,
        lr=args.lr,
        weight_decay=args.weight_decay,
        batch=args.batch,
    )
    budget = parse_duration(args.time_budget) if args.time_budget else None
    result = train(args.task, cfg, args.steps, budget, args.eval_every, args.patience, args.seed, args.train_eval)
    result.update(cpu=cpu(), torch=torch.__version__, threads=torch.get_num_threads())
    last = result["last"]
    print(
        f"best val {result['best_val_nll']:.4f} at step {result['best_step']} ({result['best_seconds']:.0f}s); "
        f"last val {last['val_nll']:.4f}, train {last['train_nll']:.4f} at step {last['step']} "
        f"({result['seconds']:.0f}s); {result['steps_per_second']:.1f} steps/s of training\n"
        f"{result['cpu']}; torch {result['torch']}, {result['threads']} thread(s)",
        flush=True,
    )
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()

"""charrnn.carry: training and evaluation with the hidden state carried or reset."""

import numpy as np
import pytest

import charrnn
from charrnn import _core, carry
from charrnn.data import make_batch

TEXT = "Анна Иван Ольга Пётр Мария Олег Нина Игорь " * 20
VOCAB = charrnn.text_vocab(TEXT)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_carried_evaluation_is_what_evaluate_text_computes(cell):
    model = charrnn.CharRNN(VOCAB, cell=cell, hidden=16, layers=2, embed=8, seed=1)
    batches = charrnn.TextBatches(TEXT, VOCAB, batch_size=4, seq_len=13, whole=True)
    ours = carry.evaluate(model, batches, carry=True)
    assert ours == pytest.approx(charrnn.evaluate_text(model, TEXT, batch_size=4, seq_len=13)["nll"], rel=1e-12)


def test_carrying_equals_one_long_pass_and_resetting_does_not():
    model = charrnn.CharRNN(VOCAB, cell="lstm", hidden=16, layers=1, embed=8, seed=2)
    short = charrnn.TextBatches(TEXT, VOCAB, batch_size=2, seq_len=10)
    long = charrnn.TextBatches(TEXT, VOCAB, batch_size=2, seq_len=10 * len(short))
    carry.train(model, lambda e: short, epochs=3, carry=True, lr=1e-2)  # so that context matters
    whole = carry.evaluate(model, long, carry=False)  # one batch: nothing to carry
    assert carry.evaluate(model, short, carry=True) == pytest.approx(whole, rel=1e-5)
    assert carry.evaluate(model, short, carry=False) > whole + 1e-3  # context lost at every cut


def test_reset_training_sees_zero_states_and_carried_training_the_previous_final_state():
    model = charrnn.CharRNN(VOCAB, cell="gru", hidden=8, layers=1, embed=4, seed=3)
    batches = list(charrnn.TextBatches(TEXT, VOCAB, batch_size=2, seq_len=7))[:3]
    start = {k: v.copy() for k, v in model.params.items()}

    def first_step_losses(carry_state):
        model.set_params(start)
        return carry.train(model, lambda e: batches, epochs=1, carry=carry_state, lr=0.0)

    reset = first_step_losses(False)
    carried = first_step_losses(True)
    params = model.params_list()
    expect_reset = [_core.forward_backward("gru", params, b.ids, b.targets, b.lengths)[0] / b.n_chars for b in batches]
    assert reset == pytest.approx(expect_reset, rel=1e-6)
    h = None
    expect_carried = []
    for b in batches:
        loss, _, _, h, _ = _core.forward_backward("gru", params, b.ids, b.targets, b.lengths, h0=h)
        expect_carried.append(loss / b.n_chars)
    assert carried == pytest.approx(expect_carried, rel=1e-6)
    assert carried[0] == reset[0] and carried[1] != pytest.approx(reset[1])


def test_training_lowers_the_loss_and_a_batch_of_another_size_starts_from_zeros():
    names = ["Анна", "Иван", "Ольга", "Пётр", "Мария"]
    vocab = charrnn.Vocab.from_items(names)
    model = charrnn.CharRNN(vocab, cell="lstm", hidden=16, layers=1, embed=8)
    encoded = [vocab.encode(n) for n in names]
    batches = [make_batch(encoded[:2]), make_batch(encoded[2:])]  # sizes 2 and 3
    before = carry.evaluate(model, batches, carry=True)
    assert before == pytest.approx(carry.evaluate(model, batches, carry=False), rel=1e-12)
    losses = carry.train(model, lambda e: batches, epochs=40, carry=False, lr=1e-2)
    assert len(losses) == 80 and np.isfinite(losses).all()
    assert carry.evaluate(model, batches, carry=False) < 0.5 * before
    assert len(carry.train(model, lambda e: batches, epochs=40, carry=False, max_steps=5)) == 5

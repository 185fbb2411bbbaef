"""The optimisation loop: NaN guard, Ctrl-C, stop, callbacks, schedules, seeds."""
from __future__ import annotations

import math
import threading

import pytest
import torch

from clipedit.optim import NonFiniteLossError, make_schedule, optimize, seed_everything


def quadratic(target=3.0):
    x = torch.zeros(4, requires_grad=True)
    return x, (lambda step: ((x - target) ** 2).sum())


def test_minimises_and_records_history():
    x, closure = quadratic()
    res = optimize([x], closure, 200, lr=0.1, progress=False)
    assert torch.allclose(x, torch.full((4,), 3.0), atol=1e-2)
    assert res.steps_run == 200 and len(res.history) == 200 and res.stopped == "done"
    assert res.series("loss")[0] == pytest.approx(36.0) and res.best_loss < 1e-3


def test_nan_guard_restores_last_good_parameters():
    x = torch.zeros(3, requires_grad=True)
    seen = []

    def closure(step):
        seen.append(x.detach().clone())
        loss = ((x - 1) ** 2).sum()
        return loss * math.nan if step == 5 else loss

    with pytest.raises(NonFiniteLossError, match="step 5") as err:
        optimize([x], closure, 20, lr=0.1, progress=False)
    assert err.value.result.steps_run == 5 and err.value.result.stopped == "nonfinite"
    assert torch.equal(x.detach(), seen[4])  # the values of the last finite step


def test_nonfinite_gradient_is_caught():
    x = torch.ones(2, requires_grad=True)

    def closure(step):
        return torch.sqrt(x * (step < 3)).sum()  # d/dx sqrt(0) = inf at step 3

    with pytest.raises(NonFiniteLossError, match="gradient"):
        optimize([x], closure, 10, lr=0.01, progress=False)
    assert torch.isfinite(x).all()


def test_keyboard_interrupt_keeps_best():
    x = torch.zeros(1, requires_grad=True)
    values = []

    def closure(step):
        if step == 30:
            raise KeyboardInterrupt
        values.append(float(x.detach()))
        # The loss is lowest near step 10, then the optimiser is pushed away by a moving target.
        target = 1.0 if step < 10 else -5.0
        return ((x - target) ** 2).sum() + (0 if step < 10 else 100.0)

    res = optimize([x], closure, 100, lr=0.2, progress=False)
    assert res.stopped == "interrupt" and res.steps_run == 30
    assert float(x.detach()) == pytest.approx(values[res.best_step])


def test_callback_every_k_and_stop():
    x, closure = quadratic()
    calls = []
    res = optimize([x], closure, 25, lr=0.1, progress=False, render=lambda: x.view(1, 1, 2, 2).repeat(1, 3, 1, 1),
                   callback=lambda s, img, logs: calls.append((s, img.shape, logs["loss"])), callback_every=10,
                   keep_snapshots=True)
    assert [c[0] for c in calls] == [10, 20, 25] and calls[0][1] == (1, 3, 2, 2)
    assert [s for s, _ in res.snapshots] == [0, 10, 20, 25]  # the start too: an animation's first frame
    x, closure = quadratic()
    res = optimize([x], closure, 100, lr=0.1, progress=False, callback=lambda s, i, l: s < 20, callback_every=5)
    assert res.stopped == "stop" and res.steps_run == 20
    ev = threading.Event()
    x, closure = quadratic()

    def c(step):
        if step == 7:
            ev.set()
        return closure(step)

    res = optimize([x], c, 100, lr=0.1, progress=False, stop=ev)
    assert res.stopped == "stop" and res.steps_run == 8


def test_schedules_and_param_groups():
    assert make_schedule("cosine", 100)(0) == 1.0 and make_schedule("cosine", 100)(50) == pytest.approx(0.5)
    step = make_schedule("step", 100)
    assert (step(49), step(50), step(74), step(75), step(99)) == (1.0, 0.4, 0.4, 0.1, 0.1)
    wc = make_schedule("warmup_cosine", 100)
    assert wc(0) == 0 and wc(50) == 1.0 and wc(99) < 0.01
    a = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    optimize([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.01}],
             lambda s: ((a - 5) ** 2 + (b - 5) ** 2).sum(), 1, progress=False)
    assert float(a) == pytest.approx(1.0) and float(b) == pytest.approx(0.01)  # Adam's first step = lr
    with pytest.raises(ValueError):
        make_schedule("zigzag", 10)
    with pytest.raises(ValueError):
        optimize([a], lambda s: a.sum(), -1)


def test_seed_everything_is_reproducible():
    seed_everything(3)
    a = torch.rand(3)
    seed_everything(3)
    assert torch.equal(a, torch.rand(3))

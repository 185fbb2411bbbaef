"""The one training loop: every network clipedit trains runs on :func:`train_loop`: the mapper, NADA and StyleDrop
in the library, and the lab's trainers of the bundled models (``lab/training``: the offline guide, the demo
StyleGAN2s, the masked generator, the adjustable style network).

It is built on Hugging Face ``accelerate``: one process on a laptop, and the same script under
``accelerate launch --num_processes 8 -m lab.training.<trainer> ...`` on several GPUs or nodes (the
``Accelerator`` wraps models and optimisers for data parallelism, and ``backward``/``save_state`` do the right
thing in every process; a step function must call the prepared modules, ``state.modules[name](...)``, for their
gradients to be synchronised — the adjustable-style trainer does; the two small shapes-world trainers call
sub-networks directly and refuse to run in more than one process). What the loop adds is the bookkeeping every one-off run needs:

* a **seed** (``accelerate.utils.set_seed``: Python, NumPy and torch);
* a **time budget** and/or a **step budget**, both counted over all resumes;
* a **checkpoint** every ``checkpoint_every`` steps, at the end and on Ctrl-C/SIGTERM: ``save_state`` writes the
  models, optimisers, RNG states and the loop's own state (step, elapsed time, log, data generators) to
  ``state_dir``; a new run with the same ``state_dir`` **resumes** where it stopped (``resume=True``);
* a **progress bar** (:func:`clipedit.progress.progress_bar`) with the latest logged numbers;
* an ``on_checkpoint`` hook to write the compact weights file that gets bundled.

A step function does one optimisation step and returns numbers to log; it calls ``state.backward(loss)``
(``accelerator.backward``) instead of ``loss.backward()``:

>>> import torch
>>> net = torch.nn.Linear(2, 1)
>>> opt = torch.optim.SGD(net.parameters(), lr=0.1)
>>> def step(state):
...     x = torch.randn(8, 2, generator=state.generators["data"])
...     loss = (state.modules["net"](x) - x.sum(1, keepdim=True)).pow(2).mean()
...     opt.zero_grad(); state.backward(loss); opt.step()
...     return {"loss": loss.item()}
>>> st = train_loop(step, {"net": net}, {"opt": opt}, LoopConfig(steps=30, seed=0, log_every=10, progress=False),
...                 generators={"data": torch.Generator()})
>>> st.step, st.log[-1]["loss"] < st.log[0]["loss"]
(30, True)
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from clipedit.interrupt import sigterm_as_interrupt
from clipedit.progress import progress_bar


@dataclass
class LoopConfig:
    """How long, how reproducibly and where a run keeps its state.

    Attributes:
        steps: stop after this many optimisation steps in all (``None``: no step limit).
        minutes: stop after this much wall-clock time in all, over every resume (``None``: no time limit).
        seed: seeds Python, NumPy and torch (and the data generators passed to :func:`train_loop`).
        state_dir: folder for the full training state (``accelerate`` ``save_state``); ``None`` keeps none.
        resume: continue from ``state_dir`` when it holds a state.
        checkpoint_every: steps between checkpoints (state and ``on_checkpoint``).
        log_every: steps between log rows (each row also goes to the progress bar).
        progress: draw a bar (``None``: when a terminal or notebook watches, else print the log rows; ``False``:
            neither).
        cpu: force the CPU even when an accelerator is present.
    """

    steps: int | None = None
    minutes: float | None = None
    seed: int = 0
    state_dir: Path | None = None
    resume: bool = True
    checkpoint_every: int = 200
    log_every: int = 50
    progress: bool | None = None
    cpu: bool = False

    def __post_init__(self) -> None:
        if self.steps is None and self.minutes is None:
            raise ValueError("give a step budget (steps) or a time budget (minutes), or both")
        if self.steps is not None and self.steps < 0:
            raise ValueError(f"steps must be >= 0, got {self.steps}")
        if self.minutes is not None and not self.minutes >= 0:
            raise ValueError(f"minutes must be >= 0, got {self.minutes}")
        if self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError("checkpoint_every and log_every must be >= 1")


@dataclass
class TrainState:
    """What a step function sees, and what :func:`train_loop` returns.

    ``modules``/``optimizers`` are the prepared objects (the same ones on one CPU process); ``generators`` the data
    generators, saved and restored with the state; ``log`` the rows logged so far (each with ``step`` and
    ``minutes``); ``stopped``: ``"steps"``, ``"time"``, ``"interrupt"`` or ``"terminated"``.
    """

    accelerator: Any
    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    generators: dict[str, torch.Generator | random.Random]
    step: int = 0
    seconds: float = 0.0
    log: list[dict[str, float]] = field(default_factory=list)
    stopped: str = ""

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()`` through the accelerator (gradient sync across processes, mixed precision)."""
        self.accelerator.backward(loss)

    def unwrap(self, name: str) -> nn.Module:
        """The bare module (without the data-parallel wrapper), e.g. to save its weights."""
        return self.accelerator.unwrap_model(self.modules[name])

    # accelerate's register_for_checkpointing: the loop's own state travels with save_state/load_state.
    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "seconds": self.seconds, "log": list(self.log),
                "generators": {k: _get_state(g) for k, g in self.generators.items()}}

    def load_state_dict(self, sd: Mapping[str, Any]) -> None:
        self.step, self.seconds, self.log = int(sd["step"]), float(sd["seconds"]), list(sd["log"])
        for k, s in sd["generators"].items():
            if k in self.generators:
                _set_state(self.generators[k], s)


def _get_state(g: torch.Generator | random.Random) -> Any:
    return g.get_state() if isinstance(g, torch.Generator) else g.getstate()


def _set_state(g: torch.Generator | random.Random, s: Any) -> None:
    if isinstance(g, torch.Generator):
        g.set_state(s)
    else:
        g.setstate(tuple(v if not isinstance(v, list) else tuple(v) for v in s))


def _has_state(state_dir: Path | None) -> bool:
    # accelerate writes registered objects as custom_checkpoint_<i>.pkl; the loop state is the only one.
    return state_dir is not None and (Path(state_dir) / "custom_checkpoint_0.pkl").is_file()


def train_loop(step_fn: Callable[[TrainState], Mapping[str, float]], modules: Mapping[str, nn.Module],
               optimizers: Mapping[str, torch.optim.Optimizer], config: LoopConfig,
               generators: Mapping[str, torch.Generator | random.Random] | None = None,
               on_checkpoint: Callable[[TrainState], None] | None = None, desc: str = "train",
               extra_state: Mapping[str, Any] | None = None) -> TrainState:
    """Run ``step_fn`` until the step or time budget is spent; checkpoint, resume and log on the way.

    Args:
        step_fn: one optimisation step; returns numbers to log (floats).
        modules, optimizers: named, prepared by ``accelerate`` (moved to its device, wrapped for DDP).
        config: budgets, seed, state folder (:class:`LoopConfig`).
        generators: named ``torch.Generator`` s (or ``random.Random`` s) the step function draws data from;
            seeded from ``config.seed`` (``seed + 1 + i``) and restored on resume.
        on_checkpoint: called at each checkpoint (main process only), e.g. to write the bundled weights.
        extra_state: more objects with ``state_dict``/``load_state_dict`` saved and restored with the state (e.g.
            an EMA copy of a model), left where they are (not prepared).
    Returns:
        the final :class:`TrainState`.
    """
    try:
        from accelerate import Accelerator
        from accelerate.utils import set_seed
    except ImportError:
        raise ImportError("training needs Hugging Face accelerate: pip install 'clipedit[train]'") from None

    accelerator = Accelerator(cpu=config.cpu)
    set_seed(config.seed)
    gens = dict(generators or {})
    for i, g in enumerate(gens.values()):
        (g.manual_seed if isinstance(g, torch.Generator) else g.seed)(config.seed + 1 + i)
    names_m, names_o = list(modules), list(optimizers)
    prepared = accelerator.prepare(*modules.values(), *optimizers.values())
    if len(names_m) + len(names_o) == 1:
        prepared = (prepared,)
    state = TrainState(accelerator, dict(zip(names_m, prepared[:len(names_m)])),
                       dict(zip(names_o, prepared[len(names_m):])), gens)
    accelerator.register_for_checkpointing(state, *(extra_state or {}).values())
    if config.resume and _has_state(config.state_dir):
        accelerator.load_state(str(config.state_dir))
        accelerator.print(f"resumed from {config.state_dir} at step {state.step} ({state.seconds / 60:.1f} min)")

    def checkpoint() -> None:
        if config.state_dir is not None:
            accelerator.save_state(str(config.state_dir))
        if on_checkpoint is not None and accelerator.is_main_process:
            on_checkpoint(state)

    def budget_left() -> bool:
        if config.steps is not None and state.step >= config.steps:
            state.stopped = "steps"
            return False
        if config.minutes is not None and state.seconds >= config.minutes * 60:
            state.stopped = "time"
            return False
        return True

    bar = progress_bar(iter(int, 1), desc=desc, progress=config.progress, total=config.steps)
    bar.update(state.step)
    t_last = time.perf_counter()
    try:
        with sigterm_as_interrupt():
            while budget_left():
                numbers = step_fn(state)
                now = time.perf_counter()
                state.seconds += now - t_last
                t_last = now
                state.step += 1
                bar.update(1)
                if state.step % config.log_every == 0 or not budget_left():
                    row = {"step": state.step, "minutes": round(state.seconds / 60, 3),
                           **{k: float(v) for k, v in numbers.items()}}
                    state.log.append(row)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in numbers.items()}, refresh=False)
                    if config.progress is None and not progress_enabled_for(bar):  # a log file: rows, not a bar
                        accelerator.print(row, flush=True)
                if state.stopped or state.step % config.checkpoint_every == 0:
                    checkpoint()
                    t_last = time.perf_counter()  # time spent saving is not training time
    except KeyboardInterrupt as stop:
        from clipedit.interrupt import Terminated

        state.stopped = "terminated" if isinstance(stop, Terminated) else "interrupt"
        checkpoint()
        accelerator.print(f"stopped at step {state.step}; state saved" + (f" to {config.state_dir}" if config.state_dir else ""))
    finally:
        bar.close()
    return state


def progress_enabled_for(bar: Any) -> bool:
    """Whether ``bar`` draws (a disabled tqdm prints nothing, so the loop prints log rows itself)."""
    return not getattr(bar, "disable", True)


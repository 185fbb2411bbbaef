"""Notebook widgets shared by every clipedit notebook.

:class:`PromptPanel` is a prompt form (text, negative text, weights, model,
steps, seed, plus any extra widgets a method needs), Run/Stop buttons, a live
preview fed by the optimisation callback, a status line and a download link
for the result. The method itself is a function the notebook passes in::

    def run(values, callback, stop):
        return guide_image(values["prompt"], negatives=values["negative"] or None,
                           model=values["model"], steps=values["steps"], seed=values["seed"],
                           callback=callback, stop=stop, progress=False).image

    panel = PromptPanel(run)
    panel            # shows the form; Run starts a background thread, Stop ends it
    panel.run()      # or run synchronously (scripts, tests, headless notebook runs)
"""
from __future__ import annotations

import base64
import io
import threading
from typing import Any, Callable, Mapping, Sequence

try:
    import ipywidgets as W
except ImportError:  # the notebooks extra
    raise ImportError("clipedit.widgets needs the notebooks extra: pip install 'clipedit[notebooks]'") from None
import torch

from clipedit.imageio import to_pil

RunFn = Callable[[dict, Callable, threading.Event], torch.Tensor]


def png_bytes(image: torch.Tensor, size: int | None = None) -> bytes:
    """PNG encoding of the first image of ``(B, 3, H, W)`` in ``[0, 1]``; upscaled (nearest) to ``size``."""
    pil = to_pil(image)
    if size and max(pil.size) < size:
        scale = size / max(pil.size)
        pil = pil.resize((round(pil.width * scale), round(pil.height * scale)), resample=0)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def download_link(data: torch.Tensor | str | bytes, filename: str = "clipedit.png") -> str:
    """HTML ``<a download>`` link holding the data as a data URI (works without a server): an image tensor
    (PNG), SVG text, or raw bytes (type from the file name)."""
    if isinstance(data, torch.Tensor):
        raw, mime = png_bytes(data), "image/png"
    else:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        mime = {"svg": "image/svg+xml", "json": "application/json", "png": "image/png"}.get(
            filename.rsplit(".", 1)[-1].lower(), "application/octet-stream")
    b64 = base64.b64encode(raw).decode()
    return (f'<a download="{filename}" href="data:{mime};base64,{b64}" '
            f'style="font-weight:bold">⬇ Download {filename}</a>')


def image_strip(images: Sequence[torch.Tensor], labels: Sequence[str] = (), size: int = 128) -> W.HBox:
    """A row of images with captions (e.g. snapshots over an optimisation)."""
    boxes = []
    for i, img in enumerate(images):
        label = labels[i] if i < len(labels) else ""
        boxes.append(W.VBox([W.Image(value=png_bytes(img, size), format="png", width=size, height=size),
                             W.Label(label)]))
    return W.HBox(boxes)


class PromptPanel:
    """Prompt form + Run/Stop + live preview + download, around a method's run function.

    Args:
        run_fn: ``run_fn(values, callback, stop) -> image`` or ``(image, {filename: data})`` to offer more
            downloads (e.g. an SVG); ``values`` is :meth:`values`, ``callback``
            is :meth:`callback` (pass it to :func:`clipedit.optim.optimize`), ``stop`` a
            :class:`threading.Event` set by the Stop button.
        prompt, negative: initial texts. models: model choices. steps, seed: initial values.
        extra: additional named widgets shown in the form; their ``.value`` appears in ``values``.
        preview_size: preview side in pixels.
    """

    def __init__(self, run_fn: RunFn, *, prompt: str = "a red circle", negative: str = "",
                 models: Sequence[str] = ("auto", "clipedit/shapes", "ViT-B/32", "ViT-B/16", "RN50"),
                 steps: int = 100, max_steps: int = 2000, seed: int = 0,
                 extra: Mapping[str, W.ValueWidget] | None = None, preview_size: int = 256,
                 filename: str = "clipedit.png") -> None:
        self.run_fn, self.preview_size, self.filename = run_fn, preview_size, filename
        self.prompt = W.Text(value=prompt, description="Prompt", layout=W.Layout(width="95%"))
        self.weight = W.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.1, description="Weight")
        self.negative = W.Text(value=negative, description="Negative", placeholder="optional",
                               layout=W.Layout(width="95%"))
        self.negative_weight = W.FloatSlider(value=0.3, min=0.0, max=2.0, step=0.05, description="Neg. weight")
        self.model = W.Dropdown(options=list(models), value=list(models)[0], description="Model")
        self.steps = W.IntSlider(value=steps, min=1, max=max_steps, description="Steps")
        self.seed = W.IntText(value=seed, description="Seed")
        self.extra = dict(extra or {})
        self.run_button = W.Button(description="Run", button_style="success", icon="play")
        self.stop_button = W.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.preview = W.Image(format="png", width=preview_size, height=preview_size)
        self.status = W.HTML(value="ready")
        self.download = W.HTML(value="")
        self.result: torch.Tensor | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.run_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self._stop.set())
        form = [self.prompt, self.weight, self.negative, self.negative_weight, self.model, self.steps, self.seed,
                *self.extra.values()]
        self.widget = W.VBox([W.HBox([W.VBox(form, layout=W.Layout(width="55%")),
                                      W.VBox([self.preview, self.status, self.download])]),
                              W.HBox([self.run_button, self.stop_button])])

    def _ipython_display_(self) -> None:  # pragma: no cover - display hook
        from IPython.display import display

        display(self.widget)

    def values(self) -> dict[str, Any]:
        """The form's current values (``negative`` is ``""`` when empty)."""
        v = {"prompt": self.prompt.value, "weight": self.weight.value, "negative": self.negative.value.strip(),
             "negative_weight": self.negative_weight.value, "model": self.model.value,
             "steps": int(self.steps.value), "seed": int(self.seed.value)}
        v.update({k: w.value for k, w in self.extra.items()})
        return v

    def show(self, image: torch.Tensor) -> None:
        """Put ``image`` in the preview."""
        self.preview.value = png_bytes(image, self.preview_size)

    def callback(self, step: int, image: torch.Tensor | None, logs: Mapping[str, float]) -> bool:
        """Optimisation callback: updates preview and status; returns False once Stop was pressed."""
        if image is not None:
            self.show(image)
        loss = logs.get("loss")
        self.status.value = f"step {step}" + (f" · loss {loss:.4f}" if loss is not None else "")
        return not self._stop.is_set()

    def run(self) -> torch.Tensor | None:
        """Run the method synchronously with the current values; returns (and keeps) the image."""
        self._stop.clear()
        self.error = None
        self.run_button.disabled, self.stop_button.disabled = True, False
        self.status.value = "running…"
        try:
            out = self.run_fn(self.values(), self.callback, self._stop)
            image, files = out if isinstance(out, tuple) else (out, {})
            self.result = image.detach().cpu()
            self.show(self.result)
            self.download.value = "<br>".join([download_link(self.result, self.filename),
                                               *(download_link(d, name) for name, d in files.items())])
            self.status.value = ("stopped" if self._stop.is_set() else "done") + f" · {self.status.value}"
        except Exception as err:  # shown in the panel; a notebook thread has nowhere else to report
            self.error = err
            self.status.value = f"<span style='color:#b00'>error: {err}</span>"
            if self._thread is None or threading.current_thread() is not self._thread:
                raise
        finally:
            self.run_button.disabled, self.stop_button.disabled = False, True
        return self.result

    def start(self) -> None:
        """Run in a background thread so the Stop button stays responsive."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> torch.Tensor | None:
        """Wait for a background run started with :meth:`start`."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.result


class LivePanel:
    """Sliders that re-render an image on every change: for methods whose rendering is one forward pass
    (adjustable style transfer, style blending), so the picture follows the slider as it moves.

    ``render(values) -> (1, 3, H, W)`` in [0, 1] gets ``{name: slider value}``. ``panel.set(name=value, …)``
    changes sliders from code (scripts, tests, headless notebook runs) and re-renders once; ``panel.last_ms`` is
    the last render time, also shown under the image.
    """

    def __init__(self, render: Callable[[dict], torch.Tensor], sliders: Mapping[str, W.Widget],
                 size: int = 384, filename: str = "clipedit.png") -> None:
        import time

        self._time = time.perf_counter
        self.render_fn, self.sliders, self.size, self.filename = render, dict(sliders), size, filename
        self.image = W.Image(format="png")
        self.status = W.HTML()
        self.last_ms = float("nan")
        self.result: torch.Tensor | None = None
        self._muted = False
        for s in self.sliders.values():
            s.observe(self._changed, names="value")
        self.widget = W.HBox([W.VBox(list(self.sliders.values())), W.VBox([self.image, self.status])])
        self.update()

    def values(self) -> dict[str, Any]:
        return {k: s.value for k, s in self.sliders.items()}

    def update(self) -> torch.Tensor:
        t0 = self._time()
        out = self.render_fn(self.values())
        self.last_ms = (self._time() - t0) * 1000
        self.result = out.detach().cpu()
        self.image.value = png_bytes(self.result)
        h, w = self.result.shape[-2:]
        self.status.value = (f"{w}x{h} rendered in {self.last_ms:.0f} ms &nbsp; "
                             + download_link(self.result, self.filename))
        return self.result

    def set(self, **values: Any) -> torch.Tensor:
        self._muted = True
        try:
            for k, v in values.items():
                self.sliders[k].value = v
        finally:
            self._muted = False
        return self.update()

    def _changed(self, _change: Any) -> None:
        if not self._muted:
            self.update()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

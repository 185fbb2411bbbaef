"""The shared notebook panel, driven programmatically (as nbmake and scripts do)."""
from __future__ import annotations

import pytest
import torch

from clipedit.text_to_image import guide_image
from clipedit.widgets import PromptPanel, image_strip, png_bytes


def run_guide(values, callback, stop):
    return guide_image((values["prompt"], values["weight"]),
                       negatives=[(values["negative"], values["negative_weight"])] if values["negative"] else None,
                       model=values["model"], steps=values["steps"], seed=values["seed"], size=64,
                       callback=callback, callback_every=2, stop=stop, progress=False).image


def test_panel_runs_and_offers_download():
    panel = PromptPanel(run_guide, models=["clipedit/shapes"], steps=4)
    image = panel.run()
    assert image.shape == (1, 3, 64, 64)
    assert panel.preview.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "data:image/png;base64," in panel.download.value and "done" in panel.status.value
    assert panel.values()["model"] == "clipedit/shapes" and panel.values()["negative"] == ""


def test_stop_button_stops_a_background_run():
    seen = []

    def slow(values, callback, stop):
        def cb(step, img, logs):
            seen.append(step)
            if step == 4:
                panel.stop_button.click()
            return callback(step, img, logs)
        return guide_image(values["prompt"], model="clipedit/shapes", steps=200, size=64, callback=cb,
                           callback_every=2, stop=stop, progress=False).image

    panel = PromptPanel(slow, models=["clipedit/shapes"])
    panel.run_button.click()  # background thread, like a user's click
    panel.wait(120)
    assert max(seen) <= 6 and "stopped" in panel.status.value and panel.result is not None


def test_errors_show_in_the_panel():
    panel = PromptPanel(run_guide, prompt="", models=["clipedit/shapes"])
    panel.run_button.click()
    panel.wait(60)
    assert "error" in panel.status.value and isinstance(panel.error, ValueError)


def test_helpers():
    img = torch.rand(1, 3, 16, 16)
    assert png_bytes(img, 64)[:4] == b"\x89PNG"
    assert len(image_strip([img, img], ["a", "b"]).children) == 2


def test_panel_offers_extra_downloads_such_as_svg():
    import base64

    from clipedit.draw import clipdraw

    def run_draw(values, callback, stop):
        res = clipdraw(values["prompt"], model=values["model"], steps=values["steps"], num_paths=4, canvas=32,
                       callback=callback, callback_every=1, stop=stop, progress=False)
        return res.image, {"drawing.svg": res.svg()}

    panel = PromptPanel(run_draw, models=["clipedit/shapes"], steps=2, filename="drawing.png")
    panel.run()
    html = panel.download.value
    assert 'download="drawing.png"' in html and 'download="drawing.svg"' in html
    b64 = html.split("data:image/svg+xml;base64,")[1].split('"')[0]
    assert base64.b64decode(b64).decode().count("<path") == 4


def test_live_panel_rerenders_on_every_slider_change():
    import ipywidgets as W

    from clipedit.widgets import LivePanel

    calls = []

    def render(v):
        calls.append(dict(v))
        return torch.full((1, 3, 8, 8), v["level"])

    panel = LivePanel(render, {"level": W.FloatSlider(value=0.2, min=0, max=1), "other": W.IntSlider(value=1)})
    assert len(calls) == 1 and panel.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    panel.sliders["level"].value = 0.7  # a drag in Jupyter: the observer re-renders
    assert len(calls) == 2 and float(panel.result.mean()) == pytest.approx(0.7)
    out = panel.set(level=0.1, other=3)  # several sliders from code: one render
    assert len(calls) == 3 and calls[-1] == {"level": 0.1, "other": 3} and float(out.mean()) == pytest.approx(0.1)
    assert "rendered in" in panel.status.value and "data:image/png;base64," in panel.status.value

"""Natural photographs for training and evaluating image-to-image networks: the content photos of the data folder
(``images/content`` in ``$CLIPEDIT_DATA_DIR``) and the sample images that ship with scikit-image, split into a
training set and a held-out set, and random crops of them.

>>> import torch
>>> photos = [torch.rand(3, 80, 100), torch.rand(3, 120, 90)]
>>> random_crops(photos, 4, 64, torch.Generator().manual_seed(0)).shape
torch.Size([4, 3, 64, 64])
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from clipedit.data.paths import find_data

#: Photos never seen in training (evaluation, docs/style.md tables): three of the data folder's, one of scikit-image's.
HELD_OUT_PHOTOS = ("tubingen", "golden_gate", "sailboat", "astronaut")
DATA_FOLDER_PHOTOS = ("amber", "chicago", "hoover_tower_night", "tubingen", "golden_gate", "sailboat")
#: scikit-image samples that load without a download (grey ones become RGB).
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
                  "camera", "coins", "grass", "gravel", "brick", "moon", "clock")


def load_photo(name: str, short_side: int | None = 256) -> torch.Tensor:
    """One photo by name (data folder first, then scikit-image) as ``(3, H, W)`` float32 in [0, 1], CPU, resized so
    its shorter side is ``short_side``.

    Raises:
        FileNotFoundError: a data-folder photo when no data folder holds it.
    """
    from clipedit.imageio import load_image

    if name in DATA_FOLDER_PHOTOS:
        path = find_data(f"images/content/{name}.jpg")
        if path is None:
            raise FileNotFoundError(f"images/content/{name}.jpg not found: set CLIPEDIT_DATA_DIR to the folder holding images/")
        return load_image(path, short_side)[0]
    if name not in SKIMAGE_PHOTOS:
        raise ValueError(f"unknown photo {name!r}; choose from {DATA_FOLDER_PHOTOS + SKIMAGE_PHOTOS}")
    import skimage.data

    return load_image(getattr(skimage.data, name)(), short_side)[0]


def photo_names(split: str = "train") -> list[str]:
    """``"train"``: every known photo not held out; ``"held_out"``: :data:`HELD_OUT_PHOTOS`; data-folder photos only
    when a data folder holds them."""
    if split not in ("train", "held_out"):
        raise ValueError(f"split must be 'train' or 'held_out', got {split!r}")
    names = [n for n in DATA_FOLDER_PHOTOS if find_data(f"images/content/{n}.jpg") is not None] + list(SKIMAGE_PHOTOS)
    return [n for n in names if (n in HELD_OUT_PHOTOS) == (split == "held_out")]


def random_crops(photos: Sequence[torch.Tensor], n: int, size: int, generator: torch.Generator,
                 scales: tuple[float, float] = (0.5, 1.0)) -> torch.Tensor:
    """``n`` random square crops ``(n, 3, size, size)``: a random photo, a random crop side (a fraction in ``scales``
    of its shorter side, at least ``size`` pixels when possible), resized to ``size``, flipped half the time."""
    out = []
    for _ in range(n):
        img = photos[int(torch.randint(len(photos), (1,), generator=generator))]
        h, w = img.shape[-2:]
        u = float(torch.rand((), generator=generator))
        side = int(round(min(h, w) * (scales[0] + u * (scales[1] - scales[0]))))
        side = max(min(side, h, w), min(size, h, w))
        y = int(torch.randint(h - side + 1, (1,), generator=generator))
        x = int(torch.randint(w - side + 1, (1,), generator=generator))
        crop = img[:, y:y + side, x:x + side][None]
        crop = F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False, antialias=side > size)
        if float(torch.rand((), generator=generator)) < 0.5:
            crop = crop.flip(-1)
        out.append(crop)
    return torch.cat(out).clamp(0, 1)

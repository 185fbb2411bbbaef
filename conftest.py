"""Test session set-up shared by the unit tests, the doctests (``--doctest-modules clipedit``) and the notebooks.

* Offline: nothing reaches the network unless a test says so (``CLIPEDIT_OFFLINE=1``).
* Data: ``CLIPEDIT_DATA_DIR`` points at the checkout's ``../shared`` when it is there (the installed library never
  looks for it by itself); the notebooks' kernels inherit it.
* Device: ``--device cuda`` (or ``CLIPEDIT_DEVICE=cuda``) runs the same tests on a GPU; the default is the CPU.
* Seed: ``--test-seed N`` (or ``CLIPEDIT_TEST_SEED``) seeds every test's global RNGs differently, to show that
  no test depends on one lucky draw.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("CLIPEDIT_OFFLINE", "1")
_SHARED = Path(__file__).resolve().parent.parent / "shared"
if "CLIPEDIT_DATA_DIR" not in os.environ and _SHARED.is_dir():
    os.environ["CLIPEDIT_DATA_DIR"] = str(_SHARED)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default=os.environ.get("CLIPEDIT_DEVICE") or "cpu",
                     help="device the tests run on: cpu (default), cuda, cuda:1, mps (also CLIPEDIT_DEVICE)")
    parser.addoption("--test-seed", type=int, default=int(os.environ.get("CLIPEDIT_TEST_SEED", "0")),
                     help="global seed set before every test (default 0, also CLIPEDIT_TEST_SEED)")


def pytest_configure(config: pytest.Config) -> None:
    import torch

    torch.set_num_threads(min(2, torch.get_num_threads()))
    # Library calls that pick a device themselves (device=None) follow the option too, as do notebook kernels.
    os.environ["CLIPEDIT_DEVICE"] = config.getoption("--device")


@pytest.fixture(autouse=True)
def _seed_each_test(request: pytest.FixtureRequest) -> None:
    from clipedit.optim import seed_everything

    seed_everything(request.config.getoption("--test-seed"))


@pytest.fixture
def device(request: pytest.FixtureRequest) -> str:
    """The device under test (``--device``)."""
    return request.config.getoption("--device")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Notebooks name the data they read in their metadata (``clipedit.needs_data``); where it is missing they skip
    with one line instead of failing deep inside."""
    import json

    from clipedit.data.paths import DATA_HINT, find_data

    needs: dict[Path, list[str]] = {}
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix != ".ipynb":
            continue
        if path not in needs:
            try:
                needs[path] = json.loads(path.read_text()).get("metadata", {}).get("clipedit", {}).get("needs_data", [])
            except (OSError, ValueError):
                needs[path] = []
        missing = [d for d in needs[path] if find_data(d) is None]
        if missing:
            item.add_marker(pytest.mark.skip(reason=DATA_HINT.format(what=", ".join(missing))))

"""The docs are generated where they state numbers, short where a newcomer starts, and free of lab-log labels."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lab import make_tables

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RESULTS = ROOT / "lab" / "results"
METHOD_PAGES = ["guidance", "draw", "style", "styleclip", "masked", "styledrop"]


def test_every_docs_table_equals_its_data_file():
    stale = [p.name for p in make_tables.pages() if make_tables.update(p.read_text(), p) != p.read_text()]
    assert not stale, f"tables differ from lab/results: run python -m lab.make_tables ({stale})"


def test_a_changed_number_in_a_data_file_shows_up_as_a_stale_table(tmp_path, monkeypatch):
    """The check above would catch drift: change one number in a copy of a data file and the page is stale."""
    for f in RESULTS.glob("*.json"):
        (tmp_path / f.name).write_text(f.read_text())
    doc = json.loads((tmp_path / "guided.json").read_text())
    doc["rows"][1]["both"] = 0.55
    (tmp_path / "guided.json").write_text(json.dumps(doc))
    monkeypatch.setattr(make_tables, "RESULTS", tmp_path)
    page = (DOCS / "guidance.md").read_text()
    new = make_tables.update(page, DOCS / "guidance.md")
    assert new != page and "| 55 % (40–69) |" in new


def test_every_data_file_says_where_it_came_from_and_is_shown():
    shown = "".join(p.read_text() for p in make_tables.pages())
    for f in sorted(RESULTS.glob("*.json")):
        doc = json.loads(f.read_text())
        for key in ("split", "machine", "date", "commit", "command", "rows"):
            assert doc.get(key) not in (None, ""), f"{f.name} has no {key}"
        assert doc["rows"], f.name
        assert f"<!-- results:{f.stem} -->" in shown, f"{f.name} is in no docs page"
        assert f.stem in make_tables.TABLES


def test_wilson_interval_against_known_values():
    lo, hi = make_tables.wilson(0.5, 100)
    assert abs(lo - 0.4038) < 1e-3 and abs(hi - 0.5962) < 1e-3  # the textbook value for 50 of 100
    lo, hi = make_tables.wilson(0.0, 20)
    assert lo == 0.0 and abs(hi - 0.1611) < 1e-3


def test_the_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 300
    for page in METHOD_PAGES:
        assert f"docs/{page}.md" in text, f"the method table does not link docs/{page}.md"
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    assert len(blocks) == 2, "exactly two set-up commands"
    assert "CLIPEDIT_DATA_DIR" in text and "LICENSE" in text


@pytest.mark.parametrize("page", METHOD_PAGES)
def test_each_method_page_has_what_a_user_needs(page):
    text = (DOCS / f"{page}.md").read_text()
    for heading in ("## API", "## CLI", "## What was measured", "## Known limits"):
        assert heading in text, f"docs/{page}.md lacks {heading}"
    assert "<!-- results:" in text, f"docs/{page}.md shows no generated results table"


def test_links_between_pages_resolve():
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+\.(?:md|jpg|png|json))\)", page.read_text()):
            if target.startswith("http"):
                continue
            assert (page.parent / target).resolve().exists(), f"{page.name} links to missing {target}"


def test_no_lab_log_labels_in_the_docs():
    """Numbers are not labelled by the round of work that took them."""
    pattern = re.compile(r"\b(session|this stop|previous run|fifth|fourth|earlier the same day)\b", re.I)
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        hits = [line for line in page.read_text().splitlines() if pattern.search(line)]
        assert not hits, f"{page.name}: {hits[:3]}"


def test_lab_results_carry_their_provenance_and_merge_by_key(tmp_path):
    from lab.common import write_results

    path = write_results("demo", [{"generator": "a", "x": 1}, {"generator": "b", "x": 2}], split="dev",
                         argv=["lab/eval/demo.py", "--n", "3"], folder=tmp_path)
    doc = json.loads(path.read_text())
    assert doc["split"] == "dev" and doc["command"].endswith("--n 3") and doc["machine"] and doc["commit"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", doc["date"])
    write_results("demo", [{"generator": "b", "x": 5}], split="dev", folder=tmp_path, merge_on="generator")
    rows = json.loads(path.read_text())["rows"]
    assert rows == [{"generator": "a", "x": 1}, {"generator": "b", "x": 5}]

"""The README quotes measured figures; each must be the committed report's, so a
re-measurement that moves a figure makes this fail until the README follows."""

from __future__ import annotations

import importlib.util
import shutil

from conftest import REPO

spec = importlib.util.spec_from_file_location(
    "check_readme_figures", REPO / "evals" / "check_readme_figures.py"
)
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)
README = (REPO / "README.md").read_text()
REPORTS = REPO / "evals" / "reports"


def test_readme_figures_are_the_reports():
    assert check.problems(README, REPORTS) == []


def test_a_figure_copied_wrong_is_named():
    row = "| `f32` | 1,685 | 0.6139 (+0.0%) | 0.7720 (+0.0%) |"
    assert row in README
    (problem,) = check.problems(README.replace(row, row.replace("0.7720", "0.7746")), REPORTS)
    assert problem.startswith("phases table row f32: README lacks '| `f32` | 1,685 |")


def test_a_remeasured_report_names_the_stale_readme_figures(tmp_path):
    reports = tmp_path / "reports"
    shutil.copytree(REPORTS, reports)
    bench = reports / "bench_search.md"
    old = "| English | hybrid | 0.7611 |"
    assert old in bench.read_text()
    bench.write_text(bench.read_text().replace(old, "| English | hybrid | 0.7800 |"))
    assert [p.split(":")[0] for p in check.problems(README, reports)] == ["hybrid quality"]

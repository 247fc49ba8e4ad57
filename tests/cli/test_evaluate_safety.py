"""Issue 13, ``segrap-nb evaluate``: an output inside either dataset is refused before any work.

Split from the former tests/test_safety.py (one numbered case of the issue per test).
"""

from __future__ import annotations

from segrap_nb.cli import main
from segrap_nb.io.dataset import IMAGES_DIR, ONEHOT_DIR


def test_evaluate_refuses_an_output_inside_either_dataset_before_any_work(tiny_copy, tmp_path, capsys):
    before = {f: f.read_bytes() for f in tiny_copy.rglob("*.nii.gz")}
    results = tmp_path / "results"  # beside the dataset (tmp_path itself contains it: refused too)
    for out in (tiny_copy, tiny_copy / IMAGES_DIR, tiny_copy / ONEHOT_DIR / "Task002", tmp_path, results):
        capsys.readouterr()
        code = main(
            ["evaluate", "--pred", str(tiny_copy), "--gt", str(tiny_copy), "--task", "2", "--out", str(out)]
        )
        err = capsys.readouterr().err.strip().splitlines()
        if out == results:
            assert code == 0
            assert sorted(p.name for p in results.glob("*.csv")) == [
                "official.csv",
                "per_case.csv",
                "summary.csv",
            ]
        else:
            assert code == 2
            assert len(err) == 1, err
            assert "overlaps" in err[0]
    assert not list(tiny_copy.rglob("*.csv"))
    assert {f: f.read_bytes() for f in tiny_copy.rglob("*.nii.gz")} == before

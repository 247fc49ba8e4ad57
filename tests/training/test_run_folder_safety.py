"""Issue 13, segrap_nb.training.run_folder: the metrics log reads back after a kill and a torn line.

Split from the former tests/test_safety.py (one numbered case of the issue per test).
"""

from __future__ import annotations


# == 11. training metrics after a kill, and one train per run folder ==========================
def test_metrics_after_a_kill_and_a_torn_line(synth_copy, tmp_path):
    from segrap_nb.training.loop import read_metrics, train
    from tests.factories import tiny_config

    kw = dict(cache_root=tmp_path / "cache", progress=False, device="cpu")
    cfg = tiny_config(**{"train.steps": 4, "train.val_every": 2})
    run = tmp_path / "run"
    # A run killed before its first checkpoint left reports behind: a new run starts clean.
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"kind": "train", "step": 1, "loss": 9.0}\n')
    train(cfg, synth_copy, run, stop_at=2, **kw)
    steps = [(e["kind"], e["step"]) for e in read_metrics(run)]
    assert steps == [("train", 1), ("train", 2), ("val", 2)]
    # Killed while writing a report: a torn last line, then --resume.
    with open(run / "metrics.jsonl", "a") as fh:
        fh.write('{"kind": "train", "step": 3, "lo')
    train(cfg, synth_copy, run, resume=True, **kw)
    steps = [(e["kind"], e["step"]) for e in read_metrics(run)]
    assert steps == [("train", 1), ("train", 2), ("val", 2), ("train", 3), ("train", 4), ("val", 4)]

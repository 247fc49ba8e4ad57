"""Checkpoints load with ``weights_only=True``: a crafted file is refused and never runs code."""

from __future__ import annotations

import random

import numpy as np
import torch

from segrap_nb.cli import main
from segrap_nb.training.checkpoint import load_checkpoint, rng_states, save_checkpoint, set_rng_states


class _Payload:
    """Unpickles by calling ``exec``: what a malicious ``best.pt`` does with ``weights_only=False``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def test_crafted_checkpoint_is_refused_by_predict(tiny_release, tmp_path, capsys):
    run, marker = tmp_path / "downloaded_run", tmp_path / "MARKER"
    run.mkdir()
    torch.save({"model": {}, "config": {"task": 1}, "step": 1, "rng": _Payload(marker)}, run / "best.pt")
    code = main(
        [
            "predict",
            "--run",
            str(run),
            "--data",
            str(tiny_release),
            "--out",
            str(tmp_path / "pred"),
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert not marker.exists()  # the payload never ran
    assert len(err.splitlines()) == 1
    assert "best.pt: refused" in err
    assert "calls exec" in err


def _draws() -> tuple:
    return random.random(), float(np.random.random()), float(torch.rand(1))


def test_saved_rng_state_is_plain_and_restores_every_stream(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    _draws()
    gen = torch.Generator().manual_seed(4)
    save_checkpoint(tmp_path / "last.pt", {"rng": rng_states({"augment": gen}), "step": 7})
    expected = (*_draws(), float(torch.rand(1, generator=gen)))
    # Plain torch.load with weights_only=True reads it: nothing but tensors and plain values.
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert isinstance(state["rng"]["numpy"]["state"]["key"], list)
    gen2 = torch.Generator().manual_seed(99)
    set_rng_states(load_checkpoint(tmp_path / "last.pt")["rng"], {"augment": gen2})
    assert (*_draws(), float(torch.rand(1, generator=gen2))) == expected


def test_checkpoint_with_numpy_rng_array_from_before_still_loads(tmp_path):
    np.random.seed(5)
    old = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    expected = float(np.random.random())
    torch.save({"rng": old, "step": 3}, tmp_path / "old.pt")  # the RNG key as a uint32 ndarray
    set_rng_states(load_checkpoint(tmp_path / "old.pt")["rng"])
    assert float(np.random.random()) == expected

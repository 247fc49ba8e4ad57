"""The algorithm container's entry point on a release-size case: wall time and peak memory.

One run, on one ``--size full`` phantom case (a real training case's grid, e.g. 512 x 512 x
~130 at 0.5-1 x 3 mm), with an exported run (``--run``, default a 20-step ``quick`` run trained
here on the default phantom: inference cost depends on the network and the grid, not on how
long it trained):

1. **entry point**: ``python -m process`` in the exported folder, in its own process, reading
   the two ``.mha`` CTs and writing the one 4D ``.mha`` (45 channels): wall time, peak resident
   memory (``RUSAGE_CHILDREN`` of a fresh interpreter that runs only it), output size;
2. **baseline**: ``segrap-nb predict`` on the same case (NIfTI in, one-hot map and 45 NIfTI
   masks out), the kit's own way, measured the same way. The ratios compare the two.

On a GPU machine pass ``--device cuda`` (both commands use it). The machine's other load
changes the seconds: compare the rows of one run.

    python benchmarks/bench_submission.py [--run RUN] [--device cpu|cuda] [--work DIR]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import arg_parser

# Run in a fresh interpreter, so RUSAGE_CHILDREN is the measured command alone.
_RUNNER = r"""
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.run(sys.argv[2:], cwd=sys.argv[1], capture_output=True, text=True)
seconds = time.perf_counter() - t0
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": proc.returncode, "seconds": seconds, "peak_mb": peak_kb / 1024,
                  "stdout": proc.stdout[-2000:], "stderr": proc.stderr[-2000:]}))
"""


def measure(cwd: Path, cmd: list[str]) -> dict:
    """Run ``cmd`` in ``cwd`` under a fresh interpreter; its wall time (s) and peak RSS (MB)."""
    out = subprocess.run([sys.executable, "-c", _RUNNER, str(cwd), *cmd], capture_output=True, text=True)
    result = json.loads(out.stdout)
    if result["rc"] != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result['stderr']}")
    return result


def small_run(work: Path) -> Path:
    """A 20-step quick run on the default phantom (the network of notebook 04, barely trained)."""
    from segrap_nb.training import load_config, train
    from segrap_nb.training.device import get_device

    run = work / "run20"
    if not (run / "last.pt").exists():
        cfg = load_config("quick", {"train.steps": 20, "train.val_every": 20})
        train(cfg, None, run, progress=False, device=get_device("cpu", verbose=False))
    return run


def main() -> None:
    parser = arg_parser(__doc__)
    parser.add_argument("--run", type=Path, default=None, help="run to export (default: a 20-step quick run)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    from segrap_nb.io.dataset import SegRapDataset
    from segrap_nb.phantom.writer import make_phantom
    from segrap_nb.submission.export import export_algorithm
    from segrap_nb.submission.interface import write_input_case

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_submission."))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "full"
    if not (data / "PHANTOM.txt").exists():
        make_phantom(data, cases=1, size="full", progress=False)
    case = SegRapDataset(data)[0]
    shape, spacing = case.image_header().shape, case.image_header().spacing
    run = args.run or small_run(work)
    algorithm = export_algorithm(run, work / "algorithm")
    write_input_case(case, work / "input", "bench-case")
    env_py = sys.executable
    entry = measure(
        algorithm,
        [env_py, "-m", "process", "--input", str(work / "input"), "--output", str(work / "output"),
         "--device", args.device],
    )  # fmt: skip
    out_file = work / "output" / "images" / "head-neck-segmentation" / "bench-case.mha"
    base = measure(
        work,
        [env_py, "-m", "segrap_nb", "predict", "--run", str(run), "--data", str(data), "--out",
         str(work / "pred"), "--checkpoint", "last", "--device", args.device],
    )  # fmt: skip
    print(f"case: {case.case_id}, grid {' x '.join(map(str, shape))} voxels at "
          f"{' x '.join(f'{s:.3g}' for s in spacing[:3])} mm; device {args.device}; "
          f"{os.cpu_count()} CPU cores; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")  # fmt: skip
    print(f"{'command':<48} {'wall s':>8} {'peak MB':>9}")
    print(
        f"{'python -m process (2 .mha in, one 4D .mha out)':<48} {entry['seconds']:8.1f} {entry['peak_mb']:9.0f}"
    )
    print(
        f"{'segrap-nb predict (NIfTI map + 45 masks out)':<48} {base['seconds']:8.1f} {base['peak_mb']:9.0f}"
    )
    print(f"ratio entry point / predict: time {entry['seconds'] / base['seconds']:.2f}, "
          f"peak memory {entry['peak_mb'] / base['peak_mb']:.2f}")  # fmt: skip
    print(f"4D output: {out_file.stat().st_size / 1e6:.1f} MB compressed "
          f"({45 * shape[0] * shape[1] * shape[2] / 1e6:.0f} MB as uint8 in memory)")  # fmt: skip
    print("entry point said:", entry["stdout"].strip().replace("\n", " | "))


if __name__ == "__main__":
    main()

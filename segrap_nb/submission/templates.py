"""The text files of an exported algorithm folder: entry point, Dockerfile, .dockerignore, README."""

from __future__ import annotations

from typing import Literal

from segrap_nb.submission import interface as I

#: Which torch build the image installs: the CPU-only wheels, or PyPI's default CUDA wheels.
TorchBuild = Literal["cpu", "gpu"]
TORCH_INDEX: dict[str, str] = {
    "cpu": "https://download.pytorch.org/whl/cpu",
    "gpu": "https://pypi.org/simple",
}
#: User and group id of the non-root user that runs the algorithm in the image.
UID = 1001

PROCESS_PY = f'''"""SegRap 2023 algorithm entry point, written by segrap-nb export-algorithm.

    python -m process [--input /input] [--output /output] [--device cpu|cuda]

Reads /input/images/{I.CT_DIR}/<uuid>.mha (and {I.CONTRAST_DIR}/), writes
/output/images/{I.OUTPUT_DIR}/<uuid>.mha: one 4D uint8 file, one 0/1 channel per structure.
"""

import sys
from pathlib import Path

from segrap_nb.submission.entry import main

if __name__ == "__main__":
    sys.exit(main(Path(__file__).resolve().parent, sys.argv[1:]))
'''

DOCKERIGNORE = "*\n!process.py\n!algorithm.json\n!requirements.txt\n!weights/\n!wheels/\n"


def dockerfile(python: str, torch: TorchBuild, wheel: str) -> str:
    """The image: python:<python>-slim, pinned requirements and the kit's wheel, a non-root user."""
    return f"""# SegRap 2023 algorithm image, written by segrap-nb export-algorithm.
# Build:  docker build --tag segrap-algorithm .
# torch:  this file installs the {torch.upper()} build; --build-arg TORCH_INDEX=<url> picks another
#         ({TORCH_INDEX["cpu"]} for CPU only, {TORCH_INDEX["gpu"]} for CUDA).
FROM python:{python}-slim

ARG TORCH_INDEX={TORCH_INDEX[torch]}
ENV PYTHONUNBUFFERED=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    SEGRAP_CACHE=/tmp/segrap-nb

# A non-root user; numeric ids so that every host resolves them the same way.
RUN groupadd --system --gid {UID} user \\
    && useradd --system --uid {UID} --gid {UID} --create-home --home-dir /home/user user
WORKDIR /opt/app

COPY requirements.txt /opt/app/
COPY wheels/ /opt/app/wheels/
RUN python -m pip install --no-cache-dir --extra-index-url "${{TORCH_INDEX}}" -r requirements.txt \\
    && python -m pip install --no-cache-dir --no-deps /opt/app/wheels/{wheel}

COPY --chown={UID}:{UID} weights/ /opt/app/weights/
COPY --chown={UID}:{UID} algorithm.json process.py /opt/app/

USER {UID}:{UID}
ENTRYPOINT ["python", "-m", "process"]
"""


def readme(name: str, task: int, structures: int, run: str, step: object, torch: TorchBuild) -> str:
    """The folder's README: what it is, how to run it without Docker, and the Docker commands."""
    gpus = "--gpus all " if torch == "gpu" else ""
    return f"""# SegRap 2023 algorithm: `{name}`

Written by `segrap-nb export-algorithm` from the run `{run}` (step {step}), Task 00{task}:
{structures} output channels in the official order (`algorithm.json` lists them).

| file | what |
|---|---|
| `process.py` | the entry point, `python -m process` (`--input` /input, `--output` /output by default) |
| `weights/model.pt` | the model's weights and training configuration |
| `algorithm.json` | task, inputs, channel order, the versions the run was exported with |
| `requirements.txt` | the libraries, pinned to those versions |
| `wheels/` | the segrap-nb kit as a wheel (installed with no network) |
| `Dockerfile` | the image: python slim, a non-root user, the {torch.upper()} build of torch |

Input, one case per run: `/input/images/{I.CT_DIR}/<uuid>.mha` and
`/input/images/{I.CONTRAST_DIR}/<uuid>.mha`. Output:
`/output/images/{I.OUTPUT_DIR}/<uuid>.mha`, ONE 4D uint8 file (size x, y, z, {structures};
spacing of the CT plus 1; values 0/1; compressed).

## Run it without Docker (any machine with the kit installed)

    python -m process --input INPUT_FOLDER --output OUTPUT_FOLDER

## Build, test and save the image (needs Docker)

Building and running the image needs [Docker](https://docs.docker.com/get-docker/) (and, for
`--gpus all`, the NVIDIA Container Toolkit). From this folder:

    docker build --tag {name} .
    mkdir -p test-output && chmod 777 test-output
    docker run --rm {gpus}--network none --cap-drop ALL --security-opt no-new-privileges \\
        --memory 32g --memory-swap 32g --shm-size 128m --pids-limit 256 \\
        --volume "$PWD/test-input":/input:ro --volume "$PWD/test-output":/output \\
        {name}
    docker save {name} | gzip -c > {name}.tar.gz

`test-input/` holds one case as `images/{I.CT_DIR}/<uuid>.mha` and
`images/{I.CONTRAST_DIR}/<uuid>.mha`; the run must print the device and write
`test-output/images/{I.OUTPUT_DIR}/<uuid>.mha`. The `docker run` options are the platform's
limits (no network, 128 MB of shared memory, 256 processes). Upload `{name}.tar.gz`.
"""

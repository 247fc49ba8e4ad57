"""Training configurations: small YAML files (``quick``, ``gpu`` in the package, or your own).

A config has five sections; every key has a default, so a YAML file names only what it
changes. ``load_config("quick", {"train.steps": 50})`` applies dotted overrides on top.

* ``preprocess``: target spacing (mm, in RAS world axes x=R-L, y=A-P, z=S-I), body threshold
  (HU) and the intensity clipping percentiles. A hash of this section (plus the task) names the
  preprocessed cache folder, so changing any of it never reuses a stale cache.
* ``data``: validation split, patch size (voxels, x y z), batch size, class-balanced sampling
  and augmentation probabilities, loader workers.
* ``model``: MONAI ``UNet`` widths (``features``), strides, residual units.
* ``train``: steps, AdamW learning rate and weight decay, warm-up + cosine schedule, how often
  to log / validate / checkpoint, sliding-window settings, mixed precision (float16 on CUDA;
  bfloat16 on a CPU with native bf16 when ``cpu_bf16``).
* top level: ``name``, ``task`` (1 = 45 OARs from 54 one-hot labels, 2 = GTVp + GTVnd), ``seed``.
"""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from segrap_nb.errors import DataError
from segrap_nb.io.atomic import atomic_open


@dataclass
class PreprocessConfig:
    """How cases are resampled, cropped and normalised once before training (see preprocess.py)."""

    spacing_mm: list[float] = field(default_factory=lambda: [1.0, 1.0, 3.0])  # RAS x, y, z
    body_threshold_hu: float = -500.0  # body = largest connected component of plain CT > this
    clip_percentiles: list[float] = field(default_factory=lambda: [0.5, 99.5])  # of body voxels


@dataclass
class DataConfig:
    """Split, patch sampling and augmentation."""

    val_cases: int | list[str] = 2  # an int: the last N case ids; or explicit case ids
    train_cases: list[str] | None = None  # None: every case not used for validation
    patch_size: list[int] = field(default_factory=lambda: [96, 96, 48])  # voxels, x y z (RAS)
    batch_size: int = 2
    class_ratios: list[float] | None = None  # RandCropByLabelClassesd ratios; None = uniform
    max_samples_per_class: int = 5000  # candidate centres kept per class and case
    flip_lr_prob: float = 0.5  # left-right flip, swapping every _L label with its _R twin
    intensity_prob: float = 0.5  # probability of each of: intensity scale, intensity shift
    intensity_scale: float = 0.1  # RandScaleIntensityd factors (x (1 + U(-s, s)))
    intensity_shift: float = 0.1  # RandShiftIntensityd offsets (z-score units)
    affine_prob: float = 0.0  # small random rotation/scaling in mm (on the device), off by default
    rotate_deg: float = 10.0
    scale: float = 0.1
    num_workers: int = 0  # loader threads cutting patches ahead of the step (0: in the loop)
    cache_rate: float = 1.0  # fraction of training cases kept in RAM (CacheDataset)


@dataclass
class ModelConfig:
    """A MONAI UNet: ``features`` widths per level, ``strides`` between levels (int or x,y,z)."""

    features: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    strides: list[Any] | None = None  # None: 2 between every level
    num_res_units: int = 1
    norm: str = "instance"  # instance or batch
    dropout: float = 0.0


@dataclass
class TrainLoopConfig:
    """Optimiser, schedule and the cadence of logging, validation and checkpoints."""

    steps: int = 1000
    lr: float = 1e-3
    weight_decay: float = 1e-5
    warmup_steps: int = 20
    end_lr: float = 0.0
    log_every: int = 10
    val_every: int = 100  # also the checkpoint cadence (last.pt); 0 = only at the end
    sw_roi_size: list[int] | None = None  # sliding-window size (voxels); None = data.patch_size
    sw_batch_size: int = 2
    sw_overlap: float = 0.25
    amp: bool = True  # mixed precision (float16 + gradient scaling), used only on CUDA
    cpu_bf16: bool = False  # bfloat16 autocast on a CPU with native bf16 (AVX512-BF16/AMX), else ignored
    select_group: str = "all"  # organ group whose mean validation DSC picks best.pt


@dataclass
class TrainConfig:
    """A whole training configuration (see the module docstring)."""

    name: str = "custom"
    task: int = 1
    seed: int = 0
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainLoopConfig = field(default_factory=TrainLoopConfig)

    @property
    def num_classes(self) -> int:
        """Network output channels: background + 54 one-hot labels (task 1) or + 2 GTVs (task 2)."""
        return 55 if self.task == 1 else 3

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (what the YAML and the checkpoints hold)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build from a nested dict; unknown keys raise DataError naming ``source``."""
        return _build(cls, raw or {}, source, "")

    def validate(self, source: str = "config") -> TrainConfig:
        """Check values a typo would break; raise DataError naming ``source``."""

        def bad(what: str) -> DataError:
            return DataError(source, what)

        if self.task not in (1, 2):
            raise bad(f"task must be 1 or 2, got {self.task!r}")
        if len(self.preprocess.spacing_mm) != 3 or min(self.preprocess.spacing_mm) <= 0:
            raise bad(f"preprocess.spacing_mm must be 3 positive numbers, got {self.preprocess.spacing_mm}")
        lo, hi = self.preprocess.clip_percentiles
        if not 0 <= lo < hi <= 100:
            raise bad(f"preprocess.clip_percentiles must satisfy 0 <= lo < hi <= 100, got {lo, hi}")
        if len(self.data.patch_size) != 3 or min(self.data.patch_size) < 1:
            raise bad(f"data.patch_size must be 3 positive integers, got {self.data.patch_size}")
        if self.data.class_ratios is not None and len(self.data.class_ratios) != self.num_classes:
            raise bad(
                f"data.class_ratios needs {self.num_classes} numbers (background first) "
                f"for task {self.task}, got {len(self.data.class_ratios)}"
            )
        problem = _stride_problem(self.model.features, self.model.strides, self.data.patch_size)
        if problem:
            raise bad(problem)
        if self.train.steps < 1 or self.data.batch_size < 1:
            raise bad("train.steps and data.batch_size must be at least 1")
        return self


def _stride_problem(features: Any, strides: Any, patch_size: Any) -> str | None:
    """Why the U-Net's strides do not fit its levels or the patch size (voxels), or None."""
    levels = len(features)
    strides = strides or [2] * (levels - 1)
    if len(strides) != levels - 1:
        return f"model.strides needs {levels - 1} entries for {levels} features, got {len(strides)}"
    total = [1, 1, 1]
    for s in strides:
        s3 = [s] * 3 if isinstance(s, int) else list(s)
        total = [t * v for t, v in zip(total, s3)]
    if any(p % t for p, t in zip(patch_size, total)):
        return f"data.patch_size {patch_size} must be divisible by the total stride {total} of the U-Net"
    return None


def _build(cls: type, raw: dict[str, Any], source: str, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise DataError(source, f"section {prefix.rstrip('.') or 'top level'} must be a mapping")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise DataError(source, f"unknown config key(s): {', '.join(prefix + u for u in unknown)}")
    kwargs = {}
    for name, value in raw.items():
        factory = known[name].default_factory
        default = factory() if callable(factory) else None
        if is_dataclass(default):
            kwargs[name] = _build(type(default), value or {}, source, f"{prefix}{name}.")
        else:
            kwargs[name] = _checked(value, str(known[name].type), source, prefix + name)
    return cls(**kwargs)


_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "list": (list, tuple)}


def _checked(value: Any, annotation: str, source: str, key: str) -> Any:
    """``value`` if it fits the field's annotation (e.g. ``int | list[str]``), else DataError."""
    parts = {
        p.strip().split("[", 1)[0]: p.strip().partition("[")[2].rstrip("]") for p in annotation.split("|")
    }
    allowed = set(parts)
    if "Any" in allowed or not allowed <= set(_TYPES) | {"None"}:
        return value
    if value is None and "None" in allowed:
        return value

    def fits(v: Any, name: str) -> bool:
        return isinstance(v, _TYPES[name]) and (name == "bool" or not isinstance(v, bool))

    for name in allowed - {"None"}:
        inner = parts[name]
        if fits(value, name) and (
            name != "list" or inner not in _TYPES or all(fits(v, inner) for v in value)
        ):
            return list(value) if name == "list" else value
    wanted = " or ".join(
        sorted(f"{a}[{parts[a]}]" if parts[a] else ("null" if a == "None" else a) for a in allowed)
    )
    raise DataError(source, f"{key} must be {wanted}, got {value!r} ({type(value).__name__})")


def config_names() -> list[str]:
    """Names of the configs shipped in the package (``quick``, ``gpu``)."""
    folder = resources.files("segrap_nb").joinpath("configs")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = raw
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def load_config(
    name_or_path: str | os.PathLike = "quick", overrides: dict[str, Any] | None = None
) -> TrainConfig:
    """Load a packaged config by name (``quick``, ``gpu``) or a YAML file; apply dotted overrides."""
    text: str
    source = str(name_or_path)
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if path.is_dir():
            raise DataError(path, "is a folder, not a config file (give a .yaml file or quick/gpu)")
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DataError(path, "config file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(path, f"cannot read the config file ({exc})") from None
    else:
        res = resources.files("segrap_nb").joinpath(f"configs/{name_or_path}.yaml")
        if not res.is_file():
            raise DataError(source, f"no such config (packaged configs: {', '.join(config_names())})")
        text = res.read_text()
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise DataError(source, f"not valid YAML ({exc})") from None
    raw = copy.deepcopy(raw)
    for key, value in (overrides or {}).items():
        _set_dotted(raw, key, value)
    return TrainConfig.from_dict(raw, source).validate(source)


def save_config(cfg: TrainConfig, path: str | os.PathLike) -> Path:
    """Write ``cfg`` as YAML atomically (temp + rename)."""
    path = Path(path)
    with atomic_open(path, "w") as fh:
        fh.write(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return path

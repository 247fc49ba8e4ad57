"""segrap-nb: load, view, measure, train on and evaluate SegRap 2023 head-and-neck CT.

The package is layered; imports flow one way (a module uses only layers above it)::

    errors, labels, config, grid, progress, parallel, reference_data
                             base: errors, label and organ-group tables, paths, voxel grids,
                             progress bars, the parallel runner, the packaged-data reader
    io/                      files and zip members, NIfTI, dataset discovery, nnU-Net export
    phantom/                 the synthetic SegRap-like phantom
    sources                  which dataset to use (a path, $SEGRAP_DATA, the default phantom)
    analysis/  eval/         validation and statistics; DSC, NSD, HD95 as the challenge
    viz/  training/          pictures and viewers; the compact 3D U-Net
    course/  cli/            the notebook course and its exercise checks; the segrap-nb command
    submission/             the challenge's algorithm container (export-algorithm)

CONTRIBUTING.md has the full table and where each kind of change goes.
The names below are the short API the notebooks use (``from segrap_nb import open_dataset``).
They are imported on first use, so ``import segrap_nb`` stays cheap (no torch, no matplotlib);
``__init__.pyi`` gives editors and mypy their real types.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it (imported lazily by ``__getattr__``, PEP 562)
_API: dict[str, str] = {
    # data
    "data_root": "segrap_nb.sources",
    "open_dataset": "segrap_nb.sources",
    "is_phantom": "segrap_nb.sources",
    "cache_dir": "segrap_nb.config",
    "SegRapDataset": "segrap_nb.io.dataset",
    "IMAGES_DIR": "segrap_nb.io.dataset",
    "ONEHOT_DIR": "segrap_nb.io.dataset",
    "Volume": "segrap_nb.io.nifti",
    "read_nifti": "segrap_nb.io.nifti",
    "write_nifti": "segrap_nb.io.nifti",
    "export_nnunet": "segrap_nb.io.nnunet",
    "make_phantom": "segrap_nb.phantom.writer",
    # analysis and scoring
    "validate_dataset": "segrap_nb.analysis.validate",
    "compute_stats": "segrap_nb.analysis.stats",
    "evaluate": "segrap_nb.eval.evaluate",
    "summary_table": "segrap_nb.eval.evaluate",
    "official_table": "segrap_nb.eval.evaluate",
    "surface_metrics": "segrap_nb.eval.metrics",
    # pictures
    "SliceViewer": "segrap_nb.viz.viewer",
    "organ_montage": "segrap_nb.viz.slices",
    "plot_prediction_vs_truth": "segrap_nb.viz.prediction",
    "plot_surfaces": "segrap_nb.viz.surfaces",
    "show_3d": "segrap_nb.viz.itk",
    "itkwidgets_available": "segrap_nb.viz.itk",
    # training
    "train": "segrap_nb.training",
    "predict": "segrap_nb.training",
    "load_config": "segrap_nb.training",
    "get_device": "segrap_nb.training",
    "default_run_dir": "segrap_nb.training",
    # submission
    "export_algorithm": "segrap_nb.submission.export",
    # course
    "check": "segrap_nb.course.exercises",
    "course_map": "segrap_nb.course.lessons",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    """Import the module that defines ``name`` on first use and return the object."""
    if name not in _API:
        raise AttributeError(f"module 'segrap_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

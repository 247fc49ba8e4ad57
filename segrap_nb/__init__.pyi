"""Types of the lazy public API of ``segrap_nb`` (``__init__.py`` imports each name on first use).

Editors and mypy read this stub instead of ``__init__.py``: every name of ``_API`` is re-exported
from the module that defines it, in the table's order, so it has its real type rather than ``Any``.
tests/test_api_stub.py checks that the names and modules here are exactly those of ``_API``.
"""

# Grouped as the _API table is, not sorted (ruff's I001 is off for this file).
# data
from segrap_nb.sources import data_root as data_root
from segrap_nb.sources import open_dataset as open_dataset
from segrap_nb.sources import is_phantom as is_phantom
from segrap_nb.config import cache_dir as cache_dir
from segrap_nb.io.dataset import SegRapDataset as SegRapDataset
from segrap_nb.io.dataset import IMAGES_DIR as IMAGES_DIR
from segrap_nb.io.dataset import ONEHOT_DIR as ONEHOT_DIR
from segrap_nb.io.nifti import Volume as Volume
from segrap_nb.io.nifti import read_nifti as read_nifti
from segrap_nb.io.nifti import write_nifti as write_nifti
from segrap_nb.io.nnunet import export_nnunet as export_nnunet
from segrap_nb.phantom.writer import make_phantom as make_phantom

# analysis and scoring
from segrap_nb.analysis.validate import validate_dataset as validate_dataset
from segrap_nb.analysis.stats import compute_stats as compute_stats
from segrap_nb.eval.evaluate import evaluate as evaluate
from segrap_nb.eval.evaluate import summary_table as summary_table
from segrap_nb.eval.evaluate import official_table as official_table
from segrap_nb.eval.metrics import surface_metrics as surface_metrics

# pictures
from segrap_nb.viz.viewer import SliceViewer as SliceViewer
from segrap_nb.viz.slices import organ_montage as organ_montage
from segrap_nb.viz.prediction import plot_prediction_vs_truth as plot_prediction_vs_truth
from segrap_nb.viz.surfaces import plot_surfaces as plot_surfaces
from segrap_nb.viz.itk import show_3d as show_3d
from segrap_nb.viz.itk import itkwidgets_available as itkwidgets_available

# training
from segrap_nb.training import train as train
from segrap_nb.training import predict as predict
from segrap_nb.training import load_config as load_config
from segrap_nb.training import get_device as get_device
from segrap_nb.training import default_run_dir as default_run_dir

# submission
from segrap_nb.submission.export import export_algorithm as export_algorithm

# course
from segrap_nb.course.exercises import check as check
from segrap_nb.course.lessons import course_map as course_map

__version__: str
__all__: list[str]
_API: dict[str, str]

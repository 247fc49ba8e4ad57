"""segrap-nb: load, view, measure, train on and evaluate SegRap 2023 head-and-neck CT."""

__version__ = "0.1.0"

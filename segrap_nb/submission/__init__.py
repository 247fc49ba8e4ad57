"""From a trained run to a SegRap challenge submission: the algorithm container and its entry point.

* :mod:`~segrap_nb.submission.interface` — the platform's folders and the one-case input rule;
* :mod:`~segrap_nb.submission.entry` — what ``python -m process`` runs inside the container;
* :mod:`~segrap_nb.submission.export` — ``segrap-nb export-algorithm``: the self-contained folder
  (weights, config, entry point, Dockerfile, pinned requirements, the kit as a wheel, README);
* :mod:`~segrap_nb.submission.wheel` and :mod:`~segrap_nb.submission.templates` — its parts.
"""

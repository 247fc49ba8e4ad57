"""A live figure of the training loss and the validation DSC, for notebooks (a ``train`` callback).

    from segrap_nb.viz.training_curves import LivePlot
    plot = LivePlot(groups=("core6", "large", "small", "inner_ear"))
    train(cfg, callback=plot)      # the figure redraws at every validation
    plot.snapshot()                # a static copy of the final figure (for exported pages)

It updates one display (IPython ``display_id``) instead of printing a new figure each time,
and draws nothing until the first validation, so it stays quiet in headless runs. Each group's
curve has the group's colour of :data:`segrap_nb.viz.colors.SCORE_GROUP_COLORS`, as in the bar figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.figure import Figure

from segrap_nb.viz._style import figure, phantom_title
from segrap_nb.viz.colors import group_color


class LivePlot:
    """Callback for :func:`segrap_nb.training.train`: loss (left) and validation DSC per group (right)."""

    def __init__(
        self,
        groups: Sequence[str] = ("core6", "large", "small", "inner_ear"),
        live: bool = True,
        every: str = "val",
    ) -> None:
        self.groups = tuple(groups)
        self.live = live
        self.every = every
        self.train_steps: list[int] = []
        self.losses: list[float] = []
        self.val_steps: list[int] = []
        self.dsc: dict[str, list[float]] = {}
        self.figure = figure(10, 3.4)  # not a pyplot figure: shown through display() only
        self.ax_loss, self.ax_dsc = self.figure.subplots(1, 2)
        self._handle = None

    def __call__(self, event: dict[str, Any]) -> None:
        """Record one training/validation report and redraw at validations (or every report)."""
        if event["kind"] == "train":
            self.train_steps.append(event["step"])
            self.losses.append(event["loss"])
        elif event["kind"] == "val":
            self.val_steps.append(event["step"])
            for g, v in event["groups"].items():
                self.dsc.setdefault(g, []).append(v)
        if self.live and (event["kind"] == "val" or self.every == "train"):
            self.show()

    def draw(self) -> Figure:
        """Redraw both panels from what has been recorded; return the figure."""
        self._draw_panels(self.ax_loss, self.ax_dsc)
        self.figure.tight_layout()
        return self.figure

    def snapshot(self, phantom: bool = False) -> Any:
        """A new static figure of what has been recorded (stays as it is while training goes on).

        The live display needs a running kernel to update; this figure is a plain matplotlib
        figure for exported pages and print. ``phantom=True`` says in its title that the run
        trained on the phantom.
        """
        fig = figure(*self.figure.get_size_inches())
        a, b = fig.subplots(1, 2)
        self._draw_panels(a, b)
        last = (
            f"after {self.val_steps[-1]} steps"
            if self.val_steps
            else f"after {self.train_steps[-1]} steps"
            if self.train_steps
            else "no steps yet"
        )
        fig.suptitle(phantom_title(f"training run {last}", phantom), fontsize=10)
        fig.tight_layout()
        return fig

    def _draw_panels(self, a: Any, b: Any) -> None:
        """Draw the loss curve on ``a`` and the validation DSC per group on ``b``."""
        a.clear()
        b.clear()
        a.plot(self.train_steps, self.losses, color="0.25")
        a.set(title="training loss (Dice + cross-entropy)", xlabel="step", ylabel="loss")
        for g in self.groups:
            if g in self.dsc:
                b.plot(self.val_steps, self.dsc[g], marker="o", label=g, color=group_color(g))
        b.set(title="validation DSC (mean per group)", xlabel="step", ylabel="DSC", ylim=(0, 1))
        if self.dsc:
            b.legend(loc="lower right", fontsize=8)
        b.grid(alpha=0.3)

    def show(self) -> None:
        """Draw and update the notebook display in place (first call creates it)."""
        from IPython.display import display

        self.draw()
        if self._handle is None:
            self._handle = display(self.figure, display_id=True)
        else:
            self._handle.update(self.figure)

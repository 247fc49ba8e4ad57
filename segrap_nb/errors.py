"""The one error type the kit raises for bad data: a message that names the file."""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data; ``str(err)`` is ``"<file>: <what is wrong>"``."""

    def __init__(self, source: object, problem: str) -> None:
        self.source = str(source)
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")

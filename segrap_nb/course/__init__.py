"""The notebook course: lessons, shared cells and exercise checks."""

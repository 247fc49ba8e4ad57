"""What is in a dataset: validation, label and resolution statistics, the published card."""

"""Scoring as the challenge does: DSC, NSD and HD95 per structure, evaluate, tables."""

"""Distillation: teacher traces through the harness, rejection sampling, SFT of a student (TRL)."""

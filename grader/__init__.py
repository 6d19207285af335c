"""Grading harness for PyTorch interview exercises: trusted grader, sandboxed candidate code."""
__version__ = "0.1.0"

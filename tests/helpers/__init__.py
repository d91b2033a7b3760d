"""Helpers shared by test modules: fixtures' building blocks, processes, readers, strategies.

Test modules import from here and never from each other (import-linter contract in make lint).
"""

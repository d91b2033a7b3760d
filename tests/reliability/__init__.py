"""Reliability tests: bad input (fuzzing) of the decoder, the worker, the bridge and its auth."""

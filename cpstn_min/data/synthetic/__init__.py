"""The synthetic NTU-25-joint dataset: generated from a seed, the embedded default."""

"""pptrain-nca: neural cellular automata pre-pre-training data (Lee et al. 2026) for pptrain."""

__version__ = "0.1.0"

"""pptrain plugin: the 18 simpler synthetic tasks of Wu, Li, Liang (NeurIPS 2022)."""

__version__ = "0.1.0"

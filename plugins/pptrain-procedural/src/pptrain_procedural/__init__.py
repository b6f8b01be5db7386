"""pptrain-procedural: Jiang et al. 2026's procedural programs as a pptrain task family."""

__version__ = "0.1.0"

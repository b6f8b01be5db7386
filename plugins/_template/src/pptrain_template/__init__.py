"""A copy-me skeleton for a pptrain task plugin."""

__version__ = "0.1.0"

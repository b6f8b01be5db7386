"""pptrain-analytics: downstream comparisons, probes, representation metrics and reports."""

__version__ = "0.1.0"

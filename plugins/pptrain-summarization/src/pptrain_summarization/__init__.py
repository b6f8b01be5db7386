"""pptrain plugin: nonsense-document summarization pre-training (Krishna et al. 2021) and STEP tasks (Zou et al. 2020)."""

__version__ = "0.1.0"

"""pptrain plugin: LIME's induct / deduct / abduct substitution tasks (Wu et al., ICML 2021)."""

__version__ = "0.1.0"

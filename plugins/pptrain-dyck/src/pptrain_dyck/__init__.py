"""pptrain-dyck: formal-language and artificial-language task families for pptrain."""

__version__ = "0.1.0"

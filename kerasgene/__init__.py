"""kerasgene: Keras 3 reproductions of four deep models of gene regulation."""

__version__ = "0.1.0"

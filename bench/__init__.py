"""bench: numbers you can trust about a PyTorch model (size, FLOPs, latency, memory)."""

__version__ = "0.1.0"

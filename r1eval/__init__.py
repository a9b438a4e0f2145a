"""r1eval: evaluate, distill and RL-train reasoning models with the DeepSeek-R1 protocol."""

__version__ = "0.1.0"

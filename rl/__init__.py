"""GRPO training with DeepSeek-R1's rule rewards (`rl.rewards`), templates (`rl.templates`), presets
(`rl.presets`) and the trainer entry point (`rl.train`); the training directory and the harness gate it
shares with distillation are in `r1eval.training`."""

"""GRPO training with DeepSeek-R1's rule rewards (`rl.rewards`), templates (`rl.templates`), presets
(`rl.presets`), the trainer entry point (`rl.train`) and harness-gated checkpoints (`rl.gating`)."""

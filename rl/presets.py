"""Named GRPO presets: thin dataclasses over TRL's GRPOConfig, each field documented with its default.

`GRPOPreset.to_grpo_config(output_dir)` maps a preset onto `trl.GRPOConfig` field names. TRL counts its
batch sizes in completions, not prompts: one optimizer step sees `prompts_per_step * num_generations`
completions, split into micro-batches of `micro_batch_size` by gradient accumulation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from r1eval.errors import UsageError


@dataclass(frozen=True)
class GRPOPreset:
    """GRPO hyper-parameters; the defaults are DeepSeek-R1-Zero's (DeepSeek-R1 paper, Nature version)."""

    name: str = field(default="custom", metadata={"help": "preset name"})
    description: str = field(default="", metadata={"help": "one line on what the preset is for"})
    template: str = field(default="r1-zero", metadata={
        "help": "prompt template: 'r1-zero' (plain-text User/Assistant with <think>/<answer>, base models) or "
                "'chat' (the R1 eval prompt in the model's chat template, instruct models)"})
    rewards: dict[str, float] = field(default_factory=lambda: {"accuracy": 1.0, "r1_zero_format": 1.0},
                                      metadata={"help": "reward name -> weight, summed (rl.rewards.REWARDS)"})
    language: str = field(default="en", metadata={"help": "target language of the language reward"})
    learning_rate: float = field(default=3e-6, metadata={"help": "AdamW learning rate (R1: 3e-6)"})
    beta: float = field(default=0.001, metadata={"help": "KL coefficient against the reference policy (R1: 0.001)"})
    num_generations: int = field(default=16, metadata={"help": "G, samples per prompt (R1: 16)"})
    temperature: float = field(default=1.0, metadata={"help": "rollout temperature (R1: 1.0)"})
    top_p: float = field(default=1.0, metadata={"help": "rollout nucleus sampling (R1: 1.0)"})
    prompts_per_step: int = field(default=32, metadata={"help": "unique prompts per optimizer step (R1: 32, "
                                                                "i.e. 512 completions)"})
    micro_batch_size: int = field(default=16, metadata={"help": "completions per forward/backward pass"})
    generation_batch_size: int | None = field(default=8192, metadata={
        "help": "completions generated per rollout, consumed over several optimizer steps (R1: 8192 = 16 "
                "mini-batches of 512); None = one rollout per step"})
    max_completion_length: int = field(default=32768, metadata={"help": "max tokens per completion (R1: 32768)"})
    sync_ref_model: bool = field(default=True, metadata={"help": "replace the reference policy periodically"})
    ref_model_sync_steps: int = field(default=400, metadata={"help": "steps between reference resets (R1: 400)"})
    ref_model_mixup_alpha: float = field(default=1.0, metadata={
        "help": "1.0 = the reference becomes a copy of the current policy (R1's reset)"})
    loss_type: str = field(default="grpo", metadata={
        "help": "TRL loss aggregation; 'grpo' = per-sequence mean as in the GRPO/R1 objective"})
    scale_rewards: str = field(default="group", metadata={"help": "A_i = (r_i - mean) / std over the group"})
    epsilon: float = field(default=0.2, metadata={"help": "PPO clip range (TRL default)"})
    max_steps: int = field(default=10400, metadata={"help": "optimizer steps (R1-Zero: 10,400); -1 = one epoch"})
    warmup_steps: int = field(default=0, metadata={"help": "linear warm-up steps"})
    lr_scheduler_type: str = field(default="constant", metadata={"help": "learning-rate schedule"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping"})
    dtype: str = field(default="bfloat16", metadata={"help": "training dtype: bfloat16 | float32"})
    gradient_checkpointing: bool = field(default=True, metadata={"help": "trade compute for memory"})
    save_steps: int = field(default=400, metadata={"help": "checkpoint every N steps"})
    use_vllm: bool | None = field(default=None, metadata={
        "help": "generate with vLLM (TRL colocate mode); None = when vLLM and a GPU are present"})

    @property
    def completions_per_step(self) -> int:
        return self.prompts_per_step * self.num_generations

    def validate(self) -> None:
        """Raise UsageError when the batch sizes don't divide as TRL needs."""
        from rl.rewards import REWARDS

        if self.template not in ("r1-zero", "chat"):
            raise UsageError(f"template must be 'r1-zero' or 'chat' (got {self.template!r})")
        unknown = sorted(set(self.rewards) - set(REWARDS))
        if unknown:
            raise UsageError(f"unknown rewards {unknown}; known: {', '.join(REWARDS)}")
        if self.num_generations < 2:
            raise UsageError("num_generations must be >= 2: GRPO's advantage needs a group")
        if self.completions_per_step % self.micro_batch_size:
            raise UsageError(f"prompts_per_step * num_generations ({self.completions_per_step}) must be a multiple "
                             f"of micro_batch_size ({self.micro_batch_size})")
        if self.micro_batch_size % self.num_generations and self.num_generations % self.micro_batch_size:
            raise UsageError(f"micro_batch_size ({self.micro_batch_size}) and num_generations "
                             f"({self.num_generations}) must divide one another")
        if self.generation_batch_size is not None and self.generation_batch_size % self.completions_per_step:
            raise UsageError(f"generation_batch_size ({self.generation_batch_size}) must be a multiple of "
                             f"prompts_per_step * num_generations ({self.completions_per_step})")

    def with_overrides(self, **overrides: Any) -> GRPOPreset:
        """A copy with the non-None overrides applied (unknown names are a UsageError)."""
        known = {f.name for f in fields(self)}
        bad = sorted(set(overrides) - known)
        if bad:
            raise UsageError(f"unknown preset fields {bad}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_grpo_config(self, output_dir: str, *, seed: int = 0, report_to: list[str] | None = None,
                       use_vllm: bool = False, **extra: Any) -> Any:
        """The `trl.GRPOConfig` for this preset, writing checkpoints under `output_dir`."""
        from trl import GRPOConfig

        self.validate()
        grad_accum = self.completions_per_step // self.micro_batch_size
        kwargs: dict[str, Any] = dict(
            output_dir=output_dir, learning_rate=self.learning_rate, beta=self.beta,
            num_generations=self.num_generations, temperature=self.temperature, top_p=self.top_p,
            per_device_train_batch_size=self.micro_batch_size, gradient_accumulation_steps=grad_accum,
            max_completion_length=self.max_completion_length, sync_ref_model=self.sync_ref_model and self.beta > 0,
            ref_model_sync_steps=self.ref_model_sync_steps, ref_model_mixup_alpha=self.ref_model_mixup_alpha,
            loss_type=self.loss_type, scale_rewards=self.scale_rewards, epsilon=self.epsilon,
            max_steps=self.max_steps, warmup_steps=self.warmup_steps, lr_scheduler_type=self.lr_scheduler_type,
            max_grad_norm=self.max_grad_norm, bf16=self.dtype == "bfloat16", gradient_checkpointing=self.gradient_checkpointing,
            save_steps=self.save_steps, logging_steps=1, seed=seed, data_seed=seed, report_to=report_to or [],
            reward_weights=list(self.rewards.values()), use_vllm=use_vllm, remove_unused_columns=False,
            disable_tqdm=False, save_only_model=False,
        )
        if self.generation_batch_size is not None:
            kwargs["generation_batch_size"] = self.generation_batch_size
        if use_vllm:
            kwargs.update(vllm_mode="colocate", vllm_gpu_memory_utilization=0.3)
        kwargs.update(extra)
        return GRPOConfig(**kwargs)

    def describe(self) -> dict[str, Any]:
        return asdict(self)


R1_ZERO = GRPOPreset(
    name="r1-zero",
    description="DeepSeek-R1-Zero: pure RL from a base model, R1-Zero template, accuracy + format rewards",
)

R1_STAGE1 = replace(
    R1_ZERO, name="r1-stage1", template="chat",
    description="DeepSeek-R1's first RL stage (after cold-start SFT): chat template, accuracy + format + "
                "language-consistency rewards summed",
    rewards={"accuracy": 1.0, "format": 1.0, "language": 1.0}, max_steps=-1,
)

TINY_CPU = GRPOPreset(
    name="tiny-cpu",
    description="fits 2 CPU cores: a 135M instruct model, chat template, accuracy reward, 4 prompts x 8 "
                "samples per step, 48-token completions, float32, T 0.7 so a tiny model starts with signal, "
                "no KL term (no reference forward), a larger learning rate for few steps",
    template="chat", rewards={"accuracy": 1.0}, learning_rate=2e-5, beta=0.0, num_generations=8,
    temperature=0.7, prompts_per_step=4, micro_batch_size=16, generation_batch_size=None,
    max_completion_length=48, sync_ref_model=False, max_steps=40, dtype="float32",
    gradient_checkpointing=False, save_steps=1000, use_vllm=False,
)

PRESETS: dict[str, GRPOPreset] = {p.name: p for p in (R1_ZERO, R1_STAGE1, TINY_CPU)}


def get_preset(name: str) -> GRPOPreset:
    """A preset by name, or UsageError listing the known ones."""
    if name not in PRESETS:
        raise UsageError(f"unknown preset '{name}'; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def presets_help() -> str:
    """The presets and how they differ from the R1-Zero defaults, for `r1eval grpo --help`."""
    base = asdict(GRPOPreset())
    lines = ["presets (fields differing from the R1-Zero defaults of GRPOPreset):"]
    for p in PRESETS.values():
        diff = {k: v for k, v in asdict(p).items() if v != base[k] and k not in ("name", "description")}
        lines.append(f"  {p.name}: {p.description}")
        if diff:
            lines.append("      " + ", ".join(f"{k}={v}" for k, v in diff.items()))
    lines.append("R1-Zero defaults: " + ", ".join(f"{k}={v}" for k, v in base.items()
                                                    if k not in ("name", "description")))
    return "\n".join(lines)

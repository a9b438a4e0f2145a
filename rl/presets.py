"""GRPO options: `GRPOPreset`, a thin dataclass over TRL's GRPOConfig whose fields (with their help) are the
`r1eval grpo` flags and the keys of a recipe file; the named presets are the YAML recipes shipped in
r1eval/recipes/grpo/ (`r1eval grpo --preset NAME`, or `preset: NAME` in your own `--config` YAML).

A preset says what one optimizer step means, whatever the hardware: `prompts_per_step` prompts times
`num_generations` (G) samples = `completions_per_step` completions, and `rollouts_per_generation`
completions sampled per generation round (R1-Zero: 32 x 16 = 512 per step; 8,192 per round, i.e. 16
optimizer steps per round). `GRPOPreset.plan(num_processes)` derives TRL's per-process numbers from that
(`BatchPlan`): a per-device micro batch of at most `micro_batch_size` completions and the gradient
accumulation that makes processes x micro batch x accumulation = completions per step.
`to_grpo_config(output_dir, plan)` maps both onto `trl.GRPOConfig` (which counts in completions; its
`generation_batch_size` is global and its `steps_per_generation` counts micro-batches per process).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from r1eval.errors import ConfigError, UsageError
from r1eval.recipes import RECIPE_DIR, build, load_recipe, option, recipe_names
from r1eval.training import split_batch, trl_config


@dataclass(frozen=True)
class BatchPlan:
    """One preset's batch arithmetic on `num_processes` processes (TRL's field names where TRL has one)."""

    num_processes: int
    prompts_per_step: int
    num_generations: int
    completions_per_step: int
    per_device_train_batch_size: int  # completions per process per forward/backward pass
    gradient_accumulation_steps: int
    generation_batch_size: int  # TRL's global value: completions sampled per generation round
    steps_per_generation: int  # TRL's value: micro-batches per process between two generation rounds
    optimizer_steps_per_generation: int


@dataclass(frozen=True)
class GRPOPreset:
    """GRPO hyper-parameters (one field = one `r1eval grpo` flag = one recipe key); the defaults are
    DeepSeek-R1-Zero's (DeepSeek-R1 paper, Nature version). The shipped recipes in r1eval/recipes/grpo/
    name every field."""

    name: str = option("custom", "recipe name")
    description: str = option("", "one line on what the recipe is for", show_default=False)
    template: str = option("r1-zero", "prompt template: 'r1-zero' (plain-text User/Assistant with <think>/<answer>, "
                                    "base models) or 'chat' (the R1 eval prompt in the model's chat template)")
    rewards: dict[str, float] = option({"accuracy": 1.0, "r1_zero_format": 1.0},
                                     "reward name -> weight, summed (rl.rewards.REWARDS), e.g. '{accuracy: 1}'")
    language: str = option("en", "target language of the language reward")
    learning_rate: float = option(3e-6, "AdamW learning rate (R1: 3e-6)")
    beta: float = option(0.001, "KL coefficient against the reference policy (R1: 0.001)")
    num_generations: int = option(16, "G, samples per prompt (R1: 16)")
    temperature: float = option(1.0, "rollout temperature (R1: 1.0)")
    top_p: float = option(1.0, "rollout nucleus sampling (R1: 1.0)")
    top_k: int = option(0, "rollout top-k (0 = off)")
    prompts_per_step: int = option(32, "unique prompts per optimizer step (R1: 32, i.e. 512 completions)")
    micro_batch_size: int = option(16, "at most this many completions per process per forward/backward pass (a "
                                     "memory knob: the micro batch is min(this, completions per step / processes))")
    rollouts_per_generation: int | None = option(8192, "completions sampled per generation round, consumed by several "
                                                     "optimizer steps (R1-Zero: 8192 = 16 mini-batches of 512); "
                                                     "none or 0 = one round per optimizer step")
    num_iterations: int = option(1, "passes over each generation round (R1: 1)")
    max_completion_length: int = option(32768, "max tokens per completion (R1: 32768)")
    sync_ref_model: bool = option(True, "reset the reference policy to the current policy periodically (with LoRA: "
                                      "merge the adapter into the base and start a fresh adapter)")
    ref_model_sync_steps: int = option(400, "steps between reference resets (R1: 400)")
    ref_model_mixup_alpha: float = option(1.0, "1.0 = the reference becomes a copy of the current policy (R1's reset)")
    loss_type: str = option("grpo", "TRL loss aggregation; 'grpo' = per-sequence mean as in the GRPO/R1 objective")
    scale_rewards: str = option("group", "advantage scaling: 'group' = (r - mean) / std over the group")
    multi_objective_aggregation: str = option("sum_then_normalize", "several rewards: sum, then normalise (R1)")
    epsilon: float = option(0.2, "PPO clip range (R1 stage 1: 10)")
    epsilon_high: float | None = option(None, "upper clip range (none = epsilon)")
    importance_sampling_level: str = option("token", "importance ratio per 'token' (GRPO) or per 'sequence' (GSPO)")
    use_bias_correction_kl: bool = option(False, "weight the KL term by the importance ratio (DeepSeek-V3.2; R1: off)")
    mask_truncated_completions: bool = option(False, "leave completions cut at max length out of the loss")
    max_steps: int = option(10400, "optimizer steps (R1-Zero: 10,400); -1 = one epoch")
    warmup_steps: int = option(0, "linear warm-up steps")
    lr_scheduler_type: str = option("constant", "learning-rate schedule")
    weight_decay: float = option(0.0, "AdamW weight decay")
    max_grad_norm: float = option(1.0, "gradient clipping")
    dtype: str = option("bfloat16", "training dtype: bfloat16 | float32")
    gradient_checkpointing: bool = option(True, "trade compute for memory")
    save_steps: int = option(400, "checkpoint every N steps (a multiple of the optimizer steps per generation round, "
                                "so a resumed run starts on a round boundary)")
    save_total_limit: int | None = option(3, "newest checkpoints kept (none = all); gate evaluations also checkpoint, "
                                           "and gate/best keeps the best policy apart")
    save_only_model: bool = option(False, "checkpoints without the optimizer state (a rerun continues from the step "
                                        "with fresh Adam moments; 2/3 less disk)")
    use_vllm: bool | None = option(None, "generate with vLLM; none = when vLLM and a GPU are present",
                                 flags=("--vllm",))

    @property
    def completions_per_step(self) -> int:
        return self.prompts_per_step * self.num_generations

    def validate(self) -> None:
        """Raise UsageError for settings no world size can fix (see `plan` for the per-process checks)."""
        from r1eval.rl.rewards import REWARDS

        if self.rollouts_per_generation is not None and self.rollouts_per_generation < 0:
            raise ConfigError("rollouts_per_generation", f"must be >= 0 (got {self.rollouts_per_generation})")
        for name in ("num_generations", "prompts_per_step", "micro_batch_size", "max_completion_length",
                     "num_iterations", "save_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be >= 1 (got {getattr(self, name)})")
        if self.template not in ("r1-zero", "chat"):
            raise UsageError(f"template must be 'r1-zero' or 'chat' (got {self.template!r})")
        unknown = sorted(set(self.rewards) - set(REWARDS))
        if unknown:
            raise UsageError(f"unknown rewards {unknown}; known: {', '.join(REWARDS)}")
        if self.num_generations < 2:
            raise UsageError("num_generations must be >= 2: GRPO's advantage needs a group")
        if self.rollouts_per_generation is not None and self.rollouts_per_generation % self.completions_per_step:
            raise UsageError(f"rollouts_per_generation ({self.rollouts_per_generation}) must be a multiple of "
                             f"prompts_per_step x num_generations ({self.completions_per_step})")
        if self.sync_ref_model and self.beta > 0 and self.ref_model_sync_steps < 1:
            raise UsageError(f"ref_model_sync_steps must be >= 1 (got {self.ref_model_sync_steps})")

    def plan(self, num_processes: int) -> BatchPlan:
        """TRL's batch numbers for `num_processes` processes; an impossible split is a UsageError naming the fix."""
        self.validate()
        cps, n = self.completions_per_step, num_processes
        micro, accumulation = split_batch(cps, n, self.micro_batch_size,
                                          f"completions ({self.prompts_per_step} prompts x G {self.num_generations})")
        rollouts = self.rollouts_per_generation or cps
        steps_per_round = rollouts // cps
        if self.save_steps % steps_per_round:
            raise UsageError(f"save_steps ({self.save_steps}) must be a multiple of the {steps_per_round} optimizer "
                             "steps per generation round, so a resumed run starts on a round boundary")
        return BatchPlan(num_processes=n, prompts_per_step=self.prompts_per_step,
                         num_generations=self.num_generations, completions_per_step=cps,
                         per_device_train_batch_size=micro, gradient_accumulation_steps=accumulation,
                         generation_batch_size=rollouts, steps_per_generation=rollouts // (micro * n),
                         optimizer_steps_per_generation=steps_per_round)

    def reference_policy(self, lora: bool) -> str:
        """What the KL term compares against with these settings, in words (for --dry-run and config.json)."""
        if self.beta == 0:
            return "none: beta is 0, so there is no KL term and no reference model"
        if not self.sync_ref_model:
            return ("the base model with the adapter disabled, never reset" if lora
                    else "a frozen copy of the initial policy, never reset")
        if lora:
            return (f"the base model with the adapter disabled; every {self.ref_model_sync_steps} steps the adapter "
                    "is merged into the base and a fresh adapter starts, so the reference becomes the current "
                    "policy (R1's reset)")
        return (f"a frozen copy of the initial policy, replaced by the current policy every "
                f"{self.ref_model_sync_steps} steps (TRL sync_ref_model, mixup alpha {self.ref_model_mixup_alpha})")

    def with_overrides(self, **overrides: Any) -> GRPOPreset:
        """A copy with the non-None overrides applied (unknown names are a UsageError)."""
        known = {f.name for f in fields(self)}
        bad = sorted(set(overrides) - known)
        if bad:
            raise UsageError(f"unknown preset fields {bad}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def to_grpo_config(self, output_dir: str, plan: BatchPlan, *, seed: int = 0,
                       report_to: list[str] | None = None, use_vllm: bool = False, lora: bool = False,
                       **extra: Any) -> Any:
        """The `trl.GRPOConfig` for this preset and batch plan, writing checkpoints under `output_dir`.

        With `lora`, TRL's `sync_ref_model` stays off (TRL refuses it with PEFT: the reference is the base
        with the adapter disabled); `rl.train` resets the reference by merging the adapter instead."""
        from trl import GRPOConfig

        if lora and self.sync_ref_model and self.beta > 0 and self.ref_model_mixup_alpha != 1.0:
            raise UsageError("with LoRA the reference reset merges the adapter into the base, which is "
                             f"ref_model_mixup_alpha 1.0; this preset has {self.ref_model_mixup_alpha}")
        kwargs: dict[str, Any] = dict(
            output_dir=output_dir, learning_rate=self.learning_rate, beta=self.beta,
            num_generations=self.num_generations, temperature=self.temperature, top_p=self.top_p,
            per_device_train_batch_size=plan.per_device_train_batch_size,
            gradient_accumulation_steps=plan.gradient_accumulation_steps,
            generation_batch_size=plan.generation_batch_size,
            max_completion_length=self.max_completion_length,
            sync_ref_model=self.sync_ref_model and self.beta > 0 and not lora,
            ref_model_sync_steps=self.ref_model_sync_steps, ref_model_mixup_alpha=self.ref_model_mixup_alpha,
            loss_type=self.loss_type, scale_rewards=self.scale_rewards, epsilon=self.epsilon,
            epsilon_high=self.epsilon_high, num_iterations=self.num_iterations, top_k=self.top_k,
            multi_objective_aggregation=self.multi_objective_aggregation,
            importance_sampling_level=self.importance_sampling_level,
            use_bias_correction_kl=self.use_bias_correction_kl,
            mask_truncated_completions=self.mask_truncated_completions,
            max_steps=self.max_steps, warmup_steps=self.warmup_steps, lr_scheduler_type=self.lr_scheduler_type,
            weight_decay=self.weight_decay, max_grad_norm=self.max_grad_norm, bf16=self.dtype == "bfloat16",
            gradient_checkpointing=self.gradient_checkpointing, save_steps=self.save_steps,
            save_total_limit=self.save_total_limit, save_only_model=self.save_only_model, logging_steps=1,
            seed=seed, data_seed=seed, report_to=report_to or [], reward_weights=list(self.rewards.values()),
            use_vllm=use_vllm, remove_unused_columns=False, disable_tqdm=False,
            restore_callback_states_from_checkpoint=True,  # gate history and best step survive a resume
        )
        kwargs.update(extra)
        return trl_config(GRPOConfig, **kwargs)

    def describe(self) -> dict[str, Any]:
        """The preset's fields plus completions_per_step, as config.json records them."""
        return {**asdict(self), "completions_per_step": self.completions_per_step}


RECIPE_COMMAND = "grpo"  # r1eval/recipes/grpo/


def load_preset(name_or_path: str) -> GRPOPreset:
    """A shipped recipe by name (r1eval/recipes/grpo/NAME.yaml) or a recipe YAML path, as a GRPOPreset."""
    return build(GRPOPreset, load_recipe(RECIPE_COMMAND, name_or_path))


def get_preset(name: str) -> GRPOPreset:
    """A shipped recipe by name, or UsageError listing the known ones."""
    return PRESETS[name] if name in PRESETS else load_preset(name)


PRESETS: dict[str, GRPOPreset] = {name: load_preset(name) for name in recipe_names(RECIPE_COMMAND)}


def presets_help() -> str:
    """The shipped recipes and how they differ from the R1-Zero defaults, for `r1eval grpo --help`."""
    base = asdict(GRPOPreset())
    lines = [f"recipes (--preset NAME, or `preset: NAME` in a --config YAML; files in {RECIPE_DIR / RECIPE_COMMAND}):"]
    for name in recipe_names(RECIPE_COMMAND):
        p = get_preset(name)
        diff = {k: v for k, v in asdict(p).items() if v != base[k] and k not in ("name", "description")}
        lines.append(f"  {p.name}: {p.description}")
        if diff:
            lines.append("      " + ", ".join(f"{k}={v}" for k, v in diff.items()))
    lines.append("R1-Zero defaults: " + ", ".join(f"{k}={v}" for k, v in base.items()
                                                    if k not in ("name", "description")))
    return "\n".join(lines)

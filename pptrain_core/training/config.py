"""Run and job configuration (light: attrs only, no torch).

A *job* file names the task, the model adapter and the run settings::

    task:
      name: dyck            # or dyck:small_k8
      preset: small_k8      # optional; the task's default preset otherwise
      params: {k: 8}        # overrides on top of the preset
    model:
      adapter: hf_causal_lm
      params: {model_type: gpt2, overrides: {n_layer: 2, n_embd: 64, n_head: 2}}
    run:
      output_dir: runs/dyck-tiny
      max_steps: 200

Every error names its path: ``$.run.lr``, ``$.task.params.k``, ``$.model.params.model_type``.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

from pptrain_core.config import FieldValueError, at_least, in_range


@attrs.frozen
class CurriculumConfig:
    """Grow one integer task setting (e.g. ``length``) as the model masters it.

    Starts the task at ``start``; after each evaluation whose token accuracy (argmax on the
    loss-carrying positions of the eval split, at the current stage) reaches
    ``threshold``, adds ``step``, up to ``target`` (0: the task's configured value). Jiang
    et al.'s optional curriculum is ``field: length, start: 2, step: 2, threshold: 0.99``.
    """

    field: str = "length"
    start: int = attrs.field(default=2, validator=at_least(1))
    step: int = attrs.field(default=2, validator=at_least(1))
    target: int = attrs.field(default=0, validator=at_least(0))
    threshold: float = attrs.field(default=0.99, validator=in_range(0.0, 1.0))


@attrs.frozen
class RunConfig:
    """How long and how to train; seeds for data and for model init are separate."""

    output_dir: str = "runs/pptrain"
    """Run directory: checkpoints, metrics, the loss curve, provenance and the bundle."""

    # ---- budget (exactly one of the two)
    max_steps: int = attrs.field(default=0, validator=at_least(0))
    """Optimizer steps. Set this or ``max_tokens``."""
    max_tokens: int = attrs.field(default=0, validator=at_least(0))
    """Token budget, converted to steps with the tokens a step holds (see docs/training.md)."""

    # ---- batches
    batch_size: int = attrs.field(default=8, validator=at_least(1))
    """Sequences per device per micro-batch."""
    grad_accum: int = attrs.field(default=1, validator=at_least(1))
    eval_batch_size: int = attrs.field(default=0, validator=at_least(0))
    """Sequences per device per evaluation batch; 0: the same as ``batch_size``."""
    collation: Literal["pad", "pack"] = "pad"
    """``pad``: one example per row, padded to the longest in the batch. ``pack``: several
    examples per fixed ``seq_len`` window, loss masks kept."""
    seq_len: int = attrs.field(default=0, validator=at_least(0))
    """Window length for ``pack`` (required); for ``pad``, 0 keeps examples whole, >0 truncates."""

    # ---- optimisation
    optimizer: Literal["adamw", "sgd", "adafactor"] = "adamw"
    lr: float = attrs.field(default=5e-4, validator=in_range(0.0, 10.0, low_open=True))
    weight_decay: float = attrs.field(default=0.0, validator=at_least(0.0))
    weight_decay_scope: Literal["standard", "all"] = "standard"
    """``standard``: the Hugging Face Trainer's rule (biases and norm weights exempt);
    ``all``: every parameter decays, as ``torch.optim.AdamW(model.parameters())`` does
    (Jiang et al.'s Dyck pre-pretraining script)."""
    adam_beta1: float = attrs.field(default=0.9, validator=in_range(0.0, 1.0, high_open=True))
    adam_beta2: float = attrs.field(default=0.999, validator=in_range(0.0, 1.0, high_open=True))
    adam_epsilon: float = attrs.field(default=1e-8, validator=in_range(0.0, 1.0, low_open=True))
    max_grad_norm: float = attrs.field(default=1.0, validator=at_least(0.0))
    """Gradient clipping; 0 turns it off."""
    schedule: Literal["constant", "cosine", "linear"] = "cosine"
    warmup_steps: int = attrs.field(default=0, validator=at_least(0))
    warmup_ratio: float = attrs.field(default=0.0, validator=in_range(0.0, 1.0))
    min_lr_ratio: float = attrs.field(default=0.0, validator=in_range(0.0, 1.0))
    """Cosine only: the learning rate decays to ``lr * min_lr_ratio``."""
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"

    # ---- seeds
    data_seed: int = attrs.field(default=0, validator=at_least(0))
    """Seeds the virtual dataset: example i of a split is a function of (data_seed, split, i)."""
    model_seed: int = attrs.field(default=0, validator=at_least(0))
    """Seeds the model's initialisation (and dropout)."""

    # ---- logging, evaluation, checkpoints
    logging_steps: int = attrs.field(default=10, validator=at_least(1))
    eval_steps: int = attrs.field(default=0, validator=at_least(0))
    """Evaluate on the eval split every this many steps; 0: only at the end."""
    eval_examples: int = attrs.field(default=256, validator=at_least(0))
    save_steps: int = attrs.field(default=0, validator=at_least(0))
    """Checkpoint every this many steps (for resuming); 0: no intermediate checkpoints."""
    save_total_limit: int = attrs.field(default=2, validator=at_least(1))
    resume: str = "auto"
    """``auto`` (the newest *complete* checkpoint in the run directory, if any; incomplete ones
    left by a kill are reported and removed), ``never``, or a checkpoint path."""
    dataloader_workers: int = attrs.field(default=0, validator=at_least(0))
    threads: int = attrs.field(default=0, validator=at_least(0))
    """CPU threads for torch when there is no GPU. 0 chooses: 1 for models under 20 M
    parameters (more only contend on a loaded machine), torch's default otherwise, and
    ``OMP_NUM_THREADS`` when set. Recorded in ``run.json``."""
    curriculum: CurriculumConfig | None = None
    """Optional: grow a task setting during the run (see :class:`CurriculumConfig`)."""
    progress: bool = True
    """Show a rich progress bar on the main process."""

    # ---- export
    export_bundle: bool = True
    suggested_policy: str = "reinit_embeddings"

    def __attrs_post_init__(self) -> None:
        if (self.max_steps > 0) == (self.max_tokens > 0):
            field = "max_tokens" if self.max_tokens else "max_steps"
            raise FieldValueError(field, "set exactly one of max_steps and max_tokens to a positive number")
        if self.collation == "pack" and self.seq_len < 2:
            raise FieldValueError("seq_len", "packing needs a window length of at least 2, e.g. seq_len: 256")
        if self.warmup_steps and self.warmup_ratio:
            raise FieldValueError("warmup_ratio", "set warmup_steps or warmup_ratio, not both")
        if self.min_lr_ratio and self.schedule != "cosine":
            raise FieldValueError("min_lr_ratio", f"only applies to the cosine schedule, not {self.schedule!r}")
        if self.curriculum is not None:
            if not (self.eval_steps and self.eval_examples):
                raise FieldValueError("curriculum", "needs periodic evaluation: set eval_steps and eval_examples")
            if self.dataloader_workers:
                raise FieldValueError("curriculum", "needs dataloader_workers: 0 (workers would keep the old stage)")


@attrs.frozen
class TaskRef:
    """Which task, which preset, which overrides."""

    name: str
    preset: str | None = None
    params: dict[str, Any] = attrs.Factory(dict)

    def ref(self) -> str:
        if ":" in self.name:
            if self.preset is not None:
                raise FieldValueError("preset", f"give the preset once, either in name ({self.name!r}) or here")
            return self.name
        return f"{self.name}:{self.preset}" if self.preset else self.name


@attrs.frozen
class ModelRef:
    """Which model adapter, and its settings (structured by the adapter's own config class)."""

    adapter: str = "hf_causal_lm"
    params: dict[str, Any] = attrs.Factory(dict)


@attrs.frozen
class JobConfig:
    task: TaskRef
    model: ModelRef = attrs.Factory(ModelRef)
    run: RunConfig = attrs.Factory(lambda: RunConfig(max_steps=100))

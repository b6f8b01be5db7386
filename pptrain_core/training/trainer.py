"""``PrePreTrainer``: pre-pretrain a model on a task with the Hugging Face ``Trainer``.

We do not write a training loop. Mixed precision, gradient accumulation, checkpoints,
resume, DDP and FSDP come from ``transformers.Trainer`` and ``accelerate``; this module
supplies what they do not know about: the virtual dataset read in index order (so a
resumed or distributed run sees exactly the examples an uninterrupted single-process
run sees at each optimizer step), unshifted labels, a rich progress bar, metrics as
JSON lines, a loss-curve PNG, provenance, and the transfer bundle at the end.

Run directory layout::

    RUN/
      job.json          the resolved job (task, adapter, run config)
      run.json          provenance: versions, git sha, seeds, hardware, world size, budget
      metrics.jsonl     one JSON object per log/eval event (main process)
      loss_curve.png
      summary.json      final numbers
      checkpoints/      HF Trainer checkpoints (for resume)
      bundle/           the transfer bundle (see pptrain_core.bundle)
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from pptrain_core.errors import UserError
from pptrain_core.training.config import RunConfig
from pptrain_core.training.curriculum import argmax_logits, token_accuracy


@attrs.define
class FitResult:
    """What a finished run produced."""

    run_dir: Path
    bundle_dir: Path | None
    summary: dict[str, Any]

    def load_transfer_bundle(self, registry: Any = None):
        """The run's validated transfer bundle."""
        from pptrain_core.bundle import load_bundle

        if self.bundle_dir is None:
            raise UserError("this run exported no bundle; set run.export_bundle: true.")
        return load_bundle(self.bundle_dir, registry=registry)


def versions(
    registry: Any, dists: tuple[str, ...] = ("pptrain-core", "torch", "transformers", "accelerate", "numpy")
) -> dict[str, str]:
    """The installed version of each of ``dists`` and of every loaded plugin's distribution (a
    run's provenance)."""
    from importlib import metadata

    out: dict[str, str] = {}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    for record in registry.plugins:
        if record.distribution and record.version and record.status == "loaded":
            out.setdefault(record.distribution, record.version)
    return out


def _git_sha() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        proc = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def hardware() -> dict[str, Any]:
    """Platform, Python, CPU count, torch threads and GPUs: the machine a run's figures come from."""
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


class _Callbacks:
    """Factory for the TrainerCallback subclasses (defined lazily so importing this module stays light)."""

    @staticmethod
    def make(run_dir: Path, show_progress: bool, tokens_per_step: float) -> list[Any]:
        from transformers import TrainerCallback

        class JsonlMetrics(TrainerCallback):
            """Append every log event to metrics.jsonl (main process only)."""

            def __init__(self) -> None:
                self.path = run_dir / "metrics.jsonl"
                self.start = time.perf_counter()

            def on_log(self, args, state, control, logs=None, **kwargs):
                if not state.is_world_process_zero or not logs:
                    return
                record = {
                    "step": state.global_step,
                    "tokens": state.num_input_tokens_seen,
                    "time_s": round(time.perf_counter() - self.start, 3),
                }
                record.update({k: (float(v) if isinstance(v, (int, float)) else v) for k, v in logs.items()})
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")

        class RichProgress(TrainerCallback):
            """Steps, tokens/s, loss and ETA on one rich progress bar."""

            def __init__(self) -> None:
                self.progress = None
                self.loss: float | None = None

            def on_train_begin(self, args, state, control, **kwargs):
                if not state.is_world_process_zero:
                    return
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                    TimeRemainingColumn,
                )

                self.progress = Progress(
                    TextColumn("[bold]pre-pretraining"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"),
                    TimeElapsedColumn(),
                    TextColumn("ETA"),
                    TimeRemainingColumn(),
                )
                self.progress.start()
                self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, info="")
                self.t0 = time.perf_counter()
                self.step0 = state.global_step

            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and "loss" in logs:
                    self.loss = float(logs["loss"])

            def on_step_end(self, args, state, control, **kwargs):
                if self.progress is None:
                    return
                elapsed = max(time.perf_counter() - self.t0, 1e-9)
                rate = (state.global_step - self.step0) * tokens_per_step / elapsed
                loss = f"loss {self.loss:.4f} | " if self.loss is not None else ""
                self.progress.update(self.task, completed=state.global_step, info=f"{loss}{rate:,.0f} tok/s")

            def on_train_end(self, args, state, control, **kwargs):
                if self.progress is not None:
                    self.progress.stop()
                    self.progress = None

        callbacks: list[Any] = [JsonlMetrics()]
        if show_progress:
            callbacks.append(RichProgress())
        return callbacks


def _sequential_trainer_class(
    decay_all: bool = False, *, keep: int | None = None, checkpoint_writers: Sequence[Any] = ()
):
    """The Trainer subclass; ``keep`` checkpoints are rotated only after a new one is complete,
    and ``checkpoint_writers`` (``f(folder)``) add files to each checkpoint before it is marked."""
    from transformers import Trainer

    class SequentialTrainer(Trainer):
        """Reads the virtual dataset in index order: its examples are already i.i.d. draws,
        and index order makes resume and multi-process sharding exact."""

        def get_decay_parameter_names(self, model):
            if decay_all:  # run.weight_decay_scope: all (biases and norms decay too)
                return [name for name, _ in model.named_parameters()]
            return super().get_decay_parameter_names(model)

        data_wait_s = 0.0  # time spent waiting for training batches

        def _get_train_sampler(self, train_dataset=None):
            from pptrain_core.training.order import LaneOrder, block_items, set_cache_blocks, set_length

            dataset = train_dataset if train_dataset is not None else self.train_dataset
            known = getattr(self, "_orders", {}).get(id(dataset))
            if known is not None:  # asked again: the dataset may already be longer than the run
                return known
            unit = self.args.per_device_train_batch_size * max(int(self.args.world_size), 1)
            order = LaneOrder(len(dataset), unit=unit, block=block_items(dataset))
            set_cache_blocks(dataset, order.cache_blocks())
            set_length(dataset, order.span())  # lanes read a little past the first len(dataset) examples
            self._orders = {**getattr(self, "_orders", {}), id(dataset): order}
            return order

        def get_train_dataloader(self):
            if self.args.dataloader_num_workers:
                order = self._get_train_sampler()
                self.args.dataloader_prefetch_factor = max(self.args.dataloader_prefetch_factor or 2, order.prefetch())
            return super().get_train_dataloader()

        def get_batch_samples(self, epoch_iterator, num_batches, device):
            from pptrain_core.training.order import to_torch

            t0 = time.perf_counter()
            out = super().get_batch_samples(map(to_torch, epoch_iterator), num_batches, device)
            self.data_wait_s += time.perf_counter() - t0
            return out

        def _prepare_inputs(self, inputs):
            from pptrain_core.training.order import to_torch

            return super()._prepare_inputs(to_torch(inputs))

        def _save(self, output_dir=None, state_dict=None):
            # HF saves modules that are not PreTrainedModel with safetensors.save_file, which
            # refuses tied (shared) tensors; save_model stores each shared tensor once.
            from transformers import PreTrainedModel

            model = self.accelerator.unwrap_model(self.model)
            if isinstance(model, PreTrainedModel):
                return super()._save(output_dir, state_dict)
            from safetensors.torch import save_model

            out = output_dir if output_dir is not None else self.args.output_dir
            os.makedirs(out, exist_ok=True)
            save_model(model, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})

        def _save_checkpoint(self, model, trial):
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

            from pptrain_core.training import checkpoints

            super()._save_checkpoint(model, trial)
            folder = Path(self._get_output_dir(trial=trial), f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
            if self.args.should_save:
                for write in checkpoint_writers:
                    write(folder)
            self.accelerator.wait_for_everyone()  # every rank's files (RNG states) are written
            if self.args.should_save:
                checkpoints.mark_complete(folder, self.state.global_step)
                if keep:
                    checkpoints.rotate(folder.parent, keep, folder)

        def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
            from transformers import PreTrainedModel

            target = self.accelerator.unwrap_model(model if model is not None else self.model)
            if isinstance(target, PreTrainedModel):
                return super()._load_from_checkpoint(resume_from_checkpoint, model)
            from safetensors.torch import load_model

            load_model(target, os.path.join(resume_from_checkpoint, "model.safetensors"))

    return SequentialTrainer


def plot_loss_curve(metrics_path: Path, out_path: Path, title: str) -> Path | None:
    """Training (and eval) loss against tokens, as a PNG; returns None without data."""
    if not metrics_path.is_file():
        return None
    train, evals = [], []
    for line in metrics_path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if "loss" in rec:
            train.append((rec["step"], rec["loss"]))
        if "eval_loss" in rec:
            evals.append((rec["step"], rec["eval_loss"]))
    if not train and not evals:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    if train:
        ax.plot([s for s, _ in train], [v for _, v in train], label="train loss")
    if evals:
        ax.plot([s for s, _ in evals], [v for _, v in evals], "o-", label="eval loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (nats)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    tmp = out_path.with_name(f".{out_path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, out_path)
    return out_path


class PrePreTrainer:
    """Pre-pretrain ``model_adapter``'s model on ``task`` under ``run_config``.

    ``task`` is a resolved task (:func:`pptrain_core.tasks.resolve` or
    :func:`pptrain_core.create_task`) or a ``"TASK[:PRESET]"`` string; ``model_adapter`` is
    an adapter object (e.g. ``HFCausalLMAdapter(HFModelConfig(...))``) with ``name`` and
    ``config`` attributes.
    """

    def __init__(
        self,
        task: Any,
        model_adapter: Any,
        run_config: RunConfig,
        *,
        callbacks: Sequence[Any] = (),
        registry: Any = None,
    ):
        from pptrain_core.plugins import get_registry
        from pptrain_core.tasks import resolve

        self.registry = registry or get_registry()
        self.task = resolve(task, registry=self.registry) if isinstance(task, str) else task
        self.adapter = model_adapter
        self.run = run_config
        self.extra_callbacks = list(callbacks)

    # ------------------------------------------------------------------ budget

    def _tokens_per_sequence(self, built: Any, mean: float | None = None) -> float:
        r = self.run
        if r.collation == "pack":
            return float(r.seq_len)
        if mean is None:
            from pptrain_core.data import mean_length

            mean = mean_length(built, r.data_seed, "train")
        return min(mean, r.seq_len) if r.seq_len else mean

    def _training_args(self, run_dir: Path) -> Any:
        import torch
        from transformers import TrainingArguments

        r = self.run
        schedule = {"constant": "constant_with_warmup", "linear": "linear", "cosine": "cosine"}[r.schedule]
        kwargs: dict[str, Any] = {}
        if r.schedule == "cosine" and r.min_lr_ratio > 0:
            schedule = "cosine_with_min_lr"
            kwargs["lr_scheduler_kwargs"] = {"min_lr_rate": r.min_lr_ratio}
        on_cpu = not torch.cuda.is_available()
        distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        optim = {"adamw": "adamw_torch", "sgd": "sgd", "adafactor": "adafactor"}[r.optimizer]
        return TrainingArguments(
            output_dir=str(run_dir / "checkpoints"),
            max_steps=max(r.max_steps, 1),
            per_device_train_batch_size=r.batch_size,
            per_device_eval_batch_size=r.eval_batch_size or r.batch_size,
            gradient_accumulation_steps=r.grad_accum,
            learning_rate=r.lr,
            weight_decay=r.weight_decay,
            adam_beta1=r.adam_beta1,
            adam_beta2=r.adam_beta2,
            adam_epsilon=r.adam_epsilon,
            max_grad_norm=r.max_grad_norm if r.max_grad_norm > 0 else 0.0,
            optim=optim,
            lr_scheduler_type=schedule,
            warmup_steps=r.warmup_steps if r.warmup_steps else r.warmup_ratio,
            bf16=r.precision == "bf16",
            fp16=r.precision == "fp16",
            seed=r.model_seed,
            data_seed=r.data_seed,
            logging_steps=r.logging_steps,
            logging_first_step=True,
            eval_strategy="steps" if (r.eval_steps and r.eval_examples) else "no",
            eval_steps=r.eval_steps or None,
            save_strategy="steps" if r.save_steps else "no",
            save_steps=r.save_steps or 500,
            save_total_limit=None,  # rotated by us, only once the new checkpoint is complete
            report_to=[],
            disable_tqdm=True,
            dataloader_num_workers=r.dataloader_workers,
            # not persistent_workers: with them, torch's shutdown at the end of training sometimes
            # waited out its 5 s join timeout (measured: 1 run in 3 of a 6-step fit); a fresh
            # worker per evaluation costs a fork instead
            remove_unused_columns=False,
            include_num_input_tokens_seen="non_padding",
            use_cpu=on_cpu,
            ddp_backend="gloo" if (on_cpu and distributed) else None,
            ddp_find_unused_parameters=False,
            **kwargs,
        )

    def _resume_from(self, run_dir: Path, *, barrier: Any = None, main: bool = True) -> tuple[str | None, list[str]]:
        """The checkpoint to resume from, and the incomplete ones skipped.

        Every process chooses first; then the main one reports and removes the incomplete
        ones (``barrier`` synchronises the processes around that).
        """
        import sys

        from pptrain_core.errors import quote
        from pptrain_core.training import checkpoints

        r = self.run
        if r.resume == "never":
            return None, []
        if r.resume == "auto":
            chosen, skipped = checkpoints.choose_checkpoint(run_dir / "checkpoints")
            if barrier is not None:
                barrier()  # every process has chosen before anything is removed
            if main:
                then = f"resuming from {checkpoints.describe(chosen)}" if chosen else "starting from the beginning"
                for folder, why in skipped:
                    checkpoints.remove_checkpoint(folder)
                    sys.stderr.write(
                        f"warning: skipped and removed the incomplete checkpoint {checkpoints.describe(folder)} "
                        f"({why}); {then}.\n"
                    )
            if barrier is not None:
                barrier()
            return (str(chosen) if chosen else None), [checkpoints.describe(f) for f, _ in skipped]
        path = Path(r.resume)
        if path.exists() and not path.is_dir():
            raise UserError(
                f"$.run.resume: {quote(r.resume, 300)} is a file, not a checkpoint directory; "
                "use auto, never or a checkpoint-N directory."
            )
        if not path.is_dir():
            raise UserError(
                f"$.run.resume: checkpoint {quote(r.resume, 300)} does not exist; use auto, never or a checkpoint path."
            )
        problem = checkpoints.checkpoint_problem(path)
        if problem:
            raise UserError(
                f"$.run.resume: checkpoint {quote(r.resume, 300)} is incomplete ({problem}); "
                "pass a complete one, or resume: auto to take the newest complete checkpoint."
            )
        return r.resume, []

    # ------------------------------------------------------------------ fit

    def check(self) -> Any:
        """Validate the whole job against the model and this machine, building nothing big.

        Refuses (one :class:`~pptrain_core.errors.ConfigError` naming the field) a run
        directory that cannot be written, a model configuration that cannot be built,
        sequences longer than the model's positions, and sizes that cannot fit in memory;
        see :mod:`pptrain_core.training.checks`. :meth:`fit` calls it first.
        """
        return self._checked()[1]

    def _checked(self) -> tuple[Any, Any]:
        from pptrain_core.training.checks import check_job, check_output_dir

        check_output_dir(self.run.output_dir)
        built = self.task.build()
        world = max(int(os.environ.get("WORLD_SIZE", "1")), 1)
        return built, check_job(self.task, built, self.adapter, self.run, world=world)

    def fit(self) -> FitResult:
        """Check the job, then train, evaluate, and (on the main process) write metrics, the plot,
        provenance and the bundle."""
        import torch

        from pptrain_core.training.checks import choose_threads, cpu_threads

        built, plan = self._checked()
        threads, chosen_by = (
            (None, "cuda") if torch.cuda.is_available() else choose_threads(self.run.threads, plan.profile.parameters)
        )
        with cpu_threads(threads):
            return self._fit(built, plan, {"setting": self.run.threads, "chosen_by": chosen_by})

    def _datasets(self, built: Any, plan: Any, n_train: int) -> tuple[Any, Any, Any, Any]:
        """The curriculum stage (or None), the train and eval datasets and the collator, as training reads them."""
        from pptrain_core.data import VirtualDataset
        from pptrain_core.training.collate import Collator, PackedDataset

        r = self.run
        stage = None
        if r.curriculum is not None:
            from pptrain_core.training.curriculum import CurriculumStage, StagedDataset

            stage = CurriculumStage(self.task, r.curriculum)
            pack = r.seq_len if r.collation == "pack" else 0
            train = StagedDataset(stage, seed=r.data_seed, split="train", length=n_train, seq_len=pack)
            evals = StagedDataset(stage, seed=r.data_seed, split="eval", length=r.eval_examples, seq_len=pack)
        elif r.collation == "pack":
            train = PackedDataset(built, seed=r.data_seed, split="train", length=n_train, seq_len=r.seq_len)
            evals = PackedDataset(built, seed=r.data_seed, split="eval", length=r.eval_examples, seq_len=r.seq_len)
        elif getattr(built, "window_view", lambda: None)() is not None:  # a window-level task: what the model sees
            from pptrain_core.training.collate import WindowedDataset

            train = WindowedDataset(built, seed=r.data_seed, split="train", length=n_train, max_len=r.seq_len)
            evals = WindowedDataset(built, seed=r.data_seed, split="eval", length=r.eval_examples, max_len=r.seq_len)
        else:
            train = VirtualDataset(built, seed=r.data_seed, split="train", length=n_train)
            evals = VirtualDataset(built, seed=r.data_seed, split="eval", length=r.eval_examples)
        collator = Collator(
            built.vocab.pad_id,
            0 if r.collation == "pack" else r.seq_len,
            positions=plan.profile.positions,
            numpy_in_workers=True,
        )
        return stage, train, evals, collator

    def data_loader(self, steps: int | None = None) -> Any:
        """The training batches exactly as :meth:`fit` reads them (dataset, order, collator, workers),
        without training: an iterable of ``{"input_ids", "attention_mask", "labels"}`` tensors for the
        first ``steps`` optimizer steps (default: the run's budget). For measuring the data path."""
        from pptrain_core.training.order import to_torch

        built, plan = self._checked()
        r = self.run
        args = self._training_args(Path(r.output_dir))
        world = max(int(args.world_size), 1)
        seqs_per_step = r.batch_size * r.grad_accum * world
        if steps is None:
            tokens_per_seq = self._tokens_per_sequence(built, plan.mean_tokens)
            steps = r.max_steps or max(1, math.ceil(r.max_tokens / (seqs_per_step * tokens_per_seq)))
        _stage, train, _evals, collator = self._datasets(built, plan, steps * seqs_per_step)
        trainer = _sequential_trainer_class()(
            model=self.adapter.build(built.vocab.size, seed=r.model_seed),
            args=args,
            train_dataset=train,
            data_collator=collator,
        )
        loader = trainer.get_train_dataloader()

        class _Batches:
            def __len__(self) -> int:
                return len(loader)

            def __iter__(self):
                return map(to_torch, iter(loader))

        return _Batches()

    def _fit(self, built: Any, plan: Any, threads: dict[str, Any]) -> FitResult:
        import torch
        from transformers.utils import logging as hf_logging

        from pptrain_core.bundle import write_json_atomic
        from pptrain_core.config import unstructure
        from pptrain_core.training.collate import PackedDataset

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        r = self.run
        run_dir = Path(r.output_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        vocab = built.vocab
        args = self._training_args(run_dir)
        main = args.process_index == 0
        if main:
            from pptrain_core.training.checkpoints import clean_run_dir

            clean_run_dir(run_dir)  # what a killed run left half-written
        world = max(int(args.world_size), 1)
        seqs_per_step = r.batch_size * r.grad_accum * world
        tokens_per_seq = self._tokens_per_sequence(built, plan.mean_tokens)
        steps = r.max_steps or max(1, math.ceil(r.max_tokens / (seqs_per_step * tokens_per_seq)))
        args.max_steps = steps
        n_train = steps * seqs_per_step

        stage, train, evals, collator = self._datasets(built, plan, n_train)

        model = self.adapter.build(vocab.size, seed=r.model_seed)
        job = {
            "task": {"ref": self.task.ref, "config": unstructure(self.task.config)},
            "model": {"adapter": self.adapter.name, "params": unstructure(self.adapter.config)},
            "run": unstructure(r),
        }
        provenance = {
            "versions": versions(self.registry),
            "git_sha": _git_sha(),
            "task": self.task.describe(),
            "seeds": {"data_seed": r.data_seed, "model_seed": r.model_seed},
            "hardware": hardware(),
            "threads": {**threads, "torch_threads": torch.get_num_threads()},
            "model_parameters": plan.profile.parameters,
            "memory_estimate": {"needed_at_least": plan.memory_needed, "available": plan.memory_available},
            "world_size": world,
            "budget": {
                "steps": steps,
                "sequences_per_step": seqs_per_step,
                "tokens_per_sequence": tokens_per_seq,
                "tokens_planned": steps * seqs_per_step * tokens_per_seq,
                "requested_tokens": r.max_tokens or None,
            },
            "packing": train.usage() if isinstance(train, PackedDataset) else None,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if main:
            write_json_atomic(run_dir / "job.json", job)
            write_json_atomic(run_dir / "run.json", provenance)
        tokens_per_step = seqs_per_step * tokens_per_seq
        callbacks = _Callbacks.make(run_dir, r.progress, tokens_per_step) + self.extra_callbacks
        if stage is not None:
            from pptrain_core.training.curriculum import make_callback

            callbacks.append(make_callback(stage, run_dir))
        trainer = _sequential_trainer_class(
            r.weight_decay_scope == "all",
            keep=r.save_total_limit,
            checkpoint_writers=[stage.save] if stage is not None else [],
        )(
            model=model,
            args=args,
            train_dataset=train,
            eval_dataset=evals if r.eval_examples else None,
            data_collator=collator,
            callbacks=callbacks,
            compute_metrics=token_accuracy if r.eval_examples else None,
            preprocess_logits_for_metrics=argmax_logits if r.eval_examples else None,
        )
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # our progress bar and metrics.jsonl replace it
        resume, skipped = self._resume_from(run_dir, barrier=trainer.accelerator.wait_for_everyone, main=main)
        if stage is not None and resume:
            stage.restore(resume)
        t0 = time.perf_counter()
        output = trainer.train(resume_from_checkpoint=resume)
        wall = time.perf_counter() - t0
        eval_loss = eval_accuracy = None
        if r.eval_examples:
            final = trainer.evaluate()
            eval_loss = float(final["eval_loss"])
            eval_accuracy = final.get("eval_accuracy")
        history = [h for h in trainer.state.log_history if "loss" in h]
        summary = {
            "steps": trainer.state.global_step,
            "tokens_seen": int(trainer.state.num_input_tokens_seen),
            "train_loss_last": history[-1]["loss"] if history else None,
            "train_loss_mean": float(output.training_loss),
            "eval_loss": eval_loss,
            "wall_time_s": round(wall, 3),
            "tokens_per_s": round(trainer.state.num_input_tokens_seen / wall, 1) if wall > 0 else None,
            # time the training loop waited for its next batches, and its share of the training time
            "data_wait_s": round(trainer.data_wait_s, 3),
            "data_wait_share": round(trainer.data_wait_s / wall, 4) if wall > 0 else None,
            "resumed_from": resume,
            "skipped_checkpoints": skipped,
            "world_size": world,
        }
        if eval_accuracy is not None:
            summary["eval_accuracy"] = eval_accuracy
        if stage is not None:
            summary["curriculum"] = {"field": r.curriculum.field, "final": stage.value, "history": stage.history}
        bundle_dir = None
        if main:
            trained = trainer.model
            if r.export_bundle:
                from pptrain_core.bundle import write_bundle

                bundle_dir = write_bundle(
                    run_dir / "bundle",
                    model=trained,
                    adapter=self.adapter,
                    adapter_name=self.adapter.name,
                    adapter_config=self.adapter.config,
                    resolved_task=self.task,
                    vocab=vocab,
                    seeds={"data_seed": r.data_seed, "model_seed": r.model_seed},
                    training=summary,
                    versions={
                        **provenance["versions"],
                        "task_plugin": self.registry.owner("register_tasks", self.task.spec.name).distribution,
                        "adapter_plugin": self.registry.owner("register_model_adapters", self.adapter.name).distribution
                        if self.adapter.name in self.registry.model_adapters
                        else None,
                    },
                    suggested_policy=r.suggested_policy,
                )
            plot_loss_curve(
                run_dir / "metrics.jsonl", run_dir / "loss_curve.png", f"{self.task.ref} ({self.adapter.name})"
            )
            write_json_atomic(run_dir / "summary.json", summary)
        trainer.accelerator.wait_for_everyone()
        self.trainer = trainer
        return FitResult(run_dir=run_dir, bundle_dir=bundle_dir, summary=summary)

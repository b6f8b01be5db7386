"""A curriculum over one integer task setting, stepped by evaluation accuracy.

The datasets read the *current* stage's task, so example ``i`` is a pure function of
``(seed, split, i, stage)``; the stage changes only right after an evaluation, and it
is saved with every checkpoint (``curriculum.json``), so a resumed run continues at the
stage it had when the checkpoint was written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from pptrain_core.config import structure, unstructure
from pptrain_core.data import Example, VirtualDataset
from pptrain_core.errors import ConfigError, did_you_mean
from pptrain_core.training.config import CurriculumConfig

STATE_FILE = "curriculum.json"


class CurriculumStage:
    """The current value of the scheduled setting, and the task built for it."""

    def __init__(self, resolved: Any, config: CurriculumConfig):
        self.resolved = resolved
        self.config = config
        fields = attrs.fields_dict(type(resolved.config))
        if config.field not in fields or fields[config.field].type not in (int, "int"):
            ints = [n for n, f in fields.items() if f.type in (int, "int")]
            raise ConfigError(
                "$.run.curriculum.field",
                f"task '{resolved.spec.name}' has no integer setting '{config.field}'{did_you_mean(config.field, ints)}",
            )
        self.target = config.target or int(getattr(resolved.config, config.field))
        self.value = min(config.start, self.target)
        self.history: list[dict[str, Any]] = [{"step": 0, "value": self.value}]
        self._tasks: dict[int, Any] = {}

    def task(self) -> Any:
        if self.value not in self._tasks:
            data = {**unstructure(self.resolved.config), self.config.field: self.value}
            cfg = structure(data, type(self.resolved.config), "$.run.curriculum")
            self._tasks[self.value] = self.resolved.spec.build(cfg)
        return self._tasks[self.value]

    def advance(self, accuracy: float | None, step: int) -> bool:
        """Move to the next stage if ``accuracy`` reached the threshold; True if it moved."""
        if accuracy is None or accuracy < self.config.threshold or self.value >= self.target:
            return False
        self.value = min(self.value + self.config.step, self.target)
        self.history.append({"step": step, "value": self.value, "accuracy": accuracy})
        return True

    def save(self, directory: str | Path) -> None:
        """Write the stage into a checkpoint folder (atomically; before the checkpoint is marked complete)."""
        from pptrain_core.bundle import write_json_atomic

        write_json_atomic(Path(directory, STATE_FILE), {"value": self.value, "history": self.history})

    def restore(self, directory: str | Path) -> None:
        path = Path(directory, STATE_FILE)
        if path.is_file():
            state = json.loads(path.read_text())
            self.value, self.history = int(state["value"]), list(state["history"])


class StagedDataset:
    """A virtual (or packed) dataset that reads the curriculum's current task."""

    def __init__(self, stage: CurriculumStage, *, seed: int, split: str, length: int, seq_len: int = 0):
        self.stage = stage
        self.seed, self.split, self.length, self.seq_len = int(seed), split, int(length), int(seq_len)
        self._views: dict[int, Any] = {}

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> Example:
        from pptrain_core.training.collate import PackedDataset

        view = self._views.get(self.stage.value)
        if view is None:
            task = self.stage.task()
            if self.seq_len:
                view = PackedDataset(task, seed=self.seed, split=self.split, length=self.length, seq_len=self.seq_len)
            else:
                view = VirtualDataset(task, seed=self.seed, split=self.split, length=self.length)
            self._views[self.stage.value] = view
        return view[i]


def token_accuracy(eval_pred: Any) -> dict[str, float]:
    """Argmax accuracy on the loss-carrying positions: prediction at ``t`` vs token ``t+1``."""
    import numpy as np

    preds, labels = eval_pred.predictions, eval_pred.label_ids
    preds = preds[0] if isinstance(preds, tuple) else preds
    p, y = np.asarray(preds)[:, :-1], np.asarray(labels)[:, 1:]
    keep = y != -100
    return {"accuracy": float((p[keep] == y[keep]).mean()) if keep.any() else 0.0}


def argmax_logits(logits: Any, labels: Any) -> Any:
    """Keep only the argmax during evaluation (the full logits are not needed)."""
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(dim=-1)


def make_callback(stage: CurriculumStage, run_dir: Path) -> Any:
    from transformers import TrainerCallback

    class CurriculumCallback(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if stage.advance((metrics or {}).get("eval_accuracy"), state.global_step) and state.is_world_process_zero:
                with open(run_dir / "curriculum.jsonl", "a", encoding="utf-8") as f:
                    f.write(json.dumps(stage.history[-1]) + "\n")

        # the stage is saved by the trainer into each checkpoint before it is marked complete

    return CurriculumCallback()

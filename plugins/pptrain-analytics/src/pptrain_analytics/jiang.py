"""``pptrain replicate --profile jiang-tiny``: Jiang et al. 2026's tiny-model needle result, end to end.

The protocol follows the official repository (zlshinnick/procedural-pretraining@5356d9e)
value by value; :data:`PROTOCOL` lists every value with where it comes from, and
``--dry-run`` prints it. Three arms per seed:

* ``scratch``: the needle model from a fresh initialisation;
* ``dyck``: a 2-layer, 4-head, width-16 GPT-2 trained on k-Dyck (k 16, 128 tokens) with the
  Dyck script's defaults, the checkpoint with the best validation accuracy transferred
  under ``mean_embeddings`` (Jiang et al.'s ``everything`` + ``average``);
* ``dyck_shuffled``: the same, on the same Dyck sequences with their tokens permuted
  within each sequence (the control).

The work is split into *units*, each resumable on its own and each leaving a small
``result.json`` behind: ``phase1/<arm>/seed-<s>`` (the Dyck or shuffled-Dyck model) and
``needle/<arm>/seed-<s>`` (the needle run, which needs its arm's phase-1 unit). A unit
checkpoints every ``save_every`` steps and a killed unit continues from its newest
checkpoint, so a long CPU run can be spread over several sessions; ``--workers N`` runs
units in N processes (they claim units with lock files), which is how one accelerator is
kept busy with many tiny models. ``results.jsonl`` in the run directory holds one line
per finished unit (the raw results the report and docs/compare.md are built from).
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from pptrain_analytics.compare import _write_jsonl
from pptrain_core.config import at_least, in_range, one_of

REPO = "zlshinnick/procedural-pretraining@5356d9e"
ARMS = ("scratch", "dyck", "dyck_shuffled")
#: The needle task's accuracy for a model that answers with one of the in-context values
#: at random: E[1/s] for s uniform on 1..30.
GUESS_A_VALUE = sum(1.0 / s for s in range(1, 31)) / 30
#: Uniform guessing over the 127 value tokens.
CHANCE = 1.0 / 127
#: Pair-count buckets of the report (the needle task draws 1..30 pairs).
BUCKETS = ((1, 5), (6, 15), (16, 30))

# --------------------------------------------------------------------------- the protocol

#: Every value of the protocol with its source (what ``--dry-run`` prints).
PROTOCOL: dict[str, dict[str, Any]] = {
    "dyck_phase": {
        "model": {"value": "GPT-2 2 layers, 4 heads, d 16, 128 positions", "source": "dyck.py --gpt2_size 2_4_16"},
        "tied_embeddings": {"value": True, "source": "utils.create_gpt2_model: GPT2Config default"},
        "dropout": {"value": 0.1, "source": "utils.DEFAULT_DROPOUT (resid, embd, attn)"},
        "vocabulary": {"value": "2k+1 = 33 (k opens, k closes, pad)", "source": "dyck.py vocab_size = k * 2 + 1"},
        "k": {"value": 16, "source": "dyck.py --k default"},
        "p_open": {"value": 0.5, "source": "dyck.py --p_open default"},
        "length": {"value": 128, "source": "dyck.py --seq_length default"},
        "batch_size": {"value": 64, "source": "dyck.py --batch_size default"},
        "optimizer": {
            "value": "AdamW(model.parameters()), betas (0.9, 0.999), eps 1e-8",
            "source": "dyck.py main: weight decay on every parameter",
        },
        "lr": {"value": 5e-5, "source": "dyck.py --lr default; --lr_schedule constant, --warmup_steps 0"},
        "weight_decay": {"value": 0.01, "source": "dyck.py --weight_decay default"},
        "max_grad_norm": {"value": 1.0, "source": "dyck.py --max_grad_norm default"},
        "validation": {
            "value": "every 100 steps on 10 batches (640 sequences), token accuracy on every position but the last",
            "source": "dyck.py --save_every_steps 100, procedural_data/dyck.py _VAL_BATCHES 10",
        },
        "steps": {
            "value": "up to 1,000,000 (no early stop: patience 1,000,001)",
            "source": "dyck.py --max_steps, --patience defaults; the paper does not say where its tiny runs stopped",
        },
        "transferred_checkpoint": {
            "value": "the one with the best validation accuracy",
            "source": "dyck.py train_epoch: best_pytorch_model_* saved when val_acc improves",
        },
    },
    "transfer": {
        "policy": {"value": "mean_embeddings", "source": "configs/procedural.yaml: everything + average"},
        "body": {"value": "every block weight and the final norm copied", "source": "downstream/utils.py"},
        "embeddings": {
            "value": "every row of the 256-token embedding and of the untied head = mean source token embedding",
            "source": "downstream/utils.py load_pretrained_weights, strategy 'average'",
        },
        "positions": {
            "value": "first 100 rows copied when the source has >= 100 positions, else all fresh",
            "source": "downstream/utils.py load_pretrained_weights",
        },
    },
    "needle": {
        "task": {"value": "condattendstream_30: 1-30 key-value pairs, a query, the value", "source": "task file"},
        "model": {
            "value": "GPT-2 2 layers, 4 heads, d 16, 100 positions, vocab 256, untied head, dropout 0",
            "source": "configs/baseline.yaml",
        },
        "optimizer": {
            "value": "HF Trainer AdamW, lr 1e-3, cosine to 0, warmup 500, weight decay 0.001 (bias/LayerNorm exempt), "
            "clip 1.0",
            "source": "experiment_stream.py, baseline.yaml",
        },
        "batch_size": {"value": 1000, "source": "baseline.yaml per_device_train_batch_size"},
        "steps": {"value": 10_000, "source": "train_steps 250 * train_size 40,000 // batch 1,000"},
        "data": {
            "value": "fresh examples every step, never one of the 4,000 eval examples",
            "source": "experiment_stream.py CustomIterDataset",
        },
        "eval": {"value": "4,000 held-out examples; accuracy on the answer token", "source": "compute_metrics"},
        "eval_every": {"value": 50, "source": "baseline.yaml eval_steps (200 evaluations over the run)"},
    },
}


@attrs.frozen
class DyckPhase:
    """Phase 1: the Dyck (or shuffled-Dyck) model. Defaults are the official script's."""

    task: str = "dyck:paper_cli_k16"
    steps: int = attrs.field(default=100_000, validator=at_least(1))
    """Optimizer steps (official: up to 1M, the best validation checkpoint transferred)."""
    batch_size: int = attrs.field(default=64, validator=at_least(1))
    lr: float = attrs.field(default=5e-5, validator=in_range(0.0, 10.0, low_open=True))
    weight_decay: float = attrs.field(default=0.01, validator=at_least(0.0))
    max_grad_norm: float = attrs.field(default=1.0, validator=at_least(0.0))
    dropout: float = attrs.field(default=0.1, validator=in_range(0.0, 1.0))
    tied: bool = True
    n_positions: int = attrs.field(default=128, validator=at_least(1))
    eval_every: int = attrs.field(default=100, validator=at_least(1))
    val_sequences: int = attrs.field(default=640, validator=at_least(1))


@attrs.frozen
class NeedlePhase:
    """Phase 2: the needle run. Defaults are the official ``condattendstream_30`` settings."""

    steps: int = attrs.field(default=10_000, validator=at_least(1))
    batch_size: int = attrs.field(default=1000, validator=at_least(1))
    lr: float = attrs.field(default=1e-3, validator=in_range(0.0, 10.0, low_open=True))
    warmup_steps: int = attrs.field(default=500, validator=at_least(0))
    weight_decay: float = attrs.field(default=0.001, validator=at_least(0.0))
    eval_examples: int = attrs.field(default=4000, validator=at_least(1))
    eval_every: int = attrs.field(default=50, validator=at_least(1))
    preset: str = "paper"


@attrs.frozen
class JiangTinyConfig:
    """The whole profile (``variant`` names a documented departure; ``official`` is none)."""

    output_dir: str = "runs/replicate-jiang-tiny"
    seeds: tuple[int, ...] = attrs.field(default=(0, 1, 2), converter=tuple)
    arms: tuple[str, ...] = attrs.field(default=ARMS, converter=tuple)
    variant: str = attrs.field(default="official", validator=one_of("official", "fast-dyck", "smoke"))
    dyck: DyckPhase = attrs.Factory(DyckPhase)
    needle: NeedlePhase = attrs.Factory(NeedlePhase)
    save_every: int = attrs.field(default=250, validator=at_least(1))
    """Checkpoint every this many steps in both phases (a killed unit resumes from there)."""
    dataloader_workers: int = attrs.field(default=0, validator=at_least(0))
    """DataLoader worker processes per unit (on an accelerator, 1 overlaps generation with the step)."""

    def __attrs_post_init__(self) -> None:
        from pptrain_core.errors import UserError

        bad = [a for a in self.arms if a not in ARMS]
        if bad:
            raise UserError(f"arms: unknown arm {bad[0]!r}; choose from {', '.join(ARMS)}")
        if not self.seeds or min(self.seeds) < 0:
            raise UserError("seeds: give at least one non-negative seed, e.g. 0,1,2")


#: The documented variants. ``fast-dyck`` raises only the Dyck phase's learning rate (and
#: shortens it) so that a CPU can train the Dyck model to convergence; the needle phase
#: and the transfer stay official. ``smoke`` is for tests.
VARIANTS: dict[str, dict[str, Any]] = {
    "official": {},
    "fast-dyck": {"dyck": {"lr": 1e-3, "steps": 10_000}},
    "smoke": {
        "dyck": {"steps": 30, "eval_every": 10, "val_sequences": 16, "batch_size": 8},
        "needle": {"steps": 12, "batch_size": 16, "warmup_steps": 2, "eval_examples": 64, "eval_every": 6},
        "save_every": 5,
    },
}


def make_config(
    variant: str = "official",
    *,
    output_dir: str | None = None,
    seeds: list[int] | None = None,
    arms: list[str] | None = None,
    overrides: list[str] | None = None,
) -> JiangTinyConfig:
    """The profile's config: the variant's values, then ``--set`` overrides (``dyck.steps=20000``)."""
    from pptrain_core.config import parse_override, set_dotted, structure, unstructure
    from pptrain_core.errors import UserError, did_you_mean

    if variant not in VARIANTS:
        raise UserError(f"unknown jiang-tiny variant {variant!r}{did_you_mean(variant, list(VARIANTS))}")
    data = unstructure(JiangTinyConfig())
    for key, value in VARIANTS[variant].items():
        if isinstance(value, dict):
            data[key].update(value)
        else:
            data[key] = value
    data["variant"] = variant
    data["output_dir"] = output_dir or f"runs/replicate-jiang-tiny{'' if variant == 'official' else '-' + variant}"
    if seeds:
        data["seeds"] = list(seeds)
    if arms:
        data["arms"] = list(arms)
    for item in overrides or []:
        key, value = parse_override(item)
        set_dotted(data, key, value)
    return structure(data, JiangTinyConfig, "$")


def describe(config: JiangTinyConfig) -> dict[str, Any]:
    """What ``--dry-run`` prints: the protocol with its sources, and the values this run uses."""
    from pptrain_core.config import unstructure

    return {
        "profile": "jiang-tiny",
        "paper": "Jiang, Shinnick, van den Hengel, Saratchandran, Teney 2026, arXiv 2601.21725",
        "repository": REPO,
        "claim": "needle-in-a-haystack accuracy 11% from scratch, 97% after Dyck, 10% after the best shuffled control",
        "protocol": PROTOCOL,
        "run": unstructure(config),
        "variant_changes": VARIANTS[config.variant],
        "units": [u.name for u in units(config)],
        "reference_lines": {"chance": CHANCE, "guess_a_value": GUESS_A_VALUE},
    }


def use_device(device: str) -> str:
    """Pin this process (and the workers it starts) to ``cpu`` or ``cuda``; ``auto``: cuda when present.

    The trainer puts a model on the GPU whenever torch sees one, so ``cpu`` hides the GPUs
    (``CUDA_VISIBLE_DEVICES``) before torch is first asked; ``cuda`` refuses a machine without one.
    """
    from pptrain_core.errors import UserError

    if device not in ("auto", "cpu", "cuda"):
        raise UserError(f"--device must be cpu, cuda or auto, not {device!r}")
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        return "cpu"
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: torch sees no CUDA device here; use --device cpu (or auto)")
    return "cuda" if torch.cuda.is_available() else "cpu"


# --------------------------------------------------------------------------- units


@attrs.frozen
class Unit:
    phase: str  # phase1 | needle
    arm: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.phase}/{self.arm}/seed-{self.seed}"

    def needs(self) -> Unit | None:
        if self.phase == "needle" and self.arm != "scratch":
            return Unit("phase1", self.arm, self.seed)
        return None


def units(config: JiangTinyConfig) -> list[Unit]:
    """Every unit, phase-1 units first (seed-major so that one seed's arms finish together)."""
    out = [Unit("phase1", a, s) for s in config.seeds for a in config.arms if a != "scratch"]
    out += [Unit("needle", a, s) for s in config.seeds for a in config.arms]
    return out


def _write_json(path: Path, data: Any) -> None:
    from pptrain_core.bundle import write_json_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, data)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


# --------------------------------------------------------------------------- claims (parallel workers)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_start(pid: int) -> str | None:
    """When the process ``pid`` started (Linux: clock ticks since boot, with the boot's id), so that a
    claim left by a killed session is not mistaken for a live one when its PID is reused; ``None``
    where /proc does not tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None


def _holder_alive(holder: dict[str, Any]) -> bool:
    pid = int(holder.get("pid", -1))
    if not _pid_alive(pid):
        return False
    started = holder.get("started")
    return started is None or _process_start(pid) in (None, started)


def claim(unit_dir: Path) -> bool:
    """Take a unit for this process (False when another live process holds it)."""
    unit_dir.mkdir(parents=True, exist_ok=True)
    lock = unit_dir / ".claim"
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.time(),
        "started": _process_start(os.getpid()),
    }
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_json(lock) or {}
            stale = holder.get("host") == me["host"] and not _holder_alive(holder)
            if holder.get("pid") == me["pid"] and holder.get("host") == me["host"]:
                return True
            if not stale and holder:
                return False
            try:
                lock.unlink()
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(me, f)
        return True
    return False


def release(unit_dir: Path) -> None:
    try:
        (unit_dir / ".claim").unlink()
    except FileNotFoundError:
        pass


# --------------------------------------------------------------------------- models


def _gpt2_adapter(n_positions: int, *, dropout: float, tied: bool, registry: Any = None) -> Any:
    from pptrain_core.training.job import build_adapter

    overrides = {
        "n_layer": 2,
        "n_head": 4,
        "n_embd": 16,
        "n_positions": n_positions,
        "resid_pdrop": dropout,
        "embd_pdrop": dropout,
        "attn_pdrop": dropout,
        "tie_word_embeddings": tied,
    }
    params = {"model_type": "gpt2", "overrides": overrides}
    return build_adapter("hf_causal_lm", params, registry=registry, path="$.jiang.model")


def phase1_adapter(config: JiangTinyConfig, registry: Any = None) -> Any:
    d = config.dyck
    return _gpt2_adapter(d.n_positions, dropout=d.dropout, tied=d.tied, registry=registry)


def phase1_task(config: JiangTinyConfig, arm: str, registry: Any = None) -> Any:
    from pptrain_core.tasks import resolve

    if arm == "dyck":
        return resolve(config.dyck.task, registry=registry, path="$.dyck.task")
    return resolve("shuffled", {"task": config.dyck.task}, registry=registry, path="$.dyck.task")


# --------------------------------------------------------------------------- Dyck quality


def dyck_quality(model: Any, tokens: np.ndarray, k: int, batch_size: int = 128) -> dict[str, float]:
    """How well ``model`` predicts k-Dyck's closing brackets.

    At every position whose next token is a closing bracket (ids ``k .. 2k-1``), is the
    argmax over the ``k`` closing brackets the matching one (``close_accuracy``); and the
    share of sequences where every closing bracket is right (``sequence_accuracy``). The
    official validation metric, argmax over the whole vocabulary at every position but the
    last, is ``token_accuracy`` (its ceiling is about 0.5 + small: after an open bracket the
    next token is an open one half of the time).
    """
    import torch

    device = next(model.parameters()).device
    was = model.training
    model.eval()
    right_close = total_close = right_tok = total_tok = seq_ok = 0
    try:
        with torch.no_grad():
            for start in range(0, len(tokens), batch_size):
                ids = torch.as_tensor(tokens[start : start + batch_size], dtype=torch.long, device=device)
                logits = model(input_ids=ids).logits[:, :-1].float()
                target = ids[:, 1:]
                pred_all = logits.argmax(-1)
                right_tok += int((pred_all == target).sum())
                total_tok += target.numel()
                closing = (target >= k) & (target < 2 * k)
                pred_close = logits[..., k : 2 * k].argmax(-1) + k
                ok = (pred_close == target) & closing
                right_close += int(ok.sum())
                total_close += int(closing.sum())
                seq_ok += int(((ok | ~closing).all(dim=1)).sum())
    finally:
        model.train(was)
    return {
        "token_accuracy": right_tok / total_tok if total_tok else float("nan"),
        "close_accuracy": right_close / total_close if total_close else float("nan"),
        "sequence_accuracy": seq_ok / len(tokens) if len(tokens) else float("nan"),
    }


def dyck_match_targets(tokens: np.ndarray, k: int) -> np.ndarray:
    """``(row, query, target)`` for every closing bracket that does not follow its own open one: the
    position before it (where the model predicts it) and the position of the bracket it closes, the
    one a model that has learned the nesting must look up."""
    out = []
    for r, row in enumerate(np.asarray(tokens).tolist()):
        stack: list[int] = []
        for i, tok in enumerate(row):
            if tok < k:
                stack.append(i)
            elif tok < 2 * k and stack:
                opened = stack.pop()
                if opened != i - 1:
                    out.append((r, i - 1, opened))
    return np.array(out, dtype=np.int64).reshape(-1, 3)


def needle_match_targets(tokens: np.ndarray, max_pairs: int = 30, vocab_size: int = 256) -> np.ndarray:
    """``(row, query, target)`` for every needle sequence: the query position and the position of the
    value stored under the queried key (the token the answer copies)."""
    out = []
    query_base = max_pairs + vocab_size // 2
    for r, row in enumerate(np.asarray(tokens).tolist()):
        q = next(i for i, tok in enumerate(row) if tok >= query_base)
        key = row[q] - max_pairs
        j = next(i for i in range(0, q, 2) if row[i] == key)
        out.append((r, q, j + 1))
    return np.array(out, dtype=np.int64).reshape(-1, 3)


def match_attention(model: Any, tokens: np.ndarray, targets: np.ndarray, batch_size: int = 128) -> dict[str, Any]:
    """Mean attention weight that each head puts, from each query position, on its target
    (:func:`dyck_match_targets`, :func:`needle_match_targets`), against ``uniform``: the weight of a
    head that spreads evenly over the prefix (mean of 1/(query+1)). A head that does the lookup puts
    most of its weight there; one that does not stays near ``uniform``."""
    import torch

    targets = np.asarray(targets, dtype=np.int64).reshape(-1, 3)
    if not len(targets):
        return {"by_head": {}, "best_head": None, "best": None, "uniform": None, "targets": 0}
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    sums: np.ndarray | None = None
    try:
        with torch.no_grad():
            for start in range(0, len(tokens), batch_size):
                rows = targets[(targets[:, 0] >= start) & (targets[:, 0] < start + batch_size)]
                if not len(rows):
                    continue
                ids = torch.as_tensor(tokens[start : start + batch_size], dtype=torch.long, device=device)
                att = model(input_ids=ids, output_attentions=True).attentions
                if not att or att[0] is None:
                    raise ValueError(
                        "the model returns no attention weights; build it with attn_implementation='eager'"
                    )
                b, q, t = (torch.as_tensor(rows[:, i] - (start if i == 0 else 0), device=device) for i in range(3))
                # per layer: (targets, heads) weights, summed over this batch's targets
                got = np.stack([a[b, :, q, t].float().sum(0).cpu().numpy() for a in att])
                sums = got if sums is None else sums + got
    finally:
        model.train(was)
    mean = sums / len(targets)
    by_head = {
        f"L{layer}H{head}": float(mean[layer, head]) for layer in range(mean.shape[0]) for head in range(mean.shape[1])
    }
    best = max(by_head, key=by_head.get)
    return {
        "by_head": by_head,
        "best_head": best,
        "best": by_head[best],
        "uniform": float(np.mean(1.0 / (targets[:, 1] + 1))),
        "targets": int(len(targets)),
    }


def needle_lookup(model: Any, tokens: np.ndarray) -> dict[str, Any]:
    """:func:`match_attention` on the needle's value, plus ``over_values``: the weight of a head that
    spreads evenly over the s stored values (mean 1/s), the attention of a model that answers with
    some in-context value without finding the right one."""
    targets = needle_match_targets(tokens)
    out = match_attention(model, tokens, targets)
    out["over_values"] = float(np.mean(2.0 / targets[:, 1])) if len(targets) else None
    return out


def adjacent_close_baseline(tokens: np.ndarray, k: int) -> float:
    """Close accuracy of a model that only closes the bracket opened just before and guesses
    uniformly otherwise: the share of closing brackets right after their open one, plus 1/k of
    the rest. A Dyck model at this level has learned a bigram, not the nesting (about 0.54
    for k 16, p_open 0.5, 128 tokens)."""
    adjacent = total = 0
    for row in np.asarray(tokens):
        stack: list[int] = []
        for i, tok in enumerate(row.tolist()):
            if tok < k:
                stack.append(i)
            elif k <= tok < 2 * k and stack:
                total += 1
                adjacent += stack.pop() == i - 1
    share = adjacent / total if total else float("nan")
    return share + (1 - share) / k


def save_weights(model: Any, path: Path) -> None:
    """The model's tensors under their own names (a tied head is the token embedding: stored once, as that)."""
    from safetensors.torch import save_file

    state = model.state_dict()
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
    tied = head is not None and emb is not None and head.weight is emb.weight
    out = {k: v.detach().cpu().contiguous().clone() for k, v in state.items() if not (tied and k == "lm_head.weight")}
    save_file(out, str(path), metadata={"format": "pt"})


def load_weights(model: Any, path: Path) -> None:
    """Load :func:`save_weights`' file; every tensor of the model must be there (a tied head follows its embedding)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    # ``safetensors.torch.save_model`` stores a shared tensor once and records each dropped
    # name as metadata ``{dropped: kept}``: restore those names
    for dropped, kept in meta.items():
        if dropped not in tensors and kept in tensors:
            tensors[dropped] = tensors[kept]
    result = model.load_state_dict(tensors, strict=False)
    missing = [k for k in result.missing_keys if k != "lm_head.weight"]
    if missing or result.unexpected_keys:
        raise ValueError(f"{path} does not fit the model (missing {missing}, unexpected {result.unexpected_keys})")


def _phase1_callback(
    unit_dir: Path, val_tokens: np.ndarray, dyck_tokens: np.ndarray, k: int, every: int, own_is_dyck: bool
):
    """Validation every ``every`` steps; the best-validation-accuracy weights kept in ``best.safetensors``."""
    from transformers import TrainerCallback

    curve_path = unit_dir / "val_curve.jsonl"

    class Validation(TrainerCallback):
        def __init__(self) -> None:
            self.records: list[dict[str, Any]] = []
            self.best = _read_json(unit_dir / "best.json") or {"step": None, "val_accuracy": -1.0}

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            step = state.global_step
            self.records = [r for r in _read_jsonl(curve_path) if r["step"] <= step]
            if self.best.get("step") is not None and self.best["step"] > step:  # written after the checkpoint
                self.best = {"step": None, "val_accuracy": -1.0}
                for r in self.records:
                    if r["val_accuracy"] > self.best["val_accuracy"]:
                        self.best = {"step": r["step"], "val_accuracy": r["val_accuracy"], "stale": True}
            if step == 0 and model is not None:
                self._measure(model, 0)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if model is not None and state.global_step % every == 0:
                self._measure(model, state.global_step)

        def _measure(self, model: Any, step: int) -> None:
            own = dyck_quality(model, val_tokens, k)
            rec: dict[str, Any] = {"step": step, "val_accuracy": own["token_accuracy"]}
            if own_is_dyck:
                rec.update(close_accuracy=own["close_accuracy"], sequence_accuracy=own["sequence_accuracy"])
            else:
                plain = dyck_quality(model, dyck_tokens, k)
                rec.update(
                    close_accuracy=plain["close_accuracy"],
                    sequence_accuracy=plain["sequence_accuracy"],
                    dyck_token_accuracy=plain["token_accuracy"],
                )
            self.records.append(rec)
            _write_jsonl(curve_path, self.records)
            if step > 0 and rec["val_accuracy"] > self.best["val_accuracy"]:
                tmp = unit_dir / f".best.safetensors.tmp-{os.getpid()}"
                save_weights(model, tmp)
                os.replace(tmp, unit_dir / "best.safetensors")
                self.best = {"step": step, **rec}
                _write_json(unit_dir / "best.json", self.best)

    return Validation()


def _unit_run(config: JiangTinyConfig, unit: Unit, unit_dir: Path, progress: bool, **phase: Any) -> Any:
    """The ``RunConfig`` of a unit: its phase's optimisation settings, the unit's seed for data and
    initialisation, checkpoints every ``save_every`` steps and resume from the newest complete one."""
    from pptrain_core.training import RunConfig

    return RunConfig(
        output_dir=str(unit_dir / "run"),
        data_seed=unit.seed,
        model_seed=unit.seed,
        eval_examples=0,
        save_steps=config.save_every,
        save_total_limit=1,
        resume="auto",
        dataloader_workers=config.dataloader_workers,
        progress=progress,
        export_bundle=False,
        **phase,
    )


def phase1_trainer(
    config: JiangTinyConfig, unit: Unit, unit_dir: Path, registry: Any, progress: bool = False, callbacks: Any = ()
) -> Any:
    """The ``PrePreTrainer`` a phase-1 unit runs (its ``data_loader()`` gives the batches ``fit`` reads)."""
    from pptrain_core.training import PrePreTrainer

    d = config.dyck
    run = _unit_run(
        config, unit, unit_dir, progress, max_steps=d.steps, batch_size=d.batch_size, lr=d.lr, schedule="constant",
        warmup_steps=0, weight_decay=d.weight_decay, weight_decay_scope="all", max_grad_norm=d.max_grad_norm,
        logging_steps=d.eval_every,
    )  # fmt: skip
    task = phase1_task(config, unit.arm, registry)
    return PrePreTrainer(task, phase1_adapter(config, registry), run, callbacks=list(callbacks), registry=registry)


def run_phase1(config: JiangTinyConfig, unit: Unit, unit_dir: Path, registry: Any, progress: bool) -> dict[str, Any]:
    from pptrain_core.data import VirtualDataset

    d = config.dyck
    task = phase1_task(config, unit.arm, registry)
    built = task.build()
    # the validation sequences: the eval split of the arm's own data (the official metric)
    # and, for the control, the same Dyck sequences unshuffled (the Dyck-quality figures)
    val = np.stack([e.tokens for e in VirtualDataset(built, seed=unit.seed, split="eval", length=d.val_sequences)])
    plain, k = _plain_dyck(config, unit, registry)
    callback = _phase1_callback(unit_dir, val, plain, k, d.eval_every, unit.arm == "dyck")
    t0 = time.perf_counter()
    fit = phase1_trainer(config, unit, unit_dir, registry, progress, callbacks=[callback]).fit()
    best = _read_json(unit_dir / "best.json") or {}
    attention = _phase1_attention(config, unit, registry, (plain, k))
    curve = _read_jsonl(unit_dir / "val_curve.jsonl")
    return {
        "unit": unit.name,
        "phase": "phase1",
        "arm": unit.arm,
        "seed": unit.seed,
        "status": "ok" if best.get("step") is not None else "failed",
        "error": None if best.get("step") is not None else "no validation improved on the initial model",
        "task": task.ref,
        "steps": fit.summary.get("steps"),
        "tokens_seen": fit.summary.get("tokens_seen"),
        "best": best,
        "final": curve[-1] if curve else None,
        "initial": curve[0] if curve else None,
        "adjacent_close_baseline": adjacent_close_baseline(plain, k),
        "match_attention": attention,
        "curve": curve,
        "wall_s_this_session": round(time.perf_counter() - t0, 3),
        "resumed_from": fit.summary.get("resumed_from"),
        "hardware": _hardware(),
        "settings": attrs.asdict(d),
    }


# --------------------------------------------------------------------------- the needle unit


def _bucket_of(pairs: np.ndarray) -> np.ndarray:
    out = np.zeros_like(pairs)
    for i, (lo, hi) in enumerate(BUCKETS):
        out[(pairs >= lo) & (pairs <= hi)] = i
    return out


def needle_scores(pred: np.ndarray, tokens: np.ndarray, mask: np.ndarray, pairs: np.ndarray) -> dict[str, Any]:
    """Answer-token accuracy, overall and by pair-count bucket, plus the share of answers that
    are *some* in-context value (a model that retrieves nothing but copies a value gets ~13%)."""
    from pptrain_analytics.finetune import score_predictions

    scores = score_predictions(pred, tokens, mask)
    target_pos = mask[:, 1:].astype(bool)
    guess = pred[:, : tokens.shape[1] - 1][target_pos]
    values = tokens[:, 1:-2:2]  # the value slots (positions 1, 3, ...), zeros past the pairs
    in_context = np.array([g != 0 and g in row for g, row in zip(guess, values, strict=True)])
    buckets = _bucket_of(pairs)
    by = {}
    for i, (lo, hi) in enumerate(BUCKETS):
        rows = buckets == i
        if rows.any():
            by[f"{lo}-{hi}"] = score_predictions(pred[rows], tokens[rows], mask[rows])["accuracy"]
    return {
        "accuracy": scores["accuracy"],
        "by_pairs": by,
        "answers_in_context": float(in_context.mean()) if in_context.size else float("nan"),
    }


def _needle_callback(unit_dir: Path, tokens: np.ndarray, mask: np.ndarray, pairs: np.ndarray, every: int):
    from transformers import TrainerCallback

    from pptrain_analytics.finetune import predict_next

    curve_path = unit_dir / "curve.jsonl"

    class NeedleCurve(TrainerCallback):
        def __init__(self) -> None:
            self.records: list[dict[str, Any]] = []

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            step = state.global_step
            self.records = [r for r in _read_jsonl(curve_path) if r["step"] <= step]
            if step == 0 and model is not None:
                self._measure(model, 0)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            step = state.global_step
            if model is not None and (step % every == 0 or step == state.max_steps):
                self._measure(model, step)

        def _measure(self, model: Any, step: int) -> None:
            pred = predict_next(model, tokens, batch_size=1000)
            self.records.append({"step": step, **needle_scores(pred, tokens, mask, pairs)})
            _write_jsonl(curve_path, self.records)

    return NeedleCurve()


def _load_phase1_model(config: JiangTinyConfig, unit: Unit, run_dir: Path, registry: Any) -> tuple[Any, Any]:
    source_dir = run_dir / "phase1" / unit.arm / f"seed-{unit.seed}"
    adapter = phase1_adapter(config, registry)
    task = phase1_task(config, unit.arm, registry)
    model = adapter.build(task.build().vocab.size, seed=unit.seed)
    load_weights(model, source_dir / "best.safetensors")
    return model, adapter


def _needle_probe(config: JiangTinyConfig, unit: Unit) -> Any:
    from pptrain_analytics.finetune import NeedleProbe
    from pptrain_analytics.metric_specs import FinetuneProbeConfig

    n = config.needle
    return NeedleProbe(
        FinetuneProbeConfig(
            preset=n.preset,
            steps=n.steps,
            batch_size=n.batch_size,
            lr=n.lr,
            warmup_steps=n.warmup_steps,
            weight_decay=n.weight_decay,
            eval_examples=n.eval_examples,
            eval_every=n.eval_every,
            seed=unit.seed,
            model_seed=unit.seed,
        )
    )


def _needle_eval_tokens(config: JiangTinyConfig, unit: Unit, task: Any) -> np.ndarray:
    from pptrain_core.data import VirtualDataset

    return np.stack(
        [e.tokens for e in VirtualDataset(task, seed=unit.seed, split="eval", length=config.needle.eval_examples)]
    )


def _phase1_attention(
    config: JiangTinyConfig, unit: Unit, registry: Any, plain: tuple[np.ndarray, int] | None = None
) -> dict[str, Any] | None:
    """:func:`match_attention` of a phase-1 unit's transferred (best) checkpoint on the plain Dyck
    validation sequences (``plain``: :func:`_plain_dyck`'s, when the caller has them): does any
    head look up the bracket being closed."""
    if not (unit_dir(config, unit) / "best.safetensors").is_file():
        return None
    tokens, k = plain if plain is not None else _plain_dyck(config, unit, registry)
    model, _ = _load_phase1_model(config, unit, Path(config.output_dir), registry)
    return match_attention(model, tokens, dyck_match_targets(tokens, k))


def _plain_dyck(config: JiangTinyConfig, unit: Unit, registry: Any) -> tuple[np.ndarray, int]:
    """The unit's seed's phase-1 validation sequences as plain Dyck (the quality figures' data), and k."""
    from pptrain_core.data import VirtualDataset

    dyck = phase1_task(config, "dyck", registry)
    built = dyck.build()
    tokens = np.stack(
        [e.tokens for e in VirtualDataset(built, seed=unit.seed, split="eval", length=config.dyck.val_sequences)]
    )
    return tokens, int(dyck.config.k)


def _needle_attention(config: JiangTinyConfig, unit: Unit, registry: Any, model: Any = None) -> dict[str, Any] | None:
    """:func:`match_attention` of a needle unit's final model on its evaluation examples: does any
    head look up the value stored under the queried key. ``model``: the trained one; without it, the
    unit's last checkpoint is loaded."""
    probe = _needle_probe(config, unit)
    task = probe.resolved_task().build()
    if model is None:
        from safetensors.torch import load_file

        path = (
            unit_dir(config, unit) / "run" / "checkpoints" / f"checkpoint-{config.needle.steps}" / "model.safetensors"
        )
        if not path.is_file():
            return None
        model = probe.probe_adapter(task.n_positions, registry).build(task.vocab.size, seed=unit.seed)
        model.load_state_dict(load_file(str(path)))
    return needle_lookup(model, _needle_eval_tokens(config, unit, task))


def needle_trainer(
    config: JiangTinyConfig, unit: Unit, unit_dir: Path, registry: Any, progress: bool = False, callbacks: Any = ()
) -> tuple[Any, Any]:
    """The ``PrePreTrainer`` a needle unit runs, on the model it starts from (fresh, or the phase-1
    model transferred), and the transfer report (``None`` from scratch)."""
    from pptrain_analytics.finetune import _architecture_problem, _Prebuilt
    from pptrain_core.errors import UserError
    from pptrain_core.training import PrePreTrainer
    from pptrain_core.transfer import build_policy

    n = config.needle
    probe = _needle_probe(config, unit)
    resolved = probe.resolved_task()
    task = resolved.build()
    target_adapter = probe.probe_adapter(task.n_positions, registry)
    target = target_adapter.build(task.vocab.size, seed=unit.seed)
    report = None
    if unit.arm != "scratch":
        source, source_adapter = _load_phase1_model(config, unit, Path(config.output_dir), registry)
        policy = build_policy("mean_embeddings", registry=registry, path="$.transfer")
        state = {key: v.detach().cpu() for key, v in source.state_dict().items()}
        report = policy.apply(
            state, source_adapter.parameters_info(source), target, target_adapter.parameters_info(target)
        )
        problem = _architecture_problem(report, source, probe.config)
        if problem:
            raise UserError(problem)
    run = _unit_run(
        config, unit, unit_dir, progress, max_steps=n.steps, batch_size=n.batch_size, lr=n.lr, schedule="cosine",
        warmup_steps=n.warmup_steps, weight_decay=n.weight_decay, max_grad_norm=1.0, logging_steps=n.eval_every,
    )  # fmt: skip
    trainer = PrePreTrainer(
        resolved, _Prebuilt(target_adapter, target), run, callbacks=list(callbacks), registry=registry
    )
    return trainer, report


def run_needle(config: JiangTinyConfig, unit: Unit, unit_dir: Path, registry: Any, progress: bool) -> dict[str, Any]:
    from pptrain_core.data import VirtualDataset

    n = config.needle
    trainer, report = needle_trainer(config, unit, unit_dir, registry, progress)
    transfer = None
    if report is not None:
        _write_json(unit_dir / "transfer_report.json", report.to_json())
        transfer = dict(report.counts)
    examples = list(VirtualDataset(trainer.task.build(), seed=unit.seed, split="eval", length=n.eval_examples))
    tokens = np.stack([e.tokens for e in examples])
    mask = np.stack([e.loss_mask for e in examples])
    pairs = np.array([e.meta["pairs"] for e in examples])
    trainer.extra_callbacks.append(_needle_callback(unit_dir, tokens, mask, pairs, n.eval_every))
    t0 = time.perf_counter()
    fit = trainer.fit()
    attention = needle_lookup(trainer.adapter.model, tokens)
    curve = _read_jsonl(unit_dir / "curve.jsonl")
    final = curve[-1] if curve else {}
    best = max(curve, key=lambda r: r["accuracy"]) if curve else {}
    ok = bool(curve) and final.get("step") == n.steps and math.isfinite(final.get("accuracy", float("nan")))
    return {
        "unit": unit.name,
        "phase": "needle",
        "arm": unit.arm,
        "seed": unit.seed,
        "status": "ok" if ok else "failed",
        "error": None if ok else "the needle run ended before its last evaluation",
        "accuracy": final.get("accuracy"),
        "by_pairs": final.get("by_pairs"),
        "answers_in_context": final.get("answers_in_context"),
        "match_attention": attention,
        "best_accuracy": best.get("accuracy"),
        "best_step": best.get("step"),
        "initial_accuracy": curve[0]["accuracy"] if curve else None,
        "curve": curve,
        "steps": fit.summary.get("steps"),
        "train_loss_last": fit.summary.get("train_loss_last"),
        "transfer": transfer,
        "wall_s_this_session": round(time.perf_counter() - t0, 3),
        "resumed_from": fit.summary.get("resumed_from"),
        "hardware": _hardware(),
        "settings": attrs.asdict(n),
    }


# --------------------------------------------------------------------------- the loop


def _hardware() -> dict[str, Any]:
    from pptrain_core.training.trainer import hardware

    return hardware()


def unit_dir(config: JiangTinyConfig, unit: Unit) -> Path:
    return Path(config.output_dir) / unit.name


def is_done(config: JiangTinyConfig, unit: Unit) -> bool:
    res = _read_json(unit_dir(config, unit) / "result.json")
    return bool(res) and res.get("status") == "ok"


def _check_same_profile(config: JiangTinyConfig) -> None:
    """A run directory holds one profile: refuse to mix finished units of another config."""
    from pptrain_core.config import unstructure
    from pptrain_core.errors import UserError

    path = Path(config.output_dir) / "profile.json"
    now = unstructure(config)
    key = {k: v for k, v in now.items() if k not in ("seeds", "arms", "output_dir")}
    old = _read_json(path)
    if old is not None:
        from pptrain_core.config import structure

        try:  # settings added since that run was made take their defaults
            old = unstructure(structure(old, JiangTinyConfig, "$"))
        except Exception:  # not a profile this version can read: different
            old = {}
        before = {k: v for k, v in old.items() if k not in ("seeds", "arms", "output_dir")}
        if before != key:
            raise UserError(
                f"{config.output_dir!r} holds a jiang-tiny run with other settings; choose another --output-dir "
                "(or remove that directory yourself)."
            )
        return
    if Path(config.output_dir).exists() and any(Path(config.output_dir).iterdir()):
        raise UserError(f"{config.output_dir!r} is not empty and holds no jiang-tiny run; choose another --output-dir.")
    _write_json(path, now)


def run_units(
    config: JiangTinyConfig,
    *,
    registry: Any = None,
    progress: bool = True,
    max_units: int | None = None,
    only: list[str] | None = None,
    wait: bool = True,
    log: Any = print,
) -> list[dict[str, Any]]:
    """Run every unfinished unit this process can claim; returns the results it produced.

    Several processes may run this on one run directory at once (``--workers``): each
    claims a unit before running it, and a needle unit waits for its phase-1 unit.
    """
    from pptrain_core.plugins import get_registry

    reg = registry or get_registry()
    _check_same_profile(config)
    done: list[dict[str, Any]] = []
    planned = set(units(config))  # a needle unit waits only for a phase-1 unit this run has
    while True:
        pending = [u for u in units(config) if not is_done(config, u) and (not only or u.name in only)]
        if not pending or (max_units is not None and len(done) >= max_units):
            break
        ran = False
        for unit in pending:
            need = unit.needs()
            if need is not None and need in planned and not is_done(config, need):
                continue
            path = unit_dir(config, unit)
            if not claim(path):
                continue
            try:
                if is_done(config, unit):
                    continue
                for stale in ("result.json", "error.log"):  # an earlier failed attempt's
                    (path / stale).unlink(missing_ok=True)
                log(f"jiang-tiny: {unit.name} ...")
                try:
                    fn = run_phase1 if unit.phase == "phase1" else run_needle
                    result = fn(config, unit, path, reg, progress)
                except Exception as exc:  # one unit failing never stops the others
                    import traceback

                    (path / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
                    result = {"unit": unit.name, "phase": unit.phase, "arm": unit.arm, "seed": unit.seed,
                              "status": "failed", "error": f"{type(exc).__name__}: {exc}"}  # fmt: skip
                result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                result["pid"] = os.getpid()
                _write_json(path / "result.json", result)
                if result["status"] == "ok":
                    _collect(config)
                log(
                    f"jiang-tiny: {unit.name} {result['status']}"
                    + (f" ({result['error']})" if result.get("error") else "")
                )
                done.append(result)
                ran = True
                if result["status"] != "ok":
                    return done
            finally:
                release(path)
            break
        if not ran:
            if not wait:
                break
            time.sleep(5.0)  # every runnable unit is held by another worker
    return done


def _backfill(config: JiangTinyConfig, unit: Unit, result: dict[str, Any], registry: Any = None) -> dict[str, Any]:
    """A finished unit's result with the figures added since it finished (``match_attention`` from its
    saved weights; a phase-1 unit's bigram line), measured now and written back."""
    missing_bigram = unit.phase == "phase1" and result.get("adjacent_close_baseline") is None
    if "match_attention" in result and not missing_bigram:
        return result
    from pptrain_core.plugins import get_registry

    reg = registry or get_registry()
    result = dict(result)
    if "match_attention" not in result:
        measure = _phase1_attention if unit.phase == "phase1" else _needle_attention
        result["match_attention"] = measure(config, unit, reg)
    if missing_bigram:  # results from before the bigram line was recorded
        result["adjacent_close_baseline"] = adjacent_close_baseline(*_plain_dyck(config, unit, reg))
    _write_json(unit_dir(config, unit) / "result.json", result)
    return result


def _collect(config: JiangTinyConfig) -> list[dict[str, Any]]:
    """``results.jsonl``: one line per finished unit, in unit order (the raw data of the report)."""
    records = []
    for unit in units(config):
        res = _read_json(unit_dir(config, unit) / "result.json")
        if res and res.get("status") == "ok":
            records.append(_backfill(config, unit, res))
    _write_jsonl(Path(config.output_dir) / "results.jsonl", records)
    return records


def progress(config: JiangTinyConfig) -> list[dict[str, Any]]:
    """Every unit that has started, finished or not: its status, steps done and curve so far.

    What a session commits when a unit is still running at its end (a CPU needle unit
    outlasts a session): the measurements are real, the unit is marked ``partial``.
    """
    out = []
    for unit in units(config):
        path = unit_dir(config, unit)
        result = _read_json(path / "result.json")
        if result and result.get("status") == "ok":
            result = _backfill(config, unit, result)
        curve = _read_jsonl(path / ("val_curve.jsonl" if unit.phase == "phase1" else "curve.jsonl"))
        if not result and not curve:
            continue
        status = (result or {}).get("status") or "partial"
        out.append(
            {
                "unit": unit.name,
                "phase": unit.phase,
                "arm": unit.arm,
                "seed": unit.seed,
                "status": status,
                "steps_done": curve[-1]["step"] if curve else 0,
                "steps_planned": config.dyck.steps if unit.phase == "phase1" else config.needle.steps,
                "curve": curve,
                "best": _read_json(path / "best.json") if unit.phase == "phase1" else None,
                "match_attention": (result or {}).get("match_attention"),
                "variant": config.variant,
            }
        )
    return out


def export_progress(run_dirs: list[str | Path], path: str | Path, machine: str = "") -> list[dict[str, Any]]:
    """Write every started unit of these run directories (each with its ``profile.json``) to one JSONL file.

    The file a session commits: finished units and the partial curves of units still running.
    """
    from pptrain_core.config import structure

    records = []
    for run_dir in run_dirs:
        profile = _read_json(Path(run_dir) / "profile.json")
        if profile is None:
            continue
        config = attrs.evolve(structure(profile, JiangTinyConfig, "$"), output_dir=str(run_dir))
        for rec in progress(config):
            rec["machine"] = machine or None
            records.append(rec)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_jsonl(out, records)
    return records


def run_profile(
    config: JiangTinyConfig,
    *,
    workers: int = 1,
    registry: Any = None,
    progress: bool = True,
    log: Any = print,
    only: list[str] | None = None,
) -> dict[str, Any]:
    """Run the profile (or just the units named in ``only``) with ``workers`` processes,
    then write the report; returns the summary."""
    if workers > 1:
        import subprocess
        import sys

        _check_same_profile(config)
        cmd = [sys.executable, "-m", "pptrain_analytics.jiang", json.dumps(_plain(config)), *(only or [])]
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        procs = [subprocess.Popen(cmd, env=env) for _ in range(workers)]
        codes = [p.wait() for p in procs]
        if any(codes):
            log(f"jiang-tiny: worker exit codes {codes}")
    else:
        run_units(config, registry=registry, progress=progress, log=log, only=only)
    from pptrain_analytics.jiang_report import write_report

    return write_report(Path(config.output_dir))


def _plain(config: JiangTinyConfig) -> dict[str, Any]:
    from pptrain_core.config import unstructure

    return json.loads(json.dumps(unstructure(config)))


def _worker_main(argv: list[str]) -> int:  # pragma: no cover - exercised through run_profile(workers>1)
    from pptrain_core.config import structure

    config = structure(json.loads(argv[0]), JiangTinyConfig, "$")
    results = run_units(config, progress=False, only=argv[1:] or None)
    return 1 if any(r["status"] != "ok" for r in results) else 0


if __name__ == "__main__":  # pragma: no cover
    import sys

    raise SystemExit(_worker_main(sys.argv[1:]))

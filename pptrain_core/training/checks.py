"""Checks before work: the whole job against the model and the machine, before anything is built.

A job that cannot run should fail in one sentence, at once, naming the field to change:
not with a traceback from inside the model after the data was generated, nor after
minutes of allocating memory. :func:`check_job` looks at

* the run directory (a file in the way, a parent that is a file, no permission);
* the model's configuration, without building it (``n_head`` must divide ``n_embd``);
  then the model itself on PyTorch's ``meta`` device (no memory), for its exact size and
  the number of positions a learned position embedding has;
* sequence lengths: ``seq_len`` for packing, the task's longest example for padding
  (from the family's :meth:`~pptrain_core.data.Task.max_example_tokens` when it has one,
  else from a sample), against those positions;
* a lower bound on the memory a training step needs (weights, gradients, optimizer state,
  the activations and logits of one batch, one example), against the machine's memory.

The estimates are deliberately low (they leave out everything hard to know), so a job
is refused only when it certainly cannot fit.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import attrs

from pptrain_core.errors import ConfigError, quote

#: Config keys that name the number of positions a model has (learned position embeddings).
POSITION_KEYS = ("n_positions", "max_position_embeddings", "n_ctx", "max_seq_len", "seq_length")

#: Models with fewer parameters train on CPU with ``run.threads: 0`` on one thread.
SMALL_MODEL_PARAMETERS = 20_000_000

#: Examples sampled per split to find the longest example when the family gives no bound.
LENGTH_SAMPLE = 64


# --------------------------------------------------------------------------- helpers


def human_bytes(n: float) -> str:
    """``1.5 GiB``: a byte count for a message."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(n) < 1024 or unit == "EiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"  # pragma: no cover


def _count(n: float) -> str:
    return f"{int(n):,}" if n < 1e15 else f"{n:.2g}"


def machine_memory() -> tuple[int | None, str]:
    """(bytes, what): the memory one training process can use at most (RAM, cgroup limit or GPU)."""
    try:
        import torch

        if torch.cuda.is_available():
            index = int(os.environ.get("LOCAL_RANK", "0")) % max(torch.cuda.device_count(), 1)
            props = torch.cuda.get_device_properties(index)
            return int(props.total_memory), f"the {human_bytes(props.total_memory)} of GPU {index}"
    except Exception:  # pragma: no cover - a broken CUDA setup is the Trainer's to report
        pass
    return host_memory(), f"this machine's {human_bytes(host_memory() or 0)} of memory"


def host_memory() -> int | None:
    """Physical memory, or the cgroup limit when lower."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return int(total)


def _task_field(task_config: Any, amount: float) -> str:
    """The task setting that most likely set ``amount`` (a length, a vocabulary size): its path.

    The integer setting with the largest value not above ``amount`` and at least a quarter
    of it (``length`` for ``length + 1`` tokens, ``k`` for ``2k + 1`` ids); ``$.task.params``
    when none fits.
    """
    best = None
    if attrs.has(type(task_config)):
        for f in attrs.fields(type(task_config)):
            value = getattr(task_config, f.name, None)
            if isinstance(value, int) and not isinstance(value, bool) and amount / 4 <= value <= amount:
                if best is None or value > best[1]:
                    best = (f.name, value)
    return f"$.task.params.{best[0]}" if best else "$.task.params"


# --------------------------------------------------------------------------- the run directory


def check_output_dir(output_dir: str) -> None:
    """Refuse a run directory that is a file, sits under a file, or cannot be written, before any work."""
    path = Path(output_dir)
    where = "$.run.output_dir"
    if path.exists() and not path.is_dir():
        raise ConfigError(where, f"{quote(str(path), 300)} is a file, not a directory; choose another output_dir")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(
            where,
            f"{quote(str(probe), 300)} is a file, so {quote(str(path), 300)} cannot be created; choose another output_dir",
        )
    try:
        tempfile.TemporaryDirectory(prefix=".pptrain-probe-", dir=probe).cleanup()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            where, f"cannot write in {quote(str(probe), 300)} ({reason.lower()}); choose a writable output_dir"
        ) from None


# --------------------------------------------------------------------------- the model


@attrs.define
class ModelProfile:
    """What the checks need to know of a model, found without allocating it."""

    parameters: int | None = None
    embedding_parameters: int = 0
    hidden: int | None = None
    layers: int | None = None
    positions: int | None = None
    positions_field: str = "$.model.params"
    config: Any = None


def _hf_config(adapter: Any, vocab_size: int) -> Any:
    make = getattr(adapter, "hf_config", None)
    if not callable(make):
        return None
    try:
        return make(vocab_size)
    except Exception as exc:  # transformers validates some configs (llama: heads must divide hidden)
        from pptrain_core.errors import UserError

        if isinstance(exc, UserError):
            raise
        lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
        cause = lines[-1] if lines else type(exc).__name__
        if ": " in cause and cause.split(": ", 1)[0].endswith("Error"):
            cause = cause.split(": ", 1)[1]
        raise ConfigError("$.model.params", f"is not a valid model configuration: {cause.rstrip('.')}") from None


def _override_field(adapter: Any, config: Any, attr: str) -> str:
    """``$.model.params.overrides.n_embd`` when the user set the setting ``attr`` is (``hidden_size``)."""
    overrides = getattr(getattr(adapter, "config", None), "overrides", None) or {}
    amap = dict(getattr(config, "attribute_map", {}) or {})
    names = {attr, amap.get(attr)}
    for key in overrides:
        if key in names or amap.get(key) == attr:
            return f"$.model.params.overrides.{key}"
    return "$.model.params"


def _native_name(config: Any, attr: str) -> str:
    return dict(getattr(config, "attribute_map", {}) or {}).get(attr, attr)


def _int_attr(config: Any, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def profile_from_config(adapter: Any, vocab_size: int) -> ModelProfile | None:
    """Sizes from a transformers-style config alone (a lower bound on the parameters); checks heads."""
    cfg = _hf_config(adapter, vocab_size)
    if cfg is None:
        return None
    hidden = _int_attr(cfg, "hidden_size", "n_embd", "d_model")
    layers = _int_attr(cfg, "num_hidden_layers", "n_layer", "num_layers")
    heads = _int_attr(cfg, "num_attention_heads", "n_head")
    if hidden and heads and hidden % heads and getattr(cfg, "head_dim", None) is None:
        divisors = [d for d in range(1, min(hidden, 64) + 1) if hidden % d == 0]
        raise ConfigError(
            _override_field(adapter, cfg, "num_attention_heads"),
            f"{heads} attention heads do not divide {_native_name(cfg, 'hidden_size')} {hidden}; "
            f"choose a divisor such as {', '.join(map(str, divisors[-4:]))}",
        )
    profile = ModelProfile(hidden=hidden, layers=layers, config=cfg)
    if hidden and layers is not None:
        ffn = _int_attr(cfg, "intermediate_size", "n_inner", "ffn_dim") or 4 * hidden
        tied = bool(getattr(cfg, "tie_word_embeddings", True))
        profile.embedding_parameters = vocab_size * hidden * (1 if tied else 2)
        profile.parameters = profile.embedding_parameters + layers * (4 * hidden * hidden + 2 * hidden * ffn)
    return profile


def profile_on_meta(adapter: Any, vocab_size: int, seed: int, profile: ModelProfile | None) -> ModelProfile:
    """Build the model on the ``meta`` device (no memory) for its exact size and its positions."""
    import torch

    profile = profile or ModelProfile()
    try:
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")
            model = adapter.build(vocab_size, seed=seed)
            infos = adapter.parameters_info(model)
    except (ValueError, AssertionError) as exc:  # the real build would fail the same way
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError("$.model.params", f"the model cannot be built: {first.rstrip('.')}") from None
    except Exception:  # pragma: no cover - a factory that cannot run on meta: the real build will tell
        return profile
    profile.parameters = sum(p.numel() for p in model.parameters())
    rows = [p.shape[0] for p in infos if p.role == "position_embedding" and p.shape]
    config = getattr(model, "config", None) or profile.config
    if rows:
        limit = min(rows)
        for key in POSITION_KEYS:
            value = _int_attr(config, key) if config is not None else None
            if value is not None:
                limit = min(limit, value)
                profile.positions_field = _override_field(adapter, config, key)
                if profile.positions_field == "$.model.params":
                    profile.positions_field = f"$.model.params ({_native_name(config, key)})"
                break
        profile.positions = limit
    embed = [p for p in infos if p.role == "token_embedding" and len(p.shape) == 2]
    if profile.hidden is None and embed:
        profile.hidden = int(embed[0].shape[1])
    if profile.layers is None:
        profile.layers = len({p.layer for p in infos if p.layer is not None}) or 1
    return profile


# --------------------------------------------------------------------------- the plan


@attrs.define
class JobPlan:
    """What the checks found, for the trainer to use (and not measure twice)."""

    profile: ModelProfile
    max_tokens: int | None = None
    """The longest example: the family's bound, else the longest in the sample."""
    mean_tokens: float | None = None
    """Mean length of the first training examples (``pad`` budgets)."""
    memory_needed: int = 0
    memory_available: int | None = None


def _lengths(task: Any, seed: int, split: str) -> list[int]:
    from pptrain_core.data import VirtualDataset

    return [len(ex) for ex in VirtualDataset(task, seed=seed, split=split, length=LENGTH_SAMPLE)]


def _memory_terms(run: Any, profile: ModelProfile, tokens: int | None, vocab: int, world: int) -> dict[str, float]:
    p = profile.parameters or 0
    sharded = os.environ.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true") or os.environ.get(
        "ACCELERATE_USE_DEEPSPEED", ""
    ).lower() in ("1", "true")
    state = {"adamw": 8, "sgd": 0, "adafactor": 0}[run.optimizer]
    terms = {"parameters": p * (4 + 4 + state) / (world if sharded else 1)}
    if tokens:
        width = 2 if run.precision in ("bf16", "fp16") else 4
        per_token = (profile.layers or 1) * (profile.hidden or 0) * width + vocab * 4
        terms["batch"] = float(run.batch_size) * tokens * per_token
        if run.eval_examples:
            terms["eval batch"] = float(run.eval_batch_size or run.batch_size) * tokens * vocab * 4
    return terms


def _refuse_memory(
    run: Any, task: Any, adapter: Any, profile: ModelProfile, terms: dict[str, float], tokens: int | None, vocab: int
) -> tuple[float, int | None]:
    """Raise when the lower bound ``terms`` exceeds the machine's memory; else (needed, available)."""
    available, what = machine_memory()
    total = sum(terms.values())
    if available is None or total <= available:
        return total, available
    worst = max(terms, key=lambda k: terms[k])
    need = human_bytes(total)
    if worst == "parameters":
        p = profile.parameters or 0
        if profile.embedding_parameters * 2 > p:
            field = _task_field(task.config, vocab)
            raise ConfigError(
                field,
                f"a vocabulary of {_count(vocab)} ids makes a model of {_count(p)} parameters, which needs at "
                f"least {need} to train, more than {what}; use a smaller vocabulary",
            )
        field = "$.model.params"
        if profile.config is not None and profile.hidden and profile.layers is not None:
            field = _override_field(adapter, profile.config, "hidden_size")
        raise ConfigError(
            field,
            f"a model of {_count(p)} parameters needs at least {need} to train with {run.optimizer} (weights, "
            f"gradients, optimizer state), more than {what}; make the model smaller",
        )
    if worst == "batch":
        field = "$.run.batch_size" if run.batch_size > 1 else "$.run.seq_len"
        raise ConfigError(
            field,
            f"a batch of {_count(run.batch_size)} sequences of {_count(tokens or 0)} tokens needs at least {need} "
            f"for activations and logits, more than {what}; use a smaller batch_size (and grad_accum to keep "
            f"the tokens per step) or shorter sequences",
        )
    field = "$.run.eval_batch_size" if run.eval_batch_size else "$.run.batch_size"
    raise ConfigError(
        field,
        f"an evaluation batch of {_count(run.eval_batch_size or run.batch_size)} sequences of {_count(tokens or 0)} "
        f"tokens needs at least {need} for its logits, more than {what}; set a smaller eval_batch_size",
    )


def check_job(task: Any, built: Any, adapter: Any, run: Any, *, world: int = 1) -> JobPlan:
    """Validate ``run`` for ``adapter``'s model on ``built`` (a built task) before building anything big.

    ``task`` is the resolved task (its config names the fields in messages). Raises a
    :class:`~pptrain_core.errors.ConfigError` naming the field; returns what it measured.
    """
    vocab = int(built.vocab.size)
    where_collation = "pack" if run.collation == "pack" else "pad"

    # 1. the model from its configuration alone, then on the meta device
    profile = profile_from_config(adapter, vocab)
    if profile is not None and profile.parameters:
        _refuse_memory(run, task, adapter, profile, _memory_terms(run, profile, None, vocab, world), None, vocab)
    profile = profile_on_meta(adapter, vocab, run.model_seed, profile)
    _refuse_memory(run, task, adapter, profile, _memory_terms(run, profile, None, vocab, world), None, vocab)
    positions = profile.positions

    # 2. sequence lengths, before any example is generated
    if where_collation == "pack" and positions is not None and run.seq_len > positions:
        raise ConfigError(
            "$.run.seq_len",
            f"packing windows of {run.seq_len} tokens are longer than the model's {positions} positions "
            f"({profile.positions_field}); use seq_len: {positions} or fewer, or a model with more positions",
        )
    bound = None
    hook = getattr(built, "max_example_tokens", None)
    if callable(hook):
        bound = hook()
    plan = JobPlan(profile=profile)
    if bound is not None:
        field = _task_field(task.config, bound)
        per_example = bound * 9  # int64 tokens and an int8 mask, as little as an example can take
        host = host_memory()
        if host is not None and per_example > host:
            raise ConfigError(
                field,
                f"one example of {_count(bound)} tokens needs at least {human_bytes(per_example)}, more than this "
                f"machine's {human_bytes(host)} of memory; make examples shorter",
            )
        if where_collation == "pad" and positions is not None and min(bound, run.seq_len or bound) > positions:
            _refuse_length(run, field, bound, positions, profile)

    # 3. the longest examples of a sample, when the family gives no bound (pad: they are the sequences)
    if where_collation == "pad":
        lengths = _lengths(built, run.data_seed, "train")
        plan.mean_tokens = sum(lengths) / len(lengths)
        if run.eval_examples:
            lengths += _lengths(built, run.data_seed, "eval")
        longest = max(lengths)
        if bound is None and positions is not None and min(longest, run.seq_len or longest) > positions:
            _refuse_length(run, _task_field(task.config, longest), longest, positions, profile)
        plan.max_tokens = bound if bound is not None else longest
        tokens = min(plan.max_tokens, run.seq_len) if run.seq_len else plan.max_tokens
    else:
        plan.max_tokens = bound
        tokens = run.seq_len

    # 4. memory of a training step
    terms = _memory_terms(run, profile, tokens, vocab, world)
    needed, plan.memory_available = _refuse_memory(run, task, adapter, profile, terms, tokens, vocab)
    plan.memory_needed = int(needed)
    return plan


def _refuse_length(run: Any, field: str, longest: int, positions: int, profile: ModelProfile) -> None:
    if run.seq_len:
        raise ConfigError(
            "$.run.seq_len",
            f"examples are cut at {run.seq_len} tokens, more than the model's {positions} positions "
            f"({profile.positions_field}); use seq_len: {positions} or fewer",
        )
    raise ConfigError(
        field,
        f"examples of up to {_count(longest)} tokens do not fit the model's {positions} positions "
        f"({profile.positions_field}); make examples shorter, cut them with run.seq_len: {positions}, "
        f"or pack them with run.collation: pack",
    )


# --------------------------------------------------------------------------- CPU threads


def choose_threads(setting: int, parameters: int | None) -> tuple[int | None, str]:
    """(threads to set or None to keep torch's default, why) for a CPU run.

    ``setting`` > 0 is used as it is. 0 chooses: one thread for models under
    :data:`SMALL_MODEL_PARAMETERS` parameters (a tiny model's matrices are too small to
    share out, and on a loaded machine extra threads only wait for each other), torch's
    default otherwise; ``OMP_NUM_THREADS`` set in the environment is always respected.
    """
    if setting > 0:
        return setting, "run.threads"
    if os.environ.get("OMP_NUM_THREADS"):
        return None, "OMP_NUM_THREADS"
    if parameters is not None and parameters < SMALL_MODEL_PARAMETERS:
        return 1, f"model under {SMALL_MODEL_PARAMETERS:,} parameters"
    return None, "torch default"


@contextlib.contextmanager
def cpu_threads(count: int | None):
    """Run the block with ``count`` torch threads (``None``: unchanged), then restore the caller's."""
    import torch

    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if count:
            torch.set_num_threads(before)


def check_model_fits(adapter: Any, vocab_size: int, *, field: str, seed: int = 0) -> ModelProfile:
    """For commands that build a model without training it (``transfer``): refuse one whose weights
    alone cannot fit in this machine's memory, naming ``field`` (e.g. ``--vocab-size``)."""
    profile = profile_from_config(adapter, vocab_size)
    if profile is None or not profile.parameters:
        profile = profile_on_meta(adapter, vocab_size, seed, profile)
    need = 4 * (profile.parameters or 0)
    available, what = machine_memory()
    if available is not None and need > available:
        raise ConfigError(
            field,
            f"a model of {_count(profile.parameters or 0)} parameters (vocabulary of {_count(vocab_size)} ids) needs "
            f"at least {human_bytes(need)} for its weights, more than {what}; use a smaller vocabulary or model",
        )
    return profile

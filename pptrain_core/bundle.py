"""Transfer bundles: what pre-pretraining hands to the downstream stage.

A bundle is a directory of plain files::

    bundle.json          format version, versions, task + preset + resolved config + seeds,
                         adapter + model config, parameter roles, training summary,
                         the suggested transfer policy, and the manifest: the sha256 of
                         every other file, and of bundle.json's own content
    model.safetensors    the weights (written by the adapter; safetensors only, no pickle)
    config.json          the model config (written by the adapter)
    tokenizer/           the task vocabulary as an HF PreTrainedTokenizerFast

**A bundle is data, never code.** It is read like a file from a stranger:

* nothing named inside it is imported or called. The model is rebuilt by an adapter an
  installed plugin registered, looked up by its registered name, from a config that
  holds data only. An adapter config that names code (``torch_module``'s ``factory``)
  reports it through ``code_references()``, and :meth:`Bundle.adapter` refuses it
  unless the caller vouches for that code (``trust_code=True``) or passes an adapter;
* every path in it is a plain file name (``tokenizer/`` is the one subdirectory), no
  symbolic links, no file the manifest does not list;
* the manifest (format 2) lists the sha256 of every file, and ``meta_sha256`` is the
  sha256 of bundle.json's canonical JSON without that key, so one digest
  (:attr:`Bundle.digest`) covers the whole bundle;
* every field has a strict type; a problem is one :class:`UserError` sentence.

Hashes catch corruption and edits, not a malicious author (who can recompute them):
compare :attr:`Bundle.digest` with one the author published if that matters. The
threat model is in ``docs/training.md``.

A bundle is written into a temporary sibling directory and put in place at the end, so
a crash never leaves a directory that looks like a valid bundle, and an existing bundle
is swapped for the new one in one step where the system can (Linux, macOS).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from pptrain_core.errors import UserError
from pptrain_core.models import ROLES, ParameterInfo

FORMAT_VERSION = 2
SUPPORTED_FORMATS = (2,)
BUNDLE_FILE = "bundle.json"
TOKENIZER_DIR = "tokenizer"
#: The only subdirectories a bundle may have.
SUBDIRECTORIES = (TOKENIZER_DIR,)
#: bundle.json larger than this is refused before it is parsed.
MAX_META_BYTES = 32 << 20
#: A safetensors header larger than this is refused (the safetensors library's own limit).
MAX_HEADER_BYTES = 100 << 20

_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,199}$")
_PARAMETER_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,500}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TOP_LEVEL = (
    "format_version",
    "versions",
    "task",
    "seeds",
    "vocab",
    "adapter",
    "parameters",
    "training",
    "weights",
    "files",
    "suggested_policy",
    "meta_sha256",
)
#: safetensors dtypes and their sizes in bytes.
_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "F4": 1, "F6_E2M3": 1, "F6_E3M2": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}  # fmt: skip


def fsync_path(path: Path) -> None:
    """Flush a file or a directory entry to disk (best effort: some systems cannot open a directory)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: control characters escaped, messages bounded."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- atomic writes


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one step; False where the system cannot (then nothing happened)."""
    import ctypes
    import errno

    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover - no C library to ask
        return False
    if sys.platform.startswith("linux"):
        fn = getattr(libc, "renameat2", None)
        if fn is None:  # pragma: no cover - glibc before 2.28, musl
            return False
        fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        at_fdcwd, rename_exchange = -100, 2
        rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    elif sys.platform == "darwin":  # pragma: no cover - not run here
        fn = getattr(libc, "renamex_np", None)
        if fn is None:
            return False
        fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
        rc = fn(os.fsencode(a), os.fsencode(b), 0x2)  # RENAME_SWAP
    else:  # pragma: no cover
        return False
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)):
        return False
    raise OSError(err, os.strerror(err), str(b))


def atomic_directory(final: Path, build) -> Path:
    """Run ``build(tmp_dir)`` and put the result at ``final``.

    An existing ``final`` is replaced only after the new directory is complete, by
    swapping the two in one step where the system can (Linux ``renameat2``, macOS
    ``renamex_np``), so a reader never finds ``final`` missing. Elsewhere the old one is
    moved aside first (a moment without ``final``). Callers decide whether ``final`` may
    be replaced at all; this only refuses to replace something that is not a directory.
    The temporary directories are siblings named ``.<name>.tmp-*``.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.is_symlink() or (final.exists() and not final.is_dir()):
        raise UserError(f"{str(final)!r} exists and is not a directory; move it away or choose another path.")
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        build(tmp)
        if final.is_dir():
            if _exchange(tmp, final):
                shutil.rmtree(tmp, ignore_errors=True)  # it now holds the old directory
            else:
                old = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-old-", dir=final.parent))
                os.replace(final, old / final.name)
                os.replace(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=False, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- the manifest


def canonical_digest(meta: Mapping[str, Any]) -> str:
    """sha256 of ``meta`` (without ``meta_sha256``) as canonical JSON: sorted keys, no spaces, ASCII."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _plain(name: str) -> bool:
    return bool(_PLAIN_NAME.match(name)) and ".." not in name


def valid_relative_path(path: str) -> bool:
    """A manifest path: a plain file name, or ``tokenizer/`` and a plain file name."""
    if not isinstance(path, str):
        return False
    head, sep, tail = path.partition("/")
    if not sep:
        return _plain(head)
    return head in SUBDIRECTORIES and _plain(tail)


def _listing(root: Path) -> tuple[dict[str, Path], list[str]]:
    """(manifest path -> file, problems) for everything under ``root``, following no link."""
    found: dict[str, Path] = {}
    problems: list[str] = []

    def walk(directory: Path, prefix: str) -> None:
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                rel = prefix + entry.name
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISLNK(mode):
                    problems.append(f"{short(rel)} is a symbolic link; a bundle holds plain files only")
                elif stat.S_ISDIR(mode):
                    if prefix or entry.name not in SUBDIRECTORIES:
                        problems.append(f"{short(rel)} is a directory a bundle does not have")
                    else:
                        walk(Path(entry.path), rel + "/")
                elif not stat.S_ISREG(mode):
                    problems.append(f"{short(rel)} is not a regular file")
                elif not valid_relative_path(rel):
                    problems.append(f"{short(rel)} is not a plain file name")
                else:
                    found[rel] = Path(entry.path)

    walk(root, "")
    return found, problems


def write_bundle(
    directory: str | Path,
    *,
    model: Any,
    adapter: Any,
    adapter_name: str,
    adapter_config: Any,
    resolved_task: Any,
    vocab: Any,
    seeds: Mapping[str, int],
    training: Mapping[str, Any],
    versions: Mapping[str, str],
    suggested_policy: str = "reinit_embeddings",
) -> Path:
    """Write a complete bundle for ``model`` atomically; returns its path.

    An existing directory at ``directory`` is replaced only if it is empty or a bundle
    (it holds ``bundle.json``); anything else is left alone and refused.
    """
    from pptrain_core.config import unstructure
    from pptrain_core.hf_tokenizer import hf_tokenizer

    final = Path(directory)
    if final.is_dir() and not final.is_symlink() and any(final.iterdir()) and not (final / BUNDLE_FILE).is_file():
        raise UserError(
            f"{str(final)!r} exists and is not a pptrain bundle (it has no {BUNDLE_FILE}); move it away, "
            "pptrain never replaces a directory it did not write."
        )
    infos = adapter.parameters_info(model)

    def build(tmp: Path) -> None:
        adapter.save(model, str(tmp))
        hf_tokenizer(vocab).save_pretrained(str(tmp / TOKENIZER_DIR))
        files, problems = _listing(tmp)
        if problems:
            raise RuntimeError(f"adapter {adapter_name!r} wrote something a bundle cannot hold: {problems[0]}")
        weights = sorted(name for name in files if "/" not in name and name.endswith(".safetensors"))
        if not weights:
            raise RuntimeError(f"adapter {adapter_name!r} saved no .safetensors file")
        if any(name.endswith((".bin", ".pt", ".pth", ".pkl", ".ckpt")) for name in files):
            raise RuntimeError(f"adapter {adapter_name!r} wrote pickle-based weights; bundles hold safetensors only")
        digests = {name: sha256_file(path) for name, path in sorted(files.items())}
        meta = {
            "format_version": FORMAT_VERSION,
            "versions": dict(versions),
            "task": {
                "name": resolved_task.spec.name,
                "preset": resolved_task.preset.name if resolved_task.preset else None,
                "ref": resolved_task.ref,
                "config": unstructure(resolved_task.config),
            },
            "seeds": dict(seeds),
            "vocab": {"size": vocab.size, "special_ids": vocab.special_ids()},
            "adapter": {
                "name": adapter_name,
                "config": unstructure(adapter_config),
                "model_config": adapter.model_config(model),
            },
            "parameters": [{"name": p.name, "role": p.role, "shape": list(p.shape), "layer": p.layer} for p in infos],
            "training": dict(training),
            "weights": {name: digests[name] for name in weights},
            "files": digests,
            "suggested_policy": suggested_policy,
        }
        meta = json.loads(json.dumps(meta, default=str))  # exactly what a reader will parse
        meta["meta_sha256"] = canonical_digest(meta)
        write_json_atomic(tmp / BUNDLE_FILE, meta)

    return atomic_directory(final, build)


# --------------------------------------------------------------------------- strict reading


class _Fields:
    """Type checks for bundle.json, each failure one sentence naming the field."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, field: str, problem: str) -> None:
        raise UserError(
            f"bundle {self.where}: {field} in {BUNDLE_FILE} {problem}; the bundle is damaged or was edited, "
            "so get an intact copy from whoever wrote it."
        )

    def mapping(self, value: Any, field: str) -> dict[str, Any]:
        if type(value) is not dict:
            self.fail(field, f"must be a mapping, got {_kind(value)}")
        return value

    def string(self, value: Any, field: str, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if type(value) is not str or not value:
            self.fail(field, f"must be a non-empty string{' or null' if optional else ''}, got {_kind(value)}")
        if not value.isprintable():
            self.fail(field, f"holds control characters ({short(value, 40)})")
        return value

    def integer(self, value: Any, field: str, *, minimum: int = 0, optional: bool = False) -> int | None:
        if value is None and optional:
            return None
        if type(value) is not int:
            self.fail(field, f"must be an integer{' or null' if optional else ''}, got {_kind(value)}")
        if value < minimum:
            self.fail(field, f"must be at least {minimum}, got {value}")
        return value

    def sha256(self, value: Any, field: str) -> str:
        if type(value) is not str or not _SHA256.match(value):
            self.fail(field, f"must be a sha256 (64 lowercase hex digits), got {_kind(value)}")
        return value


def _key(key: Any) -> str:
    """A mapping key as it appears in a field path: plain names as they are, anything else quoted."""
    return key if isinstance(key, str) and re.match(r"^[A-Za-z0-9_.-]{1,60}$", key) else short(key, 40)


def _kind(value: Any) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }
    if value is None:
        return "null"
    return f"{names.get(type(value), type(value).__name__)} {short(value, 40)}"


def check_meta(meta: Any, where: str) -> None:
    """Every field of a format-2 bundle.json, strictly typed; the first problem raises :class:`UserError`."""
    f = _Fields(where)
    f.mapping(meta, "the top level")
    unknown = sorted(set(meta) - set(_TOP_LEVEL))
    if unknown:
        f.fail(f"$.{_key(unknown[0])}", "is not a field of a format-2 bundle")
    for key in _TOP_LEVEL:
        if key not in meta:
            f.fail(f"$.{key}", "is missing")
    for key, value in f.mapping(meta["versions"], "$.versions").items():
        f.string(value, f"$.versions.{_key(key)}", optional=True)
    task = f.mapping(meta["task"], "$.task")
    for key in sorted(set(task) - {"name", "preset", "ref", "config"}):
        f.fail(f"$.task.{_key(key)}", "is not a field of the task entry")
    f.string(task.get("name"), "$.task.name")
    f.string(task.get("preset"), "$.task.preset", optional=True)
    f.string(task.get("ref"), "$.task.ref")
    f.mapping(task.get("config"), "$.task.config")
    for key, value in f.mapping(meta["seeds"], "$.seeds").items():
        f.integer(value, f"$.seeds.{_key(key)}")
    vocab = f.mapping(meta["vocab"], "$.vocab")
    size = f.integer(vocab.get("size"), "$.vocab.size", minimum=1)
    for key, value in f.mapping(vocab.get("special_ids"), "$.vocab.special_ids").items():
        if f.integer(value, f"$.vocab.special_ids.{_key(key)}") >= size:
            f.fail(f"$.vocab.special_ids.{_key(key)}", f"is {value}, outside the vocabulary of {size} ids")
    adapter = f.mapping(meta["adapter"], "$.adapter")
    for key in sorted(set(adapter) - {"name", "config", "model_config"}):
        f.fail(f"$.adapter.{_key(key)}", "is not a field of the adapter entry")
    f.string(adapter.get("name"), "$.adapter.name")
    f.mapping(adapter.get("config"), "$.adapter.config")
    f.mapping(adapter.get("model_config"), "$.adapter.model_config")
    if type(meta["parameters"]) is not list or not meta["parameters"]:
        f.fail("$.parameters", f"must be a non-empty list, got {_kind(meta['parameters'])}")
    seen: set[str] = set()
    for i, p in enumerate(meta["parameters"]):
        at = f"$.parameters[{i}]"
        f.mapping(p, at)
        for key in sorted(set(p) - {"name", "role", "shape", "layer"}):
            f.fail(f"{at}.{_key(key)}", "is not a field of a parameter")
        name = f.string(p.get("name"), f"{at}.name")
        if not _PARAMETER_NAME.match(name):
            f.fail(f"{at}.name", f"is {short(name, 40)}, not a parameter name (letters, digits, '_', '.', '-')")
        if name in seen:
            f.fail(f"{at}.name", f"repeats the parameter {short(name, 40)}")
        seen.add(name)
        role = f.string(p.get("role"), f"{at}.role", optional=True)
        if role is not None and role not in ROLES:
            f.fail(f"{at}.role", f"is {short(role, 40)}, not one of {', '.join(ROLES)}")
        shape = p.get("shape")
        if type(shape) is not list or len(shape) > 8:
            f.fail(f"{at}.shape", f"must be a list of at most 8 sizes, got {_kind(shape)}")
        for j, dim in enumerate(shape):
            f.integer(dim, f"{at}.shape[{j}]")
        f.integer(p.get("layer"), f"{at}.layer", optional=True)
    f.mapping(meta["training"], "$.training")
    files = f.mapping(meta["files"], "$.files")
    for path, digest in files.items():
        if not valid_relative_path(path) or path == BUNDLE_FILE:
            f.fail("$.files", f"lists {short(path, 60)}, not a plain file name inside the bundle")
        f.sha256(digest, f"$.files[{short(path, 60)}]")
    weights = f.mapping(meta["weights"], "$.weights")
    if not weights:
        f.fail("$.weights", "lists no weight file")
    for name, digest in weights.items():
        if "/" in name or not valid_relative_path(name) or not name.endswith(".safetensors"):
            f.fail("$.weights", f"lists {short(name, 60)}, not a plain .safetensors file name")
        f.sha256(digest, f"$.weights[{short(name, 60)}]")
        if files.get(name) != digest:
            f.fail(f"$.weights[{short(name, 60)}]", "does not agree with the manifest ($.files)")
    for required in ("config.json", f"{TOKENIZER_DIR}/tokenizer.json"):
        if required not in files:
            f.fail("$.files", f"does not list {required}")
    f.string(meta["suggested_policy"], "$.suggested_policy")
    f.sha256(meta["meta_sha256"], "$.meta_sha256")


def safetensors_header(path: Path, where: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Tensor name -> (dtype, shape) from a safetensors file's header, checked against its size.

    Reads the 8-byte length and the JSON header only; a file that is not a well-formed
    safetensors file raises :class:`UserError`.
    """
    name = path.name

    def bad(problem: str) -> None:
        raise UserError(f"bundle {where}: {name} {problem}; the weight file is damaged or not a safetensors file.")

    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            bad("is shorter than a safetensors header")
        n = int.from_bytes(head, "little")
        if n > MAX_HEADER_BYTES or n > size - 8:
            bad(f"declares a header of {n} bytes in a file of {size}")
        raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        bad("has a header that is not JSON")
    if type(header) is not dict:
        bad("has a header that is not a JSON object")
    data_size = size - 8 - n
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    spans = []
    for key, info in header.items():
        if key == "__metadata__":
            if type(info) is not dict or any(type(v) is not str for v in info.values()):
                bad("has __metadata__ that is not a mapping of strings")
            continue
        if type(info) is not dict or set(info) != {"dtype", "shape", "data_offsets"}:
            bad(f"describes tensor {_key(key)} without exactly dtype, shape and data_offsets")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _DTYPE_BYTES:
            bad(f"gives tensor {_key(key)} the unknown dtype {short(dtype, 20)}")
        if type(shape) is not list or any(type(d) is not int or d < 0 for d in shape):
            bad(f"gives tensor {_key(key)} a shape that is not a list of sizes")
        if type(offsets) is not list or len(offsets) != 2 or any(type(o) is not int for o in offsets):
            bad(f"gives tensor {_key(key)} data offsets that are not two integers")
        begin, end = offsets
        count = 1
        for d in shape:
            count *= d
        if not 0 <= begin <= end <= data_size or end - begin != count * _DTYPE_BYTES[dtype]:
            bad(f"gives tensor {_key(key)} data offsets that do not fit its shape or the file")
        spans.append((begin, end))
        out[key] = (dtype, tuple(shape))
    spans.sort()
    for (_, e1), (b2, _) in zip(spans, spans[1:], strict=False):
        if b2 < e1:
            bad("has tensors whose data overlap")
    return out


@attrs.define
class Bundle:
    """A validated bundle on disk. Weights are read only when asked for."""

    path: Path
    meta: dict[str, Any]

    @property
    def digest(self) -> str:
        """One sha256 covering the whole bundle: bundle.json's canonical content, which lists every file's hash."""
        return self.meta["meta_sha256"]

    @property
    def parameters(self) -> list[ParameterInfo]:
        return [ParameterInfo(p["name"], p["role"], tuple(p["shape"]), p.get("layer")) for p in self.meta["parameters"]]

    @property
    def suggested_policy(self) -> str:
        return self.meta["suggested_policy"]

    @property
    def task_ref(self) -> str:
        return self.meta["task"]["ref"]

    @property
    def adapter_name(self) -> str:
        return self.meta["adapter"]["name"]

    def load_state_dict(self) -> dict[str, Any]:
        """All weights as CPU tensors (safetensors; tied parameters appear once)."""
        from safetensors.torch import load_file

        state: dict[str, Any] = {}
        for name in self.meta["weights"]:
            try:
                part = load_file(str(self.path / name))
            except Exception as exc:  # SafetensorError, OSError: the file is the stranger's
                raise UserError(
                    f"bundle {str(self.path)!r}: {name} cannot be read as safetensors "
                    f"({short(str(exc), 120)}); the weight file is damaged."
                ) from None
            clash = sorted(set(part) & set(state))
            if clash:
                raise UserError(
                    f"bundle {str(self.path)!r}: tensor {short(clash[0], 60)} is stored in two weight files; "
                    "the bundle is damaged."
                )
            state.update(part)
        return state

    def code_references(self, registry: Any = None) -> dict[str, str]:
        """Settings of the recorded adapter config that name code (field -> value); empty when it is data only."""
        _, config = self._adapter_config(registry)
        return _code_references(config)

    def _adapter_config(self, registry: Any) -> tuple[Any, Any]:
        from pptrain_core.config import structure
        from pptrain_core.plugins import get_registry

        reg = registry or get_registry()
        spec = reg.get("register_model_adapters", self.adapter_name)
        try:
            config = structure(self.meta["adapter"]["config"], spec.config_cls, "$.adapter.config")
        except UserError as exc:
            raise UserError(f"bundle {str(self.path)!r}: {BUNDLE_FILE} {exc}".rstrip(".") + ".") from None
        relocate = getattr(config, "for_bundle", None)
        if callable(relocate):
            config = relocate(str(self.path))
        return spec, config

    def adapter(self, registry: Any = None, *, trust_code: bool = False) -> Any:
        """The model adapter that wrote the bundle, rebuilt from its recorded config (data only).

        The adapter is looked up by its registered name among installed plugins. If the
        recorded config names code to import and call (see ``code_references()``), this
        raises :class:`UserError` unless ``trust_code=True``: you vouch for code a bundle
        names only by saying so. Passing your own adapter to :meth:`load_model` (or
        ``--model`` to ``pptrain transfer``) needs no trust at all.
        """
        from pptrain_core.specs import resolve_factory

        spec, config = self._adapter_config(registry)
        refs = _code_references(config)
        if refs and not trust_code:
            field, value = next(iter(refs.items()))
            raise UserError(
                f"bundle {str(self.path)!r} names code for pptrain to run, {short(value, 60)} "
                f"($.adapter.config.{field}), and pptrain never runs code on a bundle's word: give the model "
                "yourself (--model FILE for transfer, --adapter FILE for evaluate, or adapter=... / trust_code=True "
                "in Python)."
            )
        return resolve_factory(spec.factory)(config)

    def load_model(self, registry: Any = None, *, adapter: Any = None, trust_code: bool = False) -> Any:
        """The pre-pretrained model, rebuilt from the bundle's files by ``adapter`` (default: :meth:`adapter`)."""
        chosen = adapter if adapter is not None else self.adapter(registry, trust_code=trust_code)
        return chosen.load(str(self.path))

    def tokenizer(self) -> Any:
        from transformers import PreTrainedTokenizerFast

        try:
            return PreTrainedTokenizerFast.from_pretrained(str(self.path / TOKENIZER_DIR), local_files_only=True)
        except Exception as exc:  # the tokenizer files are the stranger's data
            raise UserError(
                f"bundle {str(self.path)!r}: its tokenizer cannot be read ({short(str(exc), 120)}); "
                "the bundle is damaged."
            ) from None

    def task(self, registry: Any = None) -> Any:
        """The resolved task the bundle was trained on (needs its plugin installed)."""
        from pptrain_core.tasks import resolve

        task = self.meta["task"]
        ref = task["name"] + (f":{task['preset']}" if task["preset"] else "")
        return resolve(ref, task["config"], registry=registry, path="$.task.config")


def _code_references(config: Any) -> dict[str, str]:
    """What an adapter config's ``code_references()`` reports (field -> the code it names)."""
    method = getattr(config, "code_references", None)
    if not callable(method):
        return {}
    return {str(k): str(v) for k, v in dict(method()).items()}


def _read_meta(p: Path) -> Any:
    meta_path = p / BUNDLE_FILE
    if meta_path.is_symlink() or not meta_path.is_file():
        raise UserError(f"bundle {str(p)!r} has no {BUNDLE_FILE}; it is incomplete or not a pptrain bundle.")
    size = meta_path.stat().st_size
    if size > MAX_META_BYTES:
        raise UserError(
            f"bundle {str(p)!r}: {BUNDLE_FILE} is {size} bytes, more than the {MAX_META_BYTES} a bundle's "
            "metadata may take; it is not a pptrain bundle."
        )

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ValueError(f"the key {_key(key)} appears twice")
            out[key] = value
        return out

    try:
        return json.loads(meta_path.read_bytes().decode("utf-8"), object_pairs_hook=no_duplicates)
    except (OSError, ValueError, RecursionError) as exc:
        raise UserError(f"bundle {str(p)!r}: {BUNDLE_FILE} is not valid JSON ({short(str(exc), 120)}).") from None


def load_bundle(path: str | Path, *, registry: Any = None, verify: bool = True) -> Bundle:
    """Open and validate a bundle; every problem is one :class:`UserError` sentence.

    Nothing named inside the bundle is imported or called here. ``verify=False`` skips
    the sha256 of each file (the structure, the types and the headers are still checked).
    """
    from pptrain_core.plugins import get_registry

    p = Path(path)
    where = short(str(p), 200)
    if not p.is_dir():
        raise UserError(f"bundle {where} is not a directory; pass the bundle/ folder of a finished run.")
    meta = _read_meta(p)
    version = meta.get("format_version") if type(meta) is dict else None
    if type(version) is not int:
        raise UserError(
            f"bundle {where}: format_version in {BUNDLE_FILE} must be an integer, got {_kind(version)}; "
            "it is not a pptrain bundle or was edited."
        )
    if version not in SUPPORTED_FORMATS:
        if version < FORMAT_VERSION:
            hint = (
                "it was written before bundles carried a manifest over every file, so re-create it with this "
                "pptrain-core (run `pptrain fit` on its job again) or read it with the pptrain-core that wrote it"
            )
        else:
            hint = "upgrade pptrain-core"
        raise UserError(
            f"bundle {where} has format version {version}, this pptrain-core reads "
            f"{', '.join(map(str, SUPPORTED_FORMATS))}; {hint}."
        )
    check_meta(meta, where)
    if canonical_digest(meta) != meta["meta_sha256"]:
        raise UserError(
            f"bundle {where}: {BUNDLE_FILE} does not match its recorded meta_sha256; the metadata was changed "
            "after the bundle was written, so get an intact copy."
        )
    found, problems = _listing(p)
    if problems:
        raise UserError(f"bundle {where}: {problems[0]}; remove it or get an intact copy of the bundle.")
    listed = meta["files"]
    extra = sorted(set(found) - set(listed) - {BUNDLE_FILE})
    if extra:
        raise UserError(
            f"bundle {where} holds {short(extra[0], 60)}, which its manifest does not list; remove it or get an "
            "intact copy of the bundle."
        )
    for rel in sorted(listed):
        if rel not in found:
            what = "its weight file " if rel in meta["weights"] else ""
            raise UserError(f"bundle {where} is missing {what}{rel}; the bundle is incomplete.")
        if verify and sha256_file(found[rel]) != listed[rel]:
            raise UserError(
                f"bundle {where}: {rel} does not match its recorded sha256; the file is corrupted or was changed."
            )
    shapes = {p_["name"]: tuple(p_["shape"]) for p_ in meta["parameters"]}
    for name in meta["weights"]:
        for tensor, (_, shape) in safetensors_header(found[name], where).items():
            if tensor in shapes and shapes[tensor] != shape:
                raise UserError(
                    f"bundle {where}: tensor {short(tensor, 60)} in {name} has shape {list(shape)}, but $.parameters "
                    f"records {list(shapes[tensor])}; the bundle is damaged."
                )
    reg = registry or get_registry()
    task_name = meta["task"]["name"]
    if task_name not in reg.tasks:
        plugin = meta["versions"].get("task_plugin") or "the plugin that provides it"
        raise UserError(
            f"bundle {where} was trained on task {short(task_name, 60)}, which is not installed; "
            f"install {short(plugin, 60).strip(chr(39))}."
        )
    adapter_name = meta["adapter"]["name"]
    if adapter_name not in reg.model_adapters:
        plugin = meta["versions"].get("adapter_plugin") or "the plugin that provides it"
        raise UserError(
            f"bundle {where} needs the model adapter {short(adapter_name, 60)}, which is not installed; "
            f"install {short(plugin, 60).strip(chr(39))}."
        )
    return Bundle(path=p, meta=meta)

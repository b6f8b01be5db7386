"""The NCA in-context probe (metric ``nca_icl``).

Lee et al.'s signature of in-context rule inference: inside one sequence (one rule), the
next-token loss falls with the frame index, on the rules seen in training and on held-out
rules alike. The official evaluation also reports next-grid exact match and cell
accuracy after ``k`` context frames by greedy *autoregressive* generation of the grid;
we use *teacher-forced* argmax over the frame's patch positions (one forward pass; each
patch is predicted from the true frames and the true earlier patches of its frame),
which is cheaper and an upper bound on the autoregressive figure.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from pptrain_nca.rollout import decode_patches
from pptrain_nca.specs import NCAIclConfig


def _logits(model: Any, input_ids: torch.Tensor) -> torch.Tensor:
    out = model(input_ids=input_ids)
    if isinstance(out, torch.Tensor):
        return out
    if hasattr(out, "logits"):
        return out.logits
    return out[0]


class NCAIclMetric:
    """``evaluate(model, task=..., rules="train"|"eval", n_sequences=..., device=...)``."""

    def __init__(self, config: NCAIclConfig | None = None):
        self.config = config or NCAIclConfig()

    def sequences(self, task: Any, rules: str, n_sequences: int) -> tuple[np.ndarray, np.ndarray]:
        """Token rows and the loss mask: slot ``n`` of the ``rules`` pool, a fresh simulation each.

        The simulations come from the stream ``(seed, split, "nca-icl", n)``, never from the
        training simulations (``"nca-sim"``), so even on train rules the grids are new.
        """
        if rules not in ("train", "eval"):
            raise ValueError(f"rules must be 'train' or 'eval', got {rules!r}")
        seed = self.config.seed
        keys = [(0, n % task.pool_size(rules)) for n in range(n_sequences)]
        pool = task.rules_for(seed, rules, keys)
        draws = [task.draws_for(seed, rules, "nca-icl", n) for n in range(n_sequences)]
        return task.simulate(pool, draws), task.loss_mask

    @torch.no_grad()
    def evaluate(
        self,
        model: Any,
        *,
        task: Any,
        rules: str = "train",
        n_sequences: int | None = None,
        device: str = "cpu",
    ) -> dict[str, Any]:
        c = task.config
        n = n_sequences or self.config.n_sequences
        rows, mask = self.sequences(task, rules, n)
        fl, p, seq_len = c.frame_len, c.patches_per_frame, c.seq_len
        n_frames = -(-seq_len // fl)
        loss_sum = np.zeros(n_frames)
        loss_cnt = np.zeros(n_frames)
        full_frames = [f for f in range(max(1, c.loss_free_frames), seq_len // fl)]
        exact = {f: 0 for f in full_frames}
        cells = {f: 0.0 for f in full_frames}
        frame_of = np.arange(seq_len) // fl
        was_training = getattr(model, "training", False)
        if hasattr(model, "eval"):
            model.eval()
        try:
            for start in range(0, n, self.config.batch_size):
                batch = torch.from_numpy(rows[start : start + self.config.batch_size]).to(device)
                logits = _logits(model, batch).float()
                logp = torch.log_softmax(logits[:, :-1], dim=-1)
                nll = -logp.gather(-1, batch[:, 1:].unsqueeze(-1)).squeeze(-1).cpu().numpy()  # B, L-1
                carries = mask[1:].astype(bool)
                for f in range(n_frames):
                    sel = carries & (frame_of[1:] == f)
                    if sel.any():
                        loss_sum[f] += nll[:, sel].sum()
                        loss_cnt[f] += nll.shape[0] * sel.sum()
                patch_logits = logits[..., : c.patch_vocab]
                for f in full_frames:
                    pos = np.arange(f * fl + 1, f * fl + 1 + p)  # patch tokens of frame f
                    pred = patch_logits[:, pos - 1].argmax(-1).cpu().numpy()
                    true = batch[:, pos].cpu().numpy()
                    for pr, tr in zip(pred, true, strict=True):
                        g_pred = decode_patches(pr, c.num_states, c.patch_size, c.grid_size)
                        g_true = decode_patches(tr, c.num_states, c.patch_size, c.grid_size)
                        exact[f] += bool((g_pred == g_true).all())
                        cells[f] += float((g_pred == g_true).mean())
        finally:
            if was_training and hasattr(model, "train"):
                model.train()
        frames = [f for f in range(n_frames) if loss_cnt[f] > 0]
        return {
            "rules": rules,
            "n_sequences": n,
            "frame_index": frames,
            "frame_loss": [float(loss_sum[f] / loss_cnt[f]) for f in frames],
            "context_frames": full_frames,
            "exact_match": [exact[f] / n for f in full_frames],
            "cell_accuracy": [cells[f] / n for f in full_frames],
            "accuracy_method": "teacher-forced argmax over the frame's patch positions",
        }

"""The probe tasks and the fine-tuning probes, checked against independent decoders.

Every example is decoded with nothing but the documented layout (Jiang et al.'s
``task_condattendstream.py`` / ``task_additionstream.py``), the answer is recomputed with
plain Python, and the loss mask is rebuilt from the official rule by a loop. The
accuracy is checked on hand-built predictions and on an oracle model that reads the
haystack itself.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import attrs
import numpy as np
import pytest

from pptrain_analytics.finetune import NeedleProbe, ReversedAdditionProbe, predict_next, score_predictions
from pptrain_analytics.metric_specs import FinetuneProbeConfig
from pptrain_analytics.probe_specs import PROBE_TASKS, NeedleConfig, ReversedAdditionConfig
from pptrain_analytics.probes import NeedleTask, ReversedAdditionTask
from pptrain_core.config import structure
from pptrain_core.data import VirtualDataset
from pptrain_core.errors import ConfigError, UserError
from pptrain_core.testing.checks import parametrize_with_task_checks


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@parametrize_with_task_checks(PROBE_TASKS, "pptrain_analytics.probe_specs")
def test_conformance(check):
    check()


def _task(spec_name: str, preset: str):
    spec = next(s for s in PROBE_TASKS if s.name == spec_name)
    return spec.build(structure(dict(spec.preset(preset).values), spec.config_cls))


# --------------------------------------------------------------------------- needle


def decode_needle(tokens, vocab_size, max_pairs):
    """(pairs dict key -> value, query key, position of the answer) from the raw layout."""
    half = vocab_size // 2
    pairs, order = {}, []
    t = 0
    while half <= tokens[t] < half + max_pairs:  # key tokens
        key, value = tokens[t] - half, tokens[t + 1]
        assert 1 <= value < half, f"value {value} outside 1..{half - 1}"
        assert key not in pairs, "a key repeats"
        pairs[key] = value
        order.append(key)
        t += 2
    query = tokens[t] - half - max_pairs
    assert 0 <= query < max_pairs, f"token {tokens[t]} at {t} is not a query"
    return pairs, query, t + 1


@pytest.mark.parametrize("preset", ["paper", "smoke"])
def test_needle_layout_answer_and_mask(preset):
    cfg_values = {"paper": (256, 30), "smoke": (32, 6)}[preset]
    vocab_size, max_pairs = cfg_values
    task = _task("needle", preset)
    for split in ("train", "eval"):
        for ex in VirtualDataset(task, seed=5, split=split, length=300):
            toks = [int(x) for x in ex.tokens]
            assert len(toks) == 2 * max_pairs + 3  # the official max_len * 2 + 3
            pairs, query, answer_at = decode_needle(toks, vocab_size, max_pairs)
            assert 1 <= len(pairs) <= max_pairs
            assert query in pairs, "the query asks for a key that is not in the haystack"
            assert toks[answer_at] == pairs[query]
            assert all(x == 0 for x in toks[answer_at + 1 :]), "the tail is not zero padding"
            expected_mask = [1 if t == answer_at else 0 for t in range(len(toks))]
            assert ex.loss_mask.tolist() == expected_mask, "loss must sit on the answer token only"


def test_needle_pair_counts_are_uniform():
    task = _task("needle", "smoke")
    counts = np.zeros(7)
    n = 3000
    for ex in VirtualDataset(task, seed=0, split="train", length=n):
        counts[int(np.count_nonzero((ex.tokens >= 16) & (ex.tokens < 22)))] += 1
    shares = counts[1:] / n
    assert counts[0] == 0
    assert np.all(np.abs(shares - 1 / 6) < 0.035), shares  # U{1..6}: 1/6 each, sd ~0.007


def test_eval_sequences_never_appear_in_training():
    held = _task("needle", "smoke")
    mixed = NeedleTask(attrs.evolve(held.config, eval_buckets=0))

    def seqs(task, split):
        return {ex.tokens.tobytes() for ex in VirtualDataset(task, seed=1, split=split, length=1500)}

    assert not seqs(held, "eval") & seqs(held, "train")
    # without the separation, short haystacks (90 one-pair sequences) repeat across splits
    assert seqs(mixed, "eval") & seqs(mixed, "train")


def test_needle_config_rejects_a_vocabulary_too_small():
    with pytest.raises(ConfigError) as err:
        structure({"max_pairs": 30, "vocab_size": 64}, NeedleConfig, "$.task.params")
    assert err.value.path == "$.task.params.vocab_size"
    assert "120" in err.value.message


# --------------------------------------------------------------------------- reversed addition


def decode_addition(tokens):
    """(a, b, answer digits as read, position of '=', positions of answer digits, stop position)."""
    plus, equals = tokens.index(10), tokens.index(11)
    a = int("".join(str(d) for d in reversed(tokens[:plus])))
    b = int("".join(str(d) for d in reversed(tokens[plus + 1 : equals])))
    t = equals + 1
    digits = []
    while 20 <= tokens[t] <= 29:
        digits.append(tokens[t] - 20)
        t += 1
    assert tokens[t] == 30, "the answer is not followed by the stop token"
    return a, b, int("".join(str(d) for d in reversed(digits))), equals, list(range(equals + 1, t)), t


@pytest.mark.parametrize("preset,digits", [("paper", 10), ("smoke", 3)])
def test_reversed_addition_layout_and_paper_targets(preset, digits):
    task = _task("reversed_addition", preset)
    for ex in VirtualDataset(task, seed=2, split="train", length=300):
        toks = [int(x) for x in ex.tokens]
        assert len(toks) == 3 * digits + 4  # the official max_len * 3 + 4
        a, b, total, equals, answer, stop = decode_addition(toks)
        assert 10 ** (digits - 1) <= a < 10**digits and 10 ** (digits - 1) <= b < 10**digits
        assert total == a + b
        assert all(x == 12 for x in toks[stop + 1 :])
        # official rule: score token t when token t-1 is >= 20 (answer digit or stop)
        rule = [0] + [1 if toks[t - 1] >= 20 else 0 for t in range(1, len(toks))]
        assert ex.loss_mask.tolist() == rule
        assert ex.loss_mask[answer[0]] == 0, "the official rule does not score the first answer digit"


def test_reversed_addition_answer_targets():
    task = ReversedAdditionTask(ReversedAdditionConfig(digits=4, targets="answer"))
    assert task.vocab.pad_id == 12
    for ex in VirtualDataset(task, seed=0, split="eval", length=100):
        toks = [int(x) for x in ex.tokens]
        _, _, _, _, answer, stop = decode_addition(toks)
        assert np.flatnonzero(ex.loss_mask).tolist() == answer + [stop]


# --------------------------------------------------------------------------- accuracy


def test_score_predictions_by_hand():
    tokens = np.array([[5, 6, 7, 8], [1, 2, 3, 4]])
    mask = np.array([[0, 0, 1, 1], [0, 1, 0, 0]])
    # predictions at positions 0..2 are guesses for tokens 1..3
    pred = np.array([[9, 7, 0], [2, 9, 9]])  # row 0: token 2 right, token 3 wrong; row 1: token 1 right
    got = score_predictions(pred, tokens, mask)
    assert got["targets"] == 3
    assert got["accuracy"] == pytest.approx(2 / 3)
    assert got["sequence_accuracy"] == pytest.approx(1 / 2)


class NeedleOracle:
    """A stand-in model that solves the needle by reading the haystack, and guesses 0 everywhere else."""

    def __init__(self, vocab_size, max_pairs, wrong_answers=False):
        import torch

        self.vocab, self.m, self.wrong = vocab_size, max_pairs, wrong_answers
        self._param = torch.nn.Parameter(torch.zeros(1))
        self.training = False

    def parameters(self):
        return iter([self._param])

    def eval(self):
        return self

    def train(self, mode=True):
        return self

    def __call__(self, input_ids):
        import torch

        half = self.vocab // 2
        logits = torch.zeros(*input_ids.shape, self.vocab)
        logits[..., 0] = 1.0  # every non-answer position predicts pad
        for b, row in enumerate(input_ids.tolist()):
            pairs, query, answer_at = decode_needle(row, self.vocab, self.m)
            guess = pairs[query] if not self.wrong else (pairs[query] % (half - 1)) + 1
            logits[b, answer_at - 1, :] = 0.0
            logits[b, answer_at - 1, guess] = 5.0
        return logits


def test_accuracy_counts_the_answer_token_only():
    task = _task("needle", "smoke")
    exs = list(VirtualDataset(task, seed=0, split="eval", length=64))
    tokens = np.stack([e.tokens for e in exs])
    mask = np.stack([e.loss_mask for e in exs])
    right = score_predictions(predict_next(NeedleOracle(32, 6), tokens), tokens, mask)
    # the oracle is wrong on most non-answer positions (it always says pad) and still scores 1
    assert right["accuracy"] == 1.0 and right["targets"] == 64
    wrong = score_predictions(predict_next(NeedleOracle(32, 6, wrong_answers=True), tokens), tokens, mask)
    assert wrong["accuracy"] == 0.0


# --------------------------------------------------------------------------- the fine-tuning probe, end to end

TINY = {"preset": "smoke", "steps": 12, "batch_size": 16, "warmup_steps": 2, "eval_examples": 48, "eval_every": 6}


def _gpt2(vocab_size, n_embd=16, n_layer=2, n_head=4, n_positions=100, tie=False):
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        vocab_size=vocab_size,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        n_positions=n_positions,
        tie_word_embeddings=tie,
        bos_token_id=None,
        eos_token_id=None,
    )
    return GPT2LMHeadModel(cfg)


def test_needle_probe_from_scratch_end_to_end(tmp_path):
    result = NeedleProbe(FinetuneProbeConfig(**TINY, output_dir=str(tmp_path / "run"))).evaluate(None)
    assert result["start"] == "scratch" and result["transfer"] is None
    assert [c["step"] for c in result["curve"]] == [0, 6, 12]
    for point in result["curve"]:
        assert 0.0 <= point["accuracy"] <= 1.0
        assert point["targets"] == 48  # one scored token (the answer) per eval example
        assert point["examples_seen"] == point["step"] * 16
    assert result["accuracy"] == result["curve"][-1]["accuracy"]
    assert result["chance_accuracy"] == pytest.approx(1 / 15)  # values 1..15 in the smoke vocabulary
    assert result["model"]["n_embd"] == 16 and result["model"]["n_positions"] == 100
    assert (tmp_path / "run" / "metrics.jsonl").is_file()


def test_probe_transfers_with_mean_embeddings():
    import torch

    source = _gpt2(vocab_size=40, n_positions=64)
    before = {k: v.clone() for k, v in source.state_dict().items()}
    result = ReversedAdditionProbe(FinetuneProbeConfig(**TINY)).evaluate(source)
    actions = result["transfer"]["actions"]
    assert result["start"] == "transferred" and result["transfer"]["policy"] == "mean_embeddings"
    assert actions["mean_initialised"] == 2  # token embedding and the untied head
    assert actions["partially_copied"] == 1  # 40 of the source's 64 position rows
    assert actions["copied"] >= 2 * 4  # every block's attention and MLP weights
    # the probe trains a copy: the source model is untouched
    assert all(torch.equal(before[k], v) for k, v in source.state_dict().items())
    assert 0.0 <= result["accuracy"] <= 1.0
    assert result["transfer"]["roles"]["head"] == ["mean_initialised"]


def test_probe_from_a_tied_source_mean_initialises_the_untied_head():
    probe = NeedleProbe(FinetuneProbeConfig(**{**TINY, "steps": 1, "eval_every": 0, "warmup_steps": 0}))
    result = probe.evaluate(_gpt2(vocab_size=40, tie=True))
    # the probe model's head is untied (paper: tie_emb False); a tied source has no head tensor of its
    # own, and the official "average" strategy sets every lm_head row to the mean source wte row
    assert result["transfer"]["roles"]["head"] == ["mean_initialised"]
    assert result["transfer"]["roles"]["token_embedding"] == ["mean_initialised"]
    assert [c["step"] for c in result["curve"]] == [0, 1]


def test_probe_rejects_a_source_of_another_width():
    probe = NeedleProbe(FinetuneProbeConfig(**TINY))
    with pytest.raises(UserError) as err:
        probe.evaluate(_gpt2(vocab_size=40, n_embd=32))
    message = str(err.value)
    assert "n_embd=32" in message and "n_embd=16" in message and "--set" in message

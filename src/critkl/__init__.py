"""Prioritized-KL RL fine-tuning on critical tokens: the scratchpad-addition testbed.

>>> from critkl import load_pretrained, Problem, generate
>>> model, tokenizer = load_pretrained("tiny-n3")  # doctest: +SKIP
>>> print(generate(model, [Problem(57, 8)])[0])  # doctest: +SKIP
"""

from .arithmetic import (
    Problem,
    answer_string,
    eval_set,
    extract_answer,
    is_correct,
    parse_answer,
    prompt,
    sample_pretrain,
    sample_rl,
    target,
)
from .critical import analyse, critical_positions, delta_j, delta_j_table, token_certainty
from .evaluate import accuracy, length_table
from .generation import ContextTooLongError, generate, generate_ids
from .kl import certainty, kl_estimate, masked_mean, prioritized_weight
from .model import SIZES, build_model, context_length, load_model, load_pretrained, save_model
from .pretrain import PretrainConfig, pretrain
from .rl import RLConfig, Trainer, train
from .rollout import Rollout, gold_episodes, sample_episodes, sequence_logprobs
from .tokenizer import VOCAB, CharTokenizer, OutOfVocabularyError

__all__ = [
    "SIZES", "VOCAB", "CharTokenizer", "ContextTooLongError", "OutOfVocabularyError", "PretrainConfig",
    "Problem", "accuracy", "analyse", "answer_string", "build_model", "certainty", "context_length",
    "critical_positions", "delta_j", "delta_j_table", "eval_set", "extract_answer", "generate",
    "generate_ids", "is_correct", "length_table", "load_model", "load_pretrained", "parse_answer",
    "pretrain", "prompt", "sample_pretrain", "sample_rl", "save_model", "target", "token_certainty",
    "kl_estimate", "masked_mean", "prioritized_weight", "RLConfig", "Trainer", "train", "Rollout",
    "gold_episodes", "sample_episodes", "sequence_logprobs",
]

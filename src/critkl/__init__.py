"""Prioritized-KL RL fine-tuning on critical tokens: the scratchpad-addition testbed.

>>> from critkl import load_pretrained, Problem, generate
>>> model, tokenizer = load_pretrained("tiny-n3")  # doctest: +SKIP
>>> print(generate(model, [Problem(57, 8)])[0])  # doctest: +SKIP
"""


from ._lazy import lazy_exports
from ._version import __version__ as __version__  # the distribution's version

# ``pretrain`` is also the name of a submodule, so it is bound here (critkl.pretrain is light); every
# other name is imported on first use, so that ``import critkl.cli`` (the command line) loads neither
# torch nor transformers.
from .pretrain import PretrainConfig, pretrain

_LAZY = {
    ".arithmetic": ("Problem", "answer_string", "eval_set", "extract_answer", "is_correct", "parse_answer",
                    "prompt", "sample_pretrain", "sample_rl", "target"),
    ".critical": ("analyse", "critical_positions", "delta_j", "delta_j_table", "token_certainty"),
    ".evaluate": ("accuracy", "length_table"),
    ".finite": ("NonFiniteError",),
    ".generation": ("DECODERS", "ContextTooLongError", "generate", "generate_ids", "pick_decoder"),
    ".kl": ("certainty", "exact_kl", "kl_estimate", "masked_mean", "prioritized_weight"),
    ".preallocated_cache": ("PreallocatedCache", "supports_preallocation"),
    ".model": ("SIZES", "build_model", "context_length", "load_model", "load_pretrained", "save_model"),
    ".rl": ("RLConfig", "Trainer", "train"),
    ".rollout": ("Rollout", "gold_episodes", "sample_episodes", "sequence_logprobs"),
    ".tokenizer": ("VOCAB", "CharTokenizer", "OutOfVocabularyError"),
}
__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "SIZES", "VOCAB", "CharTokenizer", "ContextTooLongError", "NonFiniteError", "OutOfVocabularyError",
    "PretrainConfig", "Problem", "accuracy", "analyse", "answer_string", "build_model", "certainty",
    "context_length", "critical_positions", "delta_j", "delta_j_table", "eval_set", "extract_answer", "generate",
    "generate_ids", "is_correct", "length_table", "load_model", "load_pretrained", "parse_answer",
    "pretrain", "prompt", "sample_pretrain", "sample_rl", "save_model", "target", "token_certainty",
    "exact_kl", "kl_estimate", "masked_mean", "prioritized_weight", "RLConfig", "Trainer", "train", "Rollout",
    "gold_episodes", "sample_episodes", "sequence_logprobs", "DECODERS", "pick_decoder",
    "PreallocatedCache", "supports_preallocation",
]

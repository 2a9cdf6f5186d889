"""The character-level GPT-2 (85M parameters in the paper): named sizes, building, saving and loading.

Models are plain ``transformers.GPT2LMHeadModel`` objects; a saved model folder holds
``config.json``, ``model.safetensors``, the tokenizer files (``tokenizer.json`` among them, so
that ``AutoTokenizer.from_pretrained(folder)`` works too) and (after pre-training)
``training_config.json``. The task's maximum pre-training length N is stored in the
model config as ``critkl_max_digits``.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import GPT2Config, GPT2LMHeadModel

from .arithmetic import all_nines, episode_length
from .reading import first_line, read_json
from .tokenizer import PAD, VOCAB, CharTokenizer, encode

# name -> (n_layer, n_head, n_embd)
SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (4, 4, 128),  # < 1M parameters, trains on CPU
    "small": (6, 6, 384),  # Lee et al.'s "baby GPT", ~10.7M parameters
    "paper": (12, 12, 768),  # the paper's 85M model
}
PRETRAINED_DIR = Path(__file__).parent / "pretrained"
MODEL_FILES = ("config.json", "model.safetensors")
TOKENIZER_FILES = ("tokenizer_config.json", "vocab.json")
RL_EXTRA_STEPS = 100  # the official "standard" episode limit: continuation + 100


def context_length(max_digits: int) -> int:
    """Positions the model needs for pre-training length N, a multiple of 32.

    The longest of: an RL episode on N+1 digits (prompt + continuation for two all-9s
    operands + 100), and a full prompt + continuation at N+3 digits (the last
    evaluation length).

    >>> context_length(3), context_length(7)
    (480, 896)
    """
    if isinstance(max_digits, bool) or not isinstance(max_digits, int) or max_digits < 1:
        raise ValueError(f"max_digits must be an int >= 1, got {max_digits!r}")
    rl = all_nines(max_digits + 1)
    longest = max(len(rl.prompt) + len(rl.target) + RL_EXTRA_STEPS, episode_length(max_digits + 3))
    return -(-longest // 32) * 32


def build_model(size: str, max_digits: int, dropout: float = 0.0, seed: int = 0,
                device: str | None = None, position_embeddings: bool = True) -> GPT2LMHeadModel:
    """A freshly initialised GPT-2 of a named size whose context fits ``max_digits``.

    ``position_embeddings=False`` builds a NoPE model: the learned position table is zero
    and frozen (also after :func:`load_model`), so the causal mask is the only source of
    order (Kazemnejad et al. 2023). The architecture and files stay plain GPT-2.

    >>> m = build_model("tiny", 3)
    >>> m.config.n_positions, m.config.vocab_size, sum(p.numel() for p in m.parameters()) < 1e6
    (480, 96, True)
    """
    import torch

    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    n_layer, n_head, n_embd = SIZES[size]
    config = GPT2Config(
        vocab_size=len(VOCAB),
        n_positions=context_length(max_digits),
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        activation_function="gelu_pytorch_tanh",  # gelu_new's formula, one fused kernel (fused_gelu)
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        layer_norm_epsilon=1e-5,
        initializer_range=0.02,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=encode(PAD)[0],
        tie_word_embeddings=True,
        critkl_max_digits=max_digits,
        critkl_size=size,
        critkl_position_embeddings=bool(position_embeddings),
    )
    torch.manual_seed(seed)
    with torch.device(device or "cpu"):
        model = GPT2LMHeadModel(config)
    if not position_embeddings:
        with torch.no_grad():
            model.transformer.wpe.weight.zero_()
    return freeze_positions(model)


def freeze_positions(model: GPT2LMHeadModel) -> GPT2LMHeadModel:
    """Keep a NoPE model's (zero) position table out of training; a no-op for other models."""
    if getattr(model.config, "critkl_position_embeddings", True) is False:
        model.transformer.wpe.weight.requires_grad_(False)
    return model


def max_digits_of(model: GPT2LMHeadModel | dict) -> int:
    """The pre-training length N recorded in the model config (a model, or its config.json as a dict)."""
    n = model.get("critkl_max_digits") if isinstance(model, dict) else getattr(model.config, "critkl_max_digits", None)
    if n is None:
        raise ValueError("model config has no critkl_max_digits; was it built by critkl?")
    return int(n)


def save_model(model: GPT2LMHeadModel, tokenizer: CharTokenizer, folder: str | Path,
               training_config: dict | None = None) -> Path:
    """``save_pretrained`` the model (safetensors) and tokenizer, plus the training config."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    from .run_folder import follow_umask

    follow_umask(folder / "model.safetensors")  # safetensors writes it 0600, its siblings follow the umask
    tokenizer.save_pretrained(folder)
    if training_config is not None:
        (folder / "training_config.json").write_text(json.dumps(training_config, indent=2) + "\n")
    return folder


def shipped_models() -> list[str]:
    """The names of the models shipped with the package.

    >>> shipped_models()[:2]
    ['tiny-n3', 'tiny-n4']
    """
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if p.is_dir()) if PRETRAINED_DIR.is_dir() else []


def resolve(name_or_path: str | Path) -> Path:
    """A model folder: a shipped pretrained name (``tiny-n3``) or a path."""
    candidate = PRETRAINED_DIR / str(name_or_path)
    if isinstance(name_or_path, str) and "/" not in name_or_path and candidate.is_dir():
        return candidate
    return Path(name_or_path)


def load_model(name_or_path: str | Path) -> tuple[GPT2LMHeadModel, CharTokenizer]:
    """Load ``(model, tokenizer)`` from a folder written by :func:`save_model`, in eval mode.

    Raises ``FileNotFoundError`` naming the folder and every missing file, and ``ValueError`` naming the
    folder and the file for one that cannot be read (not JSON, a damaged or incomplete safetensors,
    weights that are NaN or infinite).

    >>> model, tok = load_model("tiny-n3")  # doctest: +SKIP
    """
    folder = resolve(name_or_path)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"model {str(name_or_path)!r}: no such folder (shipped pretrained names: {shipped_models()})"
        )
    missing = [f for f in MODEL_FILES + TOKENIZER_FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"model folder {folder} is missing {', '.join(missing)}")
    from transformers.utils import logging as hf_logging

    for name in ("config.json", *TOKENIZER_FILES):
        if not isinstance(read_json(folder / name), dict):
            raise ValueError(f"{folder / name}: expected a JSON object")
    vocab_size = read_json(folder / "config.json").get("vocab_size")
    if vocab_size != len(VOCAB):  # checked before building the model: not a critkl model at all
        raise ValueError(f"model folder {folder}: vocab_size {vocab_size} != {len(VOCAB)} in config.json")
    hf_logging.disable_progress_bar()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the missing or unexpected weights are reported below, as an error
    try:
        model, info = GPT2LMHeadModel.from_pretrained(folder, output_loading_info=True)
    except Exception as e:  # a damaged safetensors file or config can raise almost any exception
        raise ValueError(f"model folder {folder}: cannot load config.json and model.safetensors "
                         f"({type(e).__name__}: {first_line(e)})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = sorted(info.get("missing_keys", ())) + sorted(info.get("mismatched_keys", ()))
    if missing:
        raise ValueError(f"model folder {folder}: model.safetensors lacks or mis-sizes weights "
                         f"{[str(k) for k in missing[:5]]}{' …' if len(missing) > 5 else ''}")
    bad = [name for name, p in model.named_parameters() if not bool(p.isfinite().all())]
    if bad:
        raise ValueError(f"model folder {folder}: model.safetensors holds NaN or infinite weights ({bad[0]})")
    try:
        tokenizer = CharTokenizer.from_pretrained(folder)
    except Exception as e:  # as above, for the tokenizer files
        raise ValueError(f"model folder {folder}: cannot load the tokenizer files "
                         f"({type(e).__name__}: {first_line(e)})") from None
    return fused_gelu(freeze_positions(model)).eval(), tokenizer


def fused_gelu(model):
    """Run a GPT-2's ``gelu_new`` MLP activation as PyTorch's fused ``gelu(approximate="tanh")``: the same
    function (within 1e-6), in one kernel instead of eight elementwise ones; teacher-forced forwards of
    the tiny models (reference pass, updates, gold-path metrics) run about 2x faster on a CPU. The config
    says ``gelu_pytorch_tanh`` afterwards, so a saved model loads with the fused activation.

    >>> fused_gelu(build_model("tiny", 3)).config.activation_function
    'gelu_pytorch_tanh'
    """
    from transformers.activations import ACT2FN

    if getattr(model.config, "activation_function", None) == "gelu_new":
        model.config.activation_function = "gelu_pytorch_tanh"
        for block in model.transformer.h:
            block.mlp.act = ACT2FN["gelu_pytorch_tanh"]
    return model


def load_pretrained(name: str = "tiny-n3") -> tuple[GPT2LMHeadModel, CharTokenizer]:
    """A model shipped with the package, e.g. ``load_pretrained("tiny-n3")``."""
    folder = PRETRAINED_DIR / name
    if not folder.is_dir():
        raise FileNotFoundError(f"name {name!r}: no shipped pretrained model (available: {shipped_models()})")
    return load_model(folder)

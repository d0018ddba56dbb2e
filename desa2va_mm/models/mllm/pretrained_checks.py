"""Checks that a pretrained InternVL folder, its tokenizer and the config fit together.

A real-size run that silently trains on the wrong thing costs GPU days, so each way the
InternVL weights can be mis-set stops :class:`InternVLMLLM` with an error that names the
config key to set:

* an original-layout folder (``InternVLChatModel``, remote code) instead of the native
  ``*-hf`` layout: the error gives the conversion command;
* pretrained weights with the offline stand-in tokenizer (real words would become
  ``[UNK]``): an ``InternVLTokenizer`` without a path follows ``pretrained``; a stand-in
  named explicitly is refused;
* a tokenizer whose tokens the weights have no rows for, or whose ``<IMG_CONTEXT>`` id is
  not the folder's ``image_token_id``;
* ``model.mllm.model_config`` values that contradict the folder's ``config.json`` (the
  real-size configs state the published dimensions: a folder of another size fails here
  instead of with a wall of shape errors, or not at all for settings that keep shapes).
"""
import json
import os.path as osp
from typing import Any, Optional

from desa2va_mm.tokenization import GROUNDING_TOKENS, IMAGE_TOKENS, IMG_CONTEXT_TOKEN

CONVERT_COMMAND = 'python tools/model_converters/internvl_to_hf.py {src} {dst}'

#: Tokenizers that only stand in for a real one (offline, word-level).
STAND_IN_TOKENIZERS = ('TinyWordTokenizer', )

#: Chat template of each text model type InternVL uses (InternLM2 is hosted as Llama).
CHAT_TEMPLATE_OF_MODEL_TYPE = {'qwen2': 'qwen2', 'qwen3': 'qwen2', 'llama': 'internlm2',
                               'internlm2': 'internlm2'}


def check_pretrained_folder(path: str) -> None:
    """Refuse a missing folder and an original-layout (unconverted) InternVL folder."""
    if not osp.isdir(path):
        raise FileNotFoundError(
            f'model.mllm.pretrained={path!r} is not a folder: set it to a native InternVL '
            f'folder (an original download converted with '
            f"{CONVERT_COMMAND.format(src='SRC', dst='SRC-hf')})")
    config_file = osp.join(path, 'config.json')
    if not osp.isfile(config_file):
        raise FileNotFoundError(f'model.mllm.pretrained={path!r} has no config.json; it is '
                                'not a Hugging Face model folder')
    with open(config_file, encoding='utf-8') as f:
        config = json.load(f)
    if 'llm_config' in config or 'InternVLChatModel' in (config.get('architectures') or ()):
        dst = path.rstrip('/\\') + '-hf'
        raise ValueError(
            f'model.mllm.pretrained={path!r} is an original-layout InternVL folder '
            f"({config.get('architectures', ['InternVLChatModel'])[0]}, remote code). "
            f'Convert it once with\n    {CONVERT_COMMAND.format(src=path, dst=dst)}\n'
            f'and set model.mllm.pretrained={dst!r} (docs/real_weights.md).')


def tokenizer_for_pretrained(tokenizer: Any, pretrained: str) -> Any:
    """The tokenizer config that goes with ``pretrained`` weights.

    ``InternVLTokenizer`` without a ``path`` follows the weights (one setting for both);
    an explicit ``path`` is kept (checked later by :func:`check_vocabulary`); a stand-in
    tokenizer is refused.
    """
    if isinstance(tokenizer, dict):
        kind = tokenizer.get('type')
        kind = getattr(kind, '__name__', kind)
        if kind == 'InternVLTokenizer' and tokenizer.get('path') is None:
            return {**tokenizer, 'path': pretrained}
        if kind in STAND_IN_TOKENIZERS:
            raise ValueError(
                f'model.mllm.pretrained={pretrained!r} (real InternVL weights) with the '
                f'offline stand-in tokenizer {kind}: real text would be read as [UNK]. Set '
                "model.mllm.tokenizer=dict(type='InternVLTokenizer', path=None) (it follows "
                'model.mllm.pretrained) or a tokenizer folder.')
        return tokenizer
    if getattr(tokenizer, 'desa2va_stand_in', False):
        raise ValueError(
            f'model.mllm.pretrained={pretrained!r} (real InternVL weights) with a stand-in '
            'tokenizer object: real text would be read as [UNK]; pass the folder\'s tokenizer')
    return tokenizer


def _same(config_value: Any, folder_value: Any) -> bool:
    if isinstance(config_value, (list, tuple)) and isinstance(folder_value, (list, tuple)):
        return len(config_value) == len(folder_value) and all(
            _same(a, b) for a, b in zip(config_value, folder_value))
    # image_size=448 states the same as [448, 448].
    if isinstance(folder_value, (list, tuple)) and not isinstance(config_value, (list, tuple)):
        return all(_same(config_value, v) for v in folder_value)
    if isinstance(config_value, (list, tuple)) and not isinstance(folder_value, (list, tuple)):
        return all(_same(v, folder_value) for v in config_value)
    if isinstance(config_value, dict) and isinstance(folder_value, dict):
        return all(k in folder_value and _same(v, folder_value[k])
                   for k, v in config_value.items())
    if isinstance(config_value, float) or isinstance(folder_value, float):
        try:
            return abs(float(config_value) - float(folder_value)) <= 1e-9 * max(
                1.0, abs(float(folder_value)))
        except (TypeError, ValueError):
            return False
    return config_value == folder_value


def check_config_agrees(config: Any, model_config: Optional[dict], pretrained: str,
                        key: str = 'model.mllm.model_config') -> None:
    """Every ``model_config`` entry must equal the folder's value.

    Args:
        config: The folder's ``transformers`` config.
        model_config: The config file's ``model.mllm.model_config`` (may be None / empty).
        pretrained: Folder path, for the message.
        key: Config key of ``model_config``, for the message.
    """
    mismatches = []

    def walk(expected: dict, actual: Any, path: str) -> None:
        for name, value in expected.items():
            if name == 'model_type' and path:
                # InternLM2 is hosted as Llama by the converter; the architecture is
                # checked through the dimensions below.
                continue
            sub = getattr(actual, name, None) if not isinstance(actual, dict) \
                else actual.get(name)
            if isinstance(value, dict) and sub is not None and hasattr(sub, 'to_dict'):
                walk(value, sub, f'{path}.{name}')
                continue
            if sub is None and not hasattr(actual, name):
                mismatches.append(f'{path}.{name}: config {value!r}, folder has no such field')
            elif not _same(value, sub):
                mismatches.append(f'{path}.{name}: config {value!r}, folder {sub!r}')

    walk(dict(model_config or {}), config, key)
    if mismatches:
        raise ValueError(
            f'model.mllm.pretrained={pretrained!r} does not match the config '
            f'({len(mismatches)} field(s)):\n  ' + '\n  '.join(mismatches[:20]) +
            f'\nThe config states the published model; point model.mllm.pretrained at that '
            f'model, or pass --cfg-options {key}=None to take every value from the folder.')


def check_vocabulary(tokenizer: Any, model: Any, pretrained: str) -> None:
    """The weights must have a row for every token but the ones we add, and the same
    ``<IMG_CONTEXT>`` id."""
    rows = model.get_input_embeddings().num_embeddings
    added = set(GROUNDING_TOKENS) | set(IMAGE_TOKENS)
    vocab = tokenizer.get_vocab()
    beyond = sorted((i, t) for t, i in vocab.items() if i >= rows and t not in added)
    name = getattr(tokenizer, 'name_or_path', None) or '<tokenizer>'
    if beyond:
        shown = ', '.join(f'{t!r}={i}' for i, t in beyond[:5])
        raise ValueError(
            f'tokenizer {name!r} and the weights in model.mllm.pretrained={pretrained!r} '
            f'disagree: {len(beyond)} token(s) have ids beyond the {rows} embedding rows '
            f'({shown}...). Use the tokenizer of these weights (leave '
            'model.mllm.tokenizer.path=None to take the folder\'s).')
    image_token_id = getattr(model.config, 'image_token_id', None)
    ctx = vocab.get(IMG_CONTEXT_TOKEN)
    if image_token_id is not None and ctx is not None and ctx != image_token_id:
        raise ValueError(
            f'tokenizer {name!r} maps {IMG_CONTEXT_TOKEN} to {ctx}, the weights in '
            f'model.mllm.pretrained={pretrained!r} expect image_token_id={image_token_id}: '
            'not the tokenizer of these weights (leave model.mllm.tokenizer.path=None)')


def infer_chat_template(config: Any) -> str:
    """The chat template of an InternVL config's text model."""
    model_type = getattr(getattr(config, 'text_config', None), 'model_type', None)
    if model_type not in CHAT_TEMPLATE_OF_MODEL_TYPE:
        raise ValueError(
            f'no chat template known for text model {model_type!r}; set '
            f'model.mllm.chat_template (options: '
            f'{sorted(set(CHAT_TEMPLATE_OF_MODEL_TYPE.values()))})')
    return CHAT_TEMPLATE_OF_MODEL_TYPE[model_type]


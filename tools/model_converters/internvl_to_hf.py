"""Convert an original (remote-code) InternVL checkpoint folder to the native layout.

    python tools/model_converters/internvl_to_hf.py pretrained/InternVL2_5-1B \
        pretrained/InternVL2_5-1B-hf [--dtype bfloat16]

Input: a folder with the original ``config.json`` (``llm_config`` / ``vision_config``),
``*.safetensors`` or ``pytorch_model*.bin`` shards (``vision_model.*``, ``mlp1.*``,
``language_model.*`` with fused ``qkv`` / InternLM2 ``wqkv``) and the tokenizer files.
Output: a folder ``InternVLForConditionalGeneration.from_pretrained`` loads without remote
code (``model.mllm.pretrained`` of the real-size configs), with the tokenizer files copied.
InternLM2 (InternVL2.5-8B) becomes a Llama language model, as in transformers' own
conversion, and its remote-code SentencePiece tokenizer a fast ``tokenizer.json``
(``tokenizer_config.json`` without ``auto_map``; needs ``sentencepiece`` and ``protobuf``). Every key is accounted for: missing, unexpected or mis-shaped keys stop the
conversion with a list (see desa2va_mm/utils/internvl_conversion.py for the mapping).
"""
import argparse
import json
import os
import os.path as osp
import shutil
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

TOKENIZER_FILES = ('tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
                   'added_tokens.json', 'vocab.json', 'merges.txt', 'tokenizer.model',
                   'generation_config.json', 'chat_template.json')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Original InternVL checkpoint -> native transformers InternVL folder')
    parser.add_argument('src', help='original InternVL folder (config.json + weights)')
    parser.add_argument('out', help='output folder')
    parser.add_argument('--dtype', default='bfloat16',
                        choices=['float32', 'bfloat16', 'float16'], help='saved weight dtype')
    parser.add_argument('--image-token-id', type=int, default=None,
                        help='id of <IMG_CONTEXT> (default: read from the tokenizer files)')
    return parser.parse_args(argv)


def find_image_token_id(folder: str) -> int:
    """``<IMG_CONTEXT>``'s id from the tokenizer files, without running tokenizer code."""
    for name in ('added_tokens.json', 'tokenizer_config.json', 'tokenizer.json'):
        path = osp.join(folder, name)
        if not osp.isfile(path):
            continue
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        if name == 'added_tokens.json' and '<IMG_CONTEXT>' in data:
            return int(data['<IMG_CONTEXT>'])
        if name == 'tokenizer_config.json':
            for idx, tok in (data.get('added_tokens_decoder') or {}).items():
                if tok.get('content') == '<IMG_CONTEXT>':
                    return int(idx)
        if name == 'tokenizer.json':
            for tok in data.get('added_tokens', []):
                if tok.get('content') == '<IMG_CONTEXT>':
                    return int(tok['id'])
    raise ValueError(f'{folder}: cannot find <IMG_CONTEXT> in the tokenizer files; pass '
                     '--image-token-id')


def convert(src: str, out: str, dtype: str = 'bfloat16', image_token_id=None) -> dict:
    """Convert ``src`` into ``out``; returns a small report dict."""
    import torch
    from transformers import InternVLConfig, InternVLForConditionalGeneration

    from desa2va_mm.utils.internvl_conversion import (convert_internvl_state_dict,
                                                      convert_internlm2_tokenizer,
                                                      internvl_config_from_original,
                                                      is_internlm2_sentencepiece_folder,
                                                      load_state_dict_files,
                                                      read_original_config)
    from desa2va_mm.utils.state_dict_check import check_state_dict

    original = read_original_config(src)
    if image_token_id is None:
        image_token_id = find_image_token_id(src)
    config = InternVLConfig(**internvl_config_from_original(original, image_token_id))
    config.architectures = ['InternVLForConditionalGeneration']
    with torch.device('meta'):
        model = InternVLForConditionalGeneration(config)
    state, report = convert_internvl_state_dict(load_state_dict_files(src),
                                                config.text_config.to_dict())
    expected = model.state_dict()
    allowed = ['lm_head.'] if config.tie_word_embeddings else None
    check_state_dict(expected, state, source=f'{src} (converted)', allowed_missing=allowed)
    torch_dtype = getattr(torch, dtype)
    state = {k: v.to(torch_dtype) if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=False, assign=True)
    if config.tie_word_embeddings:
        model.tie_weights()
    # Non-persistent buffers (rotary frequencies) stay on meta: save_pretrained does not
    # write them and from_pretrained recomputes them.
    os.makedirs(out, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    copied = []
    if is_internlm2_sentencepiece_folder(src):
        # InternLM2's tokenizer is remote code over a SentencePiece model: write the
        # equivalent fast tokenizer.json so the folder loads without remote code.
        copied = convert_internlm2_tokenizer(src, out)
    for name in TOKENIZER_FILES:
        if name not in copied and osp.isfile(osp.join(src, name)):
            shutil.copy2(osp.join(src, name), osp.join(out, name))
            copied.append(name)
    print(report.summary())
    print(f'missing: 0, unexpected: 0, shape mismatches: 0; tokenizer files: {copied}')
    return dict(num_keys=len(state), split=len(report.split), dropped=report.dropped,
                tokenizer_files=copied)


def main(argv=None):
    args = parse_args(argv)
    convert(args.src, args.out, args.dtype, args.image_token_id)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()

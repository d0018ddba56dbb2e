"""Weights in the formats of the public releases, with random values and shrunk widths.

What each writer produces, and the release it stands in for:

* :func:`write_internvl_original` -- what ``huggingface-cli download OpenGVLab/InternVL2_5-1B``
  (``family='qwen2'``) or ``OpenGVLab/InternVL2_5-8B`` (``family='internlm2'``) gives: the
  remote-code ``config.json`` (``architectures: ["InternVLChatModel"]``, ``llm_config``,
  ``vision_config``), ``model.safetensors`` with the original names (``vision_model.*``
  with fused ``qkv`` and layer scale ``ls1`` / ``ls2``, ``mlp1.*``, ``language_model.*``;
  InternLM2 with its per-KV-group fused ``wqkv``), the tokenizer files, and the remote-code
  ``.py`` files. Those ``.py`` files are tripwires: importing one raises, so a loader that
  ran checkpoint code would fail loudly.
* Qwen2 tokenizer (1B / 4B): a real byte-level BPE trained with ``tokenizers`` on the mini
  mix's text, saved as Qwen2.5's folders hold it (``vocab.json``, ``merges.txt``,
  ``tokenizer.json``, ``tokenizer_config.json`` with ``added_tokens_decoder``,
  ``special_tokens_map.json``, ``added_tokens.json``); the 22 Qwen2.5 added tokens then the 9
  InternVL tokens follow the BPE vocabulary in the published order, so ``<IMG_CONTEXT>`` sits
  at ``base + 24`` as 151667 does at 151643 + 24. ``AutoTokenizer.from_pretrained(folder)``
  loads it without remote code (``tokenizer_class: Qwen2Tokenizer``).
* InternLM2 tokenizer (8B): a SentencePiece ``tokenizer.model`` (BPE with byte fallback,
  trained with ``sentencepiece``, chat tokens last as in the release) and a
  ``tokenizer_config.json`` naming the remote-code ``InternLM2Tokenizer`` through ``auto_map``,
  as the release does. Like the real one it loads only through the checkpoint's own code,
  or after ``tools/model_converters/internvl_to_hf.py`` wrote its ``tokenizer.json``.
* :func:`write_sam2_checkpoint` -- ``torch.save({'model': state_dict}, 'sam2_hiera_*.pt')``
  of a ``SAM2Base`` built by sam2 itself from one of its released configs (the format of
  ``facebook/sam2-hiera-large``'s ``sam2_hiera_large.pt``).
* :func:`write_sa2va_release` -- what ``huggingface-cli download ByteDance/Sa2VA-1B`` gives:
  the InternVL keys plus ``grounding_encoder.sam2_model.*`` (layer-scale ``gamma`` saved as
  ``g_weight``) and ``text_hidden_fcs.{0,2}``, the tokenizer with ``[SEG]``, ``<p>``,
  ``</p>``, ``<vp>``, ``</vp>`` added, ``architectures: ["Sa2VAChatModel"]`` and the training
  template Sa2VA's ``convert_to_hf.py`` writes (``template: qwen_chat`` for 1B; ``phi3_chat``
  stands in for a 4B release).

Sources of the formats (public repositories): the InternVL chat config fields from
OpenGVLab/InternVL ``internvl_chat/internvl/model/internvl_chat/configuration_internvl_chat.py``
and ``configuration_intern_vit.py``, InternLM2's from ``.../internlm2/configuration_internlm2.py``,
the image / grounding tokens from ``internvl_chat/internvl/train/constants.py``, the token ids
and ``<IMG_CONTEXT>`` = 151667 / 92546 from transformers'
``models/internvl/convert_internvl_weights_to_hf.py``, the Sa2VA export names from
bytedance/Sa2VA ``tools/convert_to_hf.py``.
"""
import json
import os
import os.path as osp
import shutil
from typing import Dict, Iterable, List, Optional, Sequence

__all__ = ['QWEN2_ADDED_TOKENS', 'INTERNVL_TOKENS', 'INTERNLM2_CHAT_TOKENS', 'SA2VA_TOKENS',
           'STAND_IN_DIMS', 'train_byte_level_bpe', 'write_internvl_original',
           'write_sam2_checkpoint', 'write_sa2va_release']

#: Qwen2.5's added tokens, in id order from 151643 (``<|endoftext|>``); the first 14 are
#: special, the tool / FIM tokens are not.
QWEN2_ADDED_TOKENS = (
    '<|endoftext|>', '<|im_start|>', '<|im_end|>', '<|object_ref_start|>',
    '<|object_ref_end|>', '<|box_start|>', '<|box_end|>', '<|quad_start|>', '<|quad_end|>',
    '<|vision_start|>', '<|vision_end|>', '<|vision_pad|>', '<|image_pad|>', '<|video_pad|>',
    '<tool_call>', '</tool_call>', '<|fim_prefix|>', '<|fim_middle|>', '<|fim_suffix|>',
    '<|fim_pad|>', '<|repo_name|>', '<|file_sep|>')
_QWEN2_NUM_SPECIAL = 14
#: Tokens InternVL's fine-tuning adds, in this order (``internvl/train/constants.py``).
INTERNVL_TOKENS = ('<img>', '</img>', '<IMG_CONTEXT>', '<quad>', '</quad>', '<ref>', '</ref>',
                   '<box>', '</box>')
#: InternLM2's chat tokens (ids 92538-92543 in the release), before InternVL's 9.
INTERNLM2_CHAT_TOKENS = ('<|plugin|>', '<|interpreter|>', '<|action_end|>',
                         '<|action_start|>', '<|im_end|>', '<|im_start|>')
#: Tokens Sa2VA adds to the InternVL tokenizer, in order.
SA2VA_TOKENS = ('[SEG]', '<p>', '</p>', '<vp>', '</vp>')

#: Widths of the stand-ins. The vision tower keeps InternViT's 448 px input and patch 14
#: (1024 patches -> 256 tokens per tile after the 0.5 pixel shuffle, as the real-size
#: pipelines count); everything else is shrunk.
STAND_IN_DIMS = dict(
    vision=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, image_size=448, patch_size=14),
    text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2),
)

#: Qwen2's pre-tokenizer split (digits one by one, words with a leading space or
#: punctuation, punctuation runs, newlines, spaces).
_QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

_REMOTE_CODE_TRIPWIRE = (
    '"""Stand-in for the release\'s remote code: it must never be executed."""\n'
    "raise RuntimeError('remote code of a stand-in checkpoint folder was executed ({name}): '\n"
    "                   'a loader ran checkpoint code without being asked to')\n")


# --------------------------------------------------------------------------- tokenizers
def train_byte_level_bpe(texts: Iterable[str], vocab_size: int = 1024):
    """Train a Qwen2-style byte-level BPE (``tokenizers``) on ``texts``.

    Args:
        texts: Training sentences.
        vocab_size: Size of the BPE vocabulary (256 byte symbols + merges).

    Returns:
        tokenizers.Tokenizer: NFC normaliser, Qwen2's regex split + byte-level mapping,
        byte-level decoder; no added tokens yet.
    """
    from tokenizers import (Regex, Tokenizer, decoders, models, normalizers,
                            pre_tokenizers, trainers)

    tokenizer = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_QWEN2_SPLIT), behavior='isolated', invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=1, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[])
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    return tokenizer


def _added_token(content: str, special: bool = True) -> dict:
    return dict(content=content, lstrip=False, normalized=False, rstrip=False,
                single_word=False, special=special)


def _write_json(path: str, obj) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)


def _write_qwen2_tokenizer(folder: str, texts: Sequence[str], vocab_size: int) -> Dict[str, int]:
    """Qwen2.5 + InternVL tokenizer files; returns ``{token: id}`` of the added tokens."""
    from tokenizers import AddedToken

    tokenizer = train_byte_level_bpe(texts, vocab_size)
    base = tokenizer.get_vocab_size()
    added = list(QWEN2_ADDED_TOKENS) + list(INTERNVL_TOKENS)
    special = {t: i < _QWEN2_NUM_SPECIAL or t in INTERNVL_TOKENS
               for i, t in enumerate(added)}
    tokenizer.add_special_tokens([AddedToken(t, special=special[t], normalized=False)
                                  for t in added])
    ids = {t: base + i for i, t in enumerate(added)}
    assert all(tokenizer.token_to_id(t) == i for t, i in ids.items())
    tokenizer.save(osp.join(folder, 'tokenizer.json'))
    tokenizer.model.save(folder)  # vocab.json + merges.txt (what Qwen2Tokenizer also reads)
    _write_json(osp.join(folder, 'added_tokens.json'), ids)
    qwen_special = list(QWEN2_ADDED_TOKENS[1:_QWEN2_NUM_SPECIAL])
    _write_json(osp.join(folder, 'special_tokens_map.json'), dict(
        additional_special_tokens=qwen_special,
        eos_token=_added_token('<|im_end|>'), pad_token=_added_token('<|endoftext|>')))
    _write_json(osp.join(folder, 'tokenizer_config.json'), dict(
        add_bos_token=False, add_prefix_space=False,
        added_tokens_decoder={str(i): _added_token(t, special[t]) for t, i in ids.items()},
        additional_special_tokens=qwen_special, bos_token=None,
        clean_up_tokenization_spaces=False, eos_token='<|im_end|>', errors='replace',
        model_max_length=8192, pad_token='<|endoftext|>', split_special_tokens=False,
        tokenizer_class='Qwen2Tokenizer', unk_token=None))
    return ids


#: SentencePiece ``ModelProto.SentencePiece.Type`` values.
SP_NORMAL, SP_UNKNOWN, SP_CONTROL, SP_USER_DEFINED, SP_BYTE = 1, 2, 3, 4, 6


def train_internlm2_sentencepiece(texts: Sequence[str], vocab_size: int) -> bytes:
    """Train a SentencePiece BPE ``tokenizer.model`` laid out as InternLM2's release is.

    Trained with the ``sentencepiece`` library (BPE, byte fallback, ``<unk>`` = 0, ``<s>`` = 1,
    ``</s>`` = 2, identity normaliser, whitespace escaped as '▁' without a dummy prefix).
    The chat tokens are user-defined pieces; SentencePiece puts them right after the control
    pieces, the release has them last (92538-92543 of 92544), so they are moved to the end
    (BPE encodes by piece score, not by id, so moving pieces changes no segmentation).

    Args:
        texts: Training text.
        vocab_size: Number of learnt pieces, besides the 3 special, 256 byte and 6 chat ones
            (fewer when the text has no more merges).

    Returns:
        The serialised ``ModelProto``: ``[<unk>, <s>, </s>, <0x00>..<0xFF>, pieces...,
        chat tokens...]``.
    """
    import io

    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=buffer, model_type='bpe',
        vocab_size=vocab_size + 3 + 256 + len(INTERNLM2_CHAT_TOKENS), hard_vocab_limit=False,
        byte_fallback=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, character_coverage=1.0,
        user_defined_symbols=list(INTERNLM2_CHAT_TOKENS), normalization_rule_name='identity',
        add_dummy_prefix=False, remove_extra_whitespaces=False, minloglevel=2)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(buffer.getvalue())
    pieces = list(proto.pieces)
    chat = [p for p in pieces if p.type == SP_USER_DEFINED]
    rest = [p for p in pieces if p.type != SP_USER_DEFINED]
    del proto.pieces[:]
    proto.pieces.extend(rest + chat)
    return proto.SerializeToString()


def _write_internlm2_tokenizer(folder: str, texts: Sequence[str],
                               vocab_size: int) -> Dict[str, int]:
    """InternLM2 + InternVL tokenizer files (SentencePiece model + remote-code config)."""
    model = train_internlm2_sentencepiece(texts, vocab_size)
    with open(osp.join(folder, 'tokenizer.model'), 'wb') as f:
        f.write(model)
    pieces = read_sentencepiece_pieces(osp.join(folder, 'tokenizer.model'))
    base = len(pieces)
    ids = {'<unk>': 0, '<s>': 1, '</s>': 2}
    ids.update({t: base - len(INTERNLM2_CHAT_TOKENS) + i
                for i, t in enumerate(INTERNLM2_CHAT_TOKENS)})
    ids.update({t: base + i for i, t in enumerate(INTERNVL_TOKENS)})
    _write_json(osp.join(folder, 'special_tokens_map.json'), dict(
        additional_special_tokens=list(INTERNLM2_CHAT_TOKENS),
        bos_token=_added_token('<s>'), eos_token=_added_token('</s>'),
        pad_token=_added_token('</s>'), unk_token=_added_token('<unk>')))
    _write_json(osp.join(folder, 'tokenizer_config.json'), dict(
        add_bos_token=True, add_eos_token=False,
        added_tokens_decoder={str(i): _added_token(t) for t, i in ids.items()},
        additional_special_tokens=list(INTERNLM2_CHAT_TOKENS),
        auto_map={'AutoTokenizer': ['tokenization_internlm2.InternLM2Tokenizer', None]},
        bos_token='<s>', clean_up_tokenization_spaces=False, eos_token='</s>',
        model_max_length=8192, pad_token='</s>', tokenizer_class='InternLM2Tokenizer',
        unk_token='<unk>'))
    _write_tripwire(folder, 'tokenization_internlm2.py')
    return dict(ids, vocab_size=base + len(INTERNVL_TOKENS))


def _write_tripwire(folder: str, name: str) -> None:
    with open(osp.join(folder, name), 'w', encoding='utf-8') as f:
        f.write(_REMOTE_CODE_TRIPWIRE.format(name=name))


# --------------------------------------------------------------------------- InternVL
def _vision_state(r, dims: dict) -> dict:
    import torch
    h, mlp = dims['hidden_size'], dims['intermediate_size']
    patch = dims['patch_size']
    num_pos = (dims['image_size'] // patch) ** 2 + 1
    s = {
        'vision_model.embeddings.class_embedding': r(1, 1, h),
        'vision_model.embeddings.position_embedding': r(1, num_pos, h),
        'vision_model.embeddings.patch_embedding.weight': r(h, 3, patch, patch),
        'vision_model.embeddings.patch_embedding.bias': r(h),
    }
    for i in range(dims['num_hidden_layers']):
        p = f'vision_model.encoder.layers.{i}.'
        s.update({
            p + 'attn.qkv.weight': r(3 * h, h), p + 'attn.qkv.bias': r(3 * h),
            p + 'attn.proj.weight': r(h, h), p + 'attn.proj.bias': r(h),
            p + 'mlp.fc1.weight': r(mlp, h), p + 'mlp.fc1.bias': r(mlp),
            p + 'mlp.fc2.weight': r(h, mlp), p + 'mlp.fc2.bias': r(h),
            p + 'norm1.weight': torch.ones(h), p + 'norm1.bias': torch.zeros(h),
            p + 'norm2.weight': torch.ones(h), p + 'norm2.bias': torch.zeros(h),
            p + 'ls1': torch.full((h, ), 0.1), p + 'ls2': torch.full((h, ), 0.1),
        })
    return s


def _projector_state(r, vision_hidden: int, text_hidden: int) -> dict:
    import torch
    proj_in = vision_hidden * 4  # pixel shuffle 0.5 stacks 2 x 2 patches
    return {'mlp1.0.weight': torch.ones(proj_in), 'mlp1.0.bias': torch.zeros(proj_in),
            'mlp1.1.weight': r(text_hidden, proj_in), 'mlp1.1.bias': r(text_hidden),
            'mlp1.3.weight': r(text_hidden, text_hidden), 'mlp1.3.bias': r(text_hidden)}


def _text_state(r, dims: dict, vocab: int, internlm2: bool) -> dict:
    import torch
    h, mlp = dims['hidden_size'], dims['intermediate_size']
    heads, kv = dims['num_attention_heads'], dims['num_key_value_heads']
    head_dim = h // heads
    s = {}
    if internlm2:
        s['language_model.model.tok_embeddings.weight'] = r(vocab, h)
        s['language_model.output.weight'] = r(vocab, h)
    else:
        s['language_model.model.embed_tokens.weight'] = r(vocab, h)
        s['language_model.lm_head.weight'] = r(vocab, h)
    s['language_model.model.norm.weight'] = torch.ones(h)
    for i in range(dims['num_hidden_layers']):
        p = f'language_model.model.layers.{i}.'
        if internlm2:
            s.update({
                p + 'attention.wqkv.weight': r((heads + 2 * kv) * head_dim, h),
                p + 'attention.wo.weight': r(h, h),
                p + 'feed_forward.w1.weight': r(mlp, h),
                p + 'feed_forward.w3.weight': r(mlp, h),
                p + 'feed_forward.w2.weight': r(h, mlp),
                p + 'attention_norm.weight': torch.ones(h),
                p + 'ffn_norm.weight': torch.ones(h),
            })
        else:
            for name, rows in (('q_proj', heads * head_dim), ('k_proj', kv * head_dim),
                               ('v_proj', kv * head_dim)):
                s[p + f'self_attn.{name}.weight'] = r(rows, h)
                s[p + f'self_attn.{name}.bias'] = r(rows)
            s.update({
                p + 'self_attn.o_proj.weight': r(h, h),
                p + 'mlp.gate_proj.weight': r(mlp, h),
                p + 'mlp.up_proj.weight': r(mlp, h),
                p + 'mlp.down_proj.weight': r(h, mlp),
                p + 'input_layernorm.weight': torch.ones(h),
                p + 'post_attention_layernorm.weight': torch.ones(h),
            })
    return s


def _internvl_config(family: str, vocab: int, token_ids: Dict[str, int]) -> dict:
    vision, text = STAND_IN_DIMS['vision'], STAND_IN_DIMS['text']
    if family == 'qwen2':
        llm = dict(
            architectures=['Qwen2ForCausalLM'], attention_dropout=0.0,
            bos_token_id=token_ids['<|endoftext|>'], eos_token_id=token_ids['<|im_end|>'],
            hidden_act='silu', initializer_range=0.02, max_position_embeddings=32768,
            max_window_layers=text['num_hidden_layers'], model_type='qwen2',
            rms_norm_eps=1e-6, rope_theta=1000000.0, sliding_window=None,
            tie_word_embeddings=False, torch_dtype='bfloat16', use_cache=True,
            use_sliding_window=False, vocab_size=vocab)
    else:
        llm = dict(
            architectures=['InternLM2ForCausalLM'], attn_implementation='eager',
            auto_map={'AutoConfig': 'configuration_internlm2.InternLM2Config',
                      'AutoModel': 'modeling_internlm2.InternLM2ForCausalLM',
                      'AutoModelForCausalLM': 'modeling_internlm2.InternLM2ForCausalLM'},
            bias=False, bos_token_id=1, eos_token_id=2, hidden_act='silu',
            initializer_range=0.02, max_position_embeddings=32768, model_type='internlm2',
            pad_token_id=2, rms_norm_eps=1e-5, rope_scaling=dict(factor=2.0, type='dynamic'),
            rope_theta=1000000, tie_word_embeddings=False, torch_dtype='bfloat16',
            use_cache=True, vocab_size=vocab)
    llm.update({k: text[k] for k in ('hidden_size', 'intermediate_size', 'num_hidden_layers',
                                      'num_attention_heads', 'num_key_value_heads')})
    vision_cfg = dict(
        architectures=['InternVisionModel'], attention_dropout=0.0, drop_path_rate=0.0,
        dropout=0.0, hidden_act='gelu', initializer_factor=0.1, initializer_range=1e-10,
        layer_norm_eps=1e-6, model_type='intern_vit_6b', norm_type='layer_norm',
        num_channels=3, qk_normalization=False, qkv_bias=True, torch_dtype='bfloat16',
        use_flash_attn=False, **vision)
    return dict(
        architectures=['InternVLChatModel'],
        auto_map={'AutoConfig': 'configuration_internvl_chat.InternVLChatConfig',
                  'AutoModel': 'modeling_internvl_chat.InternVLChatModel',
                  'AutoModelForCausalLM': 'modeling_internvl_chat.InternVLChatModel'},
        downsample_ratio=0.5, dynamic_image_size=True, force_image_size=vision['image_size'],
        llm_config=llm, max_dynamic_patch=12, min_dynamic_patch=1, model_type='internvl_chat',
        pad2square=False, ps_version='v2', select_layer=-1, template='internvl2_5',
        torch_dtype='bfloat16', use_backbone_lora=0, use_llm_lora=0, use_thumbnail=True,
        vision_config=vision_cfg)


def write_internvl_original(folder: str, texts: Sequence[str], *, family: str = 'qwen2',
                            vocab_size: int = 1024, seed: int = 0) -> dict:
    """Write an original-layout (remote-code) InternVL2.5 folder with random weights.

    Args:
        folder: Output folder (created; files of an earlier run are overwritten).
        texts: Text the tokenizer is trained on (expressions, questions, answers).
        family: ``'qwen2'`` (InternVL2.5-1B / 4B) or ``'internlm2'`` (InternVL2.5-8B).
        vocab_size: Size of the trained subword vocabulary before the added tokens.
        seed: Weight seed.

    Returns:
        ``dict(folder, family, vocab_size, image_token_id, num_tensors)``.
    """
    import torch
    from safetensors.torch import save_file

    if family not in ('qwen2', 'internlm2'):
        raise ValueError(f"family must be 'qwen2' or 'internlm2', got {family!r}")
    os.makedirs(folder, exist_ok=True)
    texts = list(texts)
    if not texts:
        raise ValueError('write_internvl_original: no text to train the tokenizer on')
    if family == 'qwen2':
        token_ids = _write_qwen2_tokenizer(folder, texts, vocab_size)
        vocab = max(token_ids.values()) + 1
    else:
        token_ids = _write_internlm2_tokenizer(folder, texts, vocab_size)
        vocab = token_ids.pop('vocab_size')
    gen = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, generator=gen) * 0.02

    dims = STAND_IN_DIMS
    state = _vision_state(r, dims['vision'])
    state.update(_projector_state(r, dims['vision']['hidden_size'], dims['text']['hidden_size']))
    state.update(_text_state(r, dims['text'], vocab, family == 'internlm2'))
    # Releases store bfloat16 weights.
    state = {k: v.to(torch.bfloat16).contiguous() for k, v in state.items()}
    save_file(state, osp.join(folder, 'model.safetensors'), metadata={'format': 'pt'})
    _write_json(osp.join(folder, 'config.json'), _internvl_config(family, vocab, token_ids))
    _write_json(osp.join(folder, 'generation_config.json'),
                dict(eos_token_id=[token_ids['<|im_end|>'],
                                   token_ids.get('<|endoftext|>', token_ids.get('</s>'))]))
    for name in ('configuration_internvl_chat.py', 'modeling_internvl_chat.py',
                 'configuration_intern_vit.py', 'modeling_intern_vit.py', 'conversation.py'):
        _write_tripwire(folder, name)
    if family == 'internlm2':
        for name in ('configuration_internlm2.py', 'modeling_internlm2.py'):
            _write_tripwire(folder, name)
    return dict(folder=folder, family=family, vocab_size=vocab,
                image_token_id=token_ids['<IMG_CONTEXT>'], num_tensors=len(state))


# --------------------------------------------------------------------------- SAM-2
def build_sam2(config: str, seed: int = 0):
    """A random-weight ``SAM2Base`` built by sam2 from one of its released configs."""
    import torch

    import sam2  # noqa: F401  (initialises Hydra's config module)
    from hydra import compose
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    cfg = compose(config_name=config)
    OmegaConf.resolve(cfg)
    torch.manual_seed(seed)
    return instantiate(cfg.model, _recursive_=True)


def write_sam2_checkpoint(path: str, config: str = 'configs/sam2/sam2_hiera_t.yaml',
                          seed: int = 0) -> dict:
    """Write ``{'model': state_dict}`` of a sam2-built model, as the released ``.pt`` files.

    Args:
        path: Output file (``sam2_hiera_tiny.pt`` / ``sam2_hiera_large.pt`` ...).
        config: sam2 config name the model is built from (and that loads the file).
        seed: Weight seed.

    Returns:
        ``dict(path, config, num_tensors)``.
    """
    import torch
    model = build_sam2(config, seed)
    state = model.state_dict()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    torch.save({'model': state}, path)
    return dict(path=path, config=config, num_tensors=len(state))


# --------------------------------------------------------------------------- Sa2VA
def write_sa2va_release(folder: str, internvl_folder: str, sam2_checkpoint: str, *,
                        template: str = 'qwen_chat', seed: int = 0) -> dict:
    """Write a Sa2VA Hugging Face release built on an original-layout InternVL stand-in.

    The InternVL weights are the stand-in's (embedding / LM-head rows extended for the
    grounding tokens), SAM-2 is the checkpoint's (``gamma`` -> ``g_weight``, as Sa2VA's
    export names it), ``text_hidden_fcs`` is random.

    Args:
        folder: Output folder.
        internvl_folder: A :func:`write_internvl_original` folder (``family='qwen2'``).
        sam2_checkpoint: A :func:`write_sam2_checkpoint` file.
        template: ``config.json``'s ``template``. Sa2VA's ``convert_to_hf.py`` replaces
            InternVL's ``internvl2_5`` with the training config's template: ``qwen_chat``
            (Sa2VA-1B), ``phi3_chat`` (4B), ``internlm2_chat`` (8B).
        seed: Seed of the new rows and of ``text_hidden_fcs``.

    Returns:
        ``dict(folder, vocab_size, seg_token_id, num_tensors)``.
    """
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer

    os.makedirs(folder, exist_ok=True)
    # The folder's config.json names remote code: never run it (and never prompt for it).
    tokenizer = AutoTokenizer.from_pretrained(internvl_folder, trust_remote_code=False)
    tokenizer.add_tokens(list(SA2VA_TOKENS), special_tokens=True)
    tokenizer.save_pretrained(folder)
    vocab = len(tokenizer)
    gen = torch.Generator().manual_seed(seed)
    state = load_file(osp.join(internvl_folder, 'model.safetensors'))
    for key in ('language_model.model.embed_tokens.weight', 'language_model.lm_head.weight'):
        old = state[key]
        extra = (torch.randn(vocab - old.shape[0], old.shape[1], generator=gen) * 0.02)
        state[key] = torch.cat([old, extra.to(old.dtype)])
    sam2 = torch.load(sam2_checkpoint, map_location='cpu', weights_only=True)['model']
    for key, value in sam2.items():
        name = key[:-len('.gamma')] + '.g_weight' if key.endswith('.gamma') else key
        state['grounding_encoder.sam2_model.' + name] = value.to(torch.bfloat16)
    hidden = STAND_IN_DIMS['text']['hidden_size']
    sam_dim = sam2['sam_mask_decoder.iou_token.weight'].shape[1]
    for name, shape in (('0.weight', (hidden, hidden)), ('0.bias', (hidden, )),
                        ('2.weight', (sam_dim, hidden)), ('2.bias', (sam_dim, ))):
        state['text_hidden_fcs.' + name] = (torch.randn(*shape, generator=gen) * 0.02).to(
            torch.bfloat16)
    state = {k: v.contiguous() for k, v in state.items()}
    save_file(state, osp.join(folder, 'model.safetensors'), metadata={'format': 'pt'})
    with open(osp.join(internvl_folder, 'config.json'), encoding='utf-8') as f:
        config = json.load(f)
    config['llm_config']['vocab_size'] = vocab
    config.update(
        architectures=['Sa2VAChatModel'], model_type='sa2va_chat',
        auto_map={'AutoConfig': 'configuration_sa2va_chat.Sa2VAChatConfig',
                  'AutoModel': 'modeling_sa2va_chat.Sa2VAChatModel',
                  'AutoModelForCausalLM': 'modeling_sa2va_chat.Sa2VAChatModel'},
        template=template)
    _write_json(osp.join(folder, 'config.json'), config)
    for name in ('configuration_sa2va_chat.py', 'modeling_sa2va_chat.py', 'sam2.py'):
        _write_tripwire(folder, name)
    shutil.copy2(osp.join(internvl_folder, 'generation_config.json'),
                 osp.join(folder, 'generation_config.json'))
    return dict(folder=folder, vocab_size=vocab,
                seg_token_id=tokenizer.convert_tokens_to_ids('[SEG]'), num_tensors=len(state))


def read_sentencepiece_pieces(path: str) -> List[tuple]:
    """``[(piece, score, type), ...]`` of a SentencePiece ``tokenizer.model`` (for checks)."""
    import struct

    with open(path, 'rb') as f:
        data = f.read()

    def varint(buf: bytes, pos: int):
        shift = result = 0
        while True:
            byte = buf[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result, pos
            shift += 7

    def fields(buf: bytes):
        pos = 0
        while pos < len(buf):
            key, pos = varint(buf, pos)
            number, wire = key >> 3, key & 7
            if wire == 0:
                value, pos = varint(buf, pos)
            elif wire == 2:
                length, pos = varint(buf, pos)
                value, pos = buf[pos:pos + length], pos + length
            elif wire == 5:
                value, pos = struct.unpack('<f', buf[pos:pos + 4])[0], pos + 4
            else:
                raise ValueError(f'{path}: unsupported protobuf wire type {wire}')
            yield number, value

    pieces = []
    for number, value in fields(data):
        if number == 1:
            entry = dict(fields(value))
            pieces.append((entry[1].decode('utf-8'), entry.get(2, 0.0), entry.get(3, SP_NORMAL)))
    return pieces


def remote_code_files(folder: str) -> Optional[List[str]]:
    """The ``.py`` files of a checkpoint folder (the release's remote code), sorted."""
    return sorted(n for n in os.listdir(folder) if n.endswith('.py'))

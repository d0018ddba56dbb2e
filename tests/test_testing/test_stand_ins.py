"""The stand-in weights have the formats of the public releases.

Where each expected field / name comes from (public repositories, read with the search
tools; file and commit):

* InternVL chat config fields: OpenGVLab/InternVL
  ``internvl_chat/internvl/model/internvl_chat/configuration_internvl_chat.py`` @ 016ae21f
  (``InternVLChatConfig.__init__``: vision_config, llm_config, use_backbone_lora,
  use_llm_lora, pad2square, select_layer, force_image_size, downsample_ratio, template,
  dynamic_image_size, use_thumbnail, ps_version, min_dynamic_patch, max_dynamic_patch;
  ``llm_config['architectures'][0]`` picks Qwen2ForCausalLM / InternLM2ForCausalLM ...).
* InternViT fields: same repository, ``.../internvl_chat/configuration_intern_vit.py`` @
  b9b1bb86 (``InternVisionConfig.__init__``, ``model_type = 'intern_vit_6b'``).
* InternLM2 fields: ``internvl_chat/internvl/model/internlm2/configuration_internlm2.py`` @
  0c158c32 (``bias``, ``rope_scaling`` with ``type`` + ``factor``, ``model_type='internlm2'``).
* Image / box tokens and their order: ``internvl_chat/internvl/train/constants.py`` @ a08ba330.
* Token ids of the releases: huggingface/transformers
  ``src/transformers/models/internvl/convert_internvl_weights_to_hf.py`` @ 015d3b27
  (``image_token_id = 151667`` for Qwen2 checkpoints, ``92546`` for InternLM2 ones) and the
  printed InternVL3-1B tokenizer in shivangjhalani/multicoco ``InternVL3-1B_data.md`` @ 98f8611d
  (151643 ``<|endoftext|>`` ... 151664 ``<|file_sep|>``, then 151665 ``<img>`` ... 151673
  ``</box>``, tool / FIM tokens not special).
* Sa2VA export names: bytedance/Sa2VA ``tools/convert_to_hf.py`` @ 04d4ecf2 (prefix
  ``mllm.model.`` removed, ``.gamma`` -> ``.g_weight``; the InternVL config with
  ``llm_config.vocab_size = len(tokenizer)``).
"""
import json
import os
import os.path as osp
import runpy

import pytest
import torch

from desa2va_mm.testing.stand_ins import (INTERNLM2_CHAT_TOKENS, INTERNVL_TOKENS,
                                          QWEN2_ADDED_TOKENS, SA2VA_TOKENS,
                                          STAND_IN_DIMS, SP_BYTE, SP_CONTROL, SP_UNKNOWN,
                                          read_sentencepiece_pieces,
                                          write_internvl_original, write_sa2va_release,
                                          write_sam2_checkpoint)

TEXTS = ['The red circle on the left.', 'the red circle on the left',
         'Please segment the large blue star in this image.', 'Sure, it is [SEG].',
         'There are 4 shapes.', 'What colour is the largest shape?',
         'the square that moves up', 'the triangle moving left'] * 4

# InternVLChatConfig.__init__ arguments (configuration_internvl_chat.py).
INTERNVL_CHAT_FIELDS = {'vision_config', 'llm_config', 'use_backbone_lora', 'use_llm_lora',
                        'pad2square', 'select_layer', 'force_image_size', 'downsample_ratio',
                        'template', 'dynamic_image_size', 'use_thumbnail', 'ps_version',
                        'min_dynamic_patch', 'max_dynamic_patch'}
# InternVisionConfig.__init__ arguments (configuration_intern_vit.py).
INTERN_VIT_FIELDS = {'num_channels', 'patch_size', 'image_size', 'qkv_bias', 'hidden_size',
                     'num_attention_heads', 'intermediate_size', 'qk_normalization',
                     'num_hidden_layers', 'use_flash_attn', 'hidden_act', 'norm_type',
                     'layer_norm_eps', 'dropout', 'drop_path_rate', 'attention_dropout',
                     'initializer_range', 'initializer_factor'}
# InternLM2Config fields the conversion reads (configuration_internlm2.py).
INTERNLM2_FIELDS = {'vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers',
                    'num_attention_heads', 'num_key_value_heads', 'hidden_act',
                    'max_position_embeddings', 'rms_norm_eps', 'bias', 'rope_theta',
                    'rope_scaling', 'tie_word_embeddings'}


@pytest.fixture(scope='module')
def qwen2_folder(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('InternVL2_5-1B'))
    info = write_internvl_original(folder, TEXTS, family='qwen2', vocab_size=400)
    return folder, info


@pytest.fixture(scope='module')
def internlm2_folder(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp('InternVL2_5-8B'))
    info = write_internvl_original(folder, TEXTS, family='internlm2', vocab_size=300)
    return folder, info


def _config(folder):
    with open(osp.join(folder, 'config.json'), encoding='utf-8') as f:
        return json.load(f)


def _state(folder):
    from safetensors.torch import load_file
    return load_file(osp.join(folder, 'model.safetensors'))


def test_qwen2_config_has_the_release_fields(qwen2_folder):
    folder, info = qwen2_folder
    cfg = _config(folder)
    assert cfg['architectures'] == ['InternVLChatModel']
    assert cfg['model_type'] == 'internvl_chat'
    assert INTERNVL_CHAT_FIELDS <= set(cfg)
    assert cfg['ps_version'] == 'v2' and cfg['template'] == 'internvl2_5'
    assert cfg['auto_map']['AutoModel'] == 'modeling_internvl_chat.InternVLChatModel'
    assert INTERN_VIT_FIELDS <= set(cfg['vision_config'])
    assert cfg['vision_config']['model_type'] == 'intern_vit_6b'
    assert cfg['vision_config']['image_size'] == 448
    llm = cfg['llm_config']
    assert llm['architectures'] == ['Qwen2ForCausalLM'] and llm['model_type'] == 'qwen2'
    assert llm['vocab_size'] == info['vocab_size']
    assert {k: llm[k] for k in STAND_IN_DIMS['text']} == STAND_IN_DIMS['text']


def test_qwen2_weights_use_the_original_names(qwen2_folder):
    folder, info = qwen2_folder
    state = _state(folder)
    assert {k.split('.')[0] for k in state} == {'vision_model', 'mlp1', 'language_model'}
    h, t = STAND_IN_DIMS['vision']['hidden_size'], STAND_IN_DIMS['text']['hidden_size']
    assert state['vision_model.encoder.layers.0.attn.qkv.weight'].shape == (3 * h, h)
    assert state['vision_model.encoder.layers.0.ls1'].shape == (h, )
    assert state['vision_model.embeddings.position_embedding'].shape == (1, 32 * 32 + 1, h)
    assert state['mlp1.1.weight'].shape == (t, 4 * h)
    assert state['language_model.model.embed_tokens.weight'].shape == (info['vocab_size'], t)
    assert state['language_model.lm_head.weight'].shape == (info['vocab_size'], t)
    assert 'language_model.model.layers.0.self_attn.q_proj.bias' in state
    assert all(v.dtype == torch.bfloat16 for v in state.values())


def test_internlm2_config_and_fused_wqkv(internlm2_folder):
    folder, info = internlm2_folder
    llm = _config(folder)['llm_config']
    assert llm['architectures'] == ['InternLM2ForCausalLM'] and llm['model_type'] == 'internlm2'
    assert INTERNLM2_FIELDS <= set(llm)
    assert llm['rope_scaling'] == {'factor': 2.0, 'type': 'dynamic'}
    state = _state(folder)
    dims = STAND_IN_DIMS['text']
    head_dim = dims['hidden_size'] // dims['num_attention_heads']
    rows = (dims['num_attention_heads'] + 2 * dims['num_key_value_heads']) * head_dim
    assert state['language_model.model.layers.0.attention.wqkv.weight'].shape == \
        (rows, dims['hidden_size'])
    assert state['language_model.model.tok_embeddings.weight'].shape[0] == info['vocab_size']
    assert 'language_model.output.weight' in state
    assert not any('q_proj' in k for k in state)


def test_qwen2_tokenizer_loads_without_remote_code_and_round_trips(qwen2_folder):
    from transformers import AutoTokenizer
    folder, info = qwen2_folder
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    assert type(tokenizer).__name__ == 'Qwen2Tokenizer'
    for text in ['Please segment the red circle on the left in this image.',
                 'Zebras 123 xylophone; unseen words still encode!']:
        ids = tokenizer(text, add_special_tokens=False)['input_ids']
        assert tokenizer.decode(ids) == text  # byte-level: no unknown token
    # Subwords, not words: an unseen word splits into several tokens.
    assert len(tokenizer.tokenize(' xylophone')) > 1
    base = tokenizer.convert_tokens_to_ids('<|endoftext|>')
    # The release's layout: 151643 <|endoftext|> ... 151667 <IMG_CONTEXT> ... 151673 </box>.
    assert tokenizer.convert_tokens_to_ids('<IMG_CONTEXT>') - base == 151667 - 151643
    assert tokenizer.convert_tokens_to_ids('</box>') - base == 151673 - 151643
    assert len(tokenizer) == info['vocab_size'] == base + 31
    assert info['image_token_id'] == tokenizer.convert_tokens_to_ids('<IMG_CONTEXT>')
    assert tokenizer.eos_token == '<|im_end|>' and tokenizer.pad_token == '<|endoftext|>'
    ids = tokenizer('<|im_start|>user\n<img><IMG_CONTEXT></img>hi<|im_end|>')['input_ids']
    assert tokenizer.convert_tokens_to_ids('<IMG_CONTEXT>') in ids
    with open(osp.join(folder, 'tokenizer_config.json'), encoding='utf-8') as f:
        tcfg = json.load(f)
    decoder = {v['content']: (int(k), v['special'])
               for k, v in tcfg['added_tokens_decoder'].items()}
    assert [decoder[t][0] - base for t in QWEN2_ADDED_TOKENS + INTERNVL_TOKENS] == list(range(31))
    assert decoder['<tool_call>'][1] is False and decoder['<img>'][1] is True
    assert tcfg['tokenizer_class'] == 'Qwen2Tokenizer'
    for name in ('vocab.json', 'merges.txt', 'tokenizer.json', 'special_tokens_map.json'):
        assert osp.isfile(osp.join(folder, name)), name


def test_qwen2_tokenizer_without_tokenizer_json_gives_the_same_ids(qwen2_folder, tmp_path):
    """The slow-format files alone (vocab.json + merges.txt) give the same tokens."""
    import shutil

    from transformers import AutoTokenizer
    folder, _ = qwen2_folder
    for name in ('vocab.json', 'merges.txt', 'tokenizer_config.json',
                 'special_tokens_map.json', 'added_tokens.json'):
        shutil.copy(osp.join(folder, name), tmp_path / name)
    text = '<|im_start|>user\nPlease segment the blue star.<|im_end|>'
    full = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
    files_only = AutoTokenizer.from_pretrained(str(tmp_path), trust_remote_code=False)
    assert files_only(text)['input_ids'] == full(text)['input_ids']


def test_remote_code_files_are_tripwires(qwen2_folder):
    folder, _ = qwen2_folder
    assert osp.isfile(osp.join(folder, 'modeling_internvl_chat.py'))
    with pytest.raises(RuntimeError, match='remote code of a stand-in'):
        runpy.run_path(osp.join(folder, 'modeling_internvl_chat.py'))


def test_internlm2_tokenizer_is_sentencepiece_behind_remote_code(internlm2_folder):
    from transformers import AutoTokenizer
    folder, info = internlm2_folder
    pieces = read_sentencepiece_pieces(osp.join(folder, 'tokenizer.model'))
    assert pieces[0] == ('<unk>', 0.0, SP_UNKNOWN)
    assert [p[2] for p in pieces[1:3]] == [SP_CONTROL, SP_CONTROL]
    assert [p[0] for p in pieces[3:259]] == [f'<0x{b:02X}>' for b in range(256)]
    assert all(p[2] == SP_BYTE for p in pieces[3:259])
    assert [p[0] for p in pieces[-6:]] == list(INTERNLM2_CHAT_TOKENS)
    assert any(p[0].startswith('\u2581') for p in pieces)  # SentencePiece word starts
    # <IMG_CONTEXT> sits 2 after the SentencePiece vocabulary (92546 = 92544 + 2).
    assert info['image_token_id'] == len(pieces) + 2
    assert info['vocab_size'] == len(pieces) + len(INTERNVL_TOKENS)
    with open(osp.join(folder, 'tokenizer_config.json'), encoding='utf-8') as f:
        tcfg = json.load(f)
    assert tcfg['tokenizer_class'] == 'InternLM2Tokenizer'
    assert tcfg['auto_map']['AutoTokenizer'][0] == 'tokenization_internlm2.InternLM2Tokenizer'
    with pytest.raises(ValueError, match='trust_remote_code'):
        AutoTokenizer.from_pretrained(folder, trust_remote_code=False)


def test_converter_accepts_both_families(qwen2_folder, internlm2_folder, tmp_path):
    """tools/model_converters/internvl_to_hf.py converts the stand-ins key for key."""
    from transformers import InternVLForConditionalGeneration

    from tools.model_converters.internvl_to_hf import convert
    for (folder, info), name in ((qwen2_folder, 'qwen2'), (internlm2_folder, 'internlm2')):
        out = str(tmp_path / name)
        report = convert(folder, out, 'float32')
        # Fused vision qkv weight + bias per layer; InternLM2's wqkv per LLM layer.
        assert report['split'] == 2 * STAND_IN_DIMS['vision']['num_hidden_layers'] + (
            STAND_IN_DIMS['text']['num_hidden_layers'] if name == 'internlm2' else 0)
        model = InternVLForConditionalGeneration.from_pretrained(out)
        assert model.config.image_token_id == info['image_token_id']
        assert model.get_input_embeddings().num_embeddings == info['vocab_size']
        assert 'tokenizer_config.json' in report['tokenizer_files']


def test_sam2_checkpoint_loads_with_sam2s_own_builder(tmp_path):
    from sam2.build_sam import build_sam2
    path = str(tmp_path / 'sam2_hiera_tiny.pt')
    info = write_sam2_checkpoint(path, 'configs/sam2/sam2_hiera_t.yaml', seed=3)
    ckpt = torch.load(path, map_location='cpu', weights_only=True)
    assert set(ckpt) == {'model'} and len(ckpt['model']) == info['num_tensors']
    # sam2's loader fails on any missing or unexpected key.
    model = build_sam2('configs/sam2/sam2_hiera_t.yaml', path, device='cpu', mode='eval')
    for key, value in model.state_dict().items():
        assert torch.equal(value, ckpt['model'][key]), key


def test_sa2va_release_names(qwen2_folder, tmp_path):
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from desa2va_mm.utils.sa2va_conversion import convert_sa2va_state_dict
    folder, info = qwen2_folder
    sam2 = str(tmp_path / 'sam2_hiera_tiny.pt')
    write_sam2_checkpoint(sam2)
    out = str(tmp_path / 'Sa2VA-1B')
    rel = write_sa2va_release(out, folder, sam2)
    state = load_file(osp.join(out, 'model.safetensors'))
    assert {k.split('.')[0] for k in state} == {'vision_model', 'mlp1', 'language_model',
                                                'grounding_encoder', 'text_hidden_fcs'}
    assert any(k.endswith('.g_weight') for k in state)
    assert not any(k.endswith('.gamma') for k in state)
    assert rel['vocab_size'] == info['vocab_size'] + len(SA2VA_TOKENS)
    assert state['language_model.model.embed_tokens.weight'].shape[0] == rel['vocab_size']
    tokenizer = AutoTokenizer.from_pretrained(out, trust_remote_code=False)
    assert [tokenizer.convert_tokens_to_ids(t) for t in SA2VA_TOKENS] == \
        list(range(info['vocab_size'], rel['vocab_size']))
    cfg = _config(out)
    assert cfg['architectures'] == ['Sa2VAChatModel']
    # Sa2VA's convert_to_hf.py writes the training template (1B: qwen_chat), not InternVL's.
    assert cfg['template'] == 'qwen_chat'
    assert cfg['llm_config']['vocab_size'] == rel['vocab_size']
    text_cfg = dict(STAND_IN_DIMS['text'])
    converted, dropped = convert_sa2va_state_dict(
        {k: v.float() for k, v in state.items()}, target='sa2va', text_cfg=text_cfg)
    assert 'seg_head.text_hidden_fcs.mlp.2.weight' in converted
    assert 'grounding_encoder.sam2.image_encoder.trunk.pos_embed' in converted
    assert not os.path.exists(osp.join(out, '__pycache__'))

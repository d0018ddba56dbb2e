"""InternVLMLLM with a pretrained folder: one setting, and every mis-set weight fails loudly."""
import copy
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


def _mllm_cfg():
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/models/sa2va_tiny.py'))
    mllm = copy.deepcopy(cfg.model.mllm.to_dict())
    mllm['model_config']['text_config']['max_position_embeddings'] = 512
    return mllm


def _build(**overrides):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    init_default_scope('desa2va_mm')
    cfg = _mllm_cfg()
    cfg.update(overrides)
    torch.manual_seed(0)
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def native_folder(tmp_path_factory):
    """A native (``*-hf``) InternVL folder with a saved fast tokenizer (not a stand-in)."""
    folder = str(tmp_path_factory.mktemp('internvl_hf'))
    mllm = _build()
    mllm.model.save_pretrained(folder)
    mllm.tokenizer.save_pretrained(folder)
    return folder, mllm


def test_tokenizer_follows_pretrained_and_template_is_inferred(native_folder):
    folder, random_mllm = native_folder
    mllm = _build(pretrained=folder, model_config=None,
                  tokenizer=dict(type='InternVLTokenizer', path=None))
    assert mllm.tokenizer.name_or_path == folder
    assert not getattr(mllm.tokenizer, 'desa2va_stand_in', False)
    assert mllm.tokenizer.get_vocab() == random_mllm.tokenizer.get_vocab()
    assert mllm.chat_template == 'qwen2'
    for (name, a), (_, b) in zip(mllm.model.state_dict().items(),
                                 random_mllm.model.state_dict().items()):
        assert torch.equal(a, b), name
    # The config's own (matching) dimensions are accepted.
    _build(pretrained=folder, tokenizer=dict(type='InternVLTokenizer', path=None))


def test_original_layout_folder_is_refused_with_the_convert_command(tmp_path):
    folder = tmp_path / 'InternVL2_5-1B'
    folder.mkdir()
    (folder / 'config.json').write_text(json.dumps(dict(
        architectures=['InternVLChatModel'], model_type='internvl_chat',
        llm_config=dict(architectures=['Qwen2ForCausalLM']), vision_config={})))
    with pytest.raises(ValueError) as err:
        _build(pretrained=str(folder), model_config=None)
    msg = str(err.value)
    assert 'original-layout InternVL folder' in msg
    assert f'python tools/model_converters/internvl_to_hf.py {folder} {folder}-hf' in msg
    assert f"model.mllm.pretrained='{folder}-hf'" in msg


def test_missing_folder_names_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model.mllm.pretrained='.*nowhere' is not"):
        _build(pretrained=str(tmp_path / 'nowhere'))


def test_pretrained_weights_with_a_stand_in_tokenizer_are_refused(native_folder):
    folder, _ = native_folder
    with pytest.raises(ValueError, match=r'stand-in tokenizer TinyWordTokenizer: real text '
                                         r'would be read as \[UNK\]'):
        _build(pretrained=folder, model_config=None,
               tokenizer=dict(type='TinyWordTokenizer', vocabulary='synthetic_refcoco'))


def test_tokenizer_with_tokens_the_weights_lack_is_refused(native_folder, tmp_path):
    folder, mllm = native_folder
    other = copy.deepcopy(mllm.tokenizer)
    other.add_tokens(['zebra_unknown_1', 'zebra_unknown_2'])
    other.save_pretrained(str(tmp_path / 'tok'))
    with pytest.raises(ValueError, match=r"disagree: 2 token\(s\) have ids beyond the "
                                         rf"{len(mllm.tokenizer)} embedding rows"):
        _build(pretrained=folder, model_config=None,
               tokenizer=dict(type='InternVLTokenizer', path=str(tmp_path / 'tok')))


def test_model_config_contradicting_the_folder_is_refused(native_folder):
    folder, _ = native_folder
    cfg = _mllm_cfg()['model_config']
    cfg['text_config']['hidden_size'] = 256
    cfg['vision_config']['num_hidden_layers'] = 3
    with pytest.raises(ValueError) as err:
        _build(pretrained=folder, model_config=cfg,
               tokenizer=dict(type='InternVLTokenizer', path=None))
    msg = str(err.value)
    assert 'model.mllm.model_config.text_config.hidden_size: config 256, folder 128' in msg
    assert 'model.mllm.model_config.vision_config.num_hidden_layers: config 3, folder 2' in msg
    assert '--cfg-options model.mllm.model_config=None' in msg


def test_chat_template_of_internlm2_hosted_as_llama():
    from desa2va_mm.models.mllm.pretrained_checks import infer_chat_template

    class Text:
        model_type = 'llama'

    class Cfg:
        text_config = Text()

    assert infer_chat_template(Cfg()) == 'internlm2'
    Text.model_type = 'gpt2'
    with pytest.raises(ValueError, match='set model.mllm.chat_template'):
        infer_chat_template(Cfg())

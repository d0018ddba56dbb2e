"""The template of a Sa2VA release against the config it is loaded into (1B and 4B).

Sa2VA's ``convert_to_hf.py`` writes the training config's template into ``config.json``:
``qwen_chat`` for Sa2VA-1B, ``phi3_chat`` for Sa2VA-4B (magic-research/Sa2VA
``projects/llava_sam2/configs/sa2va_{1b,4b}.py``). Our 4B configs train and test on the same
template (``model.mllm.chat_template='phi3'``), so a 4B release passes the importer's
settings check and a 1B one is refused with the key to set.
"""
import json
import os.path as osp

import pytest

from conftest import REPO_ROOT

TEXTS = ['Please segment the cat.', 'Sure, it is [SEG].', 'the dog on the left'] * 4


@pytest.fixture(scope='module')
def releases(tmp_path_factory):
    """Stand-in releases written as Sa2VA's converter writes 1B's and 4B's config.json."""
    from desa2va_mm.testing import (write_internvl_original, write_sa2va_release,
                                    write_sam2_checkpoint)
    root = tmp_path_factory.mktemp('sa2va_releases')
    internvl = str(root / 'InternVL2_5')
    write_internvl_original(internvl, TEXTS, family='qwen2', vocab_size=300)
    sam2 = str(root / 'sam2_hiera_tiny.pt')
    write_sam2_checkpoint(sam2)
    out = {}
    for name, template in (('1b', 'qwen_chat'), ('4b', 'phi3_chat')):
        folder = str(root / f'Sa2VA-{name}')
        write_sa2va_release(folder, internvl, sam2, template=template)
        with open(osp.join(folder, 'config.json'), encoding='utf-8') as f:
            out[name] = json.load(f)
    return out


@pytest.fixture(scope='module')
def models_on_meta():
    from mmengine.config import Config

    from tools.analysis_tools.param_count import build_on_meta
    return {name: build_on_meta(Config.fromfile(
        osp.join(REPO_ROOT, f'configs/sa2va/sa2va_{name}.py'))) for name in ('1b', '4b')}


def test_4b_config_trains_and_exports_phi3(models_on_meta):
    from desa2va_mm.utils.sa2va_release import sa2va_release_config
    assert models_on_meta['4b'].mllm.chat_template == 'phi3'
    assert models_on_meta['1b'].mllm.chat_template == 'qwen2'
    # The export writes what Sa2VA's converter writes for each size.
    assert sa2va_release_config(models_on_meta['4b'])['template'] == 'phi3_chat'
    assert sa2va_release_config(models_on_meta['1b'])['template'] == 'qwen_chat'


def test_4b_release_passes_the_settings_check(releases, models_on_meta):
    from desa2va_mm.utils.sa2va_release import check_release_settings
    assert releases['4b']['template'] == 'phi3_chat'
    check_release_settings(releases['4b'], models_on_meta['4b'], source='Sa2VA-4B/config.json')
    check_release_settings(releases['1b'], models_on_meta['1b'], source='Sa2VA-1B/config.json')


def test_release_of_the_other_size_names_the_template_key(releases, models_on_meta):
    from desa2va_mm.utils.sa2va_release import check_release_settings
    with pytest.raises(ValueError) as err:
        check_release_settings(releases['4b'], models_on_meta['1b'],
                               source='Sa2VA-4B/config.json')
    assert str(err.value) == (
        'Sa2VA-4B/config.json does not match the config it is loaded into:\n  '
        "template: release 'phi3_chat', config 'qwen_chat'; set --cfg-options "
        'model.mllm.chat_template=phi3')
    with pytest.raises(ValueError, match=r"template: release 'qwen_chat', config 'phi3_chat'; "
                       r'set --cfg-options model.mllm.chat_template=qwen2'):
        check_release_settings(releases['1b'], models_on_meta['4b'])

"""tools/analysis_tools/reprompt_strata.py: strata statistics by hand, and one real run."""
import importlib.util
import os.path as osp
from collections import Counter

import pytest

from conftest import REPO_ROOT

SCRIPT = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'reprompt_strata.py')


def _load():
    spec = importlib.util.spec_from_file_location('reprompt_strata', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bins_and_stratum_rows_by_hand():
    strata = _load()
    assert [strata.iou_bin_label(v) for v in (0.0, 0.29, 0.3, 0.69, 0.7, 1.0)] == [
        '< 0.3', '< 0.3', '0.3-0.7', '0.3-0.7', '>= 0.7', '>= 0.7']
    row = strata.stratum_row([0.1, 0.5, 0.9, 0.2], [0.0, 0.8, 0.905, 0.2])
    # deltas -0.1, +0.3, +0.005, 0 -> mean 0.05125; one improved (> 0.01), one worsened.
    assert row['n'] == 4 and row['initial'] == pytest.approx(0.425)
    assert row['reprompted'] == pytest.approx(0.47625)
    assert row['delta'] == pytest.approx(0.05125)
    assert row['improved'] == 0.25 and row['worsened'] == 0.25
    assert strata.stratum_row([], [])['n'] == 0
    with pytest.raises(ValueError, match='same sentences'):
        strata.stratum_row([0.1], [])


def test_stratify_keeps_order_and_empty_strata():
    strata = _load()
    initial = [0.1, 0.2, 0.8, 0.5]
    reprompted = [0.0, 0.1, 0.9, 0.5]
    keys = [strata.iou_bin_label(v) for v in initial]
    table = strata.stratify(keys, initial, reprompted, ['< 0.3', '0.3-0.7', '>= 0.7', 'x'])
    assert list(table) == ['< 0.3', '0.3-0.7', '>= 0.7', 'x']
    assert table['< 0.3']['n'] == 2 and table['< 0.3']['delta'] == pytest.approx(-0.1)
    assert table['< 0.3']['worsened'] == 1.0
    assert table['>= 0.7']['delta'] == pytest.approx(0.1)
    assert table['0.3-0.7']['delta'] == 0.0 and table['x']['n'] == 0
    text = strata.format_rows('t', list(table.items()), 'initial IoU')
    assert '| < 0.3 | 2 | 0.150 | 0.050 | -0.100 | 0% | 100% |' in text
    assert '| x | 0 | - | - | - | - | - |' in text


def test_rare_words_and_similar_objects():
    strata = _load()
    sentences = ['the big star', 'the red star', 'the big circle']
    counts = Counter({'the': 100, 'star': 50, 'red': 20, 'circle': 30})  # 'big': never
    rows = strata.rare_word_rows(sentences, [0.2, 0.4, 0.6], [0.3, 0.4, 0.5], counts, 2)
    assert [(w, c) for w, c, _ in rows] == [('big', 0), ('red', 20)]
    assert rows[0][2]['n'] == 2 and rows[0][2]['initial'] == pytest.approx(0.4)
    objects = [dict(color='red', shape='star'), dict(color='red', shape='circle'),
               dict(color='blue', shape='star'), dict(color='green', shape='square')]
    assert [strata.similar_objects(objects, i) for i in range(4)] == [2, 1, 1, 0]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_runs_on_a_tiny_desa2va_checkpoint(synthetic_refcoco, tmp_path, capsys):
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    config = osp.join(REPO_ROOT, 'configs/desa2va/desa2va_tiny_fusion.py')
    init_default_scope('desa2va_mm')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model)
    ckpt = str(tmp_path / 'untrained.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    strata = _load()
    strata.main([config, ckpt, '--max-images', '2', '--rare-words', '3', '--out',
                 str(tmp_path / 'ious.json'), '--cfg-options',
                 f'test_dataloader.dataset.data_root={synthetic_refcoco}/'])
    out = capsys.readouterr().out
    assert 'by the initial mask IoU' in out and '| < 0.3 |' in out
    assert 'by other objects sharing the target' in out
    assert 'rarest training words' in out
    import json
    records = json.load(open(tmp_path / 'ious.json'))
    assert records and all(0 <= r['initial'] <= 1 and 0 <= r['reprompted'] <= 1
                           for r in records)
    assert all(isinstance(r['similar'], int) and r['text'] for r in records)

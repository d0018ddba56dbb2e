"""tools/analysis_tools/gcg_baselines.py: constant GCG answers scored by the config's metric."""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from conftest import REPO_ROOT

TOOL = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'gcg_baselines.py')
CONFIG = osp.join(REPO_ROOT, 'configs', 'sa2va_gcg_test', 'sa2va_tiny_synthetic_gcg.py')


def _tool():
    spec = importlib.util.spec_from_file_location('gcg_baselines', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tagged_caption_reads_back_as_its_phrases():
    from desa2va_mm.evaluation.functional import parse_gcg_answer
    caption = 'the red circle is left of the blue star .'
    instances = [dict(tokens_positive=(0, 14)), dict(tokens_positive=(26, 39))]
    text = _tool().tagged(caption, instances)
    assert text == ('<p> the red circle </p> [SEG] is left of <p> the blue star </p> [SEG] .')
    assert parse_gcg_answer(text) == (caption, ['the red circle', 'the blue star'], 2)


@pytest.fixture(scope='module')
def gcg_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('gcg')
    subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools/dataset_converters/'
                                             'make_synthetic_gcg.py'),
                    '--out', str(root), '--num-images', '24'], check=True, cwd=REPO_ROOT,
                   capture_output=True)
    return root


def test_gcg_baselines_cli(gcg_data, tmp_path):
    model_json = tmp_path / 'model.json'
    model_json.write_text(json.dumps({'synthetic_gcg/mask_AP': 30.0, 'synthetic_gcg/mIoU': 50.0,
                                      'synthetic_gcg/recall': 40.0,
                                      'synthetic_gcg/CIDEr': 200.0}))
    proc = subprocess.run(
        [sys.executable, TOOL, CONFIG, '--model-metrics', str(model_json), '--cfg-options',
         f'train_dataloader.dataset.data_root={gcg_data}/',
         f'test_dataloader.dataset.data_root={gcg_data}/'],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    answer = next(line for line in lines if line.startswith('majority training caption'))
    num_seg = answer.count('[SEG]')
    assert num_seg >= 2
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ['method'])
    assert lines[header].split() == ['method', 'mask_AP', 'mIoU', 'recall', 'CIDEr']
    rows = {line[:34].strip(): [float(v) for v in line[34:].split()]
            for line in lines[header + 1:header + 4]}
    no_mask, whole = rows['majority caption'], rows['majority caption + whole image']
    assert no_mask[:3] == [0.0, 0.0, 0.0]
    assert no_mask[3] == whole[3] > 0  # the same caption text
    # mIoU of whole-image masks, by hand from GLaMM's mask file: the num_seg identical
    # predictions pair greedily with the largest ground-truth masks, IoU = area / (H W).
    coco = json.load(open(gcg_data / 'annotations' / 'gcg_val_test' /
                          'val_gcg_coco_mask_gt.json'))
    per_image = []
    for image in coco['images']:
        areas = sorted((float(mask_utils.area(a['segmentation'])) for a in coco['annotations']
                        if a['image_id'] == image['id']), reverse=True)
        ious = [a / (image['height'] * image['width']) for a in areas[:num_seg] if a > 0]
        per_image.append(np.mean(ious) if ious else 0.0)
    assert whole[1] == pytest.approx(100 * np.mean(per_image), abs=0.006)
    assert whole[2] == 0.0  # no synthetic object covers half the picture
    model = next(line for line in lines if line.startswith('model'))
    assert [float(v) for v in model[34:].split()] == [30.0, 50.0, 40.0, 200.0]
    assert f'margin over the best baseline (mIoU): {50.0 - whole[1]:+.2f} points' in lines

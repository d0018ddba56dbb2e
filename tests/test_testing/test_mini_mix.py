"""The mini Sa2VA mix: every member in its authors' layout, read by our dataset classes."""
import json
import os.path as osp
import pickle

import numpy as np
import pytest

from desa2va_mm.testing.mini_mix import TRAIN_IMAGES_PER_SET, write_mini_mix

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def mix(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('rehearsal'))
    return root, write_mini_mix(root, seed=0)


def _load(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def test_refcoco_sentences_keep_raw_and_tokenised_forms(mix):
    root, _ = mix
    coco = osp.join(root, 'data', 'coco')
    unc = {'train', 'val', 'testA', 'testB'}
    for name, split_file, splits in (('refcoco', 'refs(unc).p', unc),
                                     ('refcoco+', 'refs(unc).p', unc),
                                     ('refcocog', 'refs(umd).p', {'train', 'val', 'test'})):
        with open(osp.join(coco, name, split_file), 'rb') as f:
            refs = pickle.load(f)
        assert {r['split'] for r in refs} == splits, name
        instances = _load(osp.join(coco, name, 'instances.json'))
        assert {'images', 'annotations', 'categories'} <= set(instances)
        for ref in refs:
            assert osp.isfile(osp.join(coco, 'train2014', ref['file_name']))
            for sent in ref['sentences']:
                # REFER: raw is the annotator's text, sent its lower-case tokenised form.
                assert sent['raw'] != sent['sent']
                assert sent['sent'] == sent['sent'].lower()
                assert sent['tokens'] == sent['sent'].split()
                assert sent['raw'].rstrip('.').lower() == sent['sent']


def test_grefcoco_has_multi_object_and_no_target_refs(mix):
    root, _ = mix
    grefs = _load(osp.join(root, 'data', 'coco', 'grefcoco', 'grefs(unc).json'))
    assert all(isinstance(r['ann_id'], list) for r in grefs)
    assert any(len(r['ann_id']) >= 2 for r in grefs)
    no_target = [r for r in grefs if r['no_target']]
    assert no_target and all(r['ann_id'] == [-1] for r in no_target)


def test_video_layouts(mix):
    import cv2
    from PIL import Image
    root, _ = mix
    data = osp.join(root, 'data')
    # ReVOS: nested video ids, type_id 0 and 1, one foreground RLE per frame.
    meta = _load(osp.join(data, 'revos', 'meta_expressions_train_.json'))['videos']
    video_id, video = next(iter(meta.items()))
    assert '/' in video_id and osp.isdir(osp.join(data, 'revos', 'JPEGImages', video_id))
    types = {e['type_id'] for v in meta.values() for e in v['expressions'].values()}
    assert types == {0, 1}
    fg = _load(osp.join(data, 'revos', 'mask_dict_foreground.json'))
    assert len(fg[video_id]['masks_rle']) == len(video['frames'])
    assert osp.isfile(osp.join(data, 'revos', 'meta_expressions_valid_.json'))
    # Ref-YouTube-VOS: palette PNGs whose values are the obj_ids of the expressions.
    yt = _load(osp.join(data, 'ref_ytvos', 'meta_expressions', 'train',
                        'meta_expressions.json'))['videos']
    vid, entry = next(iter(yt.items()))
    values = set()
    for frame in entry['frames']:
        png = Image.open(osp.join(data, 'ref_ytvos', 'train', 'Annotations', vid,
                                  frame + '.png'))
        assert png.mode == 'P'
        values |= set(np.unique(np.asarray(png)).tolist())
    obj_ids = {int(e['obj_id']) for e in entry['expressions'].values()}
    assert obj_ids and obj_ids <= values
    # MeViS: both splits with masks.
    for split in ('train', 'valid_u'):
        assert osp.isfile(osp.join(data, 'mevis', split, 'mask_dict.json'))
    # Video chat: mp4 files OpenCV decodes.
    chat = _load(osp.join(data, 'video_chat', 'video_chat.json'))
    cap = cv2.VideoCapture(osp.join(data, 'video_chat', 'videos', chat[0]['video']))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (128, 128, 3)


def test_every_mix_member_loads_from_the_configs_paths(mix, monkeypatch):
    """Build each dataset of configs/_base_/datasets/sa2va_mix.py (pipelines left out)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from desa2va_mm.registry import DATASETS
    root, summary = mix
    monkeypatch.chdir(root)
    init_default_scope('desa2va_mm')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/_base_/datasets/sa2va_mix.py'))
    counts = []
    for member in cfg.train_dataloader.dataset.datasets:
        member = member.to_dict()
        inner = member['dataset'] if member['type'] == 'RepeatDataset' else member
        inner['pipeline'] = []
        counts.append(len(DATASETS.build(inner)))
    assert counts == list(summary.train_samples.values())
    assert counts[:4] == [TRAIN_IMAGES_PER_SET] * 4
    # In order without repeats, batches of 2 hold only image QA, then only video QA.
    assert sum(counts[:4]) % 2 == 0 and counts[4] == counts[5] == 2
    llava = DATASETS.build(dict(cfg.llava_train.to_dict(), pipeline=[]))
    assert {llava[i]['modality'] for i in range(len(llava))} == {'image'}
    for split in ('val', 'testA', 'testB'):
        test_cfg = dict(cfg.refcoco_val.to_dict(), split=split, pipeline=[])
        assert len(DATASETS.build(test_cfg)) >= 1
    mevis = Config.fromfile(osp.join(REPO_ROOT, 'configs/_base_/datasets/mevis.py'))
    valid_u = DATASETS.build(dict(mevis.mevis_valid_u.to_dict(), pipeline=[]))
    assert len(valid_u) == 1 and valid_u[0]['expressions']
    assert osp.isfile(summary.demo_image) and summary.demo_expression


def test_corpus_covers_the_mix_and_the_templates(mix):
    _, summary = mix
    texts = set(summary.texts)
    assert 'Sure, it is [SEG].' in texts
    assert any(t.startswith('Please segment ') for t in texts)
    assert any('moving' in t or 'stops' in t or 'does not move' in t for t in texts)
    assert len(summary.texts) == len(texts)  # de-duplicated

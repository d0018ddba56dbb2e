"""Tests of the synthetic RefCOCO generator (data written under tmp_path)."""
import collections
import filecmp
import json
import os
import os.path as osp
import pickle
import subprocess
import sys

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from desa2va_mm.synthetic import (
    ANN_FILE, COLORS, IMG_DIR, REFCOCO_VOCABULARY, SCENES_FILE, SPLIT_FILE, Scene,
    SceneObject, compute_split_stats, expression_kind, generate_image,
    load_scenes, make_synthetic_refcoco, parse_expression, render_expression,
    resolve_expression, surface_forms)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLI = osp.join(REPO_ROOT, 'tools', 'dataset_converters',
               'make_synthetic_refcoco.py')
SEED = 3
NUM_IMAGES = 40
SPLITS = ('train', 'val', 'testA', 'testB')


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic_refcoco'))
    summary = make_synthetic_refcoco(root, NUM_IMAGES, SEED)
    return root, summary


def _load(root):
    with open(osp.join(root, ANN_FILE)) as f:
        instances = json.load(f)
    with open(osp.join(root, SPLIT_FILE), 'rb') as f:
        refs = pickle.load(f)
    return instances, refs


def _decode(segmentation, height, width):
    if isinstance(segmentation, list):
        rles = mask_utils.frPyObjects(segmentation, height, width)
        return mask_utils.decode(mask_utils.merge(rles))
    return mask_utils.decode(segmentation)


def _build_dataset(root, split):
    from mmdet.datasets import RefCocoDataset
    from mmdet.utils import register_all_modules
    register_all_modules()
    ds = RefCocoDataset(
        data_root=root,
        ann_file=ANN_FILE,
        split_file=SPLIT_FILE,
        data_prefix=dict(img_path=IMG_DIR + '/'),
        split=split,
        text_mode='original',
        pipeline=[],
        lazy_init=True)
    ds.full_init()
    return ds


def test_summary_and_layout(dataset):
    root, summary = dataset
    instances, refs = _load(root)
    assert summary['num_images'] == NUM_IMAGES == len(instances['images'])
    assert summary['num_annotations'] == len(instances['annotations'])
    assert summary['num_refs'] == len(refs)
    assert set(summary['splits']) == set(SPLITS)
    assert sum(s['images'] for s in summary['splits'].values()) == NUM_IMAGES
    assert all(s['images'] >= 1 for s in summary['splits'].values())
    for img in instances['images']:
        assert img['file_name'] == 'COCO_train2014_%012d.jpg' % img['id']
        assert osp.isfile(osp.join(root, IMG_DIR, img['file_name']))
    # Both COCO mask encodings occur.
    kinds = {type(a['segmentation']) for a in instances['annotations']}
    assert kinds == {list, dict}
    # Per-split stats agree with the summary.
    stats = compute_split_stats(root)
    for split, counts in summary['splits'].items():
        for key in ('images', 'refs', 'sentences'):
            assert stats[split][key] == counts[key]


def test_loads_with_mmdet_refcoco_dataset(dataset):
    root, summary = dataset
    _, refs = _load(root)
    for split in SPLITS:
        ds = _build_dataset(root, split)
        counts = summary['splits'][split]
        assert len(ds) == counts['images']
        infos = [ds.get_data_info(i) for i in range(len(ds))]
        # mmdet 3.3 emits one instance per sentence (the ref's mask repeated).
        assert sum(len(d['instances']) for d in infos) == counts['sentences']
        loaded = {(d['img_id'], t) for d in infos for t in d['text']}
        # mmdet reads REFER's raw text, lower-cased (with its final period).
        expected = {(r['image_id'], s['raw'].lower())
                    for r in refs if r['split'] == split
                    for s in r['sentences']}
        assert loaded == expected and len(expected) == counts['sentences']
        assert len({r['ref_id'] for r in refs if r['split'] == split}) == \
            counts['refs']
        for info in infos:
            assert osp.isfile(info['img_path'])
            assert len(info['text']) == len(info['instances'])


def test_masks_match_bookkeeping(dataset):
    root, _ = dataset
    instances, refs = _load(root)
    images = {i['id']: i for i in instances['images']}
    anns = {a['id']: a for a in instances['annotations']}
    scenes = load_scenes(root)
    by_image = collections.defaultdict(list)
    for ann in instances['annotations']:
        by_image[ann['image_id']].append(ann)
    for image_id, image_anns in by_image.items():
        info = images[image_id]
        h, w = info['height'], info['width']
        # The in-memory render of the same (seed, index) is the ground truth.
        sample = generate_image(SEED, image_id - 1, w)
        scene, ann_ids = scenes[image_id]
        assert scene == sample.scene
        assert ann_ids == [a['id'] for a in image_anns]
        picture = cv2.imread(osp.join(root, IMG_DIR, info['file_name']))
        union = np.zeros((h, w), dtype=np.int32)
        for k, ann in enumerate(image_anns):
            mask = _decode(ann['segmentation'], h, w)
            np.testing.assert_array_equal(mask, sample.visible_masks[k])
            assert mask.sum() == ann['area'] == scene.objects[k].visible_area
            rle = mask_utils.encode(np.asfortranarray(mask))
            assert list(mask_utils.toBbox(rle)) == ann['bbox']
            # Fully visible objects are polygons, occluded ones RLE.
            assert isinstance(ann['segmentation'], dict) == \
                scene.objects[k].occluded
            # The pixels under the mask show the object's colour (inner
            # pixels only: JPEG blurs edges).
            inner = cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)
            if inner.sum() >= 10:
                mean_rgb = picture[inner][:, ::-1].mean(axis=0)
                dist = {
                    name: np.linalg.norm(mean_rgb - np.array(rgb))
                    for name, rgb in COLORS.items()
                }
                assert min(dist, key=dist.get) == scene.objects[k].color
            union += mask
        assert union.max() <= 1  # visible masks never overlap
    for ref in refs:
        ann = anns[ref['ann_id']]
        assert ann['image_id'] == ref['image_id']
        assert ann['category_id'] == ref['category_id']
        assert images[ref['image_id']]['file_name'] == ref['file_name']
        assert ref['sent_ids'] == [s['sent_id'] for s in ref['sentences']]
    assert len({r['ref_id'] for r in refs}) == len(refs)
    assert len({s for r in refs for s in r['sent_ids']}) == \
        sum(len(r['sent_ids']) for r in refs)


def test_mmdet_load_annotations_matches_pycocotools(dataset):
    from mmdet.datasets.transforms import LoadAnnotations
    root, _ = dataset
    instances, refs = _load(root)
    anns = {a['id']: a for a in instances['annotations']}
    # A sentence names one object of its image, so (image, sentence) is a key.
    ann_of_text = {(r['image_id'], s['raw'].lower()): anns[r['ann_id']]
                   for r in refs for s in r['sentences']}
    load = LoadAnnotations(with_bbox=False, with_label=False, with_mask=True)
    seen = set()
    for split in SPLITS:
        ds = _build_dataset(root, split)
        for i in range(len(ds)):
            info = ds.get_data_info(i)
            h = w = instances['images'][0]['height']
            results = load(dict(info, ori_shape=(h, w), img_shape=(h, w)))
            masks = results['gt_masks'].masks
            assert masks.shape == (len(info['instances']), h, w)
            for k, text in enumerate(info['text']):
                ann = ann_of_text[(info['img_id'], text)]
                np.testing.assert_array_equal(
                    masks[k], _decode(ann['segmentation'], h, w))
                seen.add(type(ann['segmentation']))
    assert seen == {list, dict}


def test_deterministic(dataset, tmp_path):
    root, summary = dataset
    again = str(tmp_path / 'again')
    assert make_synthetic_refcoco(again, NUM_IMAGES, SEED) == dict(
        summary, out_dir=again)
    for rel in (ANN_FILE, SPLIT_FILE, SCENES_FILE):
        assert filecmp.cmp(osp.join(root, rel), osp.join(again, rel),
                           shallow=False), rel
    names = sorted(os.listdir(osp.join(root, IMG_DIR)))
    assert names == sorted(os.listdir(osp.join(again, IMG_DIR)))
    match, mismatch, errors = filecmp.cmpfiles(
        osp.join(root, IMG_DIR), osp.join(again, IMG_DIR), names,
        shallow=False)
    assert match == names and not mismatch and not errors

    # Another seed: other pictures and masks.
    other = str(tmp_path / 'other_seed')
    make_synthetic_refcoco(other, 5, SEED + 1)
    same, _, _ = filecmp.cmpfiles(
        osp.join(root, IMG_DIR), osp.join(other, IMG_DIR), names[:5],
        shallow=False)
    assert not same
    first_five = [
        a['segmentation'] for a in _load(root)[0]['annotations']
        if a['image_id'] <= 5
    ]
    assert first_five != [
        a['segmentation'] for a in _load(other)[0]['annotations']
    ]

    # An image depends only on (seed, index), not on the number of images.
    fewer = str(tmp_path / 'fewer')
    make_synthetic_refcoco(fewer, 3, SEED)
    for name in sorted(os.listdir(osp.join(fewer, IMG_DIR))):
        assert filecmp.cmp(osp.join(root, IMG_DIR, name),
                           osp.join(fewer, IMG_DIR, name), shallow=False)


def test_every_sentence_names_exactly_its_object(dataset):
    root, _ = dataset
    _, refs = _load(root)
    scenes = load_scenes(root)
    vocab = set(REFCOCO_VOCABULARY)
    kinds = collections.Counter()
    refs_per_image = collections.Counter(r['image_id'] for r in refs)
    assert set(refs_per_image) == set(scenes)
    assert all(1 <= n <= 3 for n in refs_per_image.values())
    for ref in refs:
        scene, ann_ids = scenes[ref['image_id']]
        target = ann_ids.index(ref['ann_id'])
        texts = [s['sent'] for s in ref['sentences']]
        assert 2 <= len(texts) <= 3 and len(set(texts)) == len(texts)
        for sent in ref['sentences']:
            # REFER's forms: tokens, sent = ' '.join(tokens) (lower case), raw = the
            # annotator's text (here capitalised, with a final period).
            text = sent['sent']
            assert text == text.lower() == ' '.join(sent['tokens'])
            assert sent['raw'] != text
            assert sent['raw'] == text[0].upper() + text[1:] + '.'
            assert sent['raw'].lower().rstrip('.') == text
            assert sent['tokens'] == text.split()
            assert set(sent['tokens']) <= vocab, text
            program = parse_expression(text)
            assert text in surface_forms(program)
            assert resolve_expression(program, scene) == [target], text
            assert resolve_expression(program, scene, strict=True) == \
                [target], text
            kinds[expression_kind(program)] += 1
    attribute_kinds = {
        k for k in kinds
        if k not in ('shape', 'superlative', 'relation', 'absolute')
    }
    assert attribute_kinds & {'color_shape', 'size_color_shape'}
    assert kinds['superlative'] > 0 and kinds['relation'] > 0
    # Most sentences need more than the bare shape name.
    assert kinds['shape'] < 0.3 * sum(kinds.values())

    shared = [
        len({o.shape for o in s.objects}) < len(s.objects)
        or len({o.color for o in s.objects}) < len(s.objects)
        for s, _ in scenes.values()
    ]
    assert np.mean(shared) >= 0.7
    assert all(3 <= len(s.objects) <= 6 for s, _ in scenes.values())


def _obj(shape, color, size, cx, cy):
    radius = 10.0 if size == 'small' else 22.0
    area = int(np.pi * radius**2)
    return SceneObject(shape, color, size, cx, cy, radius, area, area)


def test_resolver_semantics():
    scene = Scene(128, (
        _obj('circle', 'red', 'small', 20, 60),
        _obj('circle', 'red', 'large', 100, 60),
        _obj('star', 'blue', 'small', 60, 70),
        _obj('circle', 'green', 'small', 62, 110),
    ))

    def resolve(text, strict=False):
        return resolve_expression(parse_expression(text), scene, strict)

    assert resolve('the red circle') == [0, 1]
    assert resolve('the small red circle') == [0]
    assert resolve('the big red circle') == [1]
    assert resolve('the star') == [2]
    assert resolve('the blue shape') == [2]
    assert resolve('the leftmost circle') == [0]
    assert resolve('the largest shape') == [1]
    assert resolve('the bottommost shape') == [3]
    assert resolve('the topmost shape') == [0, 1, 2]  # a near tie
    assert resolve('the topmost shape', strict=True) == []
    assert resolve('the red circle on the right') == [1]
    assert resolve('the circle below the star') == [3]
    assert resolve('the red circle to the left of the green circle') == [0]
    # Both readings: a near tie is ambiguous leniently and empty strictly.
    tie = Scene(128, (_obj('square', 'red', 'small', 30, 30),
                      _obj('square', 'blue', 'small', 34, 90)))
    prog = parse_expression('the leftmost square')
    assert resolve_expression(prog, tie) == [0, 1]
    assert resolve_expression(prog, tie, strict=True) == []
    # Rendering and parsing are inverse.
    for text in ('the biggest red shape', 'the triangle left of the blue star',
                 'the small square at the bottom'):
        prog = parse_expression(text)
        assert text in surface_forms(prog)
        assert parse_expression(render_expression(prog)) == prog
    with pytest.raises(ValueError):
        parse_expression('a red circle')
    with pytest.raises(ValueError):
        parse_expression('the red circle near the star')


def test_bad_arguments(tmp_path):
    for bad in (0, -3):
        with pytest.raises(ValueError, match='num_images'):
            make_synthetic_refcoco(str(tmp_path / 'x'), bad, 0)
    a_file = tmp_path / 'a_file'
    a_file.write_text('not a directory')
    with pytest.raises(NotADirectoryError, match='not a directory'):
        make_synthetic_refcoco(str(a_file), 2, 0)
    with pytest.raises(ValueError, match='seed'):
        make_synthetic_refcoco(str(tmp_path / 'x'), 2, -1)
    with pytest.raises(ValueError, match='split'):
        make_synthetic_refcoco(str(tmp_path / 'x'), 2, 0,
                               split_fractions=[('train', 0.0)])
    # Refuse to overwrite an annotation file it did not write.
    foreign = tmp_path / 'foreign'
    (foreign / 'refcoco').mkdir(parents=True)
    (foreign / ANN_FILE).write_text('{}')
    with pytest.raises(FileExistsError):
        make_synthetic_refcoco(str(foreign), 2, 0)


def _run_cli(*args):
    return subprocess.run([sys.executable, CLI, *args], capture_output=True,
                          text=True, cwd=REPO_ROOT, timeout=120)


def test_cli(tmp_path):
    proc = _run_cli('--help')
    assert proc.returncode == 0 and '--num-images' in proc.stdout

    out = tmp_path / 'cli'
    proc = _run_cli('--out', str(out), '--num-images', '6', '--seed', '1',
                    '--image-size', '96', '--splits', 'train=0.5', 'val=0.5')
    assert proc.returncode == 0, proc.stderr
    assert 'wrote 6 images' in proc.stdout
    _, refs = _load(str(out))
    assert {r['split'] for r in refs} == {'train', 'val'}
    assert cv2.imread(
        osp.join(out, IMG_DIR, 'COCO_train2014_%012d.jpg' % 1)).shape == \
        (96, 96, 3)

    proc = _run_cli('--out', str(tmp_path / 'y'), '--num-images', '0')
    assert proc.returncode != 0 and 'must be > 0' in proc.stderr
    a_file = tmp_path / 'a_file'
    a_file.write_text('x')
    proc = _run_cli('--out', str(a_file), '--num-images', '2')
    assert proc.returncode != 0 and 'not a directory' in proc.stderr


def test_tiny_tokenizer_covers_raw_and_sent_forms(dataset):
    from desa2va_mm.tokenization import TinyWordTokenizer
    root, _ = dataset
    _, refs = _load(root)
    tokenizer = TinyWordTokenizer(vocabulary='synthetic_refcoco')
    unk = tokenizer.unk_token_id
    for ref in refs[:60]:
        for sent in ref['sentences']:
            # Training reads raw.lower() (the period is its own known token); evaluation
            # reads sent. Neither may fall back to [UNK].
            raw_ids = tokenizer(sent['raw'].lower(), add_special_tokens=False)['input_ids']
            sent_ids = tokenizer(sent['sent'], add_special_tokens=False)['input_ids']
            assert unk not in raw_ids and unk not in sent_ids, sent
            assert raw_ids == sent_ids + tokenizer('.', add_special_tokens=False)['input_ids']

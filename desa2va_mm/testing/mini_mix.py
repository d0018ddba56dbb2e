"""A few samples of every member dataset of the Sa2VA mix, each in its authors' layout.

:func:`write_mini_mix` writes under ``<root>/data`` exactly the paths the real-size configs
read (``configs/_base_/datasets/sa2va_mix.py``, ``refcoco.py``, ``mevis.py``; layouts in
docs/dataset_prepare.md and docs/dataset_prepare_video.md)::

    data/coco/train2014/COCO_train2014_*.jpg
    data/coco/refcoco/{instances.json, refs(unc).p}        train / val / testA / testB
    data/coco/refcoco+/{instances.json, refs(unc).p}       train / val / testA / testB
    data/coco/refcocog/{instances.json, refs(umd).p}       train / val / test
    data/coco/grefcoco/{instances.json, grefs(unc).json}   multi-object and no-target refs
    data/llava/llava_v1_5_mix665k.json + images/coco/train2017/*.jpg   (+ a text-only record)
    data/video_chat/video_chat.json + videos/*.mp4
    data/mevis/{train,valid_u}/{JPEGImages/, meta_expressions.json, mask_dict.json}
    data/revos/{JPEGImages/<source>/<video>/, mask_dict.json, mask_dict_foreground.json,
                meta_expressions_{train,valid}_.json}
    data/ref_ytvos/{meta_expressions/train/meta_expressions.json,
                    train/JPEGImages/, train/Annotations/ (palette PNGs)}
    data/glamm_data/annotations/{OpenPsgGCG_train, GranDf_HA_GCG_train,
                                 flickr_mergedGT_GCG_train, RefCOCOg_GCG_train}.json
        + images/{coco2017, grandf/train, flickr30k/Flickr30K, coco2014/train2014}/
        (grounded captions, docs/gcg.md; 2 images each)
    data/sav/sam_v_final_v3.json + sam_v_full/sav_000/<video>{.mp4, _manual.json}
        (SA-V pseudo-label videos, Sa2VA's expression file; 2 videos)
    data/osprey-724k/Osprey-724K/osprey_{conversation,detail_description,short_form,
                                         part_level,lvis_positive_negative}.json
        + coco/{train2014,val2014,train2017,val2017}/  (region prompts,
        docs/visual_prompts.md; 2 images each)

Images, videos and masks come from the synthetic generators of
:mod:`desa2va_mm.synthetic` (RefCOCO and MeViS writers, re-laid out where the
other releases differ). As in the real REFER files, a RefCOCO sentence's ``raw`` is the
original text (capitalised, with punctuation) and ``sent`` its lower-case tokenised form.

Sample counts are chosen for the rehearsal's deterministic sampler order (batch 2, no
shuffling, no repeats): the four referring-image sets hold one training image each, so the
LLaVA pair and the video-chat pair each fill one batch on their own (an image-QA-only and a
video-QA-only batch).
"""
import json
import os
import os.path as osp
import pickle
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np

__all__ = ['MiniMixSummary', 'write_mini_mix', 'corpus_texts', 'TRAIN_IMAGES_PER_SET']

#: Training images per referring-image set (the four sets together: an even count, see
#: the module docstring).
TRAIN_IMAGES_PER_SET = 1
_IMAGE_SIZE = 128
_NUM_FRAMES = 6
#: One image each for val / testA / testB.
_SPLITS = (('train', TRAIN_IMAGES_PER_SET), ('val', 1), ('testA', 1), ('testB', 1))
_QUESTION = 'Please segment {expression} in this image.'
_VIDEO_QUESTION = 'Please segment {expression} in this video.'
# The SA-V question of the mix config (configs/_base_/datasets/sa2va_mix.py).
_SAV_QUESTION = 'Please segment the object according to the description: {expression}'
_ANSWERS = ('It is [SEG].', 'Sure, [SEG].', 'Sure, it is [SEG].',
            'Sure, the segmentation result is [SEG].', '[SEG].')


@dataclass
class MiniMixSummary:
    """What :func:`write_mini_mix` wrote.

    Attributes:
        data_root: ``<root>/data``.
        train_samples: Training items per mix member, in the mix's order.
        demo_image: An image path for inference demos.
        demo_expression: An expression that names one object of ``demo_image``.
        texts: Every text of the mix (for training a tokenizer).
    """
    data_root: str
    train_samples: Dict[str, int] = field(default_factory=dict)
    demo_image: str = ''
    demo_expression: str = ''
    texts: List[str] = field(default_factory=list)


def _dump(path: str, obj) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f)


def _raw_form(sentence: str) -> str:
    """REFER's ``raw``: the annotator's text (capitalised, final period)."""
    return sentence[:1].upper() + sentence[1:] + '.'


def _write_refcoco_family(coco: str, seed: int, texts: List[str]) -> dict:
    """RefCOCO / RefCOCO+ / RefCOCOg / gRefCOCO sharing one set of COCO-named images."""
    from desa2va_mm.synthetic import ANN_FILE, IMG_DIR, SPLIT_FILE, make_synthetic_refcoco

    num_images = int(sum(count for _, count in _SPLITS))
    with tempfile.TemporaryDirectory() as tmp:
        make_synthetic_refcoco(tmp, num_images=num_images, seed=seed, image_size=_IMAGE_SIZE,
                               split_fractions=_SPLITS)
        shutil.copytree(osp.join(tmp, IMG_DIR), osp.join(coco, 'train2014'),
                        dirs_exist_ok=True)
        with open(osp.join(tmp, ANN_FILE), encoding='utf-8') as f:
            instances = json.load(f)
        with open(osp.join(tmp, SPLIT_FILE), 'rb') as f:
            refs = pickle.load(f)
    for ref in refs:
        for sent in ref['sentences']:
            text = sent['sent']
            sent['raw'] = _raw_form(text)
            sent['sent'] = text.lower()
            sent['tokens'] = text.lower().split()
            texts.extend([sent['raw'], sent['sent']])
    counts = {}
    for name, split_file, rename in (
            ('refcoco', 'refs(unc).p', {}), ('refcoco+', 'refs(unc).p', {}),
            ('refcocog', 'refs(umd).p', {'testA': 'test', 'testB': 'test'})):
        _dump(osp.join(coco, name, 'instances.json'), instances)
        family_refs = [dict(r, split=rename.get(r['split'], r['split'])) for r in refs]
        with open(osp.join(coco, name, split_file), 'wb') as f:
            pickle.dump(family_refs, f, protocol=2)
        counts[name] = len({r['image_id'] for r in family_refs if r['split'] == 'train'})

    # gRefCOCO (ReLA's grefs(unc).json): list ann_ids, one multi-object and one no-target
    # expression per image on top of the single-object refs.
    anns_of = {}
    for ann in instances['annotations']:
        anns_of.setdefault(ann['image_id'], []).append(ann['id'])
    grefs, next_ref = [], max(r['ref_id'] for r in refs) + 1
    for ref in refs:
        grefs.append(dict(ref, ann_id=[ref['ann_id']], category_id=[ref['category_id']],
                          no_target=False))
    for image_id in sorted(anns_of):
        split = next(r['split'] for r in refs if r['image_id'] == image_id)
        file_name = next(r['file_name'] for r in refs if r['image_id'] == image_id)
        for ann_ids, text, no_target in ((anns_of[image_id][:2], 'the two shapes on top',
                                          False),
                                         ([-1], 'the pink elephant', True)):
            sent = dict(raw=_raw_form(text), sent=text, tokens=text.split(),
                        sent_id=next_ref * 10)
            texts.extend([sent['raw'], text])
            grefs.append(dict(ref_id=next_ref, image_id=image_id, file_name=file_name,
                              split=split, ann_id=ann_ids, category_id=[1] * len(ann_ids),
                              no_target=no_target, sent_ids=[sent['sent_id']],
                              sentences=[sent]))
            next_ref += 1
    _dump(osp.join(coco, 'grefcoco', 'instances.json'), instances)
    _dump(osp.join(coco, 'grefcoco', 'grefs(unc).json'), grefs)
    counts['grefcoco'] = counts['refcoco']
    first_val = next(r for r in refs if r['split'] == 'val')
    return dict(counts=counts,
                demo_image=osp.join(coco, 'train2014', first_val['file_name']),
                demo_expression=first_val['sentences'][0]['sent'])


def _qa_for_scene(scene) -> List[dict]:
    objects = scene.objects
    largest = max(objects, key=lambda o: o.visible_area)
    colors = sorted({o.color for o in objects})
    return [
        {'from': 'human', 'value': '<image>\nHow many shapes are in the picture?'},
        {'from': 'gpt', 'value': f'There are {len(objects)} shapes.'},
        {'from': 'human', 'value': 'What colour is the largest shape?'},
        {'from': 'gpt', 'value': f'The largest shape is {largest.color}; it is a '
                                 f'{largest.shape}.'},
        {'from': 'human', 'value': 'Which colours can you see?'},
        {'from': 'gpt', 'value': 'I can see ' + ', '.join(colors) + '.'},
    ]


def _write_llava(root: str, seed: int, texts: List[str]) -> int:
    import cv2

    from desa2va_mm.synthetic import generate_image
    records = []
    for k in range(2):
        left = generate_image(seed + 101, 2 * k, _IMAGE_SIZE)
        right = generate_image(seed + 101, 2 * k + 1, _IMAGE_SIZE)
        # A 2:1 image: InternVL tiling gives it two tiles and a thumbnail.
        image = np.concatenate([left.image, right.image], axis=1)
        rel = f'coco/train2017/{k + 1:012d}.jpg'
        os.makedirs(osp.join(root, 'images', osp.dirname(rel)), exist_ok=True)
        cv2.imwrite(osp.join(root, 'images', rel), image)
        conv = _qa_for_scene(left.scene)
        records.append({'id': f'{k + 1:012d}', 'image': rel, 'conversations': conv})
        texts.extend(c['value'].replace('<image>\n', '') for c in conv)
    # LLaVA-665k holds text-only chat too; the loader skips it with a logged count.
    records.append({'id': 'text_only_0', 'conversations': [
        {'from': 'human', 'value': 'Write one sentence about shapes.'},
        {'from': 'gpt', 'value': 'Shapes have sides and corners.'}]})
    _dump(osp.join(root, 'llava_v1_5_mix665k.json'), records)
    return 2


def _write_video_chat(root: str, seed: int, texts: List[str]) -> int:
    import cv2

    from desa2va_mm.synthetic import generate_video
    records = []
    for k in range(2):
        video = generate_video(seed + 202, k, _NUM_FRAMES, _IMAGE_SIZE)
        name = f'clip_{k:05d}.mp4'
        path = osp.join(root, 'videos', name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 6,
                                 (_IMAGE_SIZE, _IMAGE_SIZE))
        for frame in video['frames']:
            writer.write(frame)
        writer.release()
        motions = sorted({o['motion'] for o in video['objects']})
        conv = [{'from': 'human', 'value': '<video>\nWhat happens in this video?'},
                {'from': 'gpt', 'value': f'{len(video["objects"])} shapes: some '
                                         + ' and '.join(motions) + '.'}]
        records.append({'id': f'video_chat_{k}', 'video': name, 'conversations': conv})
        texts.extend(c['value'].replace('<video>\n', '') for c in conv)
    _dump(osp.join(root, 'video_chat.json'), records)
    return 2


def _mevis_texts(split_dir: str, texts: List[str]) -> int:
    with open(osp.join(split_dir, 'meta_expressions.json'), encoding='utf-8') as f:
        videos = json.load(f)['videos']
    for video in videos.values():
        texts.extend(e['exp'] for e in video['expressions'].values())
    return len(videos)


def _write_mevis(root: str, seed: int, texts: List[str]) -> int:
    from desa2va_mm.synthetic import make_synthetic_mevis
    make_synthetic_mevis(root, num_videos=2, num_frames=_NUM_FRAMES, seed=seed,
                         image_size=_IMAGE_SIZE, splits=(('train', 0.5), ('valid_u', 0.5)))
    _mevis_texts(osp.join(root, 'valid_u'), texts)
    return _mevis_texts(osp.join(root, 'train'), texts)


def _write_revos(root: str, seed: int, texts: List[str]) -> int:
    """ReVOS: one folder for both splits, nested video ids, type_id, foreground masks."""
    from desa2va_mm.structures import merge_rles, to_json_rle

    from desa2va_mm.synthetic import make_synthetic_mevis
    with tempfile.TemporaryDirectory() as tmp:
        make_synthetic_mevis(tmp, num_videos=2, num_frames=_NUM_FRAMES, seed=seed + 303,
                             image_size=_IMAGE_SIZE, splits=(('train', 0.5), ('valid', 0.5)))
        mask_dict, foreground = {}, {}
        for split in ('train', 'valid'):
            with open(osp.join(tmp, split, 'meta_expressions.json'), encoding='utf-8') as f:
                videos = json.load(f)['videos']
            with open(osp.join(tmp, split, 'mask_dict.json'), encoding='utf-8') as f:
                split_masks = json.load(f)
            mask_dict.update(split_masks)
            renamed = {}
            for video_id, video in videos.items():
                new_id = f'UVO/all/{video_id}'  # ReVOS ids hold the source folder
                shutil.copytree(osp.join(tmp, split, 'JPEGImages', video_id),
                                osp.join(root, 'JPEGImages', new_id))
                for k, exp in enumerate(video['expressions'].values()):
                    exp['type_id'] = k % 2  # 0 referring, 1 reasoning
                    texts.append(exp['exp'])
                anno_ids = sorted({a for e in video['expressions'].values()
                                   for a in e['anno_id']})
                per_frame = []
                for t in range(len(video['frames'])):
                    rles = [split_masks[str(a)][t] for a in anno_ids
                            if split_masks[str(a)][t] is not None]
                    if rles:
                        per_frame.append(to_json_rle(merge_rles(rles)))
                    else:
                        per_frame.append(None)
                foreground[new_id] = {'masks_rle': per_frame}
                renamed[new_id] = video
            _dump(osp.join(root, f'meta_expressions_{split}_.json'), {'videos': renamed})
    _dump(osp.join(root, 'mask_dict.json'), mask_dict)
    _dump(osp.join(root, 'mask_dict_foreground.json'), foreground)
    return 1


def _write_ref_ytvos(root: str, seed: int, texts: List[str]) -> int:
    """Ref-YouTube-VOS train: frames every 5th, palette PNGs (index = obj_id)."""
    import cv2
    from PIL import Image
    from desa2va_mm.structures import decode_rle

    from desa2va_mm.synthetic import make_synthetic_mevis
    with tempfile.TemporaryDirectory() as tmp:
        make_synthetic_mevis(tmp, num_videos=1, num_frames=_NUM_FRAMES, seed=seed + 404,
                             image_size=_IMAGE_SIZE, splits=(('train', 1.0), ))
        with open(osp.join(tmp, 'train', 'meta_expressions.json'), encoding='utf-8') as f:
            videos = json.load(f)['videos']
        with open(osp.join(tmp, 'train', 'mask_dict.json'), encoding='utf-8') as f:
            masks = json.load(f)
        meta = {}
        palette = [0, 0, 0] + [int(v) for v in np.random.default_rng(seed).integers(
            40, 255, 3 * 255)]
        for video_id, video in videos.items():
            anno_ids = sorted({a for e in video['expressions'].values() for a in e['anno_id']})
            obj_of = {a: i + 1 for i, a in enumerate(anno_ids)}
            frames = [f'{5 * t:05d}' for t in range(len(video['frames']))]
            for t, (old, new) in enumerate(zip(video['frames'], frames)):
                image = cv2.imread(osp.join(tmp, 'train', 'JPEGImages', video_id, old + '.jpg'))
                dst = osp.join(root, 'train', 'JPEGImages', video_id, new + '.jpg')
                os.makedirs(osp.dirname(dst), exist_ok=True)
                cv2.imwrite(dst, image)
                index = np.zeros(image.shape[:2], np.uint8)
                for a in anno_ids:
                    rle = masks[str(a)][t]
                    if rle is not None:
                        m = decode_rle(rle)
                        index[m.astype(bool)] = obj_of[a]
                png = Image.fromarray(index, mode='P')
                png.putpalette(palette)
                ann = osp.join(root, 'train', 'Annotations', video_id, new + '.png')
                os.makedirs(osp.dirname(ann), exist_ok=True)
                png.save(ann)
            # One object per expression in Ref-YouTube-VOS.
            exps = {}
            for exp_id, exp in video['expressions'].items():
                if len(exp['anno_id']) == 1:
                    exps[str(len(exps))] = {'exp': exp['exp'],
                                            'obj_id': str(obj_of[exp['anno_id'][0]])}
                    texts.append(exp['exp'])
            # Listed out of order, as some release entries are; loaders sort frame names.
            meta[video_id] = {'frames': frames[::-1], 'expressions': exps}
    _dump(osp.join(root, 'meta_expressions', 'train', 'meta_expressions.json'),
          {'videos': meta})
    return len(meta)


#: GCG sets of the mix: name -> (annotation file, image folder) under data/glamm_data/.
_GCG_SETS = {
    'openpsg_gcg': ('annotations/OpenPsgGCG_train.json', 'images/coco2017/'),
    'grandf_gcg': ('annotations/GranDf_HA_GCG_train.json', 'images/grandf/train/'),
    'flickr_gcg': ('annotations/flickr_mergedGT_GCG_train.json',
                   'images/flickr30k/Flickr30K/'),
    'refcocog_gcg': ('annotations/RefCOCOg_GCG_train.json', 'images/coco2014/train2014/'),
}


def _write_gcg(root: str, seed: int, texts: List[str]) -> Dict[str, int]:
    """The four GCG sets, two images each, in GLaMM's layouts (synthetic GCG captions
    re-laid out: GranD-f's for GranD-f and OpenPSG, COCO-style for Flickr30k, one-key
    dicts with polygon refs for RefCOCOg)."""
    import cv2

    from desa2va_mm.synthetic import GCG_IMG_DIR, GCG_TRAIN_FILE, make_synthetic_gcg
    from desa2va_mm.synthetic.coco_io import decode_segmentation
    with tempfile.TemporaryDirectory() as tmp:
        make_synthetic_gcg(tmp, num_images=3, seed=seed, image_size=_IMAGE_SIZE,
                           val_fraction=0.3)
        with open(osp.join(tmp, GCG_TRAIN_FILE), encoding='utf-8') as f:
            grandf = json.load(f)
        for _, folder in _GCG_SETS.values():
            shutil.copytree(osp.join(tmp, GCG_IMG_DIR), osp.join(root, folder),
                            dirs_exist_ok=True)
    for item in grandf:
        texts.append(item['caption'])
    flickr_images, flickr_anns, refcocog = [], [], []
    for k, item in enumerate(grandf, start=1):
        flickr_images.append(dict(id=k, file_name=item['file_name'], height=item['height'],
                                  width=item['width'], caption=item['caption']))
        refs = []
        for phrase, g in item['groundings'].items():
            mask = decode_segmentation(g['rle_masks'][0], item['height']).astype(np.uint8)
            ys, xs = np.nonzero(mask)
            box = [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                   int(ys.max() - ys.min() + 1)]
            flickr_anns.append(dict(id=len(flickr_anns) + 1, image_id=k, bbox=box,
                                    area=int(mask.sum()), tokens_positive=[g['token_positives']],
                                    sam_mask=g['rle_masks'][0]))
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            polygons = [c.reshape(-1).astype(float).tolist() for c in contours if len(c) >= 3]
            refs.append(dict(sentence=phrase, bbox=box, segmentation=polygons))
        refcocog.append({str(k): dict(img_file_name=item['file_name'],
                                      caption=item['caption'], refs=refs)})
    files = dict(openpsg_gcg=grandf, grandf_gcg=grandf,
                 flickr_gcg=dict(images=flickr_images, annotations=flickr_anns),
                 refcocog_gcg=refcocog)
    for name, (ann_file, _) in _GCG_SETS.items():
        os.makedirs(osp.dirname(osp.join(root, ann_file)), exist_ok=True)
        _dump(osp.join(root, ann_file), files[name])
    return {name: len(grandf) for name in _GCG_SETS}


def _write_sav(root: str, seed: int, texts: List[str]) -> int:
    """SA-V pseudo-label videos, two, from the synthetic SA-V writer (its video folder
    renamed to the one the mix config names)."""
    from desa2va_mm.synthetic.sav_writer import (SAV_EXPRESSION_FILE, SAV_VIDEO_DIR,
                                                 make_synthetic_sav)
    summary = make_synthetic_sav(root, num_videos=2, num_frames=_NUM_FRAMES, seed=seed + 505,
                                 image_size=_IMAGE_SIZE)
    os.replace(osp.join(root, SAV_VIDEO_DIR), osp.join(root, 'sam_v_full'))
    with open(osp.join(root, SAV_EXPRESSION_FILE), encoding='utf-8') as f:
        for video in json.load(f).values():
            for obj in video['objects'].values():
                texts.append(obj['formated'])
                texts.append(_SAV_QUESTION.format(expression=obj['formated']))
    return summary['num_videos']


_OSPREY_FILES = {
    'osprey_conversation': ('conversation', 'Osprey-724K/osprey_conversation.json'),
    'osprey_description': ('description', 'Osprey-724K/osprey_detail_description.json'),
    'osprey_short': ('short_form', 'Osprey-724K/osprey_short_form.json'),
    'osprey_part': ('conversation', 'Osprey-724K/osprey_part_level.json'),
    'osprey_positive_negative': ('conversation',
                                 'Osprey-724K/osprey_lvis_positive_negative.json'),
}


def _write_osprey(root: str, seed: int, texts: List[str]) -> Dict[str, int]:
    """The five Osprey-724K sets, two images each, from the synthetic Osprey writer
    (its conversation file stands for the part-level and positive / negative ones, which
    share that layout); images in the first of COCO's four folders."""
    from desa2va_mm.synthetic.osprey_writer import (OSPREY_FILES, OSPREY_IMG_DIR,
                                                    make_synthetic_osprey)
    with tempfile.TemporaryDirectory() as tmp:
        make_synthetic_osprey(tmp, num_images=3, seed=seed, image_size=_IMAGE_SIZE,
                              val_fraction=0.3)
        shutil.copytree(osp.join(tmp, OSPREY_IMG_DIR), osp.join(root, 'coco', 'train2014'),
                        dirs_exist_ok=True)
        records = {}
        for kind, path in OSPREY_FILES.items():
            with open(osp.join(tmp, path), encoding='utf-8') as f:
                records[kind] = json.load(f)
    for folder in ('val2014', 'train2017', 'val2017'):
        os.makedirs(osp.join(root, 'coco', folder), exist_ok=True)
    for record in records['conversation'] + records['short_form']:
        texts.extend(m['value'] for m in record['conversations'])
    for record in records['description']:
        texts.extend(record['description'])
    counts = {}
    for name, (kind, ann_file) in _OSPREY_FILES.items():
        os.makedirs(osp.dirname(osp.join(root, ann_file)), exist_ok=True)
        _dump(osp.join(root, ann_file), records[kind])
        counts[name] = len(records[kind])
    return counts


def corpus_texts(texts: List[str]) -> List[str]:
    """The mix's texts plus the prompt / answer templates and chat roles, de-duplicated."""
    extra = [_QUESTION.format(expression=t) for t in texts[:50]]
    extra += [_VIDEO_QUESTION.format(expression=t) for t in texts[:20]]
    extra += list(_ANSWERS) + ['You are a helpful assistant.', 'system', 'user',
                               'assistant', 'What is in the image?', 'Describe the video.']
    seen, out = set(), []
    for text in list(texts) + extra:
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def write_mini_mix(root: str, seed: int = 0) -> MiniMixSummary:
    """Write the mini Sa2VA mix under ``<root>/data`` (see the module docstring).

    Args:
        root: The folder the configs' relative ``data/...`` paths start from (the
            rehearsal's work folder). Must not be the repository root: real data may be
            there.
        seed: Seed of every generator.

    Returns:
        MiniMixSummary.
    """
    data = osp.join(root, 'data')
    texts: List[str] = []
    family = _write_refcoco_family(osp.join(data, 'coco'), seed, texts)
    counts = dict(family['counts'])
    counts['llava'] = _write_llava(osp.join(data, 'llava'), seed, texts)
    counts['video_qa'] = _write_video_chat(osp.join(data, 'video_chat'), seed, texts)
    counts['mevis'] = _write_mevis(osp.join(data, 'mevis'), seed, texts)
    counts['revos'] = _write_revos(osp.join(data, 'revos'), seed, texts)
    counts['ref_ytvos'] = _write_ref_ytvos(osp.join(data, 'ref_ytvos'), seed, texts)
    counts.update(_write_gcg(osp.join(data, 'glamm_data'), seed, texts))
    counts['sav'] = _write_sav(osp.join(data, 'sav'), seed, texts)
    counts.update(_write_osprey(osp.join(data, 'osprey-724k'), seed, texts))
    return MiniMixSummary(data_root=data, train_samples=counts,
                          demo_image=family['demo_image'],
                          demo_expression=family['demo_expression'],
                          texts=corpus_texts(texts))

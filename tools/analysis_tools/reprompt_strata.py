"""Where re-prompting helps or hurts, and how rare words fare, for one DeSa2VA checkpoint.

Every test sentence is predicted twice from the same model: with ``test_cfg.reprompt_iters
= 0`` (the *initial* mask: fused text + visual, or visual alone without fusion) and with
``--reprompt-iters`` (default 1: the initial mask re-prompts the visual head, docs/method.md
§6). Three tables, per-sentence IoU against the ground truth:

* by the initial mask's IoU (bins ``< 0.3``, ``0.3-0.7``, ``>= 0.7``): does re-prompting a
  poor initial mask make it worse?
* by similar objects: how many other objects of the image share the target's colour or
  shape (0, 1, 2+; from the synthetic sidecar ``refcoco/synthetic_scenes.json``);
* per word, rarest in the training split first: mean IoU of the sentences using it.

Each row has the sentence count, the mean IoU initial -> re-prompted, their difference and
the share of sentences re-prompting improved / worsened by more than 0.01.

    python tools/analysis_tools/reprompt_strata.py configs/desa2va/desa2va_tiny_fusion.py \
        work_dirs/quickstart/fusion/iter_100.pth [--max-images 200] [--rare-words 12] \
        [--cfg-options test_dataloader.dataset.data_root=data/synthetic_refcoco/]
"""
import argparse
import json
import os.path as osp
import pickle
import sys
import time
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

IOU_BINS = (0.3, 0.7)
CHANGE_TOLERANCE = 0.01


# ------------------------------------------------------------------- pure statistics
def iou_bin_label(iou: float, edges: Sequence[float] = IOU_BINS) -> str:
    """``'< 0.3'``, ``'0.3-0.7'`` or ``'>= 0.7'`` (for the default edges)."""
    if iou < edges[0]:
        return f'< {edges[0]:g}'
    for low, high in zip(edges, edges[1:]):
        if iou < high:
            return f'{low:g}-{high:g}'
    return f'>= {edges[-1]:g}'


def stratum_row(initial: Sequence[float], reprompted: Sequence[float],
                tol: float = CHANGE_TOLERANCE) -> dict:
    """Summary of one stratum's per-sentence IoUs (the same sentences, in order).

    Returns:
        ``n``, ``initial`` / ``reprompted`` (mean IoU), ``delta`` (their difference),
        ``improved`` / ``worsened`` (share of sentences whose IoU moved by more than
        ``tol`` up / down).
    """
    if len(initial) != len(reprompted):
        raise ValueError(f'stratum_row: {len(initial)} initial and {len(reprompted)} '
                         're-prompted IoUs; they must be the same sentences')
    a, b = np.asarray(initial, float), np.asarray(reprompted, float)
    if not len(a):
        return dict(n=0, initial=float('nan'), reprompted=float('nan'), delta=float('nan'),
                    improved=float('nan'), worsened=float('nan'))
    return dict(n=len(a), initial=float(a.mean()), reprompted=float(b.mean()),
                delta=float((b - a).mean()), improved=float((b - a > tol).mean()),
                worsened=float((a - b > tol).mean()))


def stratify(keys: Sequence[str], initial: Sequence[float], reprompted: Sequence[float],
             order: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    """:func:`stratum_row` of the sentences of each key (``order``: the keys to list)."""
    groups: Dict[str, List[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    order = list(order) if order is not None else sorted(groups)
    return {k: stratum_row([initial[i] for i in groups.get(k, [])],
                           [reprompted[i] for i in groups.get(k, [])]) for k in order}


def rare_word_rows(sentences: Sequence[str], initial: Sequence[float],
                   reprompted: Sequence[float], train_counts: Counter,
                   num_words: int) -> List[Tuple[str, int, dict]]:
    """The ``num_words`` words of the test sentences rarest in training (ties: by word).

    Returns:
        ``(word, training count, stratum_row of the test sentences using it)`` each.
    """
    words = sorted({w for s in sentences for w in s.split()},
                   key=lambda w: (train_counts.get(w, 0), w))[:num_words]
    rows = []
    for word in words:
        idx = [i for i, s in enumerate(sentences) if word in s.split()]
        rows.append((word, train_counts.get(word, 0),
                     stratum_row([initial[i] for i in idx], [reprompted[i] for i in idx])))
    return rows


def similar_objects(objects: Sequence[dict], target: int) -> int:
    """Other objects sharing the target's colour or shape."""
    t = objects[target]
    return sum(1 for i, o in enumerate(objects)
               if i != target and (o['color'] == t['color'] or o['shape'] == t['shape']))


def format_rows(title: str, rows: Sequence[Tuple[str, dict]], key_header: str) -> str:
    lines = [title, f'| {key_header} | n | IoU initial | IoU re-prompted | Δ | improved | '
             'worsened |', '|---|---|---|---|---|---|---|']
    for key, r in rows:
        if r['n'] == 0:
            lines.append(f'| {key} | 0 | - | - | - | - | - |')
            continue
        lines.append(f"| {key} | {r['n']} | {r['initial']:.3f} | {r['reprompted']:.3f} | "
                     f"{r['delta']:+.3f} | {100 * r['improved']:.0f}% | "
                     f"{100 * r['worsened']:.0f}% |")
    return '\n'.join(lines)


# ----------------------------------------------------------------------- model runs
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Re-prompting stratified by the initial mask IoU and by similar '
        'objects, and per-word IoU of the rarest training words, for one checkpoint.')
    parser.add_argument('config', help='DeSa2VA image config (its test split is used)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--reprompt-iters', type=int, default=1,
                        help='re-prompting rounds of the second prediction (>= 1)')
    parser.add_argument('--max-images', type=int, default=0,
                        help='first N images of the test split (0: all)')
    parser.add_argument('--rare-words', type=int, default=12,
                        help='rarest training words listed')
    parser.add_argument('--out', default=None, help='also write the per-sentence IoUs (JSON)')
    parser.add_argument('--cfg-options', nargs='+', default=[], help='key=value overrides')
    args = parser.parse_args(argv)
    if args.reprompt_iters < 1:
        parser.error(f'--reprompt-iters must be >= 1, got {args.reprompt_iters}')
    return args


def _sentence_ious(sample) -> np.ndarray:
    from desa2va_mm.evaluation.metrics.referring_seg_metric import sentence_masks
    pred = sentence_masks(sample.pred_instances, sample.metainfo.get('img_path', '?'))
    gt = sample.metainfo['gt_masks'].to_tensor(pred.dtype, pred.device).bool()
    n = len(pred)
    inter = (pred & gt).reshape(n, -1).sum(-1).double()
    union = (pred | gt).reshape(n, -1).sum(-1).double()
    return np.where(union.numpy() > 0, (inter / union.clamp(min=1)).numpy(), 1.0)


def _scene_lookup(data_root: str):
    """``(image_id -> objects with their decoded masks)`` from the synthetic sidecar and
    instances.json, and the training split's word counts; ({}, Counter()) for other data."""
    scenes_file = osp.join(data_root, 'refcoco', 'synthetic_scenes.json')
    refs_file = osp.join(data_root, 'refcoco', 'refs(unc).p')
    counts: Counter = Counter()
    if osp.isfile(refs_file):
        with open(refs_file, 'rb') as f:
            for ref in pickle.load(f):
                if ref['split'] == 'train':
                    for sent in ref['sentences']:
                        counts.update(sent['sent'].split())
    if not osp.isfile(scenes_file):
        return {}, counts
    with open(scenes_file) as f:
        scenes = {s['image_id']: s['objects'] for s in json.load(f)['images']}
    return scenes, counts


def run(args) -> dict:
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner, load_checkpoint

    import desa2va_mm  # noqa: F401  (registers everything)
    from desa2va_mm.registry import MODELS
    from desa2va_mm.structures import decode_rle, rle_from_polygons
    from desa2va_mm.utils.checkpoint_safety import register_checkpoint_safe_globals

    cfg = Config.fromfile(args.config)
    for item in args.cfg_options:
        key, value = item.split('=', 1)
        cfg.merge_from_dict({key: value})
    init_default_scope('desa2va_mm')
    cfg.test_dataloader.num_workers = 0
    cfg.test_dataloader.persistent_workers = False
    if args.max_images:
        cfg.test_dataloader.dataset.indices = args.max_images
    model = MODELS.build(cfg.model)
    test_cfg = getattr(model.seg_head, 'test_cfg', None)
    if not isinstance(test_cfg, dict) or 'reprompt_iters' not in test_cfg:
        sys.exit(f'reprompt_strata: {args.config}: the seg head '
                 f'({type(model.seg_head).__name__}) has no test_cfg.reprompt_iters; use a '
                 'DeSa2VA config')
    register_checkpoint_safe_globals()
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    loader = Runner.build_dataloader(cfg.test_dataloader)
    data_root = cfg.test_dataloader.dataset.data_root
    scenes, train_counts = _scene_lookup(data_root)
    with open(osp.join(data_root, cfg.test_dataloader.dataset.ann_file)) as f:
        coco = json.load(f)
    anns: Dict[int, list] = {}
    for ann in coco['annotations']:
        anns.setdefault(ann['image_id'], []).append(ann)

    records = []
    start = time.time()
    for step, batch in enumerate(loader):
        outputs = {}
        for name, iters in (('initial', 0), ('reprompted', args.reprompt_iters)):
            model.seg_head.test_cfg['reprompt_iters'] = iters
            with torch.no_grad():
                outputs[name] = model.test_step(batch)
        for first, second in zip(outputs['initial'], outputs['reprompted']):
            ious_a, ious_b = _sentence_ious(first), _sentence_ious(second)
            img_id = first.metainfo.get('img_id')
            texts = first.metainfo.get('text', [])
            gts = first.metainfo['gt_masks'].to_ndarray().astype(bool)
            objects = scenes.get(img_id)
            for k, (a, b) in enumerate(zip(ious_a, ious_b)):
                similar = None
                if objects is not None:
                    # The target: the annotation whose mask is this sentence's ground truth.
                    h, w = gts.shape[1:]
                    overlaps = []
                    for ann in anns[img_id]:
                        seg = ann['segmentation']
                        rle = rle_from_polygons(seg, h, w) if isinstance(seg, list) else seg
                        overlaps.append((decode_rle(rle).astype(bool) & gts[k]).sum())
                    target_ann = anns[img_id][int(np.argmax(overlaps))]['id']
                    target = next(i for i, o in enumerate(objects) if o['ann_id'] == target_ann)
                    similar = similar_objects(objects, target)
                records.append(dict(img_id=img_id, text=texts[k] if k < len(texts) else '',
                                    initial=float(a), reprompted=float(b), similar=similar))
        if (step + 1) % 10 == 0:
            print(f'[reprompt_strata {time.time() - start:5.0f} s] {step + 1}/{len(loader)} '
                  'batches', flush=True)
    return dict(records=records, train_counts=train_counts)


def report(records: List[dict], train_counts: Counter, rare_words: int) -> str:
    initial = [r['initial'] for r in records]
    reprompted = [r['reprompted'] for r in records]
    parts = [format_rows('all sentences', [('all', stratum_row(initial, reprompted))], 'set')]
    labels = [iou_bin_label(v) for v in initial]
    order = [iou_bin_label(0.0), iou_bin_label(0.5), iou_bin_label(1.0)]
    parts.append(format_rows('by the initial mask IoU', list(
        stratify(labels, initial, reprompted, order).items()), 'initial IoU'))
    if all(r['similar'] is not None for r in records):
        keys = ['2+' if r['similar'] >= 2 else str(r['similar']) for r in records]
        parts.append(format_rows(
            'by other objects sharing the target\'s colour or shape',
            list(stratify(keys, initial, reprompted, ['0', '1', '2+']).items()), 'similar'))
    rows = rare_word_rows([r['text'] for r in records], initial, reprompted, train_counts,
                          rare_words)
    parts.append(format_rows('rarest training words (count in the training split)',
                             [(f'{w} ({c})', r) for w, c, r in rows], 'word'))
    return '\n\n'.join(parts)


def main(argv=None):
    args = parse_args(argv)
    out = run(args)
    text = report(out['records'], out['train_counts'], args.rare_words)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(out['records'], f)
    cmd = 'python tools/analysis_tools/reprompt_strata.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    print(f'\ncommand: {cmd}')


if __name__ == '__main__':
    main()

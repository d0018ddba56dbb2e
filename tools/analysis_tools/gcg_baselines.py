"""Score trivial grounded-caption (GCG) baselines with the config's own GCG metric.

Baselines, per test image, built from the training captions only:

* ``majority caption``: the most frequent training caption, no mask;
* ``majority caption + whole image``: the same caption with its phrases tagged, each
  phrase grounded to the whole image.

They bound what a model that does not look at the picture can reach: the caption metric
of a constant answer, and the mask metrics of masks that ignore where objects are.

    python tools/analysis_tools/gcg_baselines.py \
        configs/sa2va_gcg_test/sa2va_tiny_synthetic_gcg.py [--model-metrics WORK_DIR_OR_JSON]

With ``--model-metrics`` the model's scores (a ``tools/test.py`` log JSON, or the newest
one under a work dir) are printed beside the baselines.
"""
import argparse
import collections
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

KEYS = ('mask_AP', 'mIoU', 'recall', 'CIDEr')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config whose training captions, test dataset and '
                                       'GCG metric are used')
    parser.add_argument('--model-metrics', default=None,
                        help='tools/test.py log JSON (or a work dir holding one) to compare')
    parser.add_argument('--cfg-options', nargs='+', default=[], help='key=value overrides')
    return parser.parse_args()


def tagged(caption: str, instances: list) -> str:
    """``caption`` with each grounded phrase as ``<p> phrase </p> [SEG]`` (Sa2VA's answer)."""
    out, cursor = [], 0
    for inst in instances:
        start, end = inst['tokens_positive']
        out += [caption[cursor:start], f"<p> {caption[start:end]} </p> [SEG]"]
        cursor = end
    return ''.join(out + [caption[cursor:]])


def main():
    args = parse_args()
    import torch
    from desa2va_mm.registry import DATASETS, METRICS
    from tools.analysis_tools.trivial_baselines import config_with_options, model_scores

    cfg = config_with_options(args.config, args.cfg_options)
    if not cfg.get('train_dataloader'):
        sys.exit(f'gcg_baselines.py: {args.config} has no train_dataloader; the baselines '
                 'are built from its training captions')
    train_cfg = cfg.train_dataloader.dataset.copy()
    train_cfg.pipeline = []
    train = DATASETS.build(train_cfg)
    counts = collections.Counter(
        tagged(info['caption'], info['instances'])
        for info in (train.get_data_info(i) for i in range(len(train))))
    answer, times = counts.most_common(1)[0]
    print(f'majority training caption ({times} of {len(train)}): {answer!r}')
    test = DATASETS.build(cfg.test_dataloader.dataset)
    names = ('majority caption', 'majority caption + whole image')
    metrics = {n: METRICS.build(cfg.test_evaluator) for n in names}
    num_seg = answer.count('[SEG]')
    for idx in range(len(test)):
        sample = test[idx]['data_samples']
        h, w = sample.gt_masks.height, sample.gt_masks.width
        for name in names:
            seg = name.endswith('whole image')
            text = answer if seg else answer.replace(' [SEG]', '')
            masks = torch.ones((num_seg if seg else 1, h, w), dtype=torch.bool)
            metrics[name].process({}, [dict(
                img_path=sample.img_path, gt_masks=sample.gt_masks,
                gt_caption=sample.gt_caption, gt_phrases=sample.gt_phrases,
                pred_answers=[text], pred_instances=dict(masks=masks))])
    rows = [(n, metrics[n].compute_metrics(metrics[n].results)) for n in names]
    print(f'images={len(test)}')
    print(f"{'method':<34}" + ''.join(f'{k:>9}' for k in KEYS))
    for name, m in rows:
        print(f'{name:<34}' + ''.join(f'{m.get(k, float("nan")):9.2f}' for k in KEYS))
    if args.model_metrics:
        got = model_scores(args.model_metrics, KEYS)
        print(f"{'model':<34}" + ''.join(f'{got[k]:9.2f}' for k in KEYS))
        for k in KEYS:
            best = max(m.get(k, float('nan')) for _, m in rows)
            print(f'margin over the best baseline ({k}): {got[k] - best:+.2f} points')


if __name__ == '__main__':
    main()

"""Score constant-answer baselines of a multiple-choice test set with the config's metric.

Baselines, one answer for every question: each option letter (``A`` ... ``D``), and each
option text seen in the set (``blue``), scored by the config's own
``MultipleChoiceMetric`` (circular accuracy where the set has circular copies, and the
per-row accuracy). The best of them is what a model that ignores the picture (and the
question) can reach.

    python tools/analysis_tools/mcq_baselines.py configs/sa2va/sa2va_tiny_qa.py \
        [--model-metrics WORK_DIR_OR_JSON]

With ``--model-metrics`` the model's scores (a ``tools/test.py`` log JSON, or the newest one
under a work dir) are printed beside the baselines, with the margin over the best one.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

KEYS = ('accuracy', 'vanilla_accuracy')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='config whose test dataset and metric are used')
    parser.add_argument('--model-metrics', default=None,
                        help='tools/test.py log JSON (or a work dir holding one) to compare')
    parser.add_argument('--cfg-options', nargs='+', default=[], help='key=value overrides')
    return parser.parse_args()


def main():
    args = parse_args()
    from desa2va_mm.registry import DATASETS, METRICS
    from tools.analysis_tools.trivial_baselines import config_with_options, model_scores

    cfg = config_with_options(args.config, args.cfg_options)
    ds_cfg = cfg.test_dataloader.dataset.copy()
    ds_cfg.pipeline = []
    dataset = DATASETS.build(ds_cfg)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    letters = sorted({k for info in infos for k in info['choices']})
    texts = sorted({str(t) for info in infos for t in info['choices'].values() if t})
    answers = [(f'letter {k}', k) for k in letters] + [(f'text "{t}"', t) for t in texts]
    rows = []
    for name, answer in answers:
        metric = METRICS.build(cfg.test_evaluator)
        metric.process({}, [dict(question_id=info['question_id'], choices=info['choices'],
                                 gt_answer=info['gt_answer'], category=info.get('category'),
                                 circular_group=info.get('circular_group',
                                                         info['question_id']),
                                 pred_answers=[answer]) for info in infos])
        rows.append((name, metric.compute_metrics(metric.results)))
    print(f'rows={len(infos)}')
    print(f"{'constant answer':<24}" + ''.join(f'{k:>18}' for k in KEYS))
    for name, m in rows:
        print(f'{name:<24}' + ''.join(f'{m.get(k, m["accuracy"]):18.2f}' for k in KEYS))
    best = {k: max(m.get(k, m['accuracy']) for _, m in rows) for k in KEYS}
    print(f"{'best constant':<24}" + ''.join(f'{best[k]:18.2f}' for k in KEYS))
    if args.model_metrics:
        got = model_scores(args.model_metrics, KEYS)
        print(f"{'model':<24}" + ''.join(f'{got[k]:18.2f}' for k in KEYS))
        for k in KEYS:
            print(f'margin over the best constant ({k}): {got[k] - best[k]:+.2f} points')


if __name__ == '__main__':
    main()

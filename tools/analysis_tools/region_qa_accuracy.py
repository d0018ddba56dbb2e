"""Score region questions ("What is region1?") of a model against the majority answer.

Reads the held-out Osprey-layout file of the synthetic region sets
(``Osprey-724K/osprey_conversation_val.json``, written by
``tools/dataset_converters/make_synthetic_osprey.py``), asks the model each record's
question with its regions through ``DeSa2VAInferencer.chat(..., regions=...)`` (the
inference path a user takes), and prints exact-match accuracy, colour and shape accuracy,
and the trivial baseline: always giving the most frequent answer of the training file.

Example::

    python tools/analysis_tools/region_qa_accuracy.py configs/sa2va/sa2va_tiny_vp.py \
        work_dirs/sa2va_tiny_vp/iter_1500.pth --data-root data/synthetic_osprey
"""
import argparse
import collections
import json
import os.path as osp
import sys
import time
import warnings

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

VAL_FILE = 'Osprey-724K/osprey_conversation_val.json'
TRAIN_FILE = 'Osprey-724K/osprey_conversation.json'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Exact-match accuracy of region questions (visual prompts) on the '
        'held-out synthetic Osprey-layout file, beside the majority-answer baseline.')
    parser.add_argument('config', help='model config (e.g. configs/sa2va/sa2va_tiny_vp.py)')
    parser.add_argument('checkpoint', help='checkpoint (.pth); "none" for random weights')
    parser.add_argument('--data-root', default='data/synthetic_osprey',
                        help='root written by make_synthetic_osprey.py')
    parser.add_argument('--limit', type=int, default=None, help='score the first N records')
    parser.add_argument('--out', default=None, help='also write the scores as JSON here')
    return parser.parse_args(argv)


def normalise(answer: str) -> str:
    """Lower case, words only (the chat template's end marker and a final period dropped)."""
    words = answer.replace('<|im_end|>', ' ').replace('.', ' ').lower().split()
    return ' '.join(words)


def majority_answer(train_file: str) -> str:
    """The most frequent answer of the training conversations."""
    with open(train_file, encoding='utf-8') as f:
        records = json.load(f)
    counts = collections.Counter(normalise(m['value']) for r in records
                                 for m in r['conversations'] if m['from'] == 'gpt')
    return counts.most_common(1)[0][0]


def score(pairs) -> dict:
    """``pairs``: (predicted, expected) normalised answers ``'a <colour> <shape>'``."""
    def word(text, i):
        parts = text.split()
        return parts[i] if len(parts) > i else ''
    n = max(len(pairs), 1)
    return dict(exact=100.0 * sum(p == e for p, e in pairs) / n,
                colour=100.0 * sum(word(p, 1) == word(e, 1) for p, e in pairs) / n,
                shape=100.0 * sum(word(p, 2) == word(e, 2) for p, e in pairs) / n)


def best_constant(expected) -> dict:
    """The best score any constant answer reaches on ``expected`` per field, chosen with the
    held-out answers themselves: an upper bound on answers that ignore the region."""
    def best(values):
        counts = collections.Counter(values)
        return 100.0 * counts.most_common(1)[0][1] / len(values) if values else 0.0
    words = [e.split() + ['', '', ''] for e in expected]
    return dict(exact=best(list(expected)), colour=best([w[1] for w in words]),
                shape=best([w[2] for w in words]))


def main(argv=None) -> None:
    args = parse_args(argv)
    import numpy as np

    from desa2va_mm.apis import DeSa2VAInferencer
    from desa2va_mm.datasets.osprey_base_dataset import strip_angle_brackets
    from desa2va_mm.datasets.transforms.load_referring_masks import decode_segmentation
    val_file = osp.join(args.data_root, VAL_FILE)
    train_file = osp.join(args.data_root, TRAIN_FILE)
    for path in (val_file, train_file):
        if not osp.isfile(path):
            sys.exit(f'region_qa_accuracy.py: {path} does not exist; write it with '
                     f'tools/dataset_converters/make_synthetic_osprey.py --out '
                     f'{args.data_root}')
    with open(val_file, encoding='utf-8') as f:
        records = json.load(f)[:args.limit]
    weights = None if args.checkpoint == 'none' else args.checkpoint
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        inferencer = DeSa2VAInferencer(args.config, weights, device='cpu',
                                       show_progress=False)
    majority = majority_answer(train_file)
    pairs, baseline = [], []
    start = time.time()
    for i, record in enumerate(records):
        h, w = record['height'], record['width']
        masks = np.stack([decode_segmentation(a['segmentation'], h, w, f'{val_file}: {i}')
                          for a in record['annotation']]) != 0
        question = strip_angle_brackets(record['conversations'][0]['value'])
        expected = normalise(record['conversations'][1]['value'])
        reply = inferencer.chat(osp.join(args.data_root, 'images', record['file_name']),
                                question, regions=masks)
        pairs.append((normalise(reply['answer']), expected))
        baseline.append((majority, expected))
        if (i + 1) % 25 == 0 or i + 1 == len(records):
            print(f'[{i + 1}/{len(records)}] {time.time() - start:.0f} s', flush=True)
    model, trivial = score(pairs), score(baseline)
    oracle = best_constant([e for _, e in pairs])
    print(f'\nregion questions ({len(records)} held-out records, {val_file})')
    print(f'{"":<28}{"exact":>8}{"colour":>8}{"shape":>8}')
    print(f'{"model":<28}' + ''.join(f'{model[k]:8.1f}' for k in ('exact', 'colour', 'shape')))
    print(f'{"majority answer " + repr(majority):<28}' +
          ''.join(f'{trivial[k]:8.1f}' for k in ('exact', 'colour', 'shape')))
    print(f'{"best constant per field":<28}' +
          ''.join(f'{oracle[k]:8.1f}' for k in ('exact', 'colour', 'shape')))
    print('examples: ' + '; '.join(f'{p!r} (expected {e!r})' for p, e in pairs[:5]))
    print('command: python tools/analysis_tools/region_qa_accuracy.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv))
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(dict(model=model, majority=trivial, best_constant=oracle,
                           majority_answer=majority,
                           records=len(records)), f, indent=1)


if __name__ == '__main__':
    main()

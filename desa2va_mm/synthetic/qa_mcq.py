"""Multiple-choice questions about synthetic scenes, as an MMBench TSV or LLaVA training data.

"What colour is the square?" with four colour options, asked about a shape that occurs
once in its image, so the right letter is known. Each question is written once per
rotation of its options when ``circular`` is set (MMBench's circular copies:
``index + k * 1e6``, options shifted by ``k``), so circular scoring can be exercised.
The same questions, on other images, train a model in LLaVA's layout
(:func:`write_mcq_llava`): the user turn is the prompt the MMBench dataset builds, the
answer the option's letter and text ("B. blue").
Standard library, NumPy and OpenCV only, like the rest of this package.
"""
import base64
import csv
import json
import os
import os.path as osp
import string
from typing import Dict, List, Optional

import cv2
import numpy as np

from .images import generate_image
from .vocabulary import COLORS

#: The TSV's columns (MMBench's layout; docs/qa_eval.md).
TSV_COLUMNS = ('index', 'question', 'hint', 'A', 'B', 'C', 'D', 'answer', 'category',
               'l2-category', 'split', 'image')
#: MMBench's circular copies carry ``index + k * CIRCULAR_STRIDE``.
CIRCULAR_STRIDE = 1_000_000
_NUM_OPTIONS = 4
#: VLMEvalKit's multiple-choice instruction (``desa2va_mm.datasets.mmbench_dataset`` appends
#: the same line to every MMBench prompt; a test pins the two).
MCQ_INSTRUCTION = "Answer with the option's letter from the given choices directly."
#: Words of these prompts and answers outside the synthetic RefCOCO vocabulary: a word-level
#: tokenizer that reads them needs them (``TinyWordTokenizer(words=MCQ_WORDS)``).
MCQ_WORDS = ('answer', 'b', 'c', 'choices', 'colour', 'd', 'directly', 'from', 'given',
             'letter', 'option', 's')
# Its own random stream: a question set is the same whatever else the seed generates.
_STREAM_MCQ = 7


def mcq_rows(seed: int = 0, num_questions: int = 8, image_size: int = 128,
             circular: bool = False) -> List[Dict[str, str]]:
    """The rows of a synthetic MMBench TSV.

    Args:
        seed: Seed of the images (:func:`generate_image`) and of the options.
        num_questions: Questions to write (one per image; images with no shape that
            occurs once are skipped).
        image_size: Side of the square images in pixels.
        circular: Also write each question's circular copies (options rotated by 1, 2, 3).

    Returns:
        One dict per row, keyed by :data:`TSV_COLUMNS` (the image as base64 PNG; a
        circular copy's ``image`` is its original's ``index``).
    """
    if num_questions < 1:
        raise ValueError(f'num_questions must be >= 1, got {num_questions}')
    rng = np.random.default_rng([int(seed), _STREAM_MCQ])
    colours = sorted(COLORS)
    rows: List[Dict[str, str]] = []
    image_index = 0
    while len([r for r in rows if int(r['index']) < CIRCULAR_STRIDE]) < num_questions:
        sample = generate_image(seed, image_index, image_size)
        image_index += 1
        shapes = [o.shape for o in sample.scene.objects]
        unique = [o for o in sample.scene.objects if shapes.count(o.shape) == 1]
        if not unique:
            continue
        target = unique[int(rng.integers(len(unique)))]
        distractors = [c for c in colours if c != target.color]
        options = [target.color] + list(rng.choice(distractors, _NUM_OPTIONS - 1,
                                                   replace=False))
        options = [str(options[i]) for i in rng.permutation(_NUM_OPTIONS)]
        ok, png = cv2.imencode('.png', sample.image)
        if not ok:
            raise RuntimeError('OpenCV could not encode a synthetic image as PNG')
        index = len([r for r in rows if int(r['index']) < CIRCULAR_STRIDE])
        for k in range(_NUM_OPTIONS if circular else 1):
            rotated = options[k:] + options[:k]
            letters = string.ascii_uppercase[:_NUM_OPTIONS]
            rows.append({
                'index': str(index + k * CIRCULAR_STRIDE),
                'question': f'What colour is the {target.shape}?',
                'hint': '',
                **dict(zip(letters, rotated)),
                'answer': letters[rotated.index(target.color)],
                'category': 'attribute_recognition',
                'l2-category': 'finegrained_perception',
                'split': 'dev',
                'image': base64.b64encode(png.tobytes()).decode('ascii') if k == 0
                else str(index)})
    return rows


def write_mcq_tsv(path: str, seed: int = 0, num_questions: int = 8, image_size: int = 128,
                  circular: bool = False, rows: Optional[List[Dict[str, str]]] = None) -> str:
    """Write :func:`mcq_rows` (or ``rows``) as a tab-separated file with a header line.

    Returns:
        ``path``.
    """
    rows = rows if rows is not None else mcq_rows(seed, num_questions, image_size, circular)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, 'w', encoding='utf-8', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=TSV_COLUMNS, delimiter='\t',
                                lineterminator='\n')
        writer.writeheader()
        writer.writerows(rows)
    return path


def mcq_prompt(row: Dict[str, str]) -> str:
    """The user turn of a row, as the MMBench dataset builds it (no hint line here).

    ``question``, then ``A. <option>`` ... one line per option, then
    :data:`MCQ_INSTRUCTION`, joined by newlines.
    """
    letters = string.ascii_uppercase[:_NUM_OPTIONS]
    return '\n'.join([row['question']] + [f'{k}. {row[k]}' for k in letters] +
                      [MCQ_INSTRUCTION])


def write_mcq_llava(out_dir: str, seed: int = 0, num_questions: int = 400,
                    image_size: int = 128, circular: bool = True,
                    ann_file: str = 'synthetic_mcq_train.json') -> Dict[str, int]:
    """Write :func:`mcq_rows` as LLaVA-layout training data (``LLaVAQADataset``).

    ``<out_dir>/images/<index>.png`` holds each question's image and ``<out_dir>/<ann_file>``
    one record per row: ``{"id", "image": "images/<index>.png", "conversations": [
    {"from": "human", "value": "<image>\n" + mcq_prompt(row)}, {"from": "gpt",
    "value": "<letter>. <option>"}]}``. With ``circular`` each image is asked four times,
    the options rotated, so the letter of the right colour varies.

    Use another ``seed`` than the evaluation TSV's: the images are then disjoint.

    Returns:
        ``{'questions': ..., 'records': ...}``.
    """
    rows = mcq_rows(seed, num_questions, image_size, circular)
    os.makedirs(osp.join(out_dir, 'images'), exist_ok=True)
    records = []
    for row in rows:
        index = int(row['index'])
        image_index = index % CIRCULAR_STRIDE
        if index < CIRCULAR_STRIDE:
            with open(osp.join(out_dir, 'images', f'{image_index}.png'), 'wb') as f:
                f.write(base64.b64decode(row['image']))
        records.append(dict(
            id=row['index'], image=f'images/{image_index}.png',
            conversations=[
                {'from': 'human', 'value': '<image>\n' + mcq_prompt(row)},
                {'from': 'gpt', 'value': f"{row['answer']}. {row[row['answer']]}"}]))
    with open(osp.join(out_dir, ann_file), 'w', encoding='utf-8') as f:
        json.dump(records, f)
    return dict(questions=num_questions, records=len(records))


def main(argv: Optional[List[str]] = None) -> None:
    """``python -m desa2va_mm.synthetic.qa_mcq --out data/synthetic_mcq/synthetic_mcq.tsv``"""
    import argparse
    parser = argparse.ArgumentParser(
        description='Write multiple-choice colour questions about synthetic scenes as an '
                    'MMBench TSV (configs/sa2va_qa_test/sa2va_tiny_synthetic_mmbench.py '
                    'reads data/synthetic_mcq/synthetic_mcq.tsv).')
    parser.add_argument('--out', default='data/synthetic_mcq/synthetic_mcq.tsv',
                        help='TSV path (folders are created)')
    parser.add_argument('--num-questions', type=int, default=8, help='questions (images)')
    parser.add_argument('--seed', type=int, default=0, help='seed of images and options')
    parser.add_argument('--image-size', type=int, default=128, help='image side in pixels')
    parser.add_argument('--circular', action='store_true',
                        help="also write each question's circular copies (options rotated)")
    parser.add_argument('--llava', action='store_true',
                        help='write LLaVA-layout training data instead: --out is a folder '
                             '(images/ and synthetic_mcq_train.json; '
                             'configs/sa2va/sa2va_tiny_qa.py reads data/synthetic_mcq_train)')
    args = parser.parse_args(argv)
    if args.llava:
        counts = write_mcq_llava(args.out, args.seed, args.num_questions, args.image_size,
                                 args.circular)
        print(f"{counts['records']} training records ({counts['questions']} images) "
              f'written to {args.out}')
        return
    rows = mcq_rows(args.seed, args.num_questions, args.image_size, args.circular)
    write_mcq_tsv(args.out, rows=rows)
    print(f'{len(rows)} rows ({args.num_questions} questions) written to {args.out}')


if __name__ == '__main__':
    main()

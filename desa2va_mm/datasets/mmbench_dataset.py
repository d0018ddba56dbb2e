"""MMBench (and any benchmark in its TSV layout): multiple-choice questions on images."""
import base64
import csv
import os.path as osp
import string
import sys
from typing import Dict, List, Optional

import mmcv
import numpy as np
from mmdet.datasets import BaseDetDataset

from desa2va_mm.registry import DATASETS
from .transforms.build_referring_conversation import IMAGE_PLACEHOLDER

#: The instruction VLMEvalKit appends to every English multiple-choice prompt (Sa2VA's
#: evaluation wrapper uses the same; docs/qa_eval.md).
MCQ_INSTRUCTION = "Answer with the option's letter from the given choices directly."
#: MMBench's circular copies carry ``index = original index + k * 1e6`` (k = 1..n-1).
CIRCULAR_STRIDE = 1_000_000
#: An ``image`` cell at most this long is the ``index`` of the row holding the image
#: (MMBench's circular copies share their original's image this way).
_IMAGE_REFERENCE_MAX_LEN = 64


def _blank(value: Optional[str]) -> bool:
    return value is None or value.strip() == '' or value.strip().lower() == 'nan'


def build_mcq_prompt(question: str, options: Dict[str, str], hint: Optional[str] = None) -> str:
    """The multiple-choice prompt of VLMEvalKit-style evaluation.

    ``<hint>\\n<question>\\nA. <option A>\\nB. <option B>...\\n<instruction>``; the hint line
    only when the benchmark gives one.

    Args:
        question: The question text.
        options: Letter -> option text, in letter order.
        hint: Context given with the question (MMBench's ``hint`` column), or None.

    Returns:
        The user turn's text (without the image placeholder).
    """
    lines = [hint.strip()] if hint and hint.strip() else []
    lines.append(question.strip())
    lines += [f'{letter}. {text}' for letter, text in options.items()]
    lines.append(MCQ_INSTRUCTION)
    return '\n'.join(lines)


def mcq_test_item(*, img_id: int, question_id: str, prompt: str, options: Dict[str, str],
                  answer: str, category: str, circular_group: str, **extra) -> dict:
    """One test item of a multiple-choice benchmark, in the layout of the QA test pipeline
    (``prompts`` answered by the model; the rest is packed as metainfo for
    :class:`~desa2va_mm.evaluation.MultipleChoiceMetric`)."""
    return dict(img_id=img_id, question_id=question_id, prompt=prompt,
                prompts=[[{'user': f'{IMAGE_PLACEHOLDER}\n{prompt}', 'assistant': None}]],
                choices=dict(options), gt_answer=answer, category=category,
                circular_group=circular_group, text=[], instances=[], **extra)


@DATASETS.register_module()
class MMBenchDataset(BaseDetDataset):
    """MMBench's TSV (``MMBench_DEV_EN.tsv``; VLMEvalKit's layout, also used by
    SEEDBench_IMG, MMStar, AI2D, ...), test only.

    Columns: ``index``, ``question``, ``hint`` (optional), one column per option letter
    (``A`` .. ``D``, blank when a question has fewer), ``answer`` (a letter; absent in test
    splits), ``category`` (and ``l2-category``), ``image`` (base64 JPEG/PNG, or for a
    circular copy the ``index`` of the row that holds the image) or ``image_path``
    (relative to ``data_prefix['img_path']``). Rows whose ``index`` is at least 1e6 are
    MMBench's circular copies (options rotated); ``circular_group`` (``index mod 1e6``)
    ties them to their original for circular scoring.

    Items carry ``img`` (decoded, BGR; load with ``LoadImageFromNDArray``) or ``img_path``,
    ``prompts`` (one user turn: the image, then :func:`build_mcq_prompt`), and the metainfo
    ``question_id``, ``prompt``, ``choices``, ``gt_answer``, ``category``,
    ``l2_category``, ``circular_group``.

    Args:
        ann_file: The TSV (path relative to ``data_root``).
        data_prefix: ``dict(img_path=...)`` for TSVs with an ``image_path`` column.
        **kwargs: ``BaseDataset`` arguments (``pipeline``, ``test_mode``, ...).
    """

    METAINFO: dict = dict()

    def __init__(self, *args, data_prefix: Optional[dict] = None, **kwargs) -> None:
        data_prefix = dict(dict(img_path=''), **(data_prefix or {}))
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    def _read_rows(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'{type(self).__name__}: annotation file {self.ann_file} '
                                    f'does not exist (data_root={self.data_root!r}); see '
                                    f'docs/qa_eval.md')
        # Base64 images exceed the csv module's 128 KiB default field size.
        csv.field_size_limit(sys.maxsize)
        with open(self.ann_file, encoding='utf-8', newline='') as f:
            rows = list(csv.DictReader(f, delimiter='\t'))
        if not rows:
            raise ValueError(f'{self.ann_file}: no row')
        missing = {'index', 'question'} - set(rows[0])
        if missing or not ({'image', 'image_path'} & set(rows[0])):
            raise ValueError(f'{self.ann_file}: columns {sorted(rows[0])} lack '
                             f"{sorted(missing) or ['image or image_path']} (expected "
                             'the MMBench TSV layout: index, question, A..D, answer, '
                             'category, image)')
        return rows

    def load_data_list(self) -> List[dict]:
        rows = self._read_rows()
        data_list = []
        for idx, row in enumerate(rows):
            where = f'{self.ann_file}: row {idx + 2} (index {row.get("index")})'
            try:
                index = int(float(row['index']))
            except ValueError:
                raise ValueError(f'{where}: index must be an integer') from None
            options = {c: row[c].strip() for c in string.ascii_uppercase
                       if c in row and not _blank(row[c])}
            if len(options) < 2:
                raise ValueError(f'{where}: fewer than two options in columns A..Z')
            answer = (row.get('answer') or '').strip()
            if answer and answer not in options:
                raise ValueError(f'{where}: answer {answer!r} is not one of the options '
                                 f'{sorted(options)}')
            hint = None if _blank(row.get('hint')) else row['hint']
            prompt = build_mcq_prompt(row['question'], options, hint)
            item = mcq_test_item(
                img_id=idx, question_id=str(index), prompt=prompt, options=options,
                answer=answer, category=(row.get('category') or '').strip(),
                circular_group=str(index % CIRCULAR_STRIDE),
                l2_category=(row.get('l2-category') or '').strip())
            if not _blank(row.get('image')):
                item['image_b64'] = row['image']
                item['img_path'] = f'{osp.basename(self.ann_file)}#index={index}'
            elif not _blank(row.get('image_path')):
                item['img_path'] = osp.join(self.data_prefix['img_path'], row['image_path'])
            else:
                raise ValueError(f'{where}: neither an image nor an image_path')
            data_list.append(item)
        # Circular copies point at their original's image by index.
        by_index = {item['question_id']: item for item in data_list}
        for item in data_list:
            ref = item.get('image_b64')
            if ref is not None and len(ref) <= _IMAGE_REFERENCE_MAX_LEN:
                target = by_index.get(str(int(float(ref)))) if ref.strip().replace(
                    '.', '', 1).isdigit() else None
                if target is None or len(target.get('image_b64', '')) <= \
                        _IMAGE_REFERENCE_MAX_LEN:
                    raise ValueError(f'{self.ann_file}: index {item["question_id"]}: image '
                                     f'{ref!r} names no row holding an image')
                item['image_b64'] = target['image_b64']
        return data_list

    def get_data_info(self, idx: int) -> dict:
        """The item, with its base64 image decoded to ``img`` (H, W, 3) uint8 BGR (decoded
        here, per item, so the serialised list holds the compact text)."""
        info = super().get_data_info(idx)
        encoded = info.pop('image_b64', None)
        if encoded is not None:
            try:
                img = mmcv.imfrombytes(base64.b64decode(encoded), flag='color')
            except Exception as err:  # binascii.Error, cv2 errors
                raise ValueError(f'{info["img_path"]}: the image column is not a base64 '
                                 f'image ({err})') from err
            if img is None:
                raise ValueError(f'{info["img_path"]}: the image column does not decode '
                                 f'to an image')
            info['img'] = np.ascontiguousarray(img)
            info['ori_shape'] = img.shape[:2]
        return info

"""SEED-Bench (image dimensions): multiple-choice questions from its official JSON."""
import os.path as osp
from typing import List, Optional

import mmengine
from mmdet.datasets import BaseDetDataset

from desa2va_mm.registry import DATASETS
from .mmbench_dataset import build_mcq_prompt, mcq_test_item

_LETTERS = ('A', 'B', 'C', 'D')
_IMAGE_EXTS = ('', '.jpg', '.jpeg', '.png')


@DATASETS.register_module()
class SEEDBenchDataset(BaseDetDataset):
    """SEED-Bench's ``SEED-Bench.json`` and ``SEED-Bench-image/``, image questions only
    (``data_type == 'image'``: dimensions 1-9), test only.

    The JSON: ``{"questions": [{"question", "choice_a" .. "choice_d", "answer" (a letter),
    "data_id" (the image file, with or without its extension), "data_type",
    "question_id", "question_type_id"}, ...], "question_type": {name: id}}``. Options
    become letters A-D and the prompt is :func:`build_mcq_prompt`'s (the letter-answer
    protocol of VLMEvalKit's SEEDBench_IMG, which Sa2VA reports, not SEED-Bench's own
    likelihood ranking). ``category`` is the dimension's name.

    Args:
        ann_file: The JSON (path relative to ``data_root``).
        data_prefix: ``dict(img_path='SEED-Bench-image/')``.
        **kwargs: ``BaseDataset`` arguments (``pipeline``, ``test_mode``, ...).
    """

    METAINFO: dict = dict()

    def __init__(self, *args, data_prefix: Optional[dict] = None, **kwargs) -> None:
        data_prefix = dict(dict(img_path=''), **(data_prefix or {}))
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    def _image(self, data_id: str, where: str) -> str:
        base = osp.join(self.data_prefix['img_path'], data_id)
        for ext in _IMAGE_EXTS:
            if osp.isfile(base + ext):
                return base + ext
        raise FileNotFoundError(f'{where}: image {base}{{,.jpg,.png}} does not exist '
                                f'(SEED-Bench-image/ from the release; docs/qa_eval.md)')

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'{type(self).__name__}: annotation file {self.ann_file} '
                                    f'does not exist (data_root={self.data_root!r}); see '
                                    f'docs/qa_eval.md')
        content = mmengine.load(self.ann_file, file_format='json')
        if not isinstance(content, dict) or 'questions' not in content:
            raise ValueError(f'{self.ann_file}: expected {{"questions": [...], '
                             f'"question_type": {{...}}}} (SEED-Bench.json)')
        names = {int(v): k for k, v in (content.get('question_type') or {}).items()}
        data_list = []
        for idx, q in enumerate(content['questions']):
            if q.get('data_type', 'image') != 'image':
                continue
            where = f'{self.ann_file}: question {idx} (question_id {q.get("question_id")})'
            missing = [k for k in ('question', 'choice_a', 'choice_b', 'data_id') if k not in q]
            if missing:
                raise ValueError(f'{where}: missing keys {missing}')
            options = {letter: str(q[f'choice_{letter.lower()}']).strip() for letter in _LETTERS
                       if q.get(f'choice_{letter.lower()}') not in (None, '')}
            answer = str(q.get('answer', '')).strip()
            if answer and answer not in options:
                raise ValueError(f'{where}: answer {answer!r} is not one of {sorted(options)}')
            qid = str(q.get('question_id', idx))
            type_id = q.get('question_type_id')
            item = mcq_test_item(
                img_id=len(data_list), question_id=qid,
                prompt=build_mcq_prompt(str(q['question']), options), options=options,
                answer=answer, category=names.get(int(type_id), str(type_id))
                if type_id is not None else '', circular_group=qid)
            item['img_path'] = self._image(str(q['data_id']), where)
            data_list.append(item)
        if not data_list:
            raise ValueError(f'{self.ann_file}: no image question (data_type "image")')
        return data_list

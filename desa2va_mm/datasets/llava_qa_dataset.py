"""LLaVA-style instruction data (images and videos): language-model loss only."""
import os.path as osp
from typing import List, Optional, Tuple

import mmengine
from mmdet.datasets import BaseDetDataset
from mmengine.logging import print_log

from desa2va_mm.registry import DATASETS
from .transforms.build_referring_conversation import IMAGE_PLACEHOLDER

VIDEO_PLACEHOLDER = '<video>'
#: Strings that the tokenizer turns into special tokens inside an answer (answers are
#: tokenised with special-token matching on, so the ``[SEG]`` of referring answers works).
_RESERVED = ('[SEG]', '<IMG_CONTEXT>', '<img>', '</img>')
_USER_ROLES = ('human', 'user')
_ASSISTANT_ROLES = ('gpt', 'assistant')


@DATASETS.register_module()
class LLaVAQADataset(BaseDetDataset):
    """Question answering from LLaVA-format JSON (``llava_v1_5_mix665k.json``, video chat).

    Each record: ``{"id": ..., "image": "coco/train2017/x.jpg" | "video": "clip.mp4" or a
    frame folder, "conversations": [{"from": "human", "value": "<image>\\nQ"},
    {"from": "gpt", "value": "A"}, ...]}``. ``<video>`` is read as ``<image>`` (the frames'
    tiles stand where the image's would); a record whose image placeholder is missing gets
    it in front of its first question, as LLaVA's preprocessing does.

    Training items carry ``conversation`` (all turns; only the answers are supervised by
    ``TokenizeConversation``), ``text=[]`` and ``instances=[]``: no ``[SEG]``, no mask, so
    the model's zero-weighted mask path keeps the graph identical on every rank. Test
    items carry ``prompts`` (the first question only), ``prompt`` (its text) and
    ``question_id`` for :class:`~desa2va_mm.evaluation.QAAnswerWriter`.

    Skipped with one logged count each (never silently): records without an image or
    video (text-only chat: the model reads one image per sample) and records whose answers
    contain reserved tokens (``[SEG]``, ``<IMG_CONTEXT>``, ...), which would create a
    ``[SEG]`` without a mask.

    Args:
        ann_file: The JSON list (path relative to ``data_root``).
        data_prefix: ``dict(img_path=..., video_path=...)``: folders the records' relative
            ``image`` / ``video`` paths start from.
        **kwargs: ``BaseDataset`` arguments (``pipeline``, ``test_mode``, ...).
    """

    METAINFO: dict = dict()

    def __init__(self, *args, data_prefix: Optional[dict] = None, **kwargs) -> None:
        data_prefix = dict(dict(img_path='', video_path=''), **(data_prefix or {}))
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    def _turns(self, record: dict, where: str) -> List[Tuple[str, Optional[str]]]:
        convs = record.get('conversations')
        if not isinstance(convs, list) or not convs:
            raise ValueError(f'{where}: no "conversations" list')
        turns: List[Tuple[str, Optional[str]]] = []
        for i in range(0, len(convs), 2):
            user = convs[i]
            if user.get('from') not in _USER_ROLES:
                raise ValueError(f"{where}: message {i} should come from the user, got "
                                 f"{user.get('from')!r}")
            answer = None
            if i + 1 < len(convs):
                if convs[i + 1].get('from') not in _ASSISTANT_ROLES:
                    raise ValueError(f'{where}: message {i + 1} should come from the '
                                     f"assistant, got {convs[i + 1].get('from')!r}")
                answer = str(convs[i + 1].get('value', ''))
            turns.append((str(user.get('value', '')), answer))
        return turns

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'{type(self).__name__}: annotation file {self.ann_file} '
                                    f'does not exist (data_root={self.data_root!r}); see '
                                    f'docs/dataset_prepare.md')
        records = mmengine.load(self.ann_file, file_format='json')
        if not isinstance(records, list):
            raise ValueError(f'{self.ann_file}: expected a JSON list of records')
        data_list, text_only, reserved = [], 0, 0
        for idx, record in enumerate(records):
            qid = str(record.get('id', record.get('question_id', idx)))
            where = f'{self.ann_file}: record {idx} (id {qid})'
            if record.get('image'):
                modality, key, prefix = 'image', 'img_path', self.data_prefix['img_path']
                path = record['image']
            elif record.get('video'):
                modality, key, prefix = 'video', 'video_path', self.data_prefix['video_path']
                path = record['video']
            else:
                text_only += 1
                continue
            if not isinstance(path, str):
                raise ValueError(f'{where}: "{modality}" must be one path, got '
                                 f'{type(path).__name__} (multi-image records are not '
                                 f'supported)')
            turns = self._turns(record, where)
            if any(a is not None and any(r in a for r in _RESERVED) for _, a in turns):
                reserved += 1
                continue
            turns = [(u.replace(VIDEO_PLACEHOLDER, IMAGE_PLACEHOLDER), a) for u, a in turns]
            if sum(u.count(IMAGE_PLACEHOLDER) for u, _ in turns) > 1:
                raise ValueError(f'{where}: more than one {IMAGE_PLACEHOLDER} placeholder')
            # LLaVA puts the image first, whatever the record's own placement.
            first = turns[0][0].replace(IMAGE_PLACEHOLDER, '').strip()
            turns[0] = (f'{IMAGE_PLACEHOLDER}\n{first}', turns[0][1])
            turns = [turns[0]] + [(u.replace(IMAGE_PLACEHOLDER, '').strip(), a)
                                  for u, a in turns[1:]]
            item = {key: osp.join(prefix, path), 'img_id': idx, 'question_id': qid,
                    'modality': modality, 'text': [], 'instances': []}
            if modality == 'video':
                item['img_path'] = item['video_path']  # named in errors and results
            if self.test_mode:
                item['prompts'] = [[{'user': turns[0][0], 'assistant': None}]]
                item['prompt'] = first
                item['gt_answer'] = turns[0][1]
            else:
                turns = [(u, a) for u, a in turns if a is not None]
                if not turns:
                    raise ValueError(f'{where}: no answer to learn from')
                item['conversation'] = [{'user': u, 'assistant': a} for u, a in turns]
            data_list.append(item)
        if text_only or reserved:
            print_log(f'{type(self).__name__}: {self.ann_file}: skipped {text_only} text-only '
                      f'records and {reserved} records whose answers contain reserved tokens '
                      f'{list(_RESERVED)}', logger='current')
        if not data_list:
            raise ValueError(f'{self.ann_file}: no usable record')
        return data_list

"""What the Osprey-724K region datasets share (docs/visual_prompts.md).

Osprey's JSON files are lists of image records::

    {"file_name": "COCO_train2014_000000000009.jpg", "height": 480, "width": 640,
     "annotation": [{"segmentation": <COCO polygons | RLE>, "bbox": [...], ...}, ...],
     "conversations": [{"from": "human", "value": "<image>\\nWhat is <region1>?"},
                       {"from": "gpt", "value": "..."}, ...]}

(the detailed-description file has ``"description": [one text per region]`` instead of
``conversations``). Every reader turns a record into the same data item::

    dict(img_path, img_id, region_segmentations=[one per region],
         conversation=[dict(user, assistant), ...], text=[...], instances=[...])

The first user turn is ``<image>\\n<regions>`` + the question: the image placeholder, then
the region placeholder that ``TokenizeConversation`` expands to Sa2VA's
``There are R part regions in the picture: region1<vp>...</vp>, ...`` line; ``<`` and
``>`` are removed from the record's own texts as Sa2VA does (``<region1>`` is read as
``region1``). :class:`~desa2va_mm.datasets.transforms.LoadRegionPrompts` decodes the
regions into ``prompt_masks``.

Our extension (not in Osprey's files): an answer may hold ``[SEG]`` tokens; the record
then lists ``"targets": [{"segmentation": ...}, ...]``, one per ``[SEG]`` in answer order,
which become ``instances`` (ground-truth masks) and ``text`` (each target's
``"expression"``, DeSa2VA's text anchor). This is how "segment the object like region1"
trains.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import mmengine
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from desa2va_mm.structures import REGION_PLACEHOLDER
from .transforms.build_referring_conversation import IMAGE_PLACEHOLDER

__all__ = ['BaseOspreyDataset']

_SEG = '[SEG]'
_USER_ROLES = ('human', 'user')
_ASSISTANT_ROLES = ('gpt', 'assistant')


def strip_angle_brackets(text: str) -> str:
    """Sa2VA reads Osprey's ``<region1>`` as ``region1``: it drops every ``<`` and ``>``."""
    return str(text).replace(IMAGE_PLACEHOLDER, '').replace('<', '').replace('>', '').strip()


class BaseOspreyDataset(BaseDataset):
    """Osprey-layout region records -> data items with region prompts (see the module).

    Subclasses say how a record's question / answer turns are made (:meth:`turns`).

    Records without any region are skipped with one logged count (Sa2VA falls back to
    another sample for them); malformed records are errors naming the file and record.

    Args:
        ann_file: The JSON list (path relative to ``data_root``).
        data_prefix: ``dict(img_path=...)``: the folder the records' ``file_name`` start
            from.
        image_folders: Several folders instead (relative to ``data_root``), searched in
            order, as Sa2VA reads Osprey's COCO images (``coco/train2014/``,
            ``coco/val2014/``, ``coco/train2017/``, ``coco/val2017/``); each is listed
            once. Records whose image is in none are skipped with a logged count.
        **kwargs: ``BaseDataset`` arguments (``pipeline``, ``test_mode``, ...).
    """

    METAINFO: dict = dict()

    def __init__(self, *args, data_prefix: dict = None,
                 image_folders: Optional[Sequence[str]] = None, **kwargs) -> None:
        data_prefix = dict(dict(img_path=''), **(data_prefix or {}))
        self.image_folders = list(image_folders or [])
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    def _folder_index(self) -> Dict[str, str]:
        """File name -> the first of ``image_folders`` that holds it."""
        index: Dict[str, str] = {}
        for folder in self.image_folders:
            path = osp.join(self.data_root, folder)
            if not osp.isdir(path):
                raise FileNotFoundError(f'{type(self).__name__}: image folder {path} does not '
                                        'exist (image_folders); see docs/visual_prompts.md')
            for name in os.listdir(path):
                index.setdefault(name, path)
        return index

    def turns(self, record: dict, num_regions: int, where: str) -> List[Tuple[str, str]]:
        """The record's ``(question, answer)`` turns, texts as they should be read."""
        raise NotImplementedError

    @staticmethod
    def conversation_turns(record: dict, where: str, suffix: str = '') -> List[Tuple[str, str]]:
        """``conversations`` (human / gpt alternating) -> turns; ``suffix`` is appended to
        every question (the short-answer instruction)."""
        convs = record.get('conversations')
        if not isinstance(convs, list) or not convs:
            raise ValueError(f'{where}: no "conversations" list')
        # A conversation that opens with the assistant starts at the first question.
        while convs and convs[0].get('from') in _ASSISTANT_ROLES:
            convs = convs[1:]
        turns = []
        for i in range(0, len(convs) - 1, 2):
            user, answer = convs[i], convs[i + 1]
            if user.get('from') not in _USER_ROLES or answer.get('from') not in _ASSISTANT_ROLES:
                raise ValueError(f'{where}: messages {i} and {i + 1} should come from the '
                                 f"user and the assistant, got {user.get('from')!r} and "
                                 f"{answer.get('from')!r}")
            turns.append((strip_angle_brackets(user.get('value', '')) + suffix,
                          strip_angle_brackets(answer.get('value', ''))))
        if not turns:
            raise ValueError(f'{where}: no question with an answer')
        return turns

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'{type(self).__name__}: annotation file {self.ann_file} '
                                    f'does not exist (data_root={self.data_root!r}); see '
                                    'docs/visual_prompts.md')
        records = mmengine.load(self.ann_file, file_format='json')
        if not isinstance(records, list):
            raise ValueError(f'{self.ann_file}: expected a JSON list of records')
        folders = self._folder_index() if self.image_folders else None
        data_list, no_region, missing = [], 0, []
        for idx, record in enumerate(records):
            where = f'{self.ann_file}: record {idx}'
            if not isinstance(record, dict) or not record.get('file_name'):
                raise ValueError(f'{where}: no "file_name"')
            where = f"{where} ({record['file_name']})"
            annotation = record.get('annotation')
            if not isinstance(annotation, list):
                raise ValueError(f'{where}: no "annotation" list of regions')
            if not annotation:
                no_region += 1
                continue
            regions = []
            for r, ann in enumerate(annotation):
                if not isinstance(ann, dict) or not ann.get('segmentation'):
                    raise ValueError(f'{where}: region {r + 1} has no "segmentation" '
                                     '(COCO polygons or RLE)')
                regions.append(ann['segmentation'])
            turns = self.turns(record, len(regions), where)
            num_seg = sum(a.count(_SEG) for _, a in turns)
            targets = record.get('targets') or []
            if num_seg != len(targets):
                raise ValueError(f'{where}: {num_seg} [SEG] tokens in the answers but '
                                 f'{len(targets)} "targets"; give one target segmentation '
                                 'per [SEG]')
            if folders is None:
                img_path = osp.join(self.data_prefix['img_path'], record['file_name'])
            elif osp.basename(record['file_name']) in folders:
                img_path = osp.join(folders[osp.basename(record['file_name'])],
                                    osp.basename(record['file_name']))
            else:
                missing.append(record['file_name'])
                continue
            first_question, first_answer = turns[0]
            turns[0] = (f'{IMAGE_PLACEHOLDER}\n{REGION_PLACEHOLDER}{first_question}',
                        first_answer)
            data_list.append(dict(
                img_path=img_path, img_id=idx, region_segmentations=regions,
                conversation=[dict(user=q, assistant=a) for q, a in turns],
                text=[str(t.get('expression', 'the object')) for t in targets],
                instances=[dict(mask=t.get('segmentation')) for t in targets]))
        if no_region:
            print_log(f'{type(self).__name__}: {self.ann_file}: skipped {no_region} records '
                      'without regions', logger='current')
        if missing:
            print_log(f'{type(self).__name__}: {self.ann_file}: skipped {len(missing)} records '
                      f'whose image is in none of {self.image_folders} (first: '
                      f'{missing[0]})', logger='current')
        if not data_list:
            raise ValueError(f'{self.ann_file}: no usable record')
        return data_list

"""RefCOCO / RefCOCO+ / RefCOCOg with every sentence kept, grouped per referred object."""
import io
import os.path as osp
import pickle
from collections import defaultdict
from typing import List, Optional, Union

import mmengine
from mmdet.datasets import RefCocoDataset

from desa2va_mm.registry import DATASETS


class _PlainDataUnpickler(pickle.Unpickler):
    """``refs(*).p`` holds only dicts, lists, strings and numbers: refuse every global, so a
    crafted split file cannot run code when loaded."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(
            f'refusing global {module}.{name}: a RefCOCO split file holds plain data only')


def load_refs(path: str) -> list:
    """Load a ``refs(*).p`` file without executing code."""
    with open(path, 'rb') as f:
        data = f.read()
    try:
        return _PlainDataUnpickler(io.BytesIO(data), encoding='latin1').load()
    except Exception as e:  # noqa: BLE001  (name the file in whatever went wrong)
        raise ValueError(f'cannot read RefCOCO split file {path}: {e}') from e


#: Sentence fields a split file's sentences can be read from (see ``text_field``).
TEXT_FIELDS = ('sent', 'raw')


def resolve_text_field(text_field: Optional[str], test_mode: bool, owner: str) -> str:
    """The sentence field to read: ``text_field``, or ``'sent'`` at test, ``'raw'`` in
    training when it is None."""
    if text_field is None:
        return 'sent' if test_mode else 'raw'
    if text_field not in TEXT_FIELDS:
        raise ValueError(f'{owner}: text_field must be one of {TEXT_FIELDS} or None, got '
                         f'{text_field!r}')
    return text_field


def sentence_text(sentence: dict, text_field: str, where: str) -> Union[str, bytes]:
    """The text of one REFER sentence dict: ``sent`` verbatim (REFER's lower-case,
    tokenised form) or ``raw.lower()`` (the annotator's text, as mmdet and Sa2VA's training
    read it)."""
    if not isinstance(sentence, dict) or text_field not in sentence:
        fields = sorted(sentence) if isinstance(sentence, dict) else type(sentence).__name__
        raise ValueError(f'{where}: a sentence has no {text_field!r} field (has {fields}); '
                         f"set the dataset's text_field to a field the file has "
                         f'({TEXT_FIELDS})')
    # Bytes (a split file pickled under Python 2) pass through: the conversation builder
    # decodes them and names the image when they are not UTF-8.
    text = sentence[text_field] or ''
    return text.lower() if text_field == 'raw' else text


@DATASETS.register_module()
class RefCocoReferringDataset(RefCocoDataset):
    """mmdet's ``RefCocoDataset`` keeping each referred object with all its sentences.

    One data item per image: ``img_path``, ``img_id``, ``height``, ``width`` and
    ``instances``, a list of ``dict(mask, ann_id, ref_id, sentences)``. Which sentences
    become targets is decided per load by :class:`SampleReferringTargets` (a fresh random
    sentence every iteration in training; every sentence at test), unlike mmdet's
    ``text_mode='random'``, which draws once when the dataset is built.

    Which text of a REFER sentence is used follows the original code: evaluation reads
    the tokenised ``sent`` (``"the man on the left"``), as REFER's API and Sa2VA's
    RefCOCO evaluation do; training reads ``raw.lower()`` (``"the man on the left."``), as
    mmdet's ``RefCocoDataset`` and Sa2VA's training do (the question template drops the
    final period, see :class:`BuildReferringConversation`).

    Args:
        data_root, ann_file, split_file, data_prefix, split: As ``RefCocoDataset``
            (``refcoco/instances.json``, ``refcoco/refs(unc).p``, ``train2014/``).
        text_field: ``'sent'``, ``'raw'`` or None (default): ``'sent'`` when
            ``test_mode``, else ``'raw'``.
        **kwargs: ``BaseDataset`` arguments (``pipeline``, ``test_mode``, ...).
    """

    def __init__(self, *args, text_field: Optional[str] = None, **kwargs) -> None:
        kwargs.setdefault('text_mode', 'original')
        self.text_field = resolve_text_field(text_field, kwargs.get('test_mode', False),
                                             type(self).__name__)
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        for path, what in ((self.split_file, 'split file'), (self.ann_file, 'annotation file')):
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'{type(self).__name__}: {what} {path} does not exist (data_root='
                    f'{self.data_root!r}); see docs/dataset_prepare.md')
        refs = load_refs(self.split_file)
        instances = mmengine.load(self.ann_file, file_format='json')
        anns = {a['id']: a for a in instances['annotations']}
        images = {im['id']: im for im in instances['images']}
        img_prefix = self.data_prefix['img_path']

        per_image = defaultdict(list)
        for ref in refs:
            if ref['split'] != self.split:
                continue
            if ref['ann_id'] not in anns:
                raise ValueError(
                    f"{self.split_file}: ref {ref['ref_id']} points at annotation "
                    f"{ref['ann_id']}, which is not in {self.ann_file}")
            if ref['image_id'] not in images:
                raise ValueError(
                    f"{self.split_file}: ref {ref['ref_id']} points at image "
                    f"{ref['image_id']}, which is not in {self.ann_file}")
            where = f"{self.split_file}: ref {ref['ref_id']}"
            sentences = [sentence_text(s, self.text_field, where) for s in ref['sentences']]
            per_image[ref['image_id']].append(dict(
                mask=anns[ref['ann_id']]['segmentation'],
                ann_id=ref['ann_id'],
                ref_id=ref['ref_id'],
                sentences=sentences))

        return self._image_samples(per_image, images, img_prefix)

    def num_sentences(self) -> int:
        """Evaluation samples of the split (every sentence counts once)."""
        return sum(len(o['sentences']) for i in range(len(self))
                   for o in self.get_data_info(i)['instances'])

    def _image_samples(self, per_image: dict, images: dict, img_prefix: str) -> List[dict]:
        """One sample per image (sorted by id) holding its referring instances."""
        data_list = [dict(img_path=osp.join(img_prefix, images[image_id]['file_name']),
                          img_id=image_id,
                          height=images[image_id]['height'],
                          width=images[image_id]['width'],
                          instances=per_image[image_id])
                     for image_id in sorted(per_image)]
        if not data_list:
            raise ValueError(f'No sample in split "{self.split}" of {self.split_file}')
        return data_list

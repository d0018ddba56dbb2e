"""MME: yes / no questions on images, two per image, in fourteen subtasks."""
import glob
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from mmdet.datasets import BaseDetDataset

from desa2va_mm.registry import DATASETS
from .transforms.build_referring_conversation import IMAGE_PLACEHOLDER

#: MME's perception and cognition subtasks (the folder names of its release).
MME_PERCEPTION = ('existence', 'count', 'position', 'color', 'posters', 'celebrity', 'scene',
                  'landmark', 'artwork', 'OCR')
MME_COGNITION = ('commonsense_reasoning', 'numerical_calculation', 'text_translation',
                 'code_reasoning')
#: Appended to each question, as LLaVA's and VLMEvalKit's MME evaluation (and Sa2VA's
#: wrapper) do; MME's questions already end with "Please answer yes or no.".
MME_SUFFIX = ' Answer the question using a single word or phrase.'
_IMAGE_EXTS = ('.jpg', '.jpeg', '.png')


@DATASETS.register_module()
class MMEDataset(BaseDetDataset):
    """MME's release folder (``MME_Benchmark_release_version/``), test only.

    One folder per subtask (:data:`MME_PERCEPTION`, :data:`MME_COGNITION`), each in one of
    the release's two layouts: ``images/<name>.jpg`` with
    ``questions_answers_YN/<name>.txt``, or ``<name>.jpg|png`` beside ``<name>.txt``.
    Each text file holds one ``question<TAB>Yes|No`` line per question (two per image).

    Items carry ``img_path``, ``prompts`` (the image, then the question and
    :data:`MME_SUFFIX`) and the metainfo ``question_id`` (``subtask/name#k``),
    ``prompt``, ``gt_answer`` (``'yes'`` / ``'no'``), ``category`` (the subtask) and
    ``image_key`` (``subtask/name``: MME's acc+ pairs the questions of one image).

    Args:
        data_root: The release folder.
        subtasks: The subtasks to read (default: all fourteen); a missing one is an error.
        **kwargs: ``BaseDataset`` arguments (``pipeline``, ``test_mode``, ...).
    """

    METAINFO: dict = dict()

    def __init__(self, *args, subtasks: Optional[Sequence[str]] = None, ann_file: str = '',
                 **kwargs) -> None:
        self.subtasks = tuple(subtasks or MME_PERCEPTION + MME_COGNITION)
        unknown = set(self.subtasks) - set(MME_PERCEPTION + MME_COGNITION)
        if unknown:
            raise ValueError(f'MMEDataset: unknown subtasks {sorted(unknown)}; options: '
                             f'{list(MME_PERCEPTION + MME_COGNITION)}')
        super().__init__(*args, ann_file=ann_file, **kwargs)

    def _pairs(self, folder: str) -> List[Tuple[str, str]]:
        """(image path, its question file) of one subtask folder, sorted by name."""
        if osp.isdir(osp.join(folder, 'questions_answers_YN')):
            texts = sorted(glob.glob(osp.join(folder, 'questions_answers_YN', '*.txt')))
            image_dir = osp.join(folder, 'images')
        else:
            texts = sorted(glob.glob(osp.join(folder, '*.txt')))
            image_dir = folder
        pairs = []
        for text in texts:
            stem = osp.splitext(osp.basename(text))[0]
            image = next((osp.join(image_dir, stem + ext) for ext in _IMAGE_EXTS
                          if osp.isfile(osp.join(image_dir, stem + ext))), None)
            if image is None:
                raise FileNotFoundError(f'{text}: no image {stem}{{.jpg,.png}} in {image_dir}')
            pairs.append((image, text))
        if not pairs:
            raise FileNotFoundError(f'{folder}: no question files (expected '
                                    f'questions_answers_YN/*.txt or *.txt; see '
                                    f'docs/qa_eval.md)')
        return pairs

    def load_data_list(self) -> List[dict]:
        root = self.data_root
        if not osp.isdir(root):
            raise FileNotFoundError(f'MMEDataset: data_root {root!r} is not a folder (the '
                                    f'MME release, docs/qa_eval.md)')
        data_list = []
        for subtask in self.subtasks:
            folder = osp.join(root, subtask)
            if not osp.isdir(folder):
                raise FileNotFoundError(f'MMEDataset: no subtask folder {folder}; present: '
                                        f'{sorted(os.listdir(root))}')
            for image, text in self._pairs(folder):
                stem = osp.splitext(osp.basename(text))[0]
                with open(text, encoding='utf-8') as f:
                    lines = [line.rstrip('\r\n') for line in f if line.strip()]
                for k, line in enumerate(lines):
                    parts = line.split('\t')
                    answer = parts[-1].strip().lower() if len(parts) >= 2 else ''
                    if answer not in ('yes', 'no'):
                        raise ValueError(f'{text}: line {k + 1} should be '
                                         f'"question<TAB>Yes|No", got {line!r}')
                    question = '\t'.join(parts[:-1]).strip()
                    prompt = question + MME_SUFFIX
                    data_list.append(dict(
                        img_path=image, img_id=len(data_list),
                        question_id=f'{subtask}/{stem}#{k}', prompt=prompt,
                        prompts=[[{'user': f'{IMAGE_PLACEHOLDER}\n{prompt}',
                                   'assistant': None}]],
                        gt_answer=answer, category=subtask, image_key=f'{subtask}/{stem}',
                        text=[], instances=[]))
        return data_list

"""MVBench: 20 temporal video tasks, multiple choice, one JSON file per task."""
import os.path as osp
import string
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import mmengine
from mmdet.datasets import BaseDetDataset

from desa2va_mm.registry import DATASETS
from .mmbench_dataset import mcq_test_item

#: MVBench's tasks as its evaluation lists them (``data_list`` of video_chat2's
#: ``mvbench.ipynb``): name -> (JSON file under the json folder, video folder under the
#: video folder, data type, whether questions carry a ``start`` / ``end`` clip bound).
#: ``'frame'`` videos are folders of ``%05d.jpg`` frames at 3 fps, numbered from 1.
MVBENCH_TASKS: 'OrderedDict[str, Tuple[str, str, str, bool]]' = OrderedDict([
    ('Action Sequence', ('action_sequence.json', 'star/Charades_v1_480/', 'video', True)),
    ('Action Prediction', ('action_prediction.json', 'star/Charades_v1_480/', 'video', True)),
    ('Action Antonym', ('action_antonym.json', 'ssv2_video/', 'video', False)),
    ('Fine-grained Action', ('fine_grained_action.json', 'Moments_in_Time_Raw/videos/',
                             'video', False)),
    ('Unexpected Action', ('unexpected_action.json', 'FunQA_test/test/', 'video', False)),
    ('Object Existence', ('object_existence.json', 'clevrer/video_validation/', 'video',
                          False)),
    ('Object Interaction', ('object_interaction.json', 'star/Charades_v1_480/', 'video',
                            True)),
    ('Object Shuffle', ('object_shuffle.json', 'perception/videos/', 'video', False)),
    ('Moving Direction', ('moving_direction.json', 'clevrer/video_validation/', 'video',
                          False)),
    ('Action Localization', ('action_localization.json', 'sta/sta_video/', 'video', True)),
    ('Scene Transition', ('scene_transition.json', 'scene_qa/video/', 'video', False)),
    ('Action Count', ('action_count.json', 'perception/videos/', 'video', False)),
    ('Moving Count', ('moving_count.json', 'clevrer/video_validation/', 'video', False)),
    ('Moving Attribute', ('moving_attribute.json', 'clevrer/video_validation/', 'video',
                          False)),
    ('State Change', ('state_change.json', 'perception/videos/', 'video', False)),
    ('Fine-grained Pose', ('fine_grained_pose.json', 'nturgbd/', 'video', False)),
    ('Character Order', ('character_order.json', 'perception/videos/', 'video', False)),
    ('Egocentric Navigation', ('egocentric_navigation.json', 'vlnqa/', 'video', False)),
    ('Episodic Reasoning', ('episodic_reasoning.json', 'tvqa/frames_fps3_hq/', 'frame',
                            True)),
    ('Counterfactual Inference', ('counterfactual_inference.json',
                                  'clevrer/video_validation/', 'video', False)),
])

#: The official evaluation's system message, prepended to the question.
MVBENCH_SYSTEM = ('Carefully watch the video and pay attention to the cause and sequence of '
                  'events, the detail and movement of objects, and the action and pose of '
                  'persons. Based on your observations, select the best option that '
                  'accurately addresses the question.')
#: The official evaluation's instruction after the options.
MVBENCH_QUESTION_PROMPT = 'Only give the best option.'


def mvbench_prompt(question: str, candidates: Sequence[str]) -> str:
    """The official evaluation's text: system message, ``Question: ...``, ``Options:`` with
    ``(A) ...`` lines, then "Only give the best option." (the official script also starts
    the answer with "Best option:(", which :func:`~desa2va_mm.evaluation.metrics.
    multiple_choice_metric.extract_choice_mvbench` puts back before reading the letter)."""
    lines = [MVBENCH_SYSTEM, f'Question: {question}', 'Options:']
    lines += [f'({string.ascii_uppercase[i]}) {c}' for i, c in enumerate(candidates)]
    return '\n'.join(lines + [MVBENCH_QUESTION_PROMPT])


@DATASETS.register_module()
class MVBenchDataset(BaseDetDataset):
    """MVBench (video_chat2's release), test only::

        <data_root>/json/<task file>.json    # [{"video", "question", "candidates",
                                             #   "answer", ("start", "end")}, ...]
        <data_root>/video/<task folder>/<video>   # an mp4 / webm / ..., or a folder of
                                                  # %05d.jpg frames for 'frame' tasks

    Options are the ``candidates`` in order, lettered ``A``, ``B``, ...; the right letter
    is the candidate equal to ``answer``. ``category`` is the task name, so
    :class:`~desa2va_mm.evaluation.MultipleChoiceMetric` reports accuracy per task; the
    frames are sampled by :class:`~desa2va_mm.datasets.transforms.LoadMVBenchFrames` as the
    official evaluation samples them (``mvbench_bound``, ``mvbench_data_type``).

    Args:
        ann_file: Unused placeholder for ``BaseDataset`` (the task files are listed in
            ``tasks``); keep ``''``.
        data_prefix: ``dict(json_path='json/', video_path='video/')``.
        tasks: Task names to load (default: all of :data:`MVBENCH_TASKS`).
        task_table: Name -> (JSON file, video folder, ``'video'`` or ``'frame'``, bound)
            (default :data:`MVBENCH_TASKS`).
        **kwargs: ``BaseDataset`` arguments (``pipeline``, ``test_mode``, ...).
    """

    METAINFO: dict = dict()

    def __init__(self, *args, data_prefix: Optional[dict] = None,
                 tasks: Optional[Sequence[str]] = None,
                 task_table: Optional[Dict[str, Sequence]] = None, **kwargs) -> None:
        data_prefix = dict(dict(json_path='json/', video_path='video/'),
                           **(data_prefix or {}))
        self.task_table = OrderedDict(
            (str(k), tuple(v)) for k, v in (task_table or MVBENCH_TASKS).items())
        unknown = [t for t in (tasks or ()) if t not in self.task_table]
        if unknown:
            raise ValueError(f'MVBenchDataset: unknown task(s) {unknown}; the tasks are '
                             f'{list(self.task_table)}')
        for name, entry in self.task_table.items():
            if len(entry) != 4 or entry[2] not in ('video', 'frame'):
                raise ValueError(f'MVBenchDataset: task_table[{name!r}] must be (json file, '
                                 f"video folder, 'video' or 'frame', bound), got {entry!r}")
        self.tasks = tuple(tasks) if tasks else tuple(self.task_table)
        kwargs.setdefault('ann_file', '')
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    def load_data_list(self) -> List[dict]:
        data_list = []
        for task in self.tasks:
            json_file, folder, data_type, has_bound = self.task_table[task]
            path = osp.join(self.data_prefix['json_path'], json_file)
            if not osp.isfile(path):
                raise FileNotFoundError(f'MVBenchDataset: task {task!r}: {path} does not '
                                        'exist (docs/qa_eval.md; pass tasks=[...] to load '
                                        'a subset)')
            rows = mmengine.load(path, file_format='json')
            if not isinstance(rows, list) or not rows:
                raise ValueError(f'{path}: expected a non-empty JSON list of questions')
            for i, row in enumerate(rows):
                data_list.append(self._item(task, path, i, row, folder, data_type,
                                            has_bound, len(data_list)))
        return data_list

    def _item(self, task: str, path: str, i: int, row: dict, folder: str, data_type: str,
              has_bound: bool, img_id: int) -> dict:
        where = f'{path}: question {i}'
        for key in ('video', 'question', 'candidates', 'answer'):
            if not isinstance(row, dict) or key not in row:
                raise ValueError(f'{where} has no "{key}" field')
        candidates = [str(c) for c in row['candidates']]
        if not 2 <= len(candidates) <= 26:
            raise ValueError(f'{where}: needs 2 to 26 candidates, got {len(candidates)}')
        answer = str(row['answer'])
        if answer not in candidates:
            raise ValueError(f'{where}: answer {answer!r} is not one of the candidates '
                             f'{candidates}')
        options = OrderedDict((string.ascii_uppercase[k], c) for k, c in enumerate(candidates))
        bound = None
        if has_bound:
            if 'start' not in row or 'end' not in row:
                raise ValueError(f'{where}: task {task!r} reads a clip: "start" and "end" '
                                 '(seconds) are required')
            bound = (float(row['start']), float(row['end']))
        video = osp.join(self.data_prefix['video_path'], folder, str(row['video']))
        qid = f'{osp.splitext(osp.basename(path))[0]}/{i}'
        item = mcq_test_item(
            img_id=img_id, question_id=qid,
            prompt=mvbench_prompt(str(row['question']), candidates), options=options,
            answer=string.ascii_uppercase[candidates.index(answer)], category=task,
            circular_group=qid)
        item.update(video_path=video, img_path=video, modality='video',
                    mvbench_bound=bound, mvbench_data_type=data_type)
        return item

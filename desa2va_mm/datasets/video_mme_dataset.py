"""Video-MME: multiple-choice questions on videos, three per video."""
import os.path as osp
import re
from typing import Dict, List, Optional

import mmengine
from mmdet.datasets import BaseDetDataset

from desa2va_mm.registry import DATASETS
from .mmbench_dataset import MCQ_INSTRUCTION, mcq_test_item

#: "A. text" (also "A) text" / "(A) text"): one option line of Video-MME's ``options``.
_OPTION = re.compile(r'^\(?([A-Z])[.)]\s*(.*)$', re.S)
_VIDEO_EXTS = ('.mp4', '.mkv', '.webm', '.avi', '.mov')


def parse_options(options: List[str], where: str) -> Dict[str, str]:
    """``["A. text", "B. text", ...]`` -> ``{"A": "text", ...}`` (in order)."""
    parsed = {}
    for line in options:
        match = _OPTION.match(str(line).strip())
        if match is None:
            raise ValueError(f'{where}: option {line!r} does not start with "A." .. "Z."')
        parsed[match.group(1)] = match.group(2).strip()
    return parsed


@DATASETS.register_module()
class VideoMMEDataset(BaseDetDataset):
    """Video-MME, test only, from the JSON its evaluation script reads
    (``eval_your_results.py``): a list of videos, each ``{"video_id", "videoID" (the
    file name; optional, else ``video_id``), "duration" (short / medium / long), "domain",
    "sub_category", "questions": [{"question_id", "task_type", "question", "options":
    ["A. ...", "B. ...", "C. ...", "D. ..."], "answer"}]}``.

    Videos are ``data_prefix['video_path']/<videoID>.mp4`` (or another container, or a
    folder of frames). The prompt is the question, the option lines, then
    "Answer with the option's letter from the given choices directly." (VLMEvalKit's
    Video-MME prompt in Sa2VA's wrapper). ``category`` is the duration.

    Items carry ``video_path`` (and ``img_path``, the same path, named in errors),
    ``modality='video'`` (frames become the image's tiles, as for video chat), ``prompts``
    and the metainfo of :func:`~.mmbench_dataset.mcq_test_item`.

    Args:
        ann_file: The JSON (path relative to ``data_root``).
        data_prefix: ``dict(video_path='videos/')``.
        durations: Durations to keep (default all: short, medium, long).
        **kwargs: ``BaseDataset`` arguments (``pipeline``, ``test_mode``, ...).
    """

    METAINFO: dict = dict()

    def __init__(self, *args, data_prefix: Optional[dict] = None,
                 durations: Optional[List[str]] = None, **kwargs) -> None:
        data_prefix = dict(dict(video_path=''), **(data_prefix or {}))
        self.durations = tuple(durations) if durations else None
        super().__init__(*args, data_prefix=data_prefix, **kwargs)

    def _video(self, stem: str, where: str) -> str:
        base = osp.join(self.data_prefix['video_path'], stem)
        if osp.isdir(base):
            return base
        for ext in _VIDEO_EXTS:
            if osp.isfile(base + ext):
                return base + ext
        raise FileNotFoundError(f'{where}: no video {base}{{.mp4,.mkv,...}} nor a frame '
                                f'folder {base}/ (docs/qa_eval.md)')

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'{type(self).__name__}: annotation file {self.ann_file} '
                                    f'does not exist (data_root={self.data_root!r}); see '
                                    f'docs/qa_eval.md')
        videos = mmengine.load(self.ann_file, file_format='json')
        if not isinstance(videos, list):
            raise ValueError(f'{self.ann_file}: expected a JSON list of videos, each with '
                             f'"questions"')
        data_list = []
        for v_idx, video in enumerate(videos):
            where = f'{self.ann_file}: video {v_idx} (video_id {video.get("video_id")})'
            if 'questions' not in video:
                raise ValueError(f'{where}: no "questions" list')
            if self.durations and video.get('duration') not in self.durations:
                continue
            path = self._video(str(video.get('videoID') or video.get('video_id')), where)
            for q in video['questions']:
                qwhere = f'{where}, question {q.get("question_id")}'
                options = parse_options(q.get('options') or [], qwhere)
                if len(options) < 2:
                    raise ValueError(f'{qwhere}: fewer than two options')
                answer = str(q.get('answer', '')).strip()
                if answer and answer not in options:
                    raise ValueError(f'{qwhere}: answer {answer!r} is not one of '
                                     f'{sorted(options)}')
                prompt = '\n'.join([str(q['question']).strip()] +
                                   [f'{k}. {t}' for k, t in options.items()] +
                                   [MCQ_INSTRUCTION])
                qid = str(q.get('question_id', f'{v_idx}-{len(data_list)}'))
                item = mcq_test_item(
                    img_id=len(data_list), question_id=qid, prompt=prompt, options=options,
                    answer=answer, category=str(video.get('duration', '')),
                    circular_group=qid, task_type=str(q.get('task_type', '')))
                item.update(video_path=path, img_path=path, modality='video')
                data_list.append(item)
        if not data_list:
            raise ValueError(f'{self.ann_file}: no question (durations={self.durations})')
        return data_list

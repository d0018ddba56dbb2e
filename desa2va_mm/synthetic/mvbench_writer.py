"""Multiple-choice questions about synthetic videos, written in MVBench's layout.

Two of MVBench's tasks, on the moving-shape videos of :mod:`~desa2va_mm.synthetic.videos`:

* ``Moving Direction`` (``json/moving_direction.json``, mp4 videos under
  ``video/clevrer/video_validation/``): "Which direction does the red circle move?" with
  the four directions as candidates, about a shape of a unique colour and kind that moves
  the whole video.
* ``Episodic Reasoning`` (``json/episodic_reasoning.json``, folders of ``%05d.jpg``
  frames at 3 fps numbered from 1 under ``video/tvqa/frames_fps3_hq/``, with a
  ``start`` / ``end`` clip bound): "What colour is the star?" with four colours, about a
  shape that occurs once.

Loads with ``MVBenchDataset(data_root=DIR, tasks=SYNTHETIC_MVBENCH_TASKS)``. Same
arguments give the same questions and frames. Run as
``python -m desa2va_mm.synthetic.mvbench_writer --out data/synthetic_mvbench``.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional

import cv2
import numpy as np

from .videos import generate_video
from .vocabulary import COLORS, DIRECTIONS

__all__ = ['SYNTHETIC_MVBENCH_TASKS', 'mvbench_questions', 'write_synthetic_mvbench']

#: The MVBench tasks this writer fills, as named in MVBench's task table.
SYNTHETIC_MVBENCH_TASKS = ('Moving Direction', 'Episodic Reasoning')
_DIRECTION_DIR = 'clevrer/video_validation'
_FRAME_DIR = 'tvqa/frames_fps3_hq'
_FRAME_FPS = 3
_VIDEO_FPS = 8
_STREAM_MVBENCH = 13


def mvbench_questions(seed: int = 0, num_videos: int = 8, num_frames: int = 8,
                      image_size: int = 128) -> Dict[str, List[dict]]:
    """The questions (without writing anything): ``{task: [row]}``; each row is MVBench's
    ``{video, question, candidates, answer}`` (``start`` / ``end`` for the frame task)
    plus ``_frames`` (the video's frames, BGR) for the writer.

    Video ``i`` of the synthetic MeViS set (same seed, frame count and size) gives at most
    one question per task; videos with no suitable object give none.
    """
    if num_videos < 1 or num_frames < 2:
        raise ValueError(f'num_videos must be >= 1 and num_frames >= 2, got {num_videos}, '
                         f'{num_frames}')
    rng = np.random.default_rng([int(seed), _STREAM_MVBENCH])
    rows: Dict[str, List[dict]] = {task: [] for task in SYNTHETIC_MVBENCH_TASKS}
    directions = sorted(DIRECTIONS)
    colours = sorted(COLORS)
    for index in range(int(num_videos)):
        video = generate_video(seed, index, num_frames, image_size)
        objects = video['objects']
        kinds = [(o['color'], o['shape']) for o in objects]
        movers = [o for o in objects if o['motion'] == 'moving'
                  and kinds.count((o['color'], o['shape'])) == 1]
        name = 'video_%05d' % index
        if movers:
            obj = movers[int(rng.integers(len(movers)))]
            candidates = list(rng.permutation(directions))
            rows['Moving Direction'].append(dict(
                video=name + '.mp4',
                question=f'Which direction does the {obj["color"]} {obj["shape"]} move?',
                candidates=[str(c) for c in candidates], answer=obj['direction'],
                _frames=video['frames']))
        shapes = [o['shape'] for o in objects]
        unique = [o for o in objects if shapes.count(o['shape']) == 1]
        if unique:
            obj = unique[int(rng.integers(len(unique)))]
            others = [c for c in colours if c != obj['color']]
            picked = list(rng.choice(others, size=3, replace=False)) + [obj['color']]
            candidates = [str(c) for c in rng.permutation(picked)]
            rows['Episodic Reasoning'].append(dict(
                video=name, question=f'What colour is the {obj["shape"]}?',
                candidates=candidates, answer=obj['color'], start=0.0,
                end=num_frames / _FRAME_FPS, _frames=video['frames']))
    return rows


def _write_mp4(path: str, frames: List[np.ndarray]) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), _VIDEO_FPS,
                             (width, height))
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()
    if not osp.isfile(path):
        raise OSError(f'could not write {path} (OpenCV mp4v)')


def write_synthetic_mvbench(out_dir: str, seed: int = 0, num_videos: int = 8,
                            num_frames: int = 8, image_size: int = 128) -> Dict[str, int]:
    """Write :func:`mvbench_questions` in MVBench's layout under ``out_dir``::

        out_dir/json/moving_direction.json, out_dir/json/episodic_reasoning.json
        out_dir/video/clevrer/video_validation/video_00000.mp4
        out_dir/video/tvqa/frames_fps3_hq/video_00000/00001.jpg ...

    Returns:
        Questions per task.
    """
    rows = mvbench_questions(seed, num_videos, num_frames, image_size)
    os.makedirs(osp.join(out_dir, 'json'), exist_ok=True)
    for row in rows['Moving Direction']:
        folder = osp.join(out_dir, 'video', _DIRECTION_DIR)
        os.makedirs(folder, exist_ok=True)
        _write_mp4(osp.join(folder, row['video']), row['_frames'])
    for row in rows['Episodic Reasoning']:
        folder = osp.join(out_dir, 'video', _FRAME_DIR, row['video'])
        os.makedirs(folder, exist_ok=True)
        for t, frame in enumerate(row['_frames']):
            if not cv2.imwrite(osp.join(folder, '%05d.jpg' % (t + 1)), frame,
                               [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise OSError(f'could not write frame {t + 1} under {folder}')
    for task, file in (('Moving Direction', 'moving_direction.json'),
                       ('Episodic Reasoning', 'episodic_reasoning.json')):
        with open(osp.join(out_dir, 'json', file), 'w', encoding='utf-8') as f:
            json.dump([{k: v for k, v in r.items() if k != '_frames'} for r in rows[task]],
                      f, indent=1)
    return {task: len(r) for task, r in rows.items()}


def main(argv: Optional[List[str]] = None) -> None:
    """``python -m desa2va_mm.synthetic.mvbench_writer --out data/synthetic_mvbench``"""
    import argparse
    parser = argparse.ArgumentParser(
        description='Write multiple-choice questions about synthetic moving-shape videos in '
                    "MVBench's layout (json/<task>.json + video/<task folder>/): Moving "
                    'Direction (mp4) and Episodic Reasoning (frame folders with a clip '
                    'bound).')
    parser.add_argument('--out', default='data/synthetic_mvbench',
                        help='output folder (json/ and video/ are created)')
    parser.add_argument('--num-videos', type=int, default=8,
                        help='videos (each gives at most one question per task)')
    parser.add_argument('--num-frames', type=int, default=8, help='frames per video')
    parser.add_argument('--seed', type=int, default=0, help='seed of videos and options')
    parser.add_argument('--image-size', type=int, default=128, help='frame side in pixels')
    args = parser.parse_args(argv)
    counts = write_synthetic_mvbench(args.out, args.seed, args.num_videos, args.num_frames,
                                     args.image_size)
    print(', '.join(f'{task}: {n} questions' for task, n in counts.items())
          + f' written to {args.out}')


if __name__ == '__main__':
    main()

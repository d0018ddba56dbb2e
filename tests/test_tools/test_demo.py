"""tools/demo/image_demo.py and video_demo.py write their files (random tiny weights)."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO_ROOT

CONFIG = osp.join(REPO_ROOT, 'configs/sa2va/sa2va_tiny.py')


def _load(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        f'_demo_{name}', osp.join(REPO_ROOT, 'tools', 'demo', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _image(index):
    from desa2va_mm.synthetic import generate_image
    return generate_image(0, index, 128).image


def test_help_and_argument_errors(tmp_path):
    for name in ('image_demo', 'video_demo'):
        proc = subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools/demo', f'{name}.py'),
                               '--help'], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and '--checkpoint' in proc.stdout
    demo = _load('image_demo')
    with pytest.raises(SystemExit):
        demo.parse_args([str(tmp_path / 'missing.png'), 'x', '--config', CONFIG])
    img = tmp_path / 'a.png'
    cv2.imwrite(str(img), _image(0))
    with pytest.raises(SystemExit):
        demo.parse_args([str(img), ' ', '--config', CONFIG])


def test_image_demo_writes_overlay_and_predictions(tmp_path, capsys):
    img = tmp_path / 'shapes.png'
    cv2.imwrite(str(img), cv2.resize(_image(1), (160, 120)))
    out_dir = tmp_path / 'out'
    result = _load('image_demo').main([str(img), 'the red circle', 'the leftmost shape',
                                       '--config', CONFIG, '--out-dir', str(out_dir)])
    assert os.listdir(out_dir / 'vis') == ['shapes.png']
    vis = cv2.imread(str(out_dir / 'vis' / 'shapes.png'))
    assert vis is not None and vis.shape[0] > 2 * 120  # one row per expression
    record = json.load(open(out_dir / 'preds' / 'shapes.json'))
    assert record['texts'] == ['the red circle', 'the leftmost shape']
    assert [m['size'] for m in record['masks']] == [[120, 160]] * 2
    assert result['predictions'][0]['masks'].shape == (2, 120, 160)
    assert '"the red circle" ->' in capsys.readouterr().out


def test_video_demo_writes_mp4_frames_and_json(tmp_path):
    pytest.importorskip('av')
    clip = tmp_path / 'clip'
    clip.mkdir()
    base = _image(2)
    for t in range(6):
        cv2.imwrite(str(clip / f'{t:05d}.jpg'), np.roll(base, 4 * t, axis=1))
    out_dir = tmp_path / 'out'
    result = _load('video_demo').main([str(clip), 'the red circle', '--config', CONFIG,
                                       '--out-dir', str(out_dir), '--key-frames', '2',
                                       '--save-frames'])
    assert osp.isfile(out_dir / 'clip.mp4') and result['out_file'].endswith('clip.mp4')
    assert sorted(os.listdir(out_dir / 'clip')) == [f'{t:05d}.png' for t in range(6)]
    record = json.load(open(out_dir / 'clip.json'))
    assert record['key_frame_ids'] == [0, 1] and len(record['masks'][0]) == 6
    from desa2va_mm.datasets.video_io import open_frame_source
    assert len(open_frame_source(str(out_dir / 'clip.mp4'))) == 6

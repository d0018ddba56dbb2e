"""tools/analysis_tools/video_baselines.py: baselines scored by the config's own metric."""
import json
import os
import os.path as osp
import subprocess
import sys

from conftest import REPO_ROOT


def test_video_baselines_cli(tmp_path):
    data = tmp_path / 'mevis'
    subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools/dataset_converters/'
                                             'make_synthetic_mevis.py'),
                    '--out', str(data), '--num-videos', '3', '--num-frames', '4',
                    '--splits', 'valid_u=1.0', '--quiet'], check=True, cwd=REPO_ROOT,
                   capture_output=True)
    # A tools/test.py-style log JSON of a model run with the first-frame-copy report.
    model_json = tmp_path / 'model.json'
    model_json.write_text(json.dumps({'J': 40.0, 'F': 50.0, 'J&F': 45.0,
                                      'first_frame_copy/J': 10.0, 'first_frame_copy/F': 12.0,
                                      'first_frame_copy/J&F': 11.0}))
    proc = subprocess.run(
        [sys.executable, osp.join(REPO_ROOT, 'tools/analysis_tools/video_baselines.py'),
         osp.join(REPO_ROOT, 'configs/desa2va_video/desa2va_tiny_video.py'), '--model-metrics',
         str(model_json), '--cfg-options',
         f'test_dataloader.dataset.data_root={data}/valid_u/'],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ['method'])
    assert lines[header].split() == ['method', 'J', 'F', 'J&F']
    rows = {line[:24].strip(): [float(v) for v in line[24:].split()]
            for line in lines[header + 1:] if line.strip()}
    # The ground truth copied forward is exact on frame 0 and J = F = 1 where both are
    # empty, so it beats empty masks; J&F is the mean of J and F.
    gt_copy, empty = rows['first-frame GT copy'], rows['empty']
    assert gt_copy[2] > empty[2] >= 0
    for j, f, jf in rows.values():
        assert abs(jf - (j + f) / 2) < 0.011
    assert rows["model's frame 0 copied"] == [10.0, 12.0, 11.0]
    assert rows['model'] == [40.0, 50.0, 45.0]

"""VideoSubmissionWriter: the server layout, 0 / 255 PNGs, atomic writes, the zip."""
import os
import zipfile

import cv2
import numpy as np
import pytest
from video_metric_utils import dot, video

from desa2va_mm.evaluation import VideoSubmissionWriter


def test_layout_values_and_zip(tmp_path):
    z = np.zeros((6, 9), bool)
    sample = video('UVO/all/vid', preds=[[dot(6, 9, 1, 2), z], [z, z]], exp_ids=['3', '7'])
    writer = VideoSubmissionWriter(out_dir=str(tmp_path), zip=True)
    writer.process({}, [sample])
    out = writer.evaluate(1)
    assert out == {'videos': 1, 'expressions': 2, 'png_files': 4}
    root = tmp_path / 'Annotations' / 'UVO' / 'all' / 'vid'
    png = cv2.imread(str(root / '3' / '00000.png'), cv2.IMREAD_UNCHANGED)
    assert png.shape == (6, 9) and png.dtype == np.uint8
    assert set(np.unique(png)) == {0, 255} and png[1, 2] == 255 and png.sum() == 255
    empty = cv2.imread(str(root / '7' / '00001.png'), cv2.IMREAD_UNCHANGED)
    assert empty.shape == (6, 9) and not empty.any()  # empty masks are written too
    leftovers = [f for _, _, files in os.walk(tmp_path) for f in files if f.endswith('.tmp')]
    assert leftovers == []
    with zipfile.ZipFile(tmp_path / 'submission.zip') as zf:
        names = sorted(zf.namelist())
    assert names[0] == 'Annotations/UVO/all/vid/3/00000.png' and len(names) == 4


def test_rejects_paths_outside_and_bad_rles(tmp_path):
    z = np.zeros((4, 4), bool)
    with pytest.raises(ValueError, match='leaves the output folder'):
        VideoSubmissionWriter(out_dir=str(tmp_path)).process(
            {}, [video('../evil', preds=[[z]])])
    sample = video('v', preds=[[z]])
    sample['pred_rles'][0][0] = dict(size=[5, 4], counts='0')
    with pytest.raises(ValueError, match=r"video 'v', expression '0', frame '00000'"):
        VideoSubmissionWriter(out_dir=str(tmp_path)).process({}, [sample])

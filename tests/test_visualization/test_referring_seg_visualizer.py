"""ReferringSegVisualizer on referring samples (masks, no labels) and the video overlays."""
import numpy as np
import torch

import desa2va_mm  # noqa: F401


def _sample(mask):
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    sample = DetDataSample(metainfo=dict(text=['the bottom half'], img_shape=(64, 64),
                                         ori_shape=(64, 64)))
    gt = InstanceData()
    gt.masks = BitmapMasks(mask[None].astype(np.uint8), 64, 64)  # masks only: no labels
    sample.gt_instances = gt
    pred = InstanceData()
    pred.masks = torch.from_numpy(mask[None].copy()).flip(-2)  # predicts the top half
    pred.scores = torch.tensor([0.75])
    sample.pred_instances = pred
    sample.set_metainfo(dict(pred_answers=['Sure, [SEG].']))
    return sample


def test_prediction_beside_ground_truth_with_expression(tmp_path):
    import cv2
    from desa2va_mm.visualization import ReferringSegVisualizer
    vis = ReferringSegVisualizer(name='test_referring_vis', min_size=320)
    mask = np.zeros((64, 64), bool)
    mask[32:] = True
    image = np.zeros((64, 64, 3), np.uint8)
    out_file = tmp_path / 'vis.png'
    vis.add_datasample('img', image, _sample(mask), out_file=str(out_file))
    canvas = cv2.imread(str(out_file))[..., ::-1]  # back to RGB
    # Layout: text strip, then [ground truth | 6 px | prediction] at 5x (320 px), 8 px pad.
    top = canvas.shape[0] - 8 - 320
    assert canvas.shape[1] == 320 + 6 + 320 and top > 0
    gt_panel = canvas[top:top + 320, :320].astype(int)
    pred_panel = canvas[top:top + 320, 326:].astype(int)
    green, red = np.array([20, 100, 20]), np.array([115, 20, 20])  # colour x 0.5 on black
    assert np.abs(gt_panel[240, 160] - green).max() <= 2  # gt: bottom half green
    assert np.abs(gt_panel[80, 160]).max() <= 2  # top half untouched
    assert np.abs(pred_panel[80, 160] - red).max() <= 2  # prediction: top half red
    assert np.abs(pred_panel[240, 160]).max() <= 2
    # The expression (and answer) are drawn: the strip above holds dark text pixels.
    assert (canvas[:top] < 100).any()


def test_video_overlay_colours_each_expression_and_writes_mp4(tmp_path):
    from desa2va_mm.visualization.video_overlay import PALETTE, VideoWriter, draw_masks
    frame = np.zeros((40, 60, 3), np.uint8)
    masks = np.zeros((2, 40, 60), bool)
    masks[0, 5:15, 5:15] = True
    masks[1, 25:35, 40:55] = True
    canvas = draw_masks(frame, masks, ['a', 'b'], ['[SEG]', 'no'], min_size=40)
    body = canvas[-40:].astype(int)
    assert np.abs(body[10, 10] - np.array(PALETTE[0]) // 2).max() <= 1
    assert np.abs(body[30, 47] - np.array(PALETTE[1]) // 2).max() <= 1
    assert body[20, 30].max() == 0
    path = str(tmp_path / 'x.mp4')
    with VideoWriter(path, fps=5) as writer:
        for _ in range(4):
            writer.write(canvas)
    from desa2va_mm.datasets.video_io import open_frame_source
    source = open_frame_source(path)
    assert len(source) == 4
    h, w = canvas.shape[:2]
    assert source[0].shape == (h + h % 2, w + w % 2, 3)

"""DeSa2VA on video: memory tracking, bounded bank, key frames, streaming, training."""
import os.path as osp
import weakref

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
MODEL_CFG = osp.join(REPO, 'configs/_base_/models/desa2va_tiny_video.py')
TOKENIZER = dict(type='TinyWordTokenizer', vocabulary='synthetic_mevis')


def _build(**overrides):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    init_default_scope('desa2va_mm')
    cfg = Config.fromfile(MODEL_CFG).model
    cfg.merge_from_dict(overrides) if hasattr(cfg, 'merge_from_dict') else cfg.update(overrides)
    torch.manual_seed(0)
    return MODELS.build(cfg)


@pytest.fixture(scope='module')
def model():
    m = _build()
    m.eval()
    return m


def _frames(num, h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(num)]


def _run(model, frames, keys, seg_hidden=None, **kw):
    if seg_hidden is None:
        g = torch.Generator().manual_seed(1)
        seg_hidden = torch.randn(2, model.mllm.hidden_size, generator=g)
    return list(model.segment_video(frames, seg_hidden, keys, num_frames=len(frames), **kw))


def test_key_frame_strategies():
    from desa2va_mm.structures import select_key_frames
    assert select_key_frames(100, 5, 'first').tolist() == [0, 1, 2, 3, 4]
    # round(linspace(0, 9, 5)) = round([0, 2.25, 4.5, 6.75, 9]) (halves to even)
    assert select_key_frames(10, 5, 'uniform').tolist() == [0, 2, 4, 7, 9]
    assert select_key_frames(3, 5, 'uniform').tolist() == [0, 1, 2]
    assert select_key_frames(1, 5, 'first').tolist() == [0]
    with pytest.raises(ValueError, match='strategy'):
        select_key_frames(10, 5, 'middle')


def test_non_key_frames_come_from_memory(model):
    frames = _frames(8)
    ref = _run(model, frames, [0])
    assert [f['is_key_frame'] for f in ref] == [True] + [False] * 7
    tracker = model.video_tracker
    original = tracker.memory_entry

    def altered(feats, logits, result, present, detach=True):
        entry = original(feats, logits, result, present, detach)
        entry['maskmem_features'] = entry['maskmem_features'] + 3.0
        return entry

    tracker.memory_entry = altered
    try:
        alt = _run(model, frames, [0])
    finally:
        del tracker.memory_entry
    # The key frame is decoded from [SEG] alone; tracked frames read the memory.
    torch.testing.assert_close(alt[0]['logits'], ref[0]['logits'])
    for t in range(1, 8):
        assert (alt[t]['logits'] - ref[t]['logits']).abs().max() > 1e-3


def test_tracked_frames_without_seg_prompt_still_use_memory(model):
    frames = _frames(4)
    model.video_tracker.track_with_seg_prompt = False
    try:
        a = _run(model, frames, [0])
        b = _run(model, frames, [0], seg_hidden=torch.randn(2, model.mllm.hidden_size))
    finally:
        model.video_tracker.track_with_seg_prompt = True
    # No [SEG] on tracked frames: they differ only through the key frame's memory.
    assert (a[2]['logits'] - b[2]['logits']).abs().max() > 1e-4


def test_memory_bank_stays_bounded(model):
    sam2 = model.grounding_encoder.sam2
    window = model.video_tracker.required_window()
    assert window == max(1 + (sam2.num_maskmem - 2) * sam2.memory_temporal_stride_for_eval,
                         sam2.max_obj_ptrs_in_encoder - 1)
    model.video_tracker.memory_window = 4
    try:
        seen = []
        for frame in model.segment_video(_frames(20, 32, 32), torch.randn(1, 128), [0, 3],
                                         num_frames=20):
            bank = model.video_tracker.memory_bank
            seen.append((len(bank.cond), len(bank.non_cond)))
            assert all(frame['frame_idx'] - i < 4 for i in bank.non_cond)
    finally:
        model.video_tracker.memory_window = None
    assert max(n for _, n in seen) == 4 and seen[-1] == (2, 4)


def test_short_videos(model):
    out = _run(model, _frames(1), [0, 1, 2, 3, 4])
    assert len(out) == 1 and out[0]['is_key_frame'] and out[0]['masks'].shape == (2, 48, 64)
    out = _run(model, _frames(3), [0, 1, 2, 3, 4])
    assert [f['is_key_frame'] for f in out] == [True] * 3
    # No expression with a [SEG]: every frame still yields (empty) output.
    out = list(model.segment_video(_frames(2), torch.zeros(0, 128), [0]))
    assert [f['masks'].shape for f in out] == [(0, 48, 64)] * 2


@pytest.mark.parametrize('read_ahead', [1, 4])
def test_streaming_reads_a_chunk_at_a_time_and_releases_frames(model, read_ahead):
    refs, pulled = [], []

    def source():
        for i in range(10):
            frame = np.full((32, 32, 3), 10 * i, np.uint8)
            refs.append(weakref.ref(frame))
            pulled.append(i)
            yield frame
            del frame

    default = model.data_preprocessor.frame_read_ahead
    assert default == 8
    model.data_preprocessor.frame_read_ahead = read_ahead
    try:
        for out in model.segment_video(source(), torch.randn(1, 128), [0]):
            # Lazily read: nothing beyond the current frame's chunk has been decoded.
            chunk_end = min((out['frame_idx'] // read_ahead + 1) * read_ahead, 10) - 1
            assert pulled[-1] == chunk_end
            # ndarrays hold no reference cycles: a released frame is freed at once.
            assert all(r() is None for r in refs[:out['frame_idx']])
    finally:
        model.data_preprocessor.frame_read_ahead = default


def test_missing_and_corrupt_frames_name_video_and_frame(model, tmp_path):
    import cv2

    from desa2va_mm.datasets.video_io import open_frame_source
    paths = []
    for i, frame in enumerate(_frames(3, 32, 32)):
        paths.append(str(tmp_path / f'{i:05d}.jpg'))
        cv2.imwrite(paths[-1], frame)
    with open(paths[1], 'wb') as f:
        f.write(b'not a jpeg')
    names = ['00000', '00001', '00002']
    # The frame source reads the files; the model only sees what it yields.
    with pytest.raises(ValueError, match=r"video 'vid7'.*frame 1 \('00001'\)"):
        _run(model, open_frame_source(paths, video_id='vid7', frame_names=names), [0])
    paths[1] = str(tmp_path / 'gone.jpg')
    with pytest.raises(FileNotFoundError, match=r"video 'vid7'.*'00001'"):
        _run(model, open_frame_source(paths, video_id='vid7', frame_names=names), [0])
    # The model never opens a file.
    with pytest.raises(TypeError, match=r"video 'vid7': frame 0 is a path.*open_frame_source"):
        _run(model, paths, [0], video_id='vid7')
    with pytest.raises(ValueError, match=r"video 'vid7': frame 0 \('a'\) has shape \(4, 4\)"):
        _run(model, [np.zeros((4, 4), np.uint8)], [0], video_id='vid7', frame_names=['a'])


def _video_sample(num_frames=5, mode='train', frame_paths=None, seed=0):
    from desa2va_mm.datasets.transforms import (BuildReferringConversation,
                                                PackVideoReferringInputs, ResizeVideoFrames,
                                                TokenizeConversation, VideoFrameTiling)
    rng = np.random.default_rng(seed)
    frames = _frames(num_frames, 40, 56, seed)
    masks = np.zeros((2, num_frames, 40, 56), np.uint8)
    for t in range(num_frames):
        masks[0, t, 5:20, 3 + t:20 + t] = 1
        masks[1, t, 22:38, 30:50 - t] = 1
    results = dict(video_id=f'v{seed}', frames=frames, frame_ids=list(range(num_frames)),
                   expressions=['the red circle', 'the blue square'], exp_ids=['0', '1'],
                   ori_shape=(40, 56))
    pipeline = [VideoFrameTiling(tile_size=112)]
    questions = ('Please segment {expression} in this video.', )
    if mode == 'train':
        results['gt_masks'] = masks
        pipeline += [ResizeVideoFrames(128), BuildReferringConversation('train', questions)]
    else:
        results.update(frame_paths=frame_paths, key_frame_ids=[0, 1],
                       frame_names=[f'{i:05d}' for i in range(len(frame_paths))])
        results['frames'] = frames[:2]
        pipeline += [BuildReferringConversation('test', questions)]
    pipeline += [TokenizeConversation(TOKENIZER, template='qwen2', num_image_tokens_per_tile=16, max_length=512),
                 PackVideoReferringInputs()]
    del rng
    for t in pipeline:
        results = t(results)
    return results, masks


@pytest.mark.parametrize('mode', ['memory', 'per_frame'])
def test_training_on_five_frames_backpropagates(mode):
    model = _build(video_train=dict(mode=mode))
    model.train()
    sample, _ = _video_sample(5)
    data = dict(inputs=[sample['inputs']], data_samples=[sample['data_samples']])
    batch = model.data_preprocessor(data, training=True)
    assert batch['inputs']['images'].shape == (5, 3, 128, 128)
    assert batch['inputs']['frame_sample_idx'].tolist() == [0] * 5
    losses = model(**batch, mode='loss')
    assert ('loss_mask_track' in losses) == (mode == 'memory')
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    total.backward()
    grads = {'.'.join(n.split('.')[:2]) if n.startswith('seg_head.') else n.split('.')[0]
             for n, p in model.named_parameters()
             if p.grad is not None and p.grad.abs().sum() > 0}
    assert {'mllm', 'seg_head.neck', 'seg_head.visual_head', 'seg_head.text_head',
            'seg_head.fusion'} <= grads
    mem = [p.grad for n, p in model.named_parameters()
           if 'memory_attention' in n and p.requires_grad]
    if mode == 'memory':
        assert any(g is not None and g.abs().sum() > 0 for g in mem)
    else:
        assert all(g is None for g in mem)


def test_tiny_sa2va_video_model_tracks_through_memory_with_its_own_head():
    """The baseline's tiny video model (configs/_base_/models/sa2va_tiny_video.py) is the
    tiny DeSa2VA video model with Sa2VA's seg head: same word list, batching and memory
    training, one prompt per [SEG], and the tracking loss reaches SAM-2's memory."""
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    init_default_scope('desa2va_mm')
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/models/sa2va_tiny_video.py')).model
    ours = Config.fromfile(MODEL_CFG).model
    for key in ('mllm', 'data_preprocessor', 'grounding_encoder', 'video_train',
                'video_tracker'):
        assert cfg[key] == ours[key], key
    assert cfg.seg_head.type == 'Sa2VASegHead'
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.train()
    sample, _ = _video_sample(5)
    data = dict(inputs=[sample['inputs']], data_samples=[sample['data_samples']])
    batch = model.data_preprocessor(data, training=True)
    losses = model(**batch, mode='loss')
    assert 'loss_mask_track' in losses and 'loss_mask_text' not in losses
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    total.backward()
    mem = [p.grad for n, p in model.named_parameters()
           if 'memory_attention' in n and p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in mem)
    head = [p.grad for p in model.seg_head.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in head)


def test_images_and_videos_mix_in_one_batch(synthetic_refcoco):
    from conftest import build_batch, load_tiny_cfg
    cfg = load_tiny_cfg(synthetic_refcoco, 'configs/desa2va/desa2va_tiny_decouple.py')
    image_data, _ = build_batch(cfg, 'train_dataloader', indices=(0, ))
    model = _build(video_train=dict(mode='per_frame'))
    model.train()
    sample, _ = _video_sample(5)
    data = dict(inputs=[sample['inputs']] + image_data['inputs'],
                data_samples=[sample['data_samples']] + image_data['data_samples'])
    batch = model.data_preprocessor(data, training=True)
    assert batch['inputs']['frame_sample_idx'].tolist() == [0] * 5 + [1]
    losses = model(**batch, mode='loss')
    assert torch.isfinite(sum(v for k, v in losses.items() if k.startswith('loss')))


def test_predict_video_writes_rles_per_frame(model, tmp_path):
    import cv2
    from pycocotools import mask as mask_util
    paths = []
    for i, frame in enumerate(_frames(7, 40, 56)):
        paths.append(str(tmp_path / f'{i:05d}.jpg'))
        cv2.imwrite(paths[-1], frame)
    sample, _ = _video_sample(7, mode='test', frame_paths=paths)
    data = dict(inputs=[sample['inputs']], data_samples=[sample['data_samples']])
    batch = model.data_preprocessor(data, training=False)
    # The pipeline packs a lazy frame source, the preprocessor a stream that prepares each
    # frame as the model pulls it: nothing has been read yet.
    from desa2va_mm.models.data_preprocessors import FrameStream
    (stream, ) = batch['inputs']['video_frames']
    assert isinstance(stream, FrameStream) and len(stream) == 7 and 'images' not in \
        batch['inputs']
    # Force answers with a [SEG] for the first expression only.
    seg = torch.randn(model.mllm.hidden_size)
    model.read_video_prompts = lambda *a: ([[model.mllm.seg_token_id], []],
                                           [seg[None], seg.new_zeros(0, seg.shape[0])])
    try:
        out = model(**batch, mode='predict')[0]
    finally:
        del model.read_video_prompts
    rles = out.metainfo['pred_rles']
    assert len(rles) == 2 and all(len(r) == 7 for r in rles)
    assert all(r['size'] == [40, 56] for r in rles[0] + rles[1])
    assert all(mask_util.decode(r).sum() == 0 for r in rles[1])
    from desa2va_mm.datasets.video_io import open_frame_source
    direct = list(model.segment_video(open_frame_source(paths), seg[None], [0, 1],
                                      num_frames=7))
    for t in range(7):
        np.testing.assert_array_equal(mask_util.decode(rles[0][t]).astype(bool),
                                      direct[t]['masks'][0].numpy())
    assert out.metainfo['frame_names'] == [f'{i:05d}' for i in range(7)]

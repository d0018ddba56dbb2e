"""DeSa2VAInferencer's device ('auto') and precision (fp32 / bf16 / fp16) on the tiny models."""
import warnings

import numpy as np
import pytest
import torch

from conftest import load_tiny_cfg

IMAGE_CONFIG = 'configs/sa2va/sa2va_tiny.py'
VIDEO_CONFIG = 'configs/desa2va_video/desa2va_tiny_video.py'
TEXTS = ['the red circle', 'the leftmost shape', 'the large blue square']


def build(config, dtype, device='cpu', **cfg_model):
    """The tiny model with random weights (seed 0), every answer forced to [SEG]."""
    from desa2va_mm.apis import DeSa2VAInferencer
    from tools.analysis_tools.benchmark_inference import force_seg_answers
    cfg = load_tiny_cfg(config=config)
    cfg.model.update(cfg_model)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # "checkpoint is not loaded": random on purpose
        inferencer = DeSa2VAInferencer(cfg, None, device=device, dtype=dtype,
                                       show_progress=False)
    force_seg_answers(inferencer.model)
    return inferencer


def mask_decoder_dtypes(model):
    """Record the dtype of every SAM-2 mask decoder's low-res logits (its first output)."""
    seen = []
    handles = [module.register_forward_hook(lambda m, args, out: seen.append(out[0].dtype))
               for module in model.modules() if type(module).__name__ == 'MaskDecoder']
    assert handles, 'the tiny model has SAM-2 mask decoders'
    return seen, handles


def iou(a, b):
    union = np.logical_or(a, b).sum()
    return np.logical_and(a, b).sum() / union if union else 1.0


def images():
    """One synthetic 128 px image (three texts: three masks)."""
    from desa2va_mm.synthetic import generate_image
    return [generate_image(0, 0, 128).image]


@pytest.fixture(scope='module')
def fp32_image_predictions():
    inferencer = build(IMAGE_CONFIG, 'fp32')
    return [inferencer(img, texts=TEXTS)['predictions'][0] for img in images()]


def test_auto_device_resolves_to_cuda_only_when_available(monkeypatch):
    from desa2va_mm.apis.desa2va_inferencer import resolve_device
    assert resolve_device('auto') == 'cpu' and resolve_device(None) == 'cpu'
    assert resolve_device('cuda:1') == 'cuda:1'
    assert resolve_device(torch.device('cpu')) == 'cpu'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert resolve_device('auto') == 'cuda' and resolve_device(None) == 'cuda'
    assert resolve_device('cpu') == 'cpu'  # an explicit device is kept


def test_auto_device_builds_on_the_cpu_here():
    inferencer = build(IMAGE_CONFIG, 'fp32', device='auto')
    assert inferencer.device == 'cpu' and inferencer.dtype == 'fp32'
    assert {p.device.type for p in inferencer.model.parameters()} == {'cpu'}


def test_dtype_names_and_errors():
    from desa2va_mm.apis.desa2va_inferencer import resolve_dtype
    for given, name in (('fp32', 'fp32'), ('BF16', 'bf16'), ('float16', 'fp16'),
                        ('bfloat16', 'bf16'), (torch.float32, 'fp32'),
                        (torch.bfloat16, 'bf16'), (torch.float16, 'fp16')):
        assert resolve_dtype(given) == name
    for bad in ('int8', 'half', torch.float64, None):
        with pytest.raises(ValueError, match=r"dtype must be one of \['fp32', 'bf16', 'fp16'\]"):
            resolve_dtype(bad)
    # The inferencer checks it before building anything (the config need not exist).
    from desa2va_mm.apis import DeSa2VAInferencer
    with pytest.raises(ValueError, match=r"dtype must be one of .*got 'int8'"):
        DeSa2VAInferencer('no_such_config.py', dtype='int8')


def test_demos_take_device_auto_and_dtype(capsys):
    from tools.demo import image_demo, video_demo
    for demo, first in ((image_demo, 'image.png'), (video_demo, 'video.mp4')):
        parser_args = [first, 'the red circle', '--config', IMAGE_CONFIG]
        with pytest.raises(SystemExit):
            demo.parse_args(parser_args + ['--dtype', 'int8'])
        assert "--dtype: invalid choice: 'int8' (choose from fp32, bf16, fp16)" in \
            capsys.readouterr().err.replace("'fp32', 'bf16', 'fp16'", 'fp32, bf16, fp16')
    source = open('tools/demo/image_demo.py').read() + open('tools/demo/video_demo.py').read()
    assert source.count("'--device', default='auto'") == 2
    assert source.count('dtype=args.dtype') == 2


def test_bf16_image_path_on_cpu_matches_fp32(fp32_image_predictions):
    inferencer = build(IMAGE_CONFIG, 'bf16')
    model = inferencer.model
    assert model.predict_autocast == 'bfloat16' and model.predict_dtype is torch.bfloat16
    seen, handles = mask_decoder_dtypes(model)
    try:
        bf16 = [inferencer(img, texts=TEXTS)['predictions'][0] for img in images()]
    finally:
        for handle in handles:
            handle.remove()
    assert seen and set(seen) == {torch.bfloat16}  # the logits inside are bf16
    ious = []
    for ref, pred in zip(fp32_image_predictions, bf16):
        assert pred['masks'].dtype == bool and pred['masks'].shape == ref['masks'].shape
        assert np.asarray(pred['scores']).dtype == np.float64  # Python floats of float32
        ious += [iou(r, p) for r, p in zip(ref['masks'], pred['masks'])]
        np.testing.assert_allclose(pred['scores'], ref['scores'], atol=0.02)
    # Measured on this model: IoU 0.995 at least (mean 0.996) of masks covering ~50 %.
    assert min(ious) > 0.9, ious
    # Weights stay float32: autocast only changes what the kernels compute in.
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_bf16_chat_runs_under_autocast():
    inferencer = build(IMAGE_CONFIG, 'bf16')
    seen, handles = mask_decoder_dtypes(inferencer.model)
    try:
        reply = inferencer.chat(images()[0], 'Please segment the red circle.')
    finally:
        for handle in handles:
            handle.remove()
    assert set(seen) == {torch.bfloat16}
    assert reply['mask'].dtype == bool and isinstance(reply['score'], float)


def test_default_keeps_the_configs_precision_and_fp32_overrides_it():
    """Without a dtype the config's precision holds (bf16 autocast on CUDA only, so float32
    on this CPU); an explicit dtype is the one setting in force."""
    kept = build(IMAGE_CONFIG, None, predict_autocast='bfloat16')
    assert kept.model.predict_autocast == 'bfloat16'
    assert kept.model.predict_dtype is torch.float32 and kept.dtype == 'fp32'
    kept_cpu = build(IMAGE_CONFIG, None, predict_autocast='bfloat16',
                     predict_autocast_cpu=True)
    assert kept_cpu.model.predict_dtype is torch.bfloat16 and kept_cpu.dtype == 'bf16'
    inferencer = build(IMAGE_CONFIG, 'fp32', predict_autocast='bfloat16')
    assert inferencer.model.predict_autocast is None
    assert inferencer.model.predict_dtype is torch.float32
    seen, handles = mask_decoder_dtypes(inferencer.model)
    inferencer(images()[0], texts=TEXTS[:1])
    for handle in handles:
        handle.remove()
    assert set(seen) == {torch.float32}


def test_a_device_without_the_dtype_is_an_error(monkeypatch):
    """bf16 on a GPU without bf16 would silently run float32: the inferencer refuses."""
    inferencer = build(IMAGE_CONFIG, 'fp32')
    monkeypatch.setattr(type(inferencer.model.data_preprocessor), 'device',
                        property(lambda self: torch.device('cuda', 0)))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *a, **k: False)
    inferencer.device = 'cuda'
    with pytest.raises(ValueError, match=r"dtype='bf16' is not supported on device 'cuda'.*"
                                         r"use dtype='fp16' or 'fp32'"):
        inferencer._set_dtype('bf16')
    inferencer._set_dtype('fp16')
    assert inferencer.model.predict_dtype is torch.float16 and inferencer.dtype == 'fp16'


def test_bf16_video_path_on_cpu_matches_fp32():
    from desa2va_mm.synthetic import generate_image
    frames = np.stack([generate_image(0, i, 128).image for i in range(2)])
    texts = ['the red circle']
    fp32 = build(VIDEO_CONFIG, 'fp32').predict_video(frames, texts, num_key_frames=1)
    inferencer = build(VIDEO_CONFIG, 'bf16')
    seen, handles = mask_decoder_dtypes(inferencer.model)
    try:
        bf16 = inferencer.predict_video(frames, texts, num_key_frames=1)
    finally:
        for handle in handles:
            handle.remove()
    # Frame 0 decoded by the seg head, frame 1 tracked by SAM-2: both in bf16.
    assert seen and set(seen) == {torch.bfloat16}
    assert bf16['masks'].dtype == bool and bf16['scores'].dtype == np.float32
    assert bf16['masks'].shape == fp32['masks'].shape == (1, 2, 128, 128)
    assert bf16['answers'] == fp32['answers']
    # Measured on this model: IoU >= 0.97 on every frame.
    ious = [iou(fp32['masks'][0, t], bf16['masks'][0, t]) for t in range(2)]
    assert min(ious) > 0.9, ious

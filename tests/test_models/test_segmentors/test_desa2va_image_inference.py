"""DeSa2VA image inference as Sa2VA's: logits via the SAM-2 input size, one mask per [SEG],
autocast setting (bf16 on CUDA, float32 on the CPU)."""
import pytest
import torch
import torch.nn.functional as F

from conftest import build_batch


def _logits(seed=0):
    return torch.randn(3, 1, 32, 32, generator=torch.Generator().manual_seed(seed)) * 4


def test_logits_go_through_the_sam2_input_size(tiny_model):
    model = tiny_model
    assert model.mask_resize == 'via_sam_input' and model.grounding_encoder.image_size == 128
    logits = _logits()
    two_step = F.interpolate(F.interpolate(logits, size=(128, 128), mode='bilinear',
                                           align_corners=False),
                             size=(75, 210), mode='bilinear', align_corners=False)[:, 0] > 0
    masks = model._masks_at(logits, (75, 210))
    assert masks.dtype == torch.bool and masks.shape == (3, 75, 210)
    assert torch.equal(masks, two_step)
    model.mask_resize = 'direct'
    direct = F.interpolate(logits, size=(75, 210), mode='bilinear',
                           align_corners=False)[:, 0] > 0
    assert torch.equal(model._masks_at(logits, (75, 210)), direct)
    assert not torch.equal(direct, two_step)
    # At the SAM-2 input size itself the two agree (the tiny data: 128 px images).
    model.mask_resize = 'via_sam_input'
    via = model._masks_at(logits, (128, 128))
    model.mask_resize = 'direct'
    assert torch.equal(via, model._masks_at(logits, (128, 128)))
    # bf16 logits are resized in float32.
    model.mask_resize = 'via_sam_input'
    assert torch.equal(model._masks_at(logits.bfloat16(), (75, 210)),
                       model._masks_at(logits.bfloat16().float(), (75, 210)))


def test_answers_with_two_seg_give_two_masks(tiny_cfg, tiny_model, monkeypatch):
    from desa2va_mm.evaluation.metrics.referring_seg_metric import sentence_masks
    data, _ = build_batch(tiny_cfg, 'test_dataloader', indices=(0, ))
    model = tiny_model.eval()
    h = model.mllm.hidden_size
    torch.manual_seed(1)
    states = torch.randn(3, h) * 5
    seg = model.mllm.seg_token_id

    def fixed(input_ids, *args, **kwargs):
        # Sentence 0: two [SEG]; sentence 1: none; the others: one.
        n = input_ids.shape[0]
        answers = [[seg, 5, seg], [5]] + [[seg]] * (n - 2)
        return answers[:n], ([states[:2], states[:0]] + [states[2:]] * (n - 2))[:n]

    monkeypatch.setattr(model.mllm, 'generate', fixed)
    sample = model.test_step(data)[0]
    num_sentences = len(sample.metainfo['text'])
    assert num_sentences >= 2
    pred = sample.pred_instances
    assert pred.sentence_idx.tolist() == [0, 0, 1] + list(range(2, num_sentences))
    assert len(pred.masks) == len(pred.scores) == num_sentences + 1
    assert len(sample.pred_answers) == num_sentences
    feats = model.grounding_encoder.encode_image(
        model.data_preprocessor(data)['inputs']['images'])
    direct = model.seg_head.decode(model.grounding_encoder, feats, states[:2],
                                   torch.zeros(2, dtype=torch.long))
    h0, w0 = sample.metainfo['ori_shape'][:2]
    assert torch.equal(pred.masks[:2], model._masks_at(direct.final_logits, (h0, w0)))
    assert torch.equal(pred.scores[:2], direct.iou_pred)
    assert not pred.masks[2].any() and pred.scores[2] == 0
    # The metrics score each sentence's first mask (Sa2VA: prediction_masks[0]).
    scored = sentence_masks(pred.to_dict())
    assert scored.shape[0] == num_sentences
    assert torch.equal(scored[0], pred.masks[0]) and torch.equal(scored[1], pred.masks[2])


def test_predict_autocast_is_read_and_falls_back_to_float32_on_cpu(tiny_cfg, monkeypatch):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    cfg = tiny_cfg.model.copy()
    cfg.predict_autocast = 'bfloat16'
    torch.manual_seed(0)
    model = MODELS.build(cfg).eval()
    assert model.predict_autocast == 'bfloat16'
    assert model.predict_dtype is torch.float32  # CPU: no autocast
    seen = []
    original = model.mllm.generate

    def spy(*args, **kwargs):
        seen.append(torch.is_autocast_enabled('cuda') or torch.is_autocast_enabled('cpu'))
        return original(*args, **kwargs)

    monkeypatch.setattr(model.mllm, 'generate', spy)
    data, _ = build_batch(tiny_cfg, 'test_dataloader', indices=(0, ))
    sample = model.test_step(data)[0]
    assert seen == [False] and sample.pred_instances.masks.dtype == torch.bool
    # On a CUDA device with bf16 the setting is the dtype in force.
    monkeypatch.setattr(type(model.data_preprocessor), 'device',
                        property(lambda self: torch.device('cuda', 0)))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *a, **k: True)
    assert model.predict_dtype is torch.bfloat16
    monkeypatch.setattr(torch.cuda, 'is_bf16_supported', lambda *a, **k: False)
    assert model.predict_dtype is torch.float32  # a GPU without bf16: float32


def test_settings_are_checked(tiny_cfg):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    for key, value, match in (('predict_autocast', 'fp8', 'model.predict_autocast'),
                              ('mask_resize', 'nearest', 'model.mask_resize')):
        cfg = tiny_cfg.model.copy()
        cfg[key] = value
        with pytest.raises(ValueError, match=match):
            MODELS.build(cfg)


def test_real_size_bases_run_bf16_and_tiny_ones_float32():
    import os.path as osp
    from mmengine.config import Config
    root = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    for name, dtype in (('sa2va_1b', 'bfloat16'), ('desa2va_4b', 'bfloat16'),
                        ('sa2va_tiny', None), ('desa2va_tiny', None)):
        cfg = Config.fromfile(osp.join(root, 'configs', '_base_', 'models', f'{name}.py'))
        assert cfg.model.get('predict_autocast') == dtype, name

"""DeSa2VA with the Sa2VA seg head on the tiny config: loss / predict / tensor modes."""
import pytest
import torch

from conftest import build_batch


def test_loss_mode_gives_finite_losses_and_gradients(tiny_cfg, tiny_model):
    data, _ = build_batch(tiny_cfg, 'train_dataloader', indices=(0, 1, 2))
    model = tiny_model.train()
    batch = model.data_preprocessor(data, training=True)
    losses = model(**batch, mode='loss')
    assert set(losses) == {'loss_lm', 'loss_mask', 'loss_dice'}
    for value in losses.values():
        assert torch.isfinite(value)
    total = sum(losses.values())
    total.backward()
    # The mask loss reaches the LLM through the [SEG] state, and the head decoder trains.
    lm_layer = model.mllm.model.model.language_model.layers[-1].mlp.down_proj.weight
    assert lm_layer.grad is not None and lm_layer.grad.abs().sum() > 0
    assert model.seg_head.text_hidden_fcs.mlp[0].weight.grad.abs().sum() > 0
    assert model.seg_head.mask_head.decoder.output_hypernetworks_mlps[0].layers[0] \
        .weight.grad.abs().sum() > 0
    # The stock SAM-2 decoder is only the template the head copies: it never trains.
    assert all(not p.requires_grad
               for p in model.grounding_encoder.sam2.sam_mask_decoder.parameters())


def test_one_mask_per_seg_token_in_order(tiny_cfg, tiny_model):
    data, _ = build_batch(tiny_cfg, 'train_dataloader', indices=(0, 1))
    batch = tiny_model.data_preprocessor(data, training=True)
    out = tiny_model(**batch, mode='tensor')
    n_seg = int((batch['inputs']['input_ids'] == tiny_model.mllm.seg_token_id).sum())
    n_gt = sum(len(s.gt_instances.masks) for s in batch['data_samples'])
    assert n_seg == n_gt == out.final_logits.shape[0] == len(out)
    # 128 px SAM-2 input -> 8x8 image embedding -> 32x32 low-res logits.
    assert out.final_logits.shape[1:] == (1, 32, 32)
    # seq/image bookkeeping: masks of sample 0 come first.
    _, _, image_idx = tiny_model._read_seg_states(batch['inputs'])
    assert image_idx.tolist() == sorted(image_idx.tolist())


def test_seg_count_mismatch_names_the_sample(tiny_cfg, tiny_model):
    data, _ = build_batch(tiny_cfg, 'train_dataloader', indices=(0, ))
    batch = tiny_model.data_preprocessor(data, training=True)
    sample = batch['data_samples'][0]
    sample.gt_instances = sample.gt_instances[:0]
    with pytest.raises(ValueError, match='target masks but'):
        tiny_model(**batch, mode='loss')


def test_batch_without_seg_runs_same_graph_with_zero_mask_loss(tiny_cfg, tiny_model):
    data, _ = build_batch(tiny_cfg, 'train_dataloader', indices=(0, ))
    batch = tiny_model.data_preprocessor(data, training=True)
    ids = batch['inputs']['input_ids']
    ids[ids == tiny_model.mllm.seg_token_id] = tiny_model.mllm.tokenizer.unk_token_id
    batch['data_samples'][0].gt_instances = batch['data_samples'][0].gt_instances[:0]
    losses = tiny_model(**batch, mode='loss')
    assert losses['loss_mask'].item() == 0 and losses['loss_dice'].item() == 0
    sum(losses.values()).backward()
    # The head still took part in the graph (zero gradients, not None): DDP-safe.
    grad = tiny_model.seg_head.mask_head.decoder.iou_token.weight.grad
    assert grad is not None and grad.abs().sum() == 0


def test_predict_returns_masks_at_original_resolution_in_sentence_order(tiny_cfg, tiny_model):
    data, dataset = build_batch(tiny_cfg, 'test_dataloader', indices=(0, 1))
    model = tiny_model.eval()
    results = model.test_step(data)
    assert len(results) == 2
    for i, sample in enumerate(results):
        info = dataset.get_data_info(i)
        n = sum(len(o['sentences']) for o in info['instances'])
        masks = sample.pred_instances.masks
        assert masks.dtype == torch.bool
        assert tuple(masks.shape) == (n, info['height'], info['width'])
        assert len(sample.pred_answers) == n
        assert sample.metainfo['text'] == [s for o in info['instances'] for s in o['sentences']]


def test_answer_without_seg_is_an_empty_mask(tiny_cfg, tiny_model, monkeypatch):
    data, _ = build_batch(tiny_cfg, 'test_dataloader', indices=(0, ))
    model = tiny_model.eval()
    original = model.mllm.generate

    def no_seg(*args, **kwargs):
        answers, states = original(*args, **kwargs)
        return [[5, 6] for _ in answers], [s[:0] for s in states]

    monkeypatch.setattr(model.mllm, 'generate', no_seg)
    sample = model.test_step(data)[0]
    assert sample.pred_instances.masks.sum() == 0
    assert len(sample.pred_instances.masks) == len(sample.metainfo['text'])


def test_predict_decodes_generated_seg_state(tiny_cfg, tiny_model, monkeypatch):
    """The mask of a sentence depends on the [SEG] state generation returned for it."""
    data, _ = build_batch(tiny_cfg, 'test_dataloader', indices=(0, ))
    model = tiny_model.eval()
    h = model.mllm.hidden_size
    torch.manual_seed(1)
    states = [torch.randn(1, h) * 5, torch.randn(1, h) * 5]

    def fixed(input_ids, *args, **kwargs):
        n = input_ids.shape[0]
        return [[model.mllm.seg_token_id]] * n, [states[i % 2] for i in range(n)]

    monkeypatch.setattr(model.mllm, 'generate', fixed)
    feats = model.grounding_encoder.encode_image(
        model.data_preprocessor(data)['inputs']['images'])
    sample = model.test_step(data)[0]
    direct = model.seg_head.decode(model.grounding_encoder, feats, states[0],
                                   torch.zeros(1, dtype=torch.long))
    h0, w0 = sample.metainfo['ori_shape'][:2]
    expected = torch.nn.functional.interpolate(
        direct.final_logits, size=(h0, w0), mode='bilinear', align_corners=False)[0, 0] > 0
    assert torch.equal(sample.pred_instances.masks[0], expected)


def test_invalid_mode(tiny_model):
    with pytest.raises(ValueError, match='Invalid mode'):
        tiny_model({}, None, mode='bogus')


def test_sa2va_head_cannot_pretrain_on_text_anchors(tiny_cfg):
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import MODELS
    cfg = tiny_cfg.model.copy()
    cfg.train_phase = 'pretrain'
    with pytest.raises(ValueError, match="needs seg_head=dict\\(type='DecoupledSegHead'\\)"):
        MODELS.build(cfg)
    cfg.train_phase = 'sam_pretrain'
    with pytest.raises(ValueError, match='SAM2ClickPretrainer'):
        MODELS.build(cfg)

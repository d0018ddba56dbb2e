"""Export a trained model (LoRA merged) -> reload from the folder -> identical outputs."""
import json
import os.path as osp

import torch

from conftest import REPO_ROOT


def _tiny_model():
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from desa2va_mm.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/desa2va/desa2va_tiny_decouple.py'))
    cfg.model.mllm.lora = dict(r=4, lora_alpha=8, lora_dropout=0.0)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('desa2va_mm'):
        model = MODELS.build(cfg.model)
    # "Trained": LoRA B away from 0 and the heads away from their SAM-2 copy, so merging
    # and saving every part matter.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'lora_B' in name or name.startswith(('seg_head.visual_head.', 'seg_head.neck.',
                                                    'seg_head.fusion.')):
                p.add_(torch.randn_like(p) * 0.05)
    return model.eval(), cfg


def test_export_reload_gives_identical_predictions(tmp_path):
    from desa2va_mm.utils.hf_export import export_desa2va, load_desa2va_export
    from tools.analysis_tools.smoke_real_size import build_batch
    model, cfg = _tiny_model()
    data, _ = build_batch(model, 'the red circle')
    batch = model.data_preprocessor(data, True)
    with torch.no_grad():
        before = model(**batch, mode='tensor')
        ids = batch['inputs']['input_ids'][:, :-4]
        before_gen = model.mllm.generate(ids, torch.ones_like(ids), model.mllm.encode_images(
            batch['inputs']['pixel_values']).flatten(0, 1), max_new_tokens=4)[0]

    meta = export_desa2va(model, cfg.model.to_dict(), str(tmp_path / 'export'), source='x.pth')
    assert meta['lora_layers_merged'] > 0
    exported_cfg = json.load(open(tmp_path / 'export' / 'desa2va_config.json'))
    assert exported_cfg['mllm']['lora'] is None
    head_cfg = exported_cfg['seg_head']
    assert head_cfg['adversarial_loss'] is None and head_cfg['club_loss'] is None
    assert meta['seg_head'] == 'DecoupledSegHead' and meta['decoupled']

    loaded = load_desa2va_export(str(tmp_path / 'export'))
    assert not any('lora_' in n for n, _ in loaded.named_parameters())
    assert loaded.seg_head.adversarial_loss is None and loaded.seg_head.club_loss is None
    batch2 = loaded.data_preprocessor(data, True)
    with torch.no_grad():
        after = loaded(**batch2, mode='tensor')
        after_gen = loaded.mllm.generate(ids, torch.ones_like(ids), loaded.mllm.encode_images(
            batch2['inputs']['pixel_values']).flatten(0, 1), max_new_tokens=4)[0]
    for key in ('text_prompt', 'visual_prompt', 'text_logits', 'visual_logits',
                'fused_logits', 'final_logits'):
        torch.testing.assert_close(getattr(after, key), getattr(before, key), atol=1e-5,
                                   rtol=1e-5)
    assert after_gen == before_gen


def test_export_of_the_earlier_layout_loads(tmp_path):
    """A folder written when the heads sat at the top of the model (config and weights)."""
    from safetensors.torch import load_file, save_file

    from desa2va_mm.utils.hf_export import export_desa2va, load_desa2va_export
    model, cfg = _tiny_model()
    folder = tmp_path / 'export'
    export_desa2va(model, cfg.model.to_dict(), str(folder))
    cfg_path = folder / 'desa2va_config.json'
    old = json.load(open(cfg_path))
    head = old.pop('seg_head')
    head.pop('type')
    # Seg-head settings added since that layout were never written at the top.
    head.pop('mask_loss_sampler', None)
    head.pop('anchor_align_loss', None)
    old.update(head, seg_projector=None, mask_head=None)
    old['frozen_modules'] = [p[len('seg_head.'):] for p in old['frozen_modules']]
    json.dump(old, open(cfg_path, 'w'))
    path = str(folder / 'desa2va_model.safetensors')
    state = {k.replace('seg_head.', '', 1): v for k, v in load_file(path).items()}
    assert 'neck.text_proj.weight' in state
    save_file(state, path, metadata={'format': 'desa2va-export-v1'})
    loaded = load_desa2va_export(str(folder))
    assert type(loaded.seg_head).__name__ == 'DecoupledSegHead'
    assert torch.equal(loaded.seg_head.neck.text_proj.weight, model.seg_head.neck.text_proj.weight)
    assert loaded.frozen_modules == ('seg_head.text_head', 'seg_head.neck.anchor_proj')


def test_export_folder_rejects_a_tampered_weight_file(tmp_path):
    import pytest
    from safetensors.torch import load_file, save_file

    from desa2va_mm.utils.hf_export import export_desa2va, load_desa2va_export
    from desa2va_mm.utils.state_dict_check import StateDictMismatchError
    model, cfg = _tiny_model()
    folder = tmp_path / 'export'
    export_desa2va(model, cfg.model.to_dict(), str(folder))
    path = str(folder / 'desa2va_model.safetensors')
    state = load_file(path)
    key = 'seg_head.neck.text_proj.weight'
    state[key] = torch.zeros(3, 3)
    save_file(state, path)
    with pytest.raises(StateDictMismatchError,
                       match=r'seg_head\.neck\.text_proj\.weight: checkpoint '
                       r"\(3, 3\) vs model \(64, 128\)"):
        load_desa2va_export(str(folder))
    assert osp.isdir(folder / 'internvl')


def test_desa2va_to_hf_cli_exports_a_checkpoint(tmp_path):
    """tools/model_converters/desa2va_to_hf.py: config + MMEngine checkpoint -> folder."""
    from desa2va_mm.utils.hf_export import load_desa2va_export
    from tools.model_converters.desa2va_to_hf import main
    model, _ = _tiny_model()
    ckpt = str(tmp_path / 'iter_1.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    config = tmp_path / 'tiny_lora.py'
    config.write_text(f"_base_ = ['{osp.join(REPO_ROOT, 'configs/desa2va/desa2va_tiny_decouple.py')}']\n"
                      'model = dict(mllm=dict(lora=dict(_delete_=True, r=4, lora_alpha=8, '
                      'lora_dropout=0.0)))\n')
    main([str(config), ckpt, str(tmp_path / 'out')])
    loaded = load_desa2va_export(str(tmp_path / 'out'))
    reference = model.state_dict()
    for key, value in loaded.state_dict().items():
        if not key.startswith('mllm.'):
            assert torch.equal(value, reference[key]), key
    meta = json.load(open(tmp_path / 'out' / 'desa2va_export.json'))
    assert meta['source'] == ckpt and meta['decoupled']

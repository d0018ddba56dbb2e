"""The real-resolution image dataset configs: structure, and the pipelines on real sizes."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from conftest import REPO_ROOT, give_real_size_tokenizer

BASE = osp.join(REPO_ROOT, 'configs', '_base_', 'datasets')


@pytest.mark.parametrize('name,prefixes', [
    ('refcoco', ['refcoco_val', 'refcoco_testA', 'refcoco_testB']),
    ('refcoco_plus', ['refcoco_plus_val', 'refcoco_plus_testA', 'refcoco_plus_testB']),
    ('refcocog', ['refcocog_val', 'refcocog_test']),
    ('grefcoco', ['grefcoco_val', 'grefcoco_testA', 'grefcoco_testB']),
    ('reason_seg', ['reason_seg_val', 'reason_seg_test']),
])
def test_every_split_one_metric(name, prefixes):
    cfg = Config.fromfile(osp.join(BASE, f'{name}.py'))
    datasets = cfg.test_dataloader.dataset.datasets
    assert cfg.test_dataloader.dataset.type == 'ConcatDataset'
    assert cfg.test_evaluator.type == 'MultiDatasetsEvaluator'
    assert cfg.test_evaluator.dataset_prefixes == prefixes
    assert len(cfg.test_evaluator.metrics) == len(datasets) == len(prefixes)
    assert all(d.test_mode for d in datasets)
    if name.startswith('ref'):
        assert [d.split for d in datasets] == [p.split('_')[-1] for p in prefixes]
        umd = name == 'refcocog'
        assert datasets[0].split_file.endswith('refs(umd).p' if umd else 'refs(unc).p')
    train = cfg.train_dataloader.dataset.pipeline
    sample = next(t for t in train if t.type == 'SampleReferringTargets')
    assert sample.mode == 'random' and sample.max_objects == 5
    tiling = next(t for t in train if t.type == 'InternVLTiling')
    assert (tiling.tile_size, tiling.min_tiles, tiling.max_tiles, tiling.use_thumbnail) == (
        448, 1, 12, True)
    # Sa2VA's DirectResize: PIL bicubic to 1024 x 1024, aspect ratio not kept.
    resize = next(t for t in train if t.type == 'DirectResize')
    assert resize.scale == (1024, 1024)
    assert next(t for t in datasets[0].pipeline if t.type == 'DirectResize').scale == (1024, 1024)
    assert train[6].type == 'TokenizeConversation'  # documented index (dataset_prepare.md)
    test = datasets[0].pipeline
    assert test[6].type == 'TokenizeConversation'
    assert next(t for t in test if t.type == 'SampleReferringTargets').mode == 'all'


#: Sa2VA's training data, from projects/llava_sam2/configs/sa2va_4b.py of
#: magic-research/Sa2VA (lines 135-448; sa2va_1b.py and sa2va_8b.py hold the same list):
#: (its dataset config, class, epoch repeats, our member or None when left out).
SA2VA_TRAIN_DATA = [
    ('refcoco_segm_dataset', 'ReferSegmDataset', 4, 'refcoco'),  # listed 4 times
    ('refcoco_plus_segm_dataset', 'ReferSegmDataset', 4, 'refcoco_plus'),
    ('refcocog_segm_dataset', 'ReferSegmDataset', 4, 'refcocog'),
    ('llava_vqa_dataset', 'LLaVADataset', 1, 'llava'),
    ('video_mevis_dataset', 'VideoMeVISDataset', 4, 'mevis'),
    ('video_revos_dataset', 'VideoReVOSDataset', 10, 'revos'),
    ('video_refytvos_dataset', 'VideoRefYoutubeVOSDataset', 4, 'ref_ytvos'),
    ('video_qa_dataset', 'VideoChatUniViDataset', 1, 'video_qa'),
    ('video_sam2_dataset', 'VideoSAM2Dataset', 4, 'sav'),
    ('glamm_psg_dataset', 'OpenPsgGCGDataset', 1, 'openpsg_gcg'),
    ('glamm_grandf_dataset', 'GranDfGCGDataset', 10, 'grandf_gcg'),
    ('glamm_flickr_dataset', 'FlickrGCGDataset', 1, 'flickr_gcg'),
    ('glamm_refcocog_dataset', 'RefCOCOgGCGDataset', 1, 'refcocog_gcg'),
    ('image_osprey_dataset', 'OspreyDataset', 1, 'osprey_conversation'),
    ('image_osprey_description_dataset', 'OspreyDescriptionDataset', 1, 'osprey_description'),
    ('image_osprey_part_dataset', 'OspreyDataset', 1, 'osprey_part'),
    ('image_osprey_short_dataset', 'OspreyShortDescriptionDataset', 1, 'osprey_short'),
    ('image_osprey_positive_neg_dataset', 'OspreyDataset', 1, 'osprey_positive_negative'),
]
#: Our members: name -> (dataset type, the file or split it reads).
OUR_MEMBERS = {
    'refcoco': ('RefCocoReferringDataset', 'refcoco/refs(unc).p'),
    'refcoco_plus': ('RefCocoReferringDataset', 'refcoco+/refs(unc).p'),
    'refcocog': ('RefCocoReferringDataset', 'refcocog/refs(umd).p'),
    'grefcoco': ('GRefCocoDataset', 'grefcoco/grefs(unc).json'),  # our addition
    'llava': ('LLaVAQADataset', 'llava_v1_5_mix665k.json'),
    'video_qa': ('LLaVAQADataset', 'video_chat.json'),
    'mevis': ('MeViSDataset', 'data/mevis/train/'),
    'revos': ('ReVOSDataset', 'meta_expressions_train_.json'),
    'openpsg_gcg': ('OpenPsgGCGDataset', 'annotations/OpenPsgGCG_train.json'),
    'grandf_gcg': ('GranDfGCGDataset', 'annotations/GranDf_HA_GCG_train.json'),
    'flickr_gcg': ('FlickrGCGDataset', 'annotations/flickr_mergedGT_GCG_train.json'),
    'refcocog_gcg': ('RefCOCOgGCGDataset', 'annotations/RefCOCOg_GCG_train.json'),
    'ref_ytvos': ('RefYTVOSDataset', 'meta_expressions/train/meta_expressions.json'),
    'sav': ('SAVDataset', 'sam_v_final_v3.json'),
    'osprey_conversation': ('OspreyDataset', 'Osprey-724K/osprey_conversation.json'),
    'osprey_description': ('OspreyDescriptionDataset',
                           'Osprey-724K/osprey_detail_description.json'),
    'osprey_part': ('OspreyDataset', 'Osprey-724K/osprey_part_level.json'),
    'osprey_short': ('OspreyShortDescriptionDataset', 'Osprey-724K/osprey_short_form.json'),
    'osprey_positive_negative': ('OspreyDataset',
                                 'Osprey-724K/osprey_lvis_positive_negative.json'),
}


def _what_it_reads(member):
    return member.get('split_file') or member.get('ann_file') or member.get('data_root')


def test_sa2va_mix_is_sa2vas_list_plus_grefcoco():
    cfg = Config.fromfile(osp.join(BASE, 'sa2va_mix.py'))
    members = cfg.train_dataloader.dataset.datasets
    assert cfg.train_dataloader.dataset.type == 'ConcatDataset'
    assert cfg.train_dataloader.dataset.ignore_keys == ['dataset_type']
    kept = {ours: times for _, _, times, ours in SA2VA_TRAIN_DATA if ours is not None}
    assert cfg.mix_repeats.to_dict() == dict(kept, grefcoco=1)
    # The members in mix_repeats' order, each repeated as the table says.
    built = [(m.get('times', 1), (m.dataset if m.type == 'RepeatDataset' else m))
             for m in members]
    order = ['refcoco', 'refcoco_plus', 'refcocog', 'grefcoco', 'llava', 'video_qa', 'mevis',
             'revos', 'ref_ytvos', 'openpsg_gcg', 'grandf_gcg', 'flickr_gcg', 'refcocog_gcg',
             'sav', 'osprey_conversation', 'osprey_description', 'osprey_part',
             'osprey_short', 'osprey_positive_negative']
    assert [(times, d.type, _what_it_reads(d)) for times, d in built] == [
        (cfg.mix_repeats[name], *OUR_MEMBERS[name]) for name in order]
    # Every Sa2VA dataset is named in the config's comment; so is our addition.
    with open(osp.join(BASE, 'sa2va_mix.py'), encoding='utf-8') as f:
        text = f.read()
    for _, cls, _, ours in SA2VA_TRAIN_DATA:
        assert f'({cls}' in text, cls
    assert 'Our addition, not in Sa2VA\'s mix: gRefCOCO x1' in text
    video_step = next(s for s in members[8].dataset.pipeline
                      if s.type == 'BuildReferringConversation')
    assert video_step.to_dict() == dict(type='BuildReferringConversation', mode='train')
    # SA-V: Sa2VA's long-description question, objects with replacement, random frames.
    sav = members[order.index('sav')].dataset
    assert sav.type == 'SAVDataset'
    sav_steps = {s.type: s for s in sav.pipeline}
    assert sav_steps['BuildReferringConversation'].questions == [
        'Please segment the object according to the description: {expression}']
    assert sav_steps['SampleVideoExpressions'].pad_with_replacement is True
    assert sav_steps['SampleVideoFrames'].contiguous_prob == 0.0


def test_sa2va_mix_table_matches_sa2vas_config():
    """The table above read from Sa2VA's released configs (with a fetched copy)."""
    import ast
    import importlib.util
    spec = importlib.util.spec_from_file_location('reference_code', osp.join(
        REPO_ROOT, 'tests', 'test_evaluation', 'test_metrics', 'reference_code.py'))
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    for size in ('1b', '4b', '8b'):
        source = reference.reference_source(
            'magic-research/Sa2VA', f'projects/llava_sam2/configs/sa2va_{size}.py')
        assigned = {node.targets[0].id: node.value for node in ast.parse(source).body
                    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
        listed = [e.id for e in next(k.value for k in assigned['train_dataset'].keywords
                                     if k.arg == 'datasets').elts]
        counts = {name: listed.count(name) for name in listed}
        table = []
        for name in dict.fromkeys(listed):
            kw = {k.arg: k.value for k in assigned[name].keywords}
            repeats = ast.literal_eval(kw['repeats']) if 'repeats' in kw else 1
            table.append((name, kw['type'].id, repeats * counts[name]))
        assert table == [row[:3] for row in SA2VA_TRAIN_DATA], size


def test_real_size_pipelines_on_images(synthetic_refcoco):
    """The RefCOCO pipelines at real sizes: 448 tiles + thumbnail, 256 tokens per tile,
    1024 SAM-2 input, masks at the SAM-2 size in training and the original size at test."""
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    init_default_scope('desa2va_mm')
    cfg = Config.fromfile(osp.join(BASE, 'refcoco.py'))
    train_cfg = cfg.train_dataloader.dataset
    train_cfg.data_root = synthetic_refcoco + '/'
    ds = DATASETS.build(train_cfg)
    give_real_size_tokenizer(ds)
    out = ds[0]
    sample = out['data_samples']
    # 128 x 128 synthetic images: a square too small for a 2x2 grid -> 1 tile, no thumbnail.
    assert sample.pixel_values.shape == (1, 3, 448, 448)
    assert out['inputs'].shape == (3, 1024, 1024)
    tok = ds.pipeline.transforms[6].tokenizer
    ctx = tok.convert_tokens_to_ids('<IMG_CONTEXT>')
    assert int((sample.input_ids[0] == ctx).sum()) == 256
    seg = tok.convert_tokens_to_ids('[SEG]')
    n_targets = len(sample.gt_instances.masks)
    assert 1 <= n_targets <= 5 and int((sample.input_ids[0] == seg).sum()) == n_targets
    assert sample.gt_instances.masks.masks.shape[1:] == (1024, 1024)
    test_cfg = cfg.val_dataloader.dataset
    test_cfg.data_root = synthetic_refcoco + '/'
    val = DATASETS.build(test_cfg)
    give_real_size_tokenizer(val)
    item = val[0]['data_samples']
    assert len(item.input_ids) == len(item.text)  # one prompt per sentence
    assert item.gt_masks.masks.shape[1:] == (128, 128)  # original resolution
    assert all(int((ids == seg).sum()) == 0 for ids in item.input_ids)


def test_reason_seg_and_qa_configs(tmp_path):
    """ReasonSeg's real test pipeline hands the ignore region to the metric; the QA config
    writes answers with QAAnswerWriter."""
    import desa2va_mm  # noqa: F401
    from desa2va_mm.registry import DATASETS
    from test_reason_seg_dataset import write_reason_seg
    init_default_scope('desa2va_mm')
    cfg = Config.fromfile(osp.join(BASE, 'reason_seg.py'))
    val_cfg = cfg.val_dataloader.dataset
    val_cfg.data_root = write_reason_seg(tmp_path)
    val = DATASETS.build(val_cfg)
    give_real_size_tokenizer(val)
    item = val[0]['data_samples']
    assert item.gt_ignore_masks.masks.sum() == 9 and item.gt_masks.masks.sum() == 91
    assert item.is_sentence is True and len(item.input_ids) == 1
    qa = Config.fromfile(osp.join(BASE, 'llava_qa.py'))
    assert qa.test_evaluator.type == 'QAAnswerWriter'
    assert 'question_id' in qa.test_dataloader.dataset.pipeline[-1].meta_keys
    assert qa.train_dataloader.dataset.pipeline[2].type == 'TokenizeConversation'

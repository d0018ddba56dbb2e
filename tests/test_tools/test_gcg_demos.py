"""GCG in the demos: image_demo.py --gcg and the web demo's GCG mode show the caption and
each grounded phrase's mask. The tiny Sa2VA with its generation forced to a two-phrase
grounded caption (two [SEG], two different states)."""
import json
import os.path as osp
import warnings

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO_ROOT

CONFIG = osp.join(REPO_ROOT, 'configs/sa2va/sa2va_tiny.py')
ANSWER = '<p> the red circle </p> [SEG] is left of <p> the star </p> [SEG] .'


def force_gcg_answer(model):
    """Every prompt is answered ANSWER, its two [SEG] carrying two fixed states."""
    tokenizer = model.mllm.tokenizer
    ids = tokenizer.convert_tokens_to_ids(ANSWER.split())
    g = torch.Generator().manual_seed(5)
    states = torch.randn(2, model.mllm.hidden_size, generator=g)

    def generate(input_ids, attention_mask, image_embeds, max_new_tokens=None):
        return [list(ids) for _ in range(len(input_ids))], [states] * len(input_ids)

    model.mllm.generate = generate


def _image(index=0):
    from desa2va_mm.synthetic import generate_image
    return generate_image(0, index, 128).image


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    from mmengine.config import Config

    from desa2va_mm.registry import MODELS
    from desa2va_mm.utils import register_all_modules
    register_all_modules()
    torch.manual_seed(0)
    path = str(tmp_path_factory.mktemp('gcg_demo') / 'model.pth')
    torch.save(dict(state_dict=MODELS.build(Config.fromfile(CONFIG).model).state_dict(),
                    meta=dict()), path)
    return path


@pytest.fixture(scope='module')
def forced_inferencer_class(checkpoint):
    from desa2va_mm.apis import DeSa2VAInferencer

    class Forced(DeSa2VAInferencer):
        def __init__(self, *args, **kwargs):
            with warnings.catch_warnings():
                warnings.simplefilter('ignore')
                super().__init__(*args, **kwargs)
            force_gcg_answer(self.model)

    return Forced


def test_image_demo_gcg_prints_and_writes_each_phrase(forced_inferencer_class, checkpoint,
                                                       tmp_path, monkeypatch, capsys):
    import importlib.util

    import desa2va_mm.apis
    from desa2va_mm.apis.gcg import grounded_caption
    from desa2va_mm.structures import decode_rle
    spec = importlib.util.spec_from_file_location(
        '_image_demo', osp.join(REPO_ROOT, 'tools', 'demo', 'image_demo.py'))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    image = str(tmp_path / 'shapes.png')
    cv2.imwrite(image, _image())
    monkeypatch.setattr(desa2va_mm.apis, 'DeSa2VAInferencer', forced_inferencer_class)
    out = demo.main([image, '--gcg', '--config', CONFIG, '--checkpoint', checkpoint,
                     '--out-dir', str(tmp_path / 'out'), '--device', 'cpu'])
    printed = capsys.readouterr().out
    assert 'caption: the red circle is left of the star .' in printed
    assert "[0] 'the red circle':" in printed and "[1] 'the star':" in printed
    (result, ) = out['gcg']
    # The same as asking the inferencer directly.
    direct = grounded_caption(forced_inferencer_class(CONFIG, checkpoint, device='cpu'), image)
    assert [p['phrase'] for p in result['phrases']] == ['the red circle', 'the star']
    with open(tmp_path / 'out' / 'preds' / 'shapes_gcg.json') as f:
        record = json.load(f)
    assert record['caption'] == direct['caption'] == 'the red circle is left of the star .'
    assert [p['phrase'] for p in record['phrases']] == ['the red circle', 'the star']
    for saved, expected in zip(record['phrases'], direct['phrases']):
        np.testing.assert_array_equal(decode_rle(saved['mask']).astype(bool),
                                      expected['mask'])
        assert saved['score'] == pytest.approx(expected['score'])
    assert not np.array_equal(direct['phrases'][0]['mask'], direct['phrases'][1]['mask'])
    overlay = cv2.imread(str(tmp_path / 'out' / 'vis' / 'shapes_gcg.png'))
    assert overlay is not None and overlay.shape[1] >= 128


def test_image_demo_needs_texts_or_gcg(capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        '_image_demo', osp.join(REPO_ROOT, 'tools', 'demo', 'image_demo.py'))
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    image = osp.join(REPO_ROOT, 'tools', 'demo', 'image_demo.py')  # exists; never read
    with pytest.raises(SystemExit):
        demo.parse_args([image, '--config', CONFIG])
    assert 'or --gcg for a grounded caption' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        demo.parse_args([image, 'q1', 'q2', '--gcg', '--config', CONFIG])
    assert '--gcg takes at most one text' in capsys.readouterr().err
    assert demo.parse_args([image, '--gcg', '--config', CONFIG]).texts == []


def test_web_demo_gcg_mode(forced_inferencer_class, checkpoint, tmp_path):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        '_web_demo', osp.join(REPO_ROOT, 'tools', 'demo', 'web_demo.py'))
    web = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(web)
    root = tmp_path / 'gradio'
    root.mkdir()
    image = root / 'a.png'
    cv2.imwrite(str(image), _image(1))
    inferencer = forced_inferencer_class(CONFIG, checkpoint, device='cpu')
    model = web.DemoModel(inferencer, max_upload_bytes=2**20, max_video_frames=10,
                          upload_root=str(root), out_root=str(tmp_path))
    with pytest.raises(ValueError, match='GCG mode.*are for images'):
        model.prepare(None, {'path': str(image)}, '', 'gcg')
    with pytest.raises(ValueError, match='at most one line'):
        model.prepare({'path': str(image)}, None, 'a\nb', 'gcg')
    request = model.prepare({'path': str(image)}, None, '', 'gcg')  # no text needed
    assert request['mode'] == 'gcg' and request['texts'] == []
    answers, overlay, video, files = model.run(request, lambda fraction, desc: None)
    assert video is None and overlay.ndim == 3 and overlay.dtype == np.uint8
    lines = answers.split('\n')
    assert lines[0] == 'caption: the red circle is left of the star .'
    assert lines[2].startswith('[0] "the red circle"') and lines[3].startswith('[1] "the star"')
    from desa2va_mm.apis.gcg import grounded_caption
    direct = grounded_caption(inferencer, cv2.imread(str(image)))
    assert [osp.basename(f) for f in files] == ['phrase_00.png', 'phrase_01.png']
    for path, phrase in zip(files, direct['phrases']):
        np.testing.assert_array_equal(cv2.imread(path, cv2.IMREAD_GRAYSCALE) > 0,
                                      phrase['mask'])

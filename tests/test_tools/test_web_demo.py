"""tools/demo/web_demo.py: its request checks, and the page driven in headless Chromium.

The browser test serves a tiny DeSa2VA whose language model always answers ``[SEG]``
(random weights otherwise, nothing trained) and checks what the page returns against the
inferencer run in this process on the same files: the raw mask PNGs and the overlay
exactly, the video masks exactly. It also sends an oversized and an undecodable upload
first, and checks the page says why and the server still answers the next request.
"""
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import warnings

import cv2
import numpy as np
import pytest

from conftest import REPO_ROOT

CONFIG = osp.join(REPO_ROOT, 'configs/desa2va/desa2va_tiny_fusion.py')
# Debian's packages put both on PATH; CHROMIUM / CHROMEDRIVER name other installs.
CHROMIUM = os.environ.get('CHROMIUM') or shutil.which('chromium') or '/usr/bin/chromium'
CHROMEDRIVER = (os.environ.get('CHROMEDRIVER') or shutil.which('chromedriver')
                or '/usr/bin/chromedriver')
#: The image component's clear button: there once an image is uploaded.
REMOVE_IMAGE = 'button[aria-label="Remove Image"]'
ARTIFACT = osp.join(REPO_ROOT, 'work_dirs', 'test_artifacts', 'web_demo.png')


def _load():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        '_web_demo', osp.join(REPO_ROOT, 'tools', 'demo', 'web_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _image(index):
    from desa2va_mm.synthetic import generate_image
    return generate_image(0, index, 128).image


def _write_video(path, num_frames=6):
    from desa2va_mm.visualization.video_overlay import VideoWriter
    base = np.ascontiguousarray(_image(2)[..., ::-1])
    with VideoWriter(str(path), fps=5) as writer:
        for t in range(num_frames):
            writer.write(np.ascontiguousarray(np.roll(base, 4 * t, axis=1)))


# ---------------------------------------------------------------------- request checks
def test_parse_texts_lines_and_limits():
    demo = _load()
    assert demo.parse_texts('the red circle\n\n  the star  \n') == ['the red circle', 'the star']
    for empty in ('', '  \n \n', None):
        with pytest.raises(ValueError, match='at least one expression'):
            demo.parse_texts(empty)
    with pytest.raises(ValueError, match=f'17 lines given; at most {demo.MAX_TEXTS}'):
        demo.parse_texts('\n'.join(['x'] * 17))
    with pytest.raises(ValueError, match='Line 2 has 1001 characters; at most 1000'):
        demo.parse_texts('ok\n' + 'a' * 1001)


def test_image_upload_size_decoding_and_pixel_limits(tmp_path):
    demo = _load()
    good = tmp_path / 'shapes.png'
    cv2.imwrite(str(good), _image(0))
    image = demo.read_image_upload(str(good), max_bytes=2**20)
    assert np.array_equal(image, cv2.imread(str(good)))
    size = osp.getsize(good)
    with pytest.raises(ValueError, match=r'shapes\.png is 0\.0 MiB; the largest upload '
                       r'accepted is 0\.0 MiB') as err:
        demo.read_image_upload(str(good), max_bytes=size - 1)
    assert str(tmp_path) not in str(err.value)  # no server path in the page
    with pytest.raises(ValueError, match=r'shapes\.png is 128x128 pixels; at most 16,000'):
        demo.read_image_upload(str(good), max_bytes=2**20, max_pixels=16000)
    bad = tmp_path / 'notes.png'
    bad.write_text('not an image at all')
    with pytest.raises(ValueError, match=r'notes\.png is not an image this demo can decode'):
        demo.read_image_upload(str(bad), max_bytes=2**20)
    truncated = tmp_path / 'cut.png'
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match=r'cut\.png is not an image this demo can decode'):
        demo.read_image_upload(str(truncated), max_bytes=2**20)


def test_video_upload_decoding_and_frame_limit(tmp_path):
    pytest.importorskip('av')
    demo = _load()
    clip = tmp_path / 'clip.mp4'
    _write_video(clip, num_frames=4)
    source = demo.open_video_upload(str(clip), max_bytes=2**20, max_frames=4)
    assert len(source) == 4 and source[0].shape == (128, 128, 3)
    source.close()
    with pytest.raises(ValueError, match=r'clip\.mp4 has 4 frames; at most 3 are accepted'):
        demo.open_video_upload(str(clip), max_bytes=2**20, max_frames=3)
    with pytest.raises(ValueError, match=r'clip\.mp4 is .* MiB; the largest upload'):
        demo.open_video_upload(str(clip), max_bytes=10, max_frames=4)
    # 3 expressions x 4 frames x 128 x 128 = 196,608 bytes of masks
    demo.open_video_upload(str(clip), 2**20, 4, num_texts=3, max_mask_bytes=196608).close()
    with pytest.raises(ValueError, match=r'clip\.mp4: 3 expression\(s\) x 4 frames of 128x128 '
                       'make 0.0 GiB of masks'):
        demo.open_video_upload(str(clip), 2**20, 4, num_texts=3, max_mask_bytes=196607)
    bad = tmp_path / 'broken.mp4'
    bad.write_bytes(b'\x00' * 512)
    with pytest.raises(ValueError, match=r'broken\.mp4 is not a video this demo can decode'):
        demo.open_video_upload(str(bad), max_bytes=2**20, max_frames=4)


def test_only_uploaded_files_are_read(tmp_path):
    demo = _load()
    root = tmp_path / 'gradio'
    (root / 'abc').mkdir(parents=True)
    upload = root / 'abc' / 'a.png'
    upload.write_bytes(b'x')
    outside = tmp_path / 'secret.png'
    outside.write_bytes(b'x')
    assert demo.uploaded_path(None, str(root)) is None
    assert demo.uploaded_path({'path': str(upload)}, str(root)) == str(upload)
    for payload in ({'path': str(outside)}, {'path': str(root / 'abc' / '..' / '..' /
                                                           'secret.png')},
                    {'path': str(root / 'abc' / 'missing.png')}):
        with pytest.raises(ValueError, match='Only uploaded files are read'):
            demo.uploaded_path(payload, str(root))
    for payload in ('/etc/passwd', {'url': 'x'}, {'path': ''}):
        with pytest.raises(ValueError, match='did not arrive'):
            demo.uploaded_path(payload, str(root))


def test_request_needs_exactly_one_upload_and_a_text(tmp_path):
    demo = _load()
    root = tmp_path / 'gradio'
    root.mkdir()
    image = root / 'a.png'
    cv2.imwrite(str(image), _image(0))
    model = demo.DemoModel(None, max_upload_bytes=2**20, max_video_frames=10,
                           upload_root=str(root), out_root=str(tmp_path))
    with pytest.raises(ValueError, match='Upload an image or a video first'):
        model.prepare(None, None, 'the red circle', 'expression')
    with pytest.raises(ValueError, match='not both'):
        model.prepare({'path': str(image)}, {'path': str(image)}, 'x', 'expression')
    with pytest.raises(ValueError, match='at least one expression'):
        model.prepare({'path': str(image)}, None, ' \n', 'expression')
    request = model.prepare({'path': str(image)}, None, 'the star\nwhat is red?', 'question')
    assert request['texts'] == ['the star', 'what is red?'] and request['template'] is None
    assert np.array_equal(request['image'], cv2.imread(str(image)))
    assert model.prepare({'path': str(image)}, None, 'x', 'expression')['template'] == \
        'pipeline'


def test_default_model_is_the_quickstarts_or_a_clear_error(tmp_path, monkeypatch, capsys):
    demo = _load()
    with pytest.raises(FileNotFoundError, match=r'run `bash tools/quickstart\.sh` first .* '
                       r'or pass --config CFG --checkpoint CKPT'):
        demo.quickstart_model(str(tmp_path))
    (tmp_path / 'main').mkdir()
    (tmp_path / 'main' / 'iter_10.pth').write_bytes(b'x')
    (tmp_path / 'main' / 'last_checkpoint').write_text(str(tmp_path / 'main' / 'iter_10.pth'))
    config, ckpt = demo.quickstart_model(str(tmp_path))
    assert config == osp.join(REPO_ROOT, 'configs/sa2va/sa2va_tiny.py')
    assert ckpt == str(tmp_path / 'main' / 'iter_10.pth')
    (tmp_path / 'fusion').mkdir()  # DeSa2VA's final stage wins over the Sa2VA baseline
    (tmp_path / 'fusion' / 'last_checkpoint').write_text(str(tmp_path / 'gone.pth'))
    with pytest.raises(FileNotFoundError, match='gone.pth, which does not exist'):
        demo.quickstart_model(str(tmp_path))
    (tmp_path / 'gone.pth').write_bytes(b'x')
    assert demo.quickstart_model(str(tmp_path)) == (
        osp.join(REPO_ROOT, 'configs/desa2va/desa2va_tiny_fusion.py'), str(tmp_path / 'gone.pth'))
    # The CLI without --config / --checkpoint: the quickstart's model or the error.
    monkeypatch.setattr(demo, 'QUICKSTART_DIR', str(tmp_path))
    args = demo.parse_args([])
    assert (args.config, args.checkpoint) == demo.quickstart_model(str(tmp_path))
    monkeypatch.setattr(demo, 'QUICKSTART_DIR', str(tmp_path / 'nowhere'))
    with pytest.raises(SystemExit) as exit_info:
        demo.parse_args([])
    assert exit_info.value.code == 2
    assert 'no trained model to serve' in capsys.readouterr().err


def test_help_and_argument_refusals(tmp_path, capsys):
    demo = _load()
    with pytest.raises(SystemExit) as exit_info:
        demo.parse_args(['--help'])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ('--config', '--checkpoint', '--host', '--port', '--device', '--dtype',
                   '--max-upload-mb', '--max-video-frames'):
        assert option in out
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'x')
    refusals = [
        (['--config', CONFIG], 'never serves random weights'),
        (['--checkpoint', str(ckpt)], '--checkpoint needs --config'),
        (['--config', str(tmp_path / 'nope.py'), '--checkpoint', str(ckpt)], 'does not exist'),
        (['--config', CONFIG, '--checkpoint', str(tmp_path / 'nope.pth')], 'does not exist'),
        (['--config', CONFIG, '--checkpoint', str(ckpt), '--max-upload-mb', '0'], '> 0'),
        (['--config', CONFIG, '--checkpoint', str(ckpt), '--dtype', 'fp8'], 'invalid choice'),
    ]
    for argv, message in refusals:
        with pytest.raises(SystemExit):
            demo.parse_args(argv)
        assert message in capsys.readouterr().err, argv
    args = demo.parse_args(['--config', CONFIG, '--checkpoint', str(ckpt)])
    assert (args.host, args.port, args.device, args.dtype) == ('127.0.0.1', 7860, 'auto', None)


# ---------------------------------------------------------------------- in the browser
def seg_answering_checkpoint(path: str) -> None:
    """Save a tiny DeSa2VA whose LM answers ``[SEG]`` at every step (random weights would
    answer words and give no mask): embedding dimension 0 is 100 for every token, so the
    last hidden state's dimension 0 is positive, and the LM head reads only that dimension,
    into the ``[SEG]`` logit."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from desa2va_mm.registry import MODELS
    from desa2va_mm.utils import register_all_modules
    register_all_modules()
    init_default_scope('desa2va_mm')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CONFIG).model)
    lm = model.mllm.model
    with torch.no_grad():
        lm.get_input_embeddings().weight[:, 0] = 100.0
        lm.lm_head.weight.zero_()
        lm.lm_head.weight[model.mllm.seg_token_id, 0] = 1.0
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _wait(predicate, timeout: float, what: str, poll: float = 0.25):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f'timed out after {timeout:.0f} s waiting for {what}')


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def _require_browser() -> None:
    """Skip, saying what to install, without gradio, selenium or Debian's Chromium."""
    pytest.importorskip('gradio', reason='gradio missing: `bash tools/setup_env.sh` installs it')
    pytest.importorskip('selenium',
                        reason='selenium missing: `bash tools/setup_env.sh` installs it')
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not osp.isfile(p)]
    if missing:
        pytest.skip(f'{", ".join(missing)} missing: `bash tools/setup_env.sh` installs '
                    'chromium and chromium-driver (as root, with apt-get)')


def _browser():
    """Headless Debian Chromium through its own chromedriver (an explicit driver path:
    Selenium Manager never runs, so nothing is downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage',
                '--window-size=1400,1500'):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_page_segments_an_upload_like_the_inferencer(tmp_path, monkeypatch):
    _require_browser()
    pytest.importorskip('av')
    monkeypatch.setenv('SE_OFFLINE', 'true')  # were Selenium Manager to run: no download
    from selenium.webdriver.common.by import By
    ckpt = str(tmp_path / 'tiny_seg.pth')
    seg_answering_checkpoint(ckpt)
    files = tmp_path / 'files'
    files.mkdir()
    good, clip = files / 'shapes.png', files / 'clip.mp4'
    cv2.imwrite(str(good), _image(3))
    _write_video(clip)
    (files / 'notes.png').write_text('a text file named like an image')
    noise = files / 'noise.png'  # incompressible: ~120 KiB, over the 0.1 MiB limit
    cv2.imwrite(str(noise), np.random.RandomState(0).randint(0, 256, (200, 200, 3), np.uint8))
    texts = ['the red circle', 'the star']

    port = _free_port()
    log = open(tmp_path / 'server.log', 'w')
    env = dict(os.environ, GRADIO_TEMP_DIR=str(tmp_path / 'gradio'), PYTHONUNBUFFERED='1',
               OMP_NUM_THREADS='2')
    server = subprocess.Popen(
        [sys.executable, osp.join(REPO_ROOT, 'tools/demo/web_demo.py'), '--config', CONFIG,
         '--checkpoint', ckpt, '--port', str(port), '--device', 'cpu',
         '--max-upload-mb', '0.1'], cwd=REPO_ROOT, env=env, stdout=log,
        stderr=subprocess.STDOUT)
    driver = None
    try:
        # The reference: the inferencer in this process, same files, same texts.
        from desa2va_mm.apis import DeSa2VAInferencer
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            inferencer = DeSa2VAInferencer(CONFIG, ckpt, device='cpu', show_progress=False)
        expected = inferencer(str(good), texts=texts, return_vis=True)
        pred, overlay = expected['predictions'][0], expected['visualization'][0]
        assert pred['masks'].shape == (2, 128, 128)
        assert 0 < pred['masks'][0].sum() < pred['masks'][0].size  # a mask worth comparing
        video = inferencer.predict_video(str(clip), texts[:1])

        def answering():
            if server.poll() is not None:
                raise AssertionError('the demo exited:\n' +
                                     open(tmp_path / 'server.log').read()[-3000:])
            try:
                return _fetch(f'http://127.0.0.1:{port}/') is not None
            except OSError:
                return False
        _wait(answering, 300, 'the demo to answer')
        driver = _browser()
        driver.get(f'http://127.0.0.1:{port}/')
        find = driver.find_element

        def toasts():
            return ' | '.join(e.text for e in driver.find_elements(
                By.CSS_SELECTOR, '[data-testid=toast-body]'))

        def upload(component, path, shown=None):
            find(By.CSS_SELECTOR, f'#{component} input[type=file]').send_keys(str(path))
            if shown is not None:  # the preview appears once the server holds the file
                _wait(lambda: driver.find_elements(By.CSS_SELECTOR, f'#{component} {shown}'),
                      60, f'the upload of {path.name}')

        def remove_image():
            _wait(lambda: driver.find_elements(By.CSS_SELECTOR, f'#image-input {REMOVE_IMAGE}'),
                  30, 'the uploaded image')[0].click()

        def answers():
            return find(By.CSS_SELECTOR, '#answers textarea').get_attribute('value')

        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, '#segment'), 60, 'the page')
        find(By.CSS_SELECTOR, '#texts textarea').send_keys('\n'.join(texts))
        # 1. Over --max-upload-mb: Gradio refuses the upload itself.
        upload('image-input', noise)
        _wait(lambda: 'exceed the maximum allowed size' in toasts(), 30, 'the size refusal')
        # 2. A text file named .png: the demo refuses it, in the page.
        driver.refresh()
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, '#segment'), 60, 'the page')
        find(By.CSS_SELECTOR, '#texts textarea').send_keys('\n'.join(texts))
        upload('image-input', files / 'notes.png', REMOVE_IMAGE)
        find(By.CSS_SELECTOR, '#segment').click()
        _wait(lambda: 'notes.png is not an image this demo can decode' in toasts(), 60,
              'the decoding refusal')
        assert str(tmp_path) not in toasts()
        # 3. The server still works: a good image, masks as the inferencer's.
        remove_image()
        upload('image-input', good, REMOVE_IMAGE)
        find(By.CSS_SELECTOR, '#segment').click()
        text = _wait(answers, 120, 'the answers')
        for i, (expression, answer) in enumerate(zip(texts, pred['answers'])):
            assert f'[{i}] "{expression}" -> {answer}' in text
        links = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, '#masks a'), 30,
                      'the mask files')
        hrefs = sorted(a.get_attribute('href') for a in links)
        assert [h.rsplit('/', 1)[-1] for h in hrefs] == ['mask_00.png', 'mask_01.png']
        for href, mask in zip(hrefs, pred['masks']):
            png = cv2.imdecode(np.frombuffer(_fetch(href), np.uint8), cv2.IMREAD_UNCHANGED)
            assert png.dtype == np.uint8 and set(np.unique(png)) <= {0, 255}
            assert np.array_equal(png > 0, mask), href
        src = find(By.CSS_SELECTOR, '#overlay img').get_attribute('src')
        shown = cv2.imdecode(np.frombuffer(_fetch(src), np.uint8), cv2.IMREAD_COLOR)
        assert np.array_equal(shown[..., ::-1], overlay)
        os.makedirs(osp.dirname(ARTIFACT), exist_ok=True)
        driver.save_screenshot(ARTIFACT)
        print(f'screenshot of the page: {ARTIFACT}')
        # 4. A video: the overlaid MP4 and the masks of predict_video.
        remove_image()
        find(By.CSS_SELECTOR, '#texts textarea').clear()
        find(By.CSS_SELECTOR, '#texts textarea').send_keys(texts[0])
        upload('video-input', clip, 'video[src*="gradio_api/file="]')
        find(By.CSS_SELECTOR, '#segment').click()
        text = _wait(lambda: 'frames with a mask' in answers() and answers(), 120,
                     'the video answers')
        assert f'[0] "{texts[0]}" -> {video["answers"][0]}' in text
        npz = _wait(lambda: [a.get_attribute('href') for a in driver.find_elements(
            By.CSS_SELECTOR, '#masks a') if a.get_attribute('href').endswith('.npz')], 30,
            'the video masks')[0]
        path = tmp_path / 'masks.npz'
        path.write_bytes(_fetch(npz))
        with np.load(path) as saved:
            assert np.array_equal(saved['masks'], video['masks'])
            assert saved['texts'].tolist() == texts[:1]
        assert video['masks'].any()
        mp4 = find(By.CSS_SELECTOR, '#overlay-video video').get_attribute('src')
        (tmp_path / 'overlay.mp4').write_bytes(_fetch(mp4))
        from desa2va_mm.datasets.video_io import open_frame_source
        with open_frame_source(str(tmp_path / 'overlay.mp4')) as shown_video:
            assert len(shown_video) == 6
        assert server.poll() is None
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()

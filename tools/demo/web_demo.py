"""Segment images and videos in the browser: a Gradio page over ``DeSa2VAInferencer``.

    python tools/demo/web_demo.py [--config CFG --checkpoint CKPT] [--host 127.0.0.1] \
        [--port 7860] [--device auto] [--dtype fp32|bf16|fp16] [--max-upload-mb 50] \
        [--max-video-frames 300]

Without ``--config`` / ``--checkpoint`` the page serves the quickstart's final model
(``bash tools/quickstart.sh``: ``work_dirs/quickstart/fusion``, config
``configs/desa2va/desa2va_tiny_fusion.py``; the Sa2VA baseline's ``work_dirs/quickstart/main``
when only that one exists) and stops with an error when there is none: it never serves
random weights.

The page: upload an image or a video, type one expression per line (or questions, asked
verbatim), press Segment; the answers, the masks overlaid on the image (video: the overlaid
MP4) and the raw masks (one PNG per line for an image, an ``.npz`` of (E, T, H, W) bool
masks for a video) come back, with progress shown while the model runs. Every request
takes the inferencer's own path (the config's test pipeline, the model's data preprocessor,
``DeSa2VA.predict`` or the streaming video API) and its overlay drawing. The GCG mode
("Grounded caption") asks for a caption of the image and shows it with each grounded
phrase's mask in its own colour and one mask PNG per phrase (docs/gcg.md).

Refused with a message in the page: an upload over ``--max-upload-mb``, a file that does
not decode as an image / video, a video longer than ``--max-video-frames``, an image over
``MAX_IMAGE_PIXELS``, both or neither of image and video, no text, too many or too long
lines. Only files Gradio received as uploads are read. See docs/web_demo.md.
"""
import argparse
import atexit
import os
import os.path as osp
import shutil
import sys
import tempfile
import traceback
from collections import deque
from typing import Any, Callable, Deque, List, Optional, Sequence, Tuple

import numpy as np

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

#: Where ``tools/quickstart.sh`` leaves its runs (its default ``WORK_DIR``).
QUICKSTART_DIR = osp.join(REPO_ROOT, 'work_dirs', 'quickstart')
#: The quickstart's final stage and its config, in the order they are looked for
#: (``ARCH=desa2va`` then ``ARCH=sa2va``); each stage folder holds ``last_checkpoint``.
QUICKSTART_MODELS = (('fusion', 'configs/desa2va/desa2va_tiny_fusion.py'),
                     ('main', 'configs/sa2va/sa2va_tiny.py'))
#: Pixels of the largest image accepted (read from the file header, before decoding): a
#: small compressed file can decode to gigabytes.
MAX_IMAGE_PIXELS = 50_000_000
#: Lines (expressions or questions) per request: each is one sequence of one batched
#: generation.
MAX_TEXTS = 16
#: Characters per line (prompts longer than the model's context are cut anyway).
MAX_TEXT_CHARS = 1000
#: Largest (E, T, H, W) bool mask array of a video request (expressions x frames x
#: pixels), which the page returns as a file.
MAX_VIDEO_MASK_BYTES = 2 * 2**30
#: Request output folders kept on disk (older ones are deleted; Gradio has copied their
#: files into its own cache by then).
KEEP_REQUESTS = 8


def quickstart_model(work_dir: str) -> Tuple[str, str]:
    """The config and the final checkpoint of the quickstart's run in ``work_dir``.

    Args:
        work_dir: The quickstart's ``WORK_DIR``.

    Returns:
        ``(config, checkpoint)``: absolute paths.

    Raises:
        FileNotFoundError: No finished quickstart run there (the message says how to make
            one or what to pass instead).
    """
    for stage, config in QUICKSTART_MODELS:
        marker = osp.join(work_dir, stage, 'last_checkpoint')
        if not osp.isfile(marker):
            continue
        with open(marker, encoding='utf-8') as f:
            checkpoint = f.read().strip()
        if not osp.isabs(checkpoint):  # the quickstart runs from the repository root
            checkpoint = osp.join(REPO_ROOT, checkpoint)
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'{marker} names {checkpoint}, which does not exist; '
                                    'run `bash tools/quickstart.sh` again or pass --config '
                                    'and --checkpoint')
        return osp.join(REPO_ROOT, config), checkpoint
    stages = ', '.join(osp.join(work_dir, s, 'last_checkpoint') for s, _ in QUICKSTART_MODELS)
    raise FileNotFoundError(f'no trained model to serve: the quickstart\'s checkpoint is not '
                            f'there ({stages}); run `bash tools/quickstart.sh` first (about 20 '
                            'min on 2 CPU cores) or pass --config CFG --checkpoint CKPT')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='DeSa2VA web demo: a Gradio page to segment what expressions refer to in '
        'an uploaded image or video (docs/web_demo.md)')
    parser.add_argument('--config', default=None,
                        help='model config (.py), or a folder exported by '
                        'tools/model_converters/desa2va_to_hf.py (then no --checkpoint); '
                        "default: the quickstart's final model")
    parser.add_argument('--checkpoint', default=None,
                        help="checkpoint (.pth) or a Sa2VA release folder; default: the "
                        "quickstart's final checkpoint")
    parser.add_argument('--host', default='127.0.0.1',
                        help='address to bind (default 127.0.0.1: this machine only; '
                        '0.0.0.0 serves the network, with no authentication)')
    parser.add_argument('--port', type=int, default=7860, help='port to serve on')
    parser.add_argument('--device', default='auto',
                        help="'auto' (CUDA when available, else the CPU), 'cpu', 'cuda:0' ...")
    parser.add_argument('--dtype', choices=['fp32', 'bf16', 'fp16'], default=None,
                        help="inference precision (default: the config's, bf16 on CUDA for "
                        'the real-size configs): bf16 / fp16 autocast on the device, '
                        'masks and scores float32 either way (docs/inference.md)')
    parser.add_argument('--max-upload-mb', type=float, default=50.0,
                        help='largest upload accepted, in MiB (default 50)')
    parser.add_argument('--max-video-frames', type=int, default=300,
                        help='longest video accepted, in frames (default 300)')
    args = parser.parse_args(argv)
    if args.max_upload_mb <= 0:
        parser.error(f'--max-upload-mb must be > 0, got {args.max_upload_mb}')
    if args.max_video_frames < 1:
        parser.error(f'--max-video-frames must be >= 1, got {args.max_video_frames}')
    if not 0 < args.port < 65536:
        parser.error(f'--port must be in 1..65535, got {args.port}')
    if args.config is None and args.checkpoint is None:
        try:
            args.config, args.checkpoint = quickstart_model(QUICKSTART_DIR)
        except FileNotFoundError as err:
            parser.error(str(err))
    elif args.config is None:
        parser.error('--checkpoint needs --config (the config the checkpoint was trained '
                     'with)')
    elif osp.isdir(args.config):
        if args.checkpoint is not None:
            parser.error(f'--config {args.config!r} is an exported folder, which holds its '
                         'weights: drop --checkpoint')
    elif not osp.isfile(args.config):
        parser.error(f'config {args.config!r} does not exist')
    elif args.checkpoint is None:
        parser.error('--config needs --checkpoint: the demo never serves random weights '
                     '(train one with `bash tools/quickstart.sh`, or pass a .pth)')
    elif not osp.exists(args.checkpoint):
        parser.error(f'checkpoint {args.checkpoint!r} does not exist')
    return args


# ---------------------------------------------------------------------- request checks
def parse_texts(text: Optional[str]) -> List[str]:
    """The lines of the text box: one expression (or question) each, blank lines dropped.

    Raises:
        ValueError: No line, more than :data:`MAX_TEXTS`, or one over
            :data:`MAX_TEXT_CHARS` characters (its number named).
    """
    lines = [line.strip() for line in (text or '').splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        raise ValueError('Type at least one expression (one per line), e.g. "the red circle".')
    if len(lines) > MAX_TEXTS:
        raise ValueError(f'{len(lines)} lines given; at most {MAX_TEXTS} expressions per '
                         'request.')
    for i, line in enumerate(lines, 1):
        if len(line) > MAX_TEXT_CHARS:
            raise ValueError(f'Line {i} has {len(line)} characters; at most '
                             f'{MAX_TEXT_CHARS} per line.')
    return lines


def uploaded_path(payload: Any, upload_root: str) -> Optional[str]:
    """The file behind an upload component's raw value, which must lie in Gradio's upload
    folder (Gradio already moves and checks uploads; this keeps any other path out).

    Args:
        payload: The component's raw value: None, or a dict with ``path`` (Gradio's
            ``FileData``).
        upload_root: Gradio's upload folder.

    Returns:
        The path, or None when nothing was uploaded.

    Raises:
        ValueError: A value that is not an uploaded file.
    """
    if payload is None:
        return None
    path = payload.get('path') if isinstance(payload, dict) else None
    if not isinstance(path, str) or not path:
        raise ValueError('The upload did not arrive; upload the file again.')
    root = osp.realpath(upload_root) + os.sep
    if not osp.realpath(path).startswith(root) or not osp.isfile(path):
        raise ValueError('Only uploaded files are read; upload the file again.')
    return path


def _display_name(path: str) -> str:
    """The uploaded file's name without Gradio's cache folders (no server path in pages)."""
    return osp.basename(path)


def check_upload_size(path: str, max_bytes: int) -> None:
    """Raise ValueError when the file at ``path`` is over ``max_bytes``."""
    size = osp.getsize(path)
    if size > max_bytes:
        raise ValueError(f'{_display_name(path)} is {size / 2**20:.1f} MiB; the largest upload '
                         f'accepted is {max_bytes / 2**20:.1f} MiB (the server\'s '
                         '--max-upload-mb).')


def read_image_upload(path: str, max_bytes: int,
                      max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an uploaded image, refusing what the model should never see.

    Args:
        path: The uploaded file.
        max_bytes: Largest file accepted.
        max_pixels: Largest width x height accepted (read from the header first).

    Returns:
        (H, W, 3) uint8 BGR image.

    Raises:
        ValueError: Too large a file or image, or a file that is not a decodable image.
    """
    from PIL import Image, UnidentifiedImageError

    from desa2va_mm.apis.inputs import load_image
    check_upload_size(path, max_bytes)
    name = _display_name(path)
    try:
        with Image.open(path) as header:  # reads the header only
            width, height = header.size
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        width = height = None  # PIL cannot read it; the decoder below decides
    if width is not None and width * height > max_pixels:
        raise ValueError(f'{name} is {width}x{height} pixels; at most {max_pixels:,} pixels '
                         'are accepted. Resize it and upload again.')
    try:
        image, _ = load_image(path)
    except (ValueError, OSError):
        raise ValueError(f'{name} is not an image this demo can decode (PNG, JPEG, BMP, '
                         'WebP, TIFF ...); upload another file.') from None
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ValueError(f'{name} is {image.shape[1]}x{image.shape[0]} pixels; at most '
                         f'{max_pixels:,} pixels are accepted.')
    return image


def open_video_upload(path: str, max_bytes: int, max_frames: int, num_texts: int = 1,
                      max_mask_bytes: int = MAX_VIDEO_MASK_BYTES):
    """Open an uploaded video (frames are decoded later, one at a time).

    Args:
        path: The uploaded file.
        max_bytes: Largest file accepted.
        max_frames: Longest video accepted.
        num_texts: Expressions to track (E).
        max_mask_bytes: Largest (E, T, H, W) bool mask array accepted.

    Returns:
        The opened ``FrameSource`` (close it when done).

    Raises:
        ValueError: Too large a file, too many frames, too many masks, or a file that is
            not a decodable video.
    """
    from desa2va_mm.apis.inputs import open_video
    check_upload_size(path, max_bytes)
    name = _display_name(path)
    try:
        source = open_video(path)
    except (ValueError, OSError):
        raise ValueError(f'{name} is not a video this demo can decode (MP4, AVI, MOV, '
                         'MKV, WebM ...); upload another file.') from None
    num_frames = len(source)
    try:
        if num_frames > max_frames:
            raise ValueError(f'{name} has {num_frames} frames; at most {max_frames} are '
                             "accepted (the server's --max-video-frames). Cut it and upload "
                             'again.')
        try:
            height, width = source[0].shape[:2]
        except (ValueError, OSError):
            raise ValueError(f'{name}: its first frame does not decode; upload another '
                             'file.') from None
        mask_bytes = num_texts * num_frames * height * width
        if mask_bytes > max_mask_bytes:
            raise ValueError(f'{name}: {num_texts} expression(s) x {num_frames} frames of '
                             f'{width}x{height} make {mask_bytes / 2**30:.1f} GiB of masks; '
                             f'at most {max_mask_bytes / 2**30:.1f} GiB. Use fewer lines or '
                             'a shorter or smaller video.')
    except ValueError:
        source.close()
        raise
    return source


# ---------------------------------------------------------------------- the model side
def progress_frames(source, report: Callable[[int, int], None]):
    """``source`` as a frame source that calls ``report(t, T)`` before it yields frame t of
    the model's stream (a progress bar over the frames); the frames pass unchanged.

    Args:
        source: An opened ``FrameSource``.
        report: Called with the frame index and the number of frames.

    Returns:
        A ``FrameSource`` (what ``DeSa2VAInferencer.predict_video`` takes as a video).
    """
    from desa2va_mm.datasets.video_io import FrameSource  # heavy: not at --help time

    class ProgressFrames(FrameSource):

        def __init__(self) -> None:
            self.video_id = source.video_id
            self.frame_names = source.frame_names

        def _read(self, index: int):
            return source[index]

        def get_frames(self, indices: Sequence[int]):
            return source.get_frames(indices)

        def __iter__(self):
            for t, frame in enumerate(source):
                report(t, len(source))
                yield frame

        def close(self) -> None:
            source.close()

    return ProgressFrames()


class DemoModel:
    """The inferencer behind the page, with the request checks and output files.

    Args:
        inferencer: A built ``DeSa2VAInferencer``.
        max_upload_bytes: Largest upload accepted.
        max_video_frames: Longest video accepted.
        upload_root: Gradio's upload folder (the only place inputs are read from).
        out_root: Folder for the per-request outputs (overlay video, mask files).
    """

    def __init__(self, inferencer, max_upload_bytes: int, max_video_frames: int,
                 upload_root: str, out_root: str) -> None:
        self.inferencer = inferencer
        self.max_upload_bytes = max_upload_bytes
        self.max_video_frames = max_video_frames
        self.upload_root = upload_root
        self.out_root = out_root
        self._requests: Deque[str] = deque()

    def _request_dir(self) -> str:
        folder = tempfile.mkdtemp(prefix='request_', dir=self.out_root)
        self._requests.append(folder)
        while len(self._requests) > KEEP_REQUESTS:
            shutil.rmtree(self._requests.popleft(), ignore_errors=True)
        return folder

    def segment_image(self, image, texts: List[str], template: Optional[str],
                      report: Callable[[float, str], None]) -> Tuple[str, Any, List[str]]:
        """Answers, the overlay (RGB array) and one mask PNG per text for one image."""
        import cv2
        report(0.1, f'segmenting {len(texts)} expression(s)')
        out = self.inferencer(image, texts=texts, template=template, return_vis=True)
        pred = out['predictions'][0]
        report(0.9, 'writing the masks')
        folder = self._request_dir()
        files = []
        for i, mask in enumerate(pred['masks']):
            files.append(osp.join(folder, f'mask_{i:02d}.png'))
            cv2.imwrite(files[-1], mask.astype('uint8') * 255)
        lines = [f'[{i}] "{text}" -> {answer}  (predicted IoU {score:.3f}, '
                 f'{int(mask.sum())} px, mask_{i:02d}.png)'
                 for i, (text, answer, score, mask) in enumerate(
                     zip(pred['texts'], pred['answers'], pred['scores'], pred['masks']))]
        return '\n'.join(lines), out['visualization'][0], files

    def segment_video(self, source, texts: List[str], template: Optional[str],
                      report: Callable[[float, str], None]) -> Tuple[str, str, List[str]]:
        """Answers, the overlaid MP4 and an ``.npz`` of (E, T, H, W) masks for one video."""
        folder = self._request_dir()
        num_frames = len(source)
        report(0.05, f'reading the key frames ({num_frames} frames in all)')

        def frame_done(t: int, total: int) -> None:
            report(0.1 + 0.85 * t / total, f'tracking: frame {t + 1}/{total}')
        out = self.inferencer.predict_video(progress_frames(source, frame_done), texts,
                                            template=template, out_dir=folder)
        masks_file = osp.join(folder, f'{out["video_id"]}_masks.npz')
        np.savez_compressed(masks_file, masks=out['masks'], texts=np.array(out['texts']))
        lines = [f'[{i}] "{text}" -> {answer}  ({int(out["masks"][i].any((1, 2)).sum())}/'
                 f'{num_frames} frames with a mask)'
                 for i, (text, answer) in enumerate(zip(out['texts'], out['answers']))]
        lines.append(f'key frames read by the model: {out["key_frame_ids"]}')
        return '\n'.join(lines), out['out_file'], [masks_file]

    def grounded_caption(self, image, question: Optional[str],
                         report: Callable[[float, str], None]) -> Tuple[str, Any, List[str]]:
        """GCG mode: the caption, each grounded phrase with its mask, the overlay (RGB
        array) and one mask PNG per phrase for one image (docs/gcg.md)."""
        import cv2

        from desa2va_mm.apis.gcg import draw_grounded_caption, grounded_caption
        report(0.1, 'writing a grounded caption')
        result = grounded_caption(self.inferencer, image, question)
        report(0.9, 'writing the masks')
        folder = self._request_dir()
        files, lines = [], [f'caption: {result["caption"] or "(none)"}',
                            f'answer: {result["answer"]}']
        for k, p in enumerate(result['phrases']):
            files.append(osp.join(folder, f'phrase_{k:02d}.png'))
            cv2.imwrite(files[-1], p['mask'].astype('uint8') * 255)
            lines.append(f'[{k}] "{p["phrase"]}"  (predicted IoU {p["score"]:.3f}, '
                         f'{int(p["mask"].sum())} px, phrase_{k:02d}.png)')
        if not result['phrases']:
            lines.append('no grounded phrase ([SEG]) in the answer')
        return '\n'.join(lines), draw_grounded_caption(image, result), files

    def prepare(self, image_payload, video_payload, text: Optional[str],
                mode: str) -> dict:
        """Check a request and read its input (every refusal happens here).

        Args:
            image_payload: The image component's raw value (None or Gradio's file record).
            video_payload: The video component's raw value.
            text: The text box: one expression or question per line.
            mode: ``'question'`` (each line asked verbatim), ``'expression'`` or
                ``'gcg'`` (a grounded caption of the image; a text, if any, is asked
                instead of the GCG question).

        Returns:
            dict: ``image`` ((H, W, 3) BGR array) or ``video`` (an opened frame source,
            closed by :meth:`run`), ``texts`` and ``template``.

        Raises:
            ValueError: A request the page refuses (the message is shown as is).
        """
        image_path = uploaded_path(image_payload, self.upload_root)
        video_path = uploaded_path(video_payload, self.upload_root)
        if image_path is None and video_path is None:
            raise ValueError('Upload an image or a video first.')
        if image_path is not None and video_path is not None:
            raise ValueError('Upload an image or a video, not both: clear one of them.')
        if mode == 'gcg':
            if image_path is None:
                raise ValueError('Grounded captions (GCG mode) are for images: upload an '
                                 'image, or pick another mode for the video.')
            lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
            if len(lines) > 1:
                raise ValueError('GCG mode takes at most one line (a question asked instead '
                                 'of the grounded-caption question); leave it empty for the '
                                 'default.')
            question = lines[0] if lines else None
            if question is not None and len(question) > MAX_TEXT_CHARS:
                raise ValueError(f'The question has {len(question)} characters; at most '
                                 f'{MAX_TEXT_CHARS}.')
            return dict(texts=[question] if question else [], template=None, mode='gcg',
                        image=read_image_upload(image_path, self.max_upload_bytes))
        texts = parse_texts(text)
        # 'pipeline': each line goes into the question the model was trained on; None:
        # each line is the question itself.
        request = dict(texts=texts, template=None if mode == 'question' else 'pipeline')
        if image_path is not None:
            request['image'] = read_image_upload(image_path, self.max_upload_bytes)
        else:
            request['video'] = open_video_upload(video_path, self.max_upload_bytes,
                                                 self.max_video_frames, len(texts))
        return request

    def run(self, request: dict, report: Callable[[float, str], None]):
        """Run the model on a prepared request.

        Returns:
            ``(answers, overlay image or None, overlay MP4 or None, mask files)``.
        """
        texts, template = request['texts'], request['template']
        if request.get('mode') == 'gcg':
            answers, overlay, files = self.grounded_caption(
                request['image'], texts[0] if texts else None, report)
            return answers, overlay, None, files
        if 'image' in request:
            answers, overlay, files = self.segment_image(request['image'], texts, template,
                                                         report)
            return answers, overlay, None, files
        try:
            answers, video, files = self.segment_video(request['video'], texts, template,
                                                       report)
        finally:
            request['video'].close()
        return answers, None, video, files


def build_demo(model: DemoModel, title: str):
    """The Gradio page around ``model``.

    Args:
        model: The request handler.
        title: Shown above the page (the served model).

    Returns:
        ``gradio.Blocks``, not launched.
    """
    import gradio as gr

    def run(image_payload, video_payload, text, mode, progress=gr.Progress()):
        def report(fraction: float, desc: str) -> None:
            progress(fraction, desc=desc)
        report(0.0, 'reading the upload')
        try:
            request = model.prepare(image_payload, video_payload, text, mode)
        except ValueError as err:  # a refused request: the reason, in the page
            raise gr.Error(str(err), print_exception=False) from None
        try:
            return model.run(request, report)
        except Exception as err:  # the model failed: the page says so, the log says why
            traceback.print_exc()
            raise gr.Error(f'Segmenting failed on this request ({type(err).__name__}); the '
                           'server log has the details.', print_exception=False) from None

    # Gradio removes its cached uploads and outputs older than a day, checked hourly.
    with gr.Blocks(title='DeSa2VA demo', analytics_enabled=False,
                   delete_cache=(3600, 86400)) as demo:
        gr.Markdown(f'## DeSa2VA: referring segmentation\n{title}\n\nUpload an image **or** '
                    'a video, type one expression per line, press **Segment**.')
        with gr.Row():
            with gr.Column():
                image_in = gr.Image(label='Image', type='filepath', sources=['upload'],
                                    elem_id='image-input')
                video_in = gr.Video(label='Video', sources=['upload'], elem_id='video-input')
                text_in = gr.Textbox(label='Expressions (one per line)', lines=3,
                                     placeholder='the red circle\nthe leftmost shape',
                                     elem_id='texts')
                mode_in = gr.Radio(
                    choices=[('Segment each line (expressions)', 'expression'),
                             ('Ask each line verbatim (questions)', 'question'),
                             ('Grounded caption of the image (GCG; lines optional)', 'gcg')],
                    value='expression', label='Lines are', elem_id='mode')
                button = gr.Button('Segment', variant='primary', elem_id='segment')
            with gr.Column():
                answers_out = gr.Textbox(label='Answers', lines=4, interactive=False,
                                         elem_id='answers')
                # PNG: lossless, so the page shows (and downloads) the overlay as drawn
                image_out = gr.Image(label='Masks overlaid', type='numpy', format='png',
                                     interactive=False, elem_id='overlay')
                video_out = gr.Video(label='Masks overlaid (video)', interactive=False,
                                     elem_id='overlay-video')
                masks_out = gr.File(label='Raw masks (PNG per line; video: .npz)',
                                    file_count='multiple', interactive=False, elem_id='masks')
        # preprocess=False: the handler gets the uploads' file records and decodes them
        # itself, so an undecodable file is refused with a message instead of failing
        # inside Gradio's own image / video conversion.
        button.click(run, inputs=[image_in, video_in, text_in, mode_in],
                     outputs=[answers_out, image_out, video_out, masks_out],
                     preprocess=False, concurrency_limit=1)
    return demo


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    try:
        import gradio as gr
        from gradio.utils import get_upload_folder
    except ImportError:
        sys.exit('web_demo: gradio is not installed; `bash tools/setup_env.sh` installs it '
                 '(or `pip install gradio==6.31.0`)')
    from desa2va_mm.apis import DeSa2VAInferencer
    print(f'[web_demo] loading {args.config} with {args.checkpoint} '
          f"(device {args.device}, {args.dtype or 'precision from the config'})", flush=True)
    inferencer = DeSa2VAInferencer(args.config, args.checkpoint, device=args.device,
                                   dtype=args.dtype)
    out_root = tempfile.mkdtemp(prefix='desa2va_web_demo_')
    atexit.register(shutil.rmtree, out_root, ignore_errors=True)
    model = DemoModel(inferencer, max_upload_bytes=int(args.max_upload_mb * 2**20),
                      max_video_frames=args.max_video_frames,
                      upload_root=get_upload_folder(), out_root=out_root)
    served = osp.basename(osp.normpath(args.config))
    if args.checkpoint is not None:
        served += f' + {osp.basename(osp.normpath(args.checkpoint))}'
    demo = build_demo(model, f'Model: `{served}` on {inferencer.device} ({inferencer.dtype}).')
    # One request at a time: the model is not shared between threads.
    demo.queue(default_concurrency_limit=1)
    if args.host not in ('127.0.0.1', 'localhost', '::1'):
        print(f'[web_demo] WARNING: bound to {args.host}: anyone who can reach this machine '
              'can use the page (there is no login)', flush=True)
    print(f'[web_demo] serving on http://{args.host}:{args.port} (Ctrl+C stops)', flush=True)
    demo.launch(server_name=args.host, server_port=args.port, share=False, show_error=False,
                max_file_size=int(args.max_upload_mb * 2**20), ssr_mode=False,
                mcp_server=False, footer_links=[], quiet=True,
                theme=gr.themes.Default())


if __name__ == '__main__':
    main()

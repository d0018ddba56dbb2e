"""Rehearse the real-size route of docs/real_weights.md on CPU, with stand-ins of the real formats.

    python tools/analysis_tools/rehearse_real_path.py [--work-dir DIR] [--keep] [--keep-going]
        [--start-at STEP] [--list]

The commands come from docs/real_weights.md: every fenced ``bash`` / ``python`` block there
is preceded by a ``<!-- rehearsal: NAME -->`` marker, and this script runs the blocks of the
steps below, verbatim, in a fresh work folder laid out like the repository root
(``configs/``, ``tools/``, ``desa2va_mm/`` linked to this checkout; ``data/``,
``pretrained/`` and ``work_dirs/`` of its own). The variables of the page's step 2
(``$INTERNVL_ORIG``, ``$INTERNVL``, ``$SAM2_CKPT``, ``$SA2VA``, ``$IMAGE``) are set to the
stand-ins; the ``paths`` block itself is only checked to export exactly those names. A
marked block whose name is not a step here, a step whose block is missing, and an unmarked
block are errors: the page cannot drift from what this script runs.

Stand-ins (``desa2va_mm.testing``, written by step 1): an original-layout InternVL2.5-1B
folder (Qwen2 family, random weights, shrunk widths, a byte-level BPE tokenizer trained on
the data's text, remote-code files that raise if executed) and an InternVL2.5-8B one
(InternLM2, fused ``wqkv``, a SentencePiece tokenizer trained with ``sentencepiece``
behind remote code; its conversion writes the ``tokenizer.json`` it trains with) under
``pretrained/``, a SAM-2 checkpoint in the official format built by sam2 from its released
hiera-T config (``pretrained/sam2_hiera_tiny.pt``: hiera-L at 1024 px is too slow for a CPU
rehearsal), a Sa2VA-1B release built on those two, and a few samples of every dataset of
the Sa2VA mix in its authors' layout under ``data/``.

The only changes to the documented commands: these ``--cfg-options`` are appended to the
``tools/*.py`` command lines of the steps that build a model (nothing else is substituted):

* every such step: ``model.grounding_encoder.config=configs/sam2/sam2_hiera_t.yaml`` (the
  stand-in SAM-2); SAM-2's input at 256 px instead of 1024
  (``model.grounding_encoder.overrides.image_size=256`` and ``scale=(256,256)`` for every
  ``Resize`` / ``ResizeVideoFrames`` step of the config's pipelines, keys found by reading
  the config; with ``--allow-new-keys`` for ``tools/train.py`` / ``tools/test.py``, since
  the configs leave ``overrides`` at its default): the Hiera trunk at 1024 px is 95 % of a
  CPU step; and ``model.mllm.model_config=None`` where a pretrained folder is set
  (the stand-in's widths differ from the published ones the configs state) -- or, for the
  commands without a pretrained folder (the random build, the one-step test of the Sa2VA
  release), the stand-in widths
  ``model.mllm.model_config.{vision,text}_config.*`` so the random build stays small; for
  ``sa2va_to_desa2va.py``, which builds its target on the meta device from the config
  alone, the stand-in widths and ``model.mllm.tokenizer.path=<$INTERNVL>`` (with the real
  Sa2VA-1B release the config's published widths and vocabulary already match);
* training: ``optim_wrapper.type=NonFiniteGuardOptimWrapper`` (float32: the configs' bf16
  autocast needs a GPU), ``train_dataloader.num_workers=0``,
  ``train_dataloader.persistent_workers=False``, ``train_dataloader.sampler.shuffle=False``
  (a fixed order: the mix's LLaVA pair and video-chat pair each fill one batch, so an
  image-QA-only and a video-QA-only batch are trained on for certain),
  ``val_dataloader.num_workers=0``, ``val_dataloader.persistent_workers=False``,
  ``default_hooks.logger.interval=1``, ``param_scheduler.0.end=0.5`` and
  ``param_scheduler.1.begin=0.5`` (warm-up over half the epoch: Sa2VA's 5 % of a 3-6
  iteration epoch rounds to 0 iterations, which MMEngine refuses),
  ``train_cfg.val_interval=2`` (no validation after the one epoch: the test steps run the
  same evaluation), and ``<key>.times=1``
  for each ``RepeatDataset`` of the config's training set (one pass over the mini mix
  instead of Sa2VA's x4 / x10 repeats; keys found by reading the config);
* testing: ``test_dataloader.num_workers=0``, ``test_dataloader.persistent_workers=False``.

Checks besides the commands' exit codes: after training, each run's log must show the
``ModelTokenizerHook`` handing the converted folder's subword tokenizer to every pipeline
of the mix, and a training sample tokenised by the same code must decode back to its
expression (no ``[UNK]``); the order of the mix must give the QA-only batches above;
``fail-*`` steps pass only when the command fails with the message the marker names.

Output: one line per step, ``[rehearsal] step N/M <name>: ok (<seconds> s)``; on the first
failure the step's command and the end of its output, and exit status 1. Every step's full
output is in ``<work-dir>/rehearsal_logs/``. The work folder is removed after a passing
run unless ``--keep`` or ``--work-dir`` is given.
"""
import argparse
import json
import os
import os.path as osp
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

DOC = osp.join(REPO_ROOT, 'docs', 'real_weights.md')
#: The variables of the page's ``paths`` block.
PLACEHOLDERS = ('INTERNVL_ORIG', 'INTERNVL', 'SAM2_CKPT', 'SA2VA', 'IMAGE')
SAM2_CONFIG = 'configs/sam2/sam2_hiera_t.yaml'
MIX_CONFIG = 'configs/_base_/datasets/sa2va_mix.py'
#: Expanded per command line into ``<path>.times=1`` for each RepeatDataset of its config.
REPEATS = 'REPEATS'
#: Expanded into the stand-in widths (a build without a pretrained folder).
RANDOM_WIDTHS = 'RANDOM_WIDTHS'
#: Expanded per command line into the SAM-2 input size of the model and of every
#: Resize / ResizeVideoFrames step of its config's pipelines.
SAM_SIZE = 'SAM_SIZE'
#: SAM-2 input side in the rehearsal (the configs use 1024).
REHEARSAL_SAM_SIZE = 256

MODEL = [f'model.grounding_encoder.config={SAM2_CONFIG}', 'model.mllm.model_config=None',
         SAM_SIZE]
TRAIN = MODEL + [
    'optim_wrapper.type=NonFiniteGuardOptimWrapper', 'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False', 'train_dataloader.timeout=0',
    'train_dataloader.sampler.shuffle=False',
    'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
    'default_hooks.logger.interval=1', 'param_scheduler.0.end=0.5',
    'param_scheduler.1.begin=0.5', 'train_cfg.val_interval=2', REPEATS]
TEST = MODEL + ['test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']
#: The commands without a pretrained folder build random weights (the one-step Sa2VA test then
#: loads the release into them): at the stand-in widths.
RANDOM_BUILD = [MODEL[0], SAM_SIZE] + TEST[3:] + [RANDOM_WIDTHS]
#: sa2va_to_desa2va.py builds its target on the meta device from the config alone (the
#: published widths, the tokenizer of model.mllm.tokenizer.path): told the stand-in's.
IMPORT = [MODEL[0], SAM_SIZE, RANDOM_WIDTHS, 'model.mllm.tokenizer.path={INTERNVL}']


def repeat_options(config: str) -> List[str]:
    """``<key>.times=1`` for every ``RepeatDataset`` in ``config``'s training set."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    options: List[str] = []

    def walk(node, key: str) -> None:
        if not isinstance(node, dict):
            return
        if node.get('type') == 'RepeatDataset':
            options.append(f'{key}.times=1')
        if isinstance(node.get('dataset'), dict):
            walk(node['dataset'], f'{key}.dataset')
        for i, child in enumerate(node.get('datasets') or []):
            walk(child, f'{key}.datasets.{i}')

    walk(cfg.train_dataloader.dataset, 'train_dataloader.dataset')
    return options


def sam_size_options(config: str, size: int = REHEARSAL_SAM_SIZE) -> List[str]:
    """SAM-2 at ``size`` px: the model's override and every pipeline's resize step."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    options = [f'model.grounding_encoder.overrides.image_size={size}']

    def walk(node, key: str) -> None:
        if not isinstance(node, dict):
            return
        for i, step in enumerate(node.get('pipeline') or []):
            if isinstance(step, dict) and step.get('type') in ('Resize', 'DirectResize',
                                                                 'ResizeVideoFrames'):
                options.append(f'{key}.pipeline.{i}.scale=({size},{size})')
        if isinstance(node.get('dataset'), dict):
            walk(node['dataset'], f'{key}.dataset')
        for i, child in enumerate(node.get('datasets') or []):
            walk(child, f'{key}.datasets.{i}')

    seen = set()
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = (cfg.get(loader) or {}).get('dataset')
        if isinstance(dataset, dict) and id(dataset) not in seen:
            seen.add(id(dataset))
            walk(dataset, f'{loader}.dataset')
    return options


def leaf_datasets(node: dict, times: int = 1) -> List[Tuple[dict, int]]:
    """The datasets of a training-set config with how often an epoch repeats each."""
    if node.get('type') == 'RepeatDataset':
        return leaf_datasets(node['dataset'], times * int(node['times']))
    if 'datasets' in node:
        return [leaf for child in node['datasets'] for leaf in leaf_datasets(child, times)]
    if isinstance(node.get('dataset'), dict):  # other wrappers (SkipBadSamples ...)
        return leaf_datasets(node['dataset'], times)
    return [(node, times)]


def _random_build_widths() -> List[str]:
    from desa2va_mm.testing.stand_ins import STAND_IN_DIMS
    keys = [f'model.mllm.model_config.vision_config.{k}={v}'
            for k, v in STAND_IN_DIMS['vision'].items() if k not in ('image_size', 'patch_size')]
    keys += [f'model.mllm.model_config.text_config.{k}={v}'
             for k, v in STAND_IN_DIMS['text'].items()]
    return keys


@dataclass
class Step:
    """One step: a block of the page (``doc=True``) or a check of this script."""
    name: str
    doc: bool = True
    options: List[str] = field(default_factory=list)
    check: Optional[Callable[['Rehearsal'], str]] = None


def steps() -> List[Step]:
    return [
        Step('stand-ins', doc=False, check=lambda r: r.write_stand_ins()),
        Step('paths', check=lambda r: r.check_paths_block()),
        Step('convert'),
        Step('train-pretrain', options=TRAIN),
        Step('train-decouple', options=TRAIN),
        Step('train-fusion', options=TRAIN),
        Step('tokenizer-check', doc=False, check=lambda r: r.check_tokenizer_use()),
        Step('batch-check', doc=False, check=lambda r: r.check_qa_batches()),
        Step('test-refcoco', options=TEST),
        Step('test-mevis', options=TEST),
        Step('demo', options=MODEL),
        Step('export', options=MODEL),
        Step('export-check'),
        Step('train-sa2va', options=TRAIN),
        Step('sa2va-test-release', options=RANDOM_BUILD),
        Step('sa2va-import', options=IMPORT),
        Step('sa2va-test', options=TEST),
        Step('convert-8b'),
        Step('train-8b-pretrain', options=TRAIN),
        Step('fail-without-pretrained', options=RANDOM_BUILD),
        Step('fail-stand-in-tokenizer', options=TEST),
        Step('fail-original-layout', options=TEST),
    ]


# --------------------------------------------------------------------------- the page
_MARKER = re.compile(r'^<!--[ \t]*rehearsal:[ \t]*([^\n]*?)[ \t]*-->[ \t]*\n```(\w+)\n(.*?)\n```',
                     re.S | re.M)
_FENCE = re.compile(r'^```(bash|python)\s*$', re.M)
_EXPECTS = re.compile(r'^([\w-]+)\s*\(expects:\s*(.+)\)$')


@dataclass
class Block:
    name: str
    language: str
    code: str
    expects: Optional[str] = None


def read_blocks(path: str = DOC) -> Dict[str, Block]:
    """The marked blocks of the page, by step name (``not run`` blocks left out).

    Raises:
        ValueError: an unmarked ``bash`` / ``python`` block, or a name used twice.
    """
    with open(path, encoding='utf-8') as f:
        text = f.read()
    marked = {m.start(2) - 3 for m in _MARKER.finditer(text)}
    for fence in _FENCE.finditer(text):
        if fence.start() not in marked:
            line = text.count('\n', 0, fence.start()) + 1
            raise ValueError(f'{path}:{line}: a ```{fence.group(1)} block without a '
                             '<!-- rehearsal: NAME --> marker (use "not run (why)" for a block '
                             'the rehearsal cannot run)')
    blocks: Dict[str, Block] = {}
    for m in _MARKER.finditer(text):
        label, language, code = m.group(1), m.group(2), m.group(3)
        if label.startswith('not run'):
            continue
        expects = _EXPECTS.match(label)
        name = expects.group(1) if expects else label
        if name in blocks:
            raise ValueError(f'{path}: two blocks are marked {name!r}')
        blocks[name] = Block(name, language, code,
                             expects.group(2).strip() if expects else None)
    return blocks


def logical_lines(code: str) -> List[str]:
    """Shell lines with backslash continuations joined (comments kept as they are)."""
    out, current = [], ''
    for line in code.splitlines():
        if line.rstrip().endswith('\\'):
            current += (line.rstrip()[:-1].strip() if current else
                        line.rstrip()[:-1].rstrip()) + ' '
        else:
            out.append(current + line.strip() if current else line)
            current = ''
    if current:
        out.append(current.rstrip())
    return out


def with_options(code: str, options: List[str], env: Optional[Dict[str, str]] = None) -> str:
    """The block with ``--cfg-options OPTIONS`` appended to its ``tools/*.py`` commands
    (``REPEATS`` / ``SAM_SIZE`` / ``RANDOM_WIDTHS`` expanded for the command's config,
    ``{NAME}`` filled from ``env``)."""
    if not options:
        return code
    lines = []
    for line in logical_lines(code):
        tool = re.match(r'^\s*python\s+(tools/\S+\.py)\b', line)
        if tool:
            config = re.search(r'\b(configs/\S+\.py)\b', line)
            expanded = []
            for option in options:
                if option == REPEATS:
                    expanded += repeat_options(config.group(1)) if config else []
                elif option == SAM_SIZE:
                    expanded += sam_size_options(config.group(1)) if config else []
                elif option == RANDOM_WIDTHS:
                    expanded += _random_build_widths()
                else:
                    expanded.append(option.format(**(env or {})))
            line = f'{line} --cfg-options ' + ' '.join(shlex.quote(o) for o in expanded)
            if SAM_SIZE in options and tool.group(1) in ('tools/train.py', 'tools/test.py'):
                # The real-size configs do not list SAM2Grounding's `overrides`.
                line += ' --allow-new-keys'
        lines.append(line)
    return '\n'.join(lines)


# --------------------------------------------------------------------------- running
_EXCEPTION_LINE = re.compile(r'^[A-Za-z_][\w.]*(Error|Exception|Exit)\b:?', re.M)


def final_error(output: str) -> str:
    """The message a failed command ended with: its last exception and what follows it
    (the traceback's quoted source lines are left out), else its last 20 lines."""
    found = list(_EXCEPTION_LINE.finditer(output))
    if found:
        return output[found[-1].start():]
    return '\n'.join(output.splitlines()[-20:])


def result_summary(output: str) -> str:
    """The last metrics line of a test run, or the last loss of a training run."""
    metrics = re.findall(r'(?:Epoch|Iter)\(test\) \[[\d/]+\]\s+(.*?)\s+data_time', output)
    if metrics:
        return metrics[-1]
    losses = re.findall(r'Epoch\(train\)\s+\[\d+\]\[(\d+/\d+)\].*?\bloss: ([\d.]+)', output)
    if losses:
        return f'{losses[-1][0].split("/")[1]} iterations, last loss {losses[-1][1]}'
    return ''


class StepFailed(RuntimeError):

    def __init__(self, command: str, output: str, why: str) -> None:
        super().__init__(why)
        self.command, self.output, self.why = command, output, why


class Rehearsal:
    """Runs the steps in one work folder (see the module docstring)."""

    def __init__(self, work: str, blocks: Dict[str, Block], timeout: int) -> None:
        self.work = work
        self.blocks = blocks
        self.timeout = timeout
        self.logs = osp.join(work, 'rehearsal_logs')
        os.makedirs(self.logs, exist_ok=True)
        self.env = dict(os.environ)
        self.env.setdefault('OMP_NUM_THREADS', '2')
        self.env['PYTHONUNBUFFERED'] = '1'
        self.env.update({
            'INTERNVL_ORIG': 'pretrained/InternVL2_5-1B',
            'INTERNVL': 'pretrained/InternVL2_5-1B-hf',
            'SAM2_CKPT': 'pretrained/sam2_hiera_tiny.pt',
            'SA2VA': 'pretrained/Sa2VA-1B',
        })
        saved = osp.join(work, 'rehearsal_env.json')
        if osp.isfile(saved):  # --start-at in a kept work folder
            with open(saved, encoding='utf-8') as f:
                self.env.update(json.load(f))

    # ------------------------------------------------------------------ doc blocks
    def command_of(self, step: Step) -> Tuple[str, str]:
        block = self.blocks[step.name]
        if block.language == 'python':
            return 'python', block.code
        return 'bash', with_options(block.code, step.options, self.env)

    def run_block(self, step: Step, index: int) -> str:
        language, code = self.command_of(step)
        argv = ['bash', '-e', '-o', 'pipefail', '-c', code] if language == 'bash' else \
            [sys.executable, '-']
        log_path = osp.join(self.logs, f'{index:02d}_{step.name}.log')
        with open(log_path, 'w', encoding='utf-8') as log:
            log.write(f'$ {code}\n\n')
            log.flush()
            try:
                proc = subprocess.run(argv, cwd=self.work, env=self.env, stdout=log,
                                      stderr=subprocess.STDOUT, timeout=self.timeout,
                                      input=code if language == 'python' else None,
                                      stdin=None if language == 'python' else
                                      subprocess.DEVNULL, text=True)
                rc = proc.returncode
            except subprocess.TimeoutExpired:
                rc = None
        with open(log_path, encoding='utf-8', errors='replace') as f:
            output = f.read()
        expects = self.blocks[step.name].expects
        if rc is None:
            raise StepFailed(code, output, f'timed out after {self.timeout} s')
        if expects is None and rc != 0:
            raise StepFailed(code, output, f'exit status {rc}')
        if expects is not None:
            if rc == 0:
                raise StepFailed(code, output, 'succeeded, but must fail with a message '
                                 f'containing {expects!r}')
            if expects not in final_error(output):
                raise StepFailed(code, output, f'failed (exit status {rc}) without the '
                                 f'expected message {expects!r}')
            return f'failed as expected ({expects!r} in the message)'
        return result_summary(output)

    # ------------------------------------------------------------------ checks
    def write_stand_ins(self) -> str:
        from desa2va_mm.testing import (write_internvl_original, write_mini_mix,
                                        write_sa2va_release, write_sam2_checkpoint)
        for name in ('configs', 'tools', 'desa2va_mm'):
            link = osp.join(self.work, name)
            if not osp.lexists(link):
                os.symlink(osp.join(REPO_ROOT, name), link)
        summary = write_mini_mix(self.work)
        pre = osp.join(self.work, 'pretrained')
        one = write_internvl_original(osp.join(pre, 'InternVL2_5-1B'), summary.texts,
                                      family='qwen2')
        eight = write_internvl_original(osp.join(pre, 'InternVL2_5-8B'), summary.texts,
                                        family='internlm2')
        write_sam2_checkpoint(osp.join(pre, 'sam2_hiera_tiny.pt'), SAM2_CONFIG)
        write_sa2va_release(osp.join(pre, 'Sa2VA-1B'), osp.join(pre, 'InternVL2_5-1B'),
                            osp.join(pre, 'sam2_hiera_tiny.pt'))
        self.env['IMAGE'] = osp.relpath(summary.demo_image, self.work)
        with open(osp.join(self.work, 'rehearsal_env.json'), 'w', encoding='utf-8') as f:
            json.dump({n: self.env[n] for n in PLACEHOLDERS}, f, indent=1)
        return (f'mix {sum(summary.train_samples.values())} training items, tokenizer '
                f'{one["vocab_size"]} / {eight["vocab_size"]} tokens (1B / 8B)')

    def check_paths_block(self) -> str:
        names = []
        for line in logical_lines(self.blocks['paths'].code):
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            m = re.match(r'^export\s+([A-Z_0-9]+)=\S+$', line)
            if m is None:
                raise StepFailed(line, '', 'the paths block may only export the documented '
                                 f'variables {PLACEHOLDERS}')
            names.append(m.group(1))
        if tuple(names) != PLACEHOLDERS:
            raise StepFailed('\n'.join(names), '', f'the paths block exports {names}; the '
                             f'rehearsal sets {list(PLACEHOLDERS)}')
        return ', '.join(f'{n}={self.env[n]}' for n in PLACEHOLDERS)

    def _latest_log(self, config: str) -> str:
        root = osp.join(self.work, 'work_dirs', config)
        runs = sorted(d for d in os.listdir(root) if osp.isfile(osp.join(root, d, d + '.log')))
        if not runs:
            raise StepFailed(root, '', f'no training log under {root}')
        return osp.join(root, runs[-1], runs[-1] + '.log')

    def check_tokenizer_use(self) -> str:
        """The pipelines used the converted folder's subword tokenizer (log + a sample)."""
        from transformers import AutoTokenizer
        folder = self.env['INTERNVL']
        expected = len(AutoTokenizer.from_pretrained(osp.join(self.work, folder))) + 5
        from mmengine.config import Config
        mix_size = len(Config.fromfile(osp.join(REPO_ROOT, MIX_CONFIG))
                       .train_dataloader.dataset.datasets)
        members = {'desa2va_1b_pretrain': 3, 'desa2va_1b_decouple': mix_size,
                   'desa2va_1b_fusion': mix_size}
        pattern = re.compile(r"ModelTokenizerHook: train_dataloader uses the model's "
                             r"tokenizer \((.*?), (\d+) tokens\) and chat template '(\w+)' "
                             r'in (\d+) pipeline')
        for config, count in members.items():
            log = self._latest_log(config)
            with open(log, encoding='utf-8', errors='replace') as f:
                found = pattern.search(f.read())
            if found is None:
                raise StepFailed(log, '', 'no "ModelTokenizerHook: train_dataloader uses the '
                                 "model's tokenizer\" line in the training log")
            name, size, template, pipelines = found.groups()
            if osp.normpath(name) != osp.normpath(folder) or int(size) != expected or \
                    template != 'qwen2' or int(pipelines) != count:
                raise StepFailed(log, found.group(0),
                                 f'expected {folder} ({expected} tokens, qwen2) in {count} '
                                 'pipelines')
        decoded = self._decode_training_sample()
        return f'{folder}, {expected} tokens, every pipeline; sample: {decoded!r}'

    def _decode_training_sample(self) -> str:
        """Tokenise the first RefCOCO training sample as the run did; it must decode back."""
        from mmengine.config import Config
        from mmengine.registry import init_default_scope

        from desa2va_mm.engine.hooks.model_tokenizer_hook import share_with_dataset
        from desa2va_mm.tokenization import InternVLTokenizer
        from desa2va_mm.registry import DATASETS
        init_default_scope('desa2va_mm')
        cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'desa2va', 'desa2va_1b_decouple.py'))
        member = leaf_datasets(cfg.train_dataloader.dataset.to_dict())[0][0]
        cwd = os.getcwd()
        os.chdir(self.work)
        try:
            dataset = DATASETS.build(member)
            # What the model builds from model.mllm.pretrained and the hook hands over.
            tokenizer = InternVLTokenizer(self.env['INTERNVL'])
            share_with_dataset(dataset, tokenizer, 'qwen2', 'the first RefCOCO training set')
            sample = dataset[0]
        finally:
            os.chdir(cwd)
        data_sample = sample['data_samples']
        context = tokenizer.convert_tokens_to_ids('<IMG_CONTEXT>')
        text = tokenizer.decode([int(i) for i in data_sample.input_ids[0] if int(i) != context])
        if tokenizer.unk_token and tokenizer.unk_token in text:
            raise StepFailed(text, '', 'the decoded training sample holds unknown tokens')
        for expression in data_sample.text:
            if expression.rstrip('.') not in text:
                raise StepFailed(text, '', f'the decoded sample does not hold its expression '
                                 f'{expression!r}')
        start = text.index('<|im_start|>user')
        return ' '.join(text[start:].split())[:90]

    def check_qa_batches(self) -> str:
        """With the appended options the mix's batches include QA-only ones of each kind."""
        from mmengine.config import Config
        from mmengine.registry import init_default_scope

        from desa2va_mm.registry import DATASETS
        init_default_scope('desa2va_mm')
        config = 'configs/desa2va/desa2va_1b_decouple.py'
        cfg = Config.fromfile(osp.join(REPO_ROOT, config))
        cfg.merge_from_dict(dict(o.split('=', 1) for o in repeat_options(config)))
        batch = cfg.train_dataloader.batch_size
        kinds: List[str] = []
        cwd = os.getcwd()
        os.chdir(self.work)
        try:
            for leaf, times in leaf_datasets(cfg.train_dataloader.dataset.to_dict()):
                dataset = DATASETS.build(dict(leaf, pipeline=[]))
                items = [dataset[i] for i in range(len(dataset))]
                for _ in range(times):
                    for item in items:
                        modality = item.get('modality')
                        kinds.append(f'{modality}-qa' if modality else
                                     'video' if 'video_id' in item else 'image')
        finally:
            os.chdir(cwd)
        batches = [tuple(sorted(set(kinds[i:i + batch]))) for i in range(0, len(kinds), batch)]
        for wanted in (('image-qa', ), ('video-qa', )):
            if wanted not in batches:
                raise StepFailed(str(batches), '', f'no {wanted[0]}-only batch of {batch} in '
                                 'the fixed order')
        return f'{len(batches)} batches of {batch}: ' + ' | '.join('+'.join(b) for b in batches)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Rehearse docs/real_weights.md on CPU with stand-ins of the real formats')
    parser.add_argument('--work-dir', help='work folder (new or empty; default: a temporary '
                        'folder, removed after a passing run)')
    parser.add_argument('--keep', action='store_true', help='keep the work folder')
    parser.add_argument('--timeout', type=int, default=900, help='seconds per step')
    parser.add_argument('--start-at', metavar='STEP',
                        help='continue a kept --work-dir from this step (after a failure)')
    parser.add_argument('--keep-going', action='store_true',
                        help='run the remaining steps after a failure (exit status 1 all the '
                        'same): every problem of the route in one run')
    parser.add_argument('--list', action='store_true',
                        help='print the steps and their commands, run nothing')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    plan = steps()
    try:
        blocks = read_blocks()
    except ValueError as err:
        print(f'[rehearsal] {err}')
        return 1
    known = {s.name for s in plan if s.doc}
    unknown = sorted(set(blocks) - known)
    missing = sorted(known - set(blocks))
    if unknown or missing:
        print(f'[rehearsal] {DOC}: marked blocks without a step: {unknown}; steps without a '
              f'marked block: {missing}')
        return 1
    if args.list:
        dummy = Rehearsal(tempfile.gettempdir(), blocks, args.timeout)
        for i, step in enumerate(plan, 1):
            text = dummy.command_of(step)[1] if step.doc and step.name != 'paths' else \
                '(checked by the script)'
            print(f'step {i}/{len(plan)} {step.name}:\n{text}\n')
        return 0
    if args.work_dir:
        work = osp.abspath(args.work_dir)
        if osp.realpath(work) == osp.realpath(REPO_ROOT):
            print('[rehearsal] --work-dir must not be the repository root (its data/ may hold '
                  'real data)')
            return 1
        if args.start_at is None and osp.isdir(work) and os.listdir(work):
            print(f'[rehearsal] --work-dir {work} is not empty (pass --start-at STEP to '
                  'continue a kept run)')
            return 1
        if args.start_at is not None and not osp.isfile(osp.join(work, 'rehearsal_env.json')):
            print(f'[rehearsal] --start-at needs the --work-dir of an earlier run')
            return 1
        os.makedirs(work, exist_ok=True)
    elif args.start_at is not None:
        print('[rehearsal] --start-at needs --work-dir')
        return 1
    else:
        work = tempfile.mkdtemp(prefix='desa2va_rehearsal_')
    names = [s.name for s in plan]
    if args.start_at is not None and args.start_at not in names:
        print(f'[rehearsal] --start-at {args.start_at!r}: not a step ({", ".join(names)})')
        return 1
    first = names.index(args.start_at) if args.start_at else 0
    rehearsal = Rehearsal(work, blocks, args.timeout)
    print(f'[rehearsal] work folder {work}; {len(plan)} steps from {osp.relpath(DOC)}',
          flush=True)
    start = time.time()
    failed: List[str] = []
    for i, step in enumerate(plan, 1):
        if i <= first:
            continue
        t0 = time.time()
        try:
            note = rehearsal.run_block(step, i) if step.doc and step.check is None else ''
            if step.check is not None:
                note = step.check(rehearsal)
        except Exception as err:  # noqa: BLE001  (a check's own error fails the step too)
            if not isinstance(err, StepFailed):
                import traceback
                err = StepFailed(f'({step.name}: a check of this script)',
                                 traceback.format_exc(), f'{type(err).__name__}: {err}')
            print(f'[rehearsal] step {i}/{len(plan)} {step.name}: FAILED '
                  f'({time.time() - t0:.1f} s): {err.why}')
            print(f'[rehearsal] command:\n{err.command}')
            tail = '\n'.join(err.output.splitlines()[-60:])
            print(f'[rehearsal] last lines of its output:\n{tail}')
            failed.append(step.name)
            if not args.keep_going:
                print(f'[rehearsal] logs and files kept in {work}')
                return 1
            continue
        print(f'[rehearsal] step {i}/{len(plan)} {step.name}: ok ({time.time() - t0:.1f} s)'
              + (f' -- {note}' if note else ''), flush=True)
    if failed:
        print(f'[rehearsal] {len(failed)} of {len(plan) - first} steps failed '
              f'({", ".join(failed)}) in {time.time() - start:.0f} s; logs and files kept in '
              f'{work}')
        return 1
    print(f'[rehearsal] all {len(plan) - first} steps passed in {time.time() - start:.0f} s')
    if not args.keep and not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())

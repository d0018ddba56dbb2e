"""rehearse_real_path.py: the page's marked blocks are what runs, and the route passes."""
import os
import os.path as osp
import re
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

SCRIPT = osp.join(REPO_ROOT, 'tools', 'analysis_tools', 'rehearse_real_path.py')


def _module():
    sys.path.insert(0, REPO_ROOT)
    from tools.analysis_tools import rehearse_real_path
    return rehearse_real_path


def test_every_step_has_its_block_and_every_block_a_step():
    mod = _module()
    blocks = mod.read_blocks()
    doc_steps = [s.name for s in mod.steps() if s.doc]
    assert sorted(blocks) == sorted(doc_steps)
    # Expected failures name the message they must show.
    assert all(b.expects for n, b in blocks.items() if n.startswith('fail-'))
    assert not any(b.expects for n, b in blocks.items() if not n.startswith('fail-'))


def test_unmarked_and_unknown_blocks_are_refused(tmp_path):
    mod = _module()
    page = tmp_path / 'page.md'
    page.write_text('# t\n\n<!-- rehearsal: convert -->\n```bash\necho a\n```\n\n'
                    '```bash\necho unmarked\n```\n')
    with pytest.raises(ValueError, match=r'page.md:8: a ```bash block without a'):
        mod.read_blocks(str(page))
    page.write_text('<!-- rehearsal: convert -->\n```bash\necho a\n```\n'
                    '<!-- rehearsal: convert -->\n```bash\necho b\n```\n')
    with pytest.raises(ValueError, match="two blocks are marked 'convert'"):
        mod.read_blocks(str(page))
    page.write_text('<!-- rehearsal: not run (network) -->\n```bash\ncurl x\n```\n'
                    '<!-- rehearsal: fail-x (expects: some message) -->\n```bash\nfalse\n```\n')
    blocks = mod.read_blocks(str(page))
    assert list(blocks) == ['fail-x'] and blocks['fail-x'].expects == 'some message'


def test_options_are_appended_only_to_tool_commands():
    mod = _module()
    code = ('# a comment\npython tools/train.py configs/desa2va/desa2va_1b_decouple.py \\\n'
            '    --cfg-options model.mllm.pretrained=$INTERNVL\necho done\n')
    out = mod.with_options(code, ['a=1', mod.REPEATS])
    lines = out.splitlines()
    assert lines[0] == '# a comment' and lines[2] == 'echo done'
    assert lines[1].startswith('python tools/train.py configs/desa2va/desa2va_1b_decouple.py '
                               '--cfg-options model.mllm.pretrained=$INTERNVL --cfg-options a=1')
    repeats = re.findall(r'(\S+)\.times=1', lines[1])
    # Sa2VA's mix: RefCOCO/+/g (x4), MeViS (x4), ReVOS (x10), Ref-YouTube-VOS (x4),
    # GranD-f GCG (x10), SA-V (x4).
    assert len(repeats) == 8 and all(r.startswith('train_dataloader.dataset') for r in repeats)
    assert mod.with_options(code, []) == code


def test_expected_failures_are_judged_on_the_final_message():
    mod = _module()
    output = ('Traceback (most recent call last):\n  File "x.py", line 3, in f\n'
              '    return load(path, trust_remote_code=trust_remote_code)\n'
              'ModuleNotFoundError: No module named \'tiktoken\'\n\nDuring handling of the '
              'above exception, another exception occurred:\n\nTraceback (most recent call '
              'last):\n  File "y.py", line 9, in g\n    raise ValueError(msg)\n'
              'ValueError: `tiktoken` is required to read a `tiktoken` file.\n')
    final = mod.final_error(output)
    assert final.startswith('ValueError: `tiktoken` is required')
    assert 'trust_remote_code' not in final  # a quoted source line is not the message
    # argparse / sys.exit messages have no exception line: the last lines count.
    assert 'bad option' in mod.final_error('usage: x\nx: error: bad option\n')


def test_result_summary_reads_metrics_and_losses():
    mod = _module()
    log = ('12/06 - INFO - Epoch(train) [1][1/8]  lr: 4e-10  time: 1.0  data_time: 0.1  '
           'loss: 13.4313  loss_lm: 6.28\n12/06 - INFO - Epoch(train) [1][8/8]  lr: 5e-06  '
           'time: 1.0  data_time: 0.1  loss: 11.6196  loss_lm: 6.26\n')
    assert mod.result_summary(log) == '8 iterations, last loss 11.6196'
    test = ('INFO - Epoch(test) [3/3]    refcoco_val/cIoU: 0.0000  refcoco_val/gIoU: 1.0000  '
            'data_time: 0.06  time: 4.4\n')
    assert mod.result_summary(test) == 'refcoco_val/cIoU: 0.0000  refcoco_val/gIoU: 1.0000'


@pytest.mark.slow
@pytest.mark.timeout(2700)
def test_the_whole_route_passes(tmp_path):
    """The full rehearsal (about 7 minutes on 2 idle cores, 20 on a loaded machine): exit 0
    and every step line."""
    mod = _module()
    names = [s.name for s in mod.steps()]
    env = dict(os.environ, OMP_NUM_THREADS='2')
    proc = subprocess.run([sys.executable, SCRIPT, '--work-dir', str(tmp_path / 'work')],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=2600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    for i, name in enumerate(names, 1):
        assert re.search(rf'^\[rehearsal\] step {i}/{len(names)} {re.escape(name)}: ok '
                         r'\(\d+\.\d s\)', proc.stdout, re.M), (name, out[-3000:])
    assert f'all {len(names)} steps passed' in proc.stdout

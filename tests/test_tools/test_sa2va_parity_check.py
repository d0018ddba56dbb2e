"""tools/analysis_tools/sa2va_parity_check.py: our Sa2VA baseline next to Sa2VA's own code.

The comparison itself needs Sa2VA's code (``SA2VA_ROOT``: a Sa2VA checkout or clone) and
is skipped without it; the tool then skips cleanly too.
"""
import os

import pytest

from conftest import REPO_ROOT

#: Stages where our baseline computes what Sa2VA's code computes (float32, same inputs).
MATCHING = ('vision features', '[SEG] hidden state', 'projection',
            'SAM-2 input, image pipelines', 'SAM-2 input, streamed video frames',
            'SAM-2 image embeddings', 'image mask logits at SAM-2 resolution',
            'video mask logits, key frames', 'video mask logits, tracked frames')
#: Rows measured and reported whatever their value (a fraction of pixels, docs/results.md
#: §6): each side's path to the original size.
REPORTED = ('image masks at original size', 'video masks over 12 frames')


def test_help(capsys):
    from tools.analysis_tools.sa2va_parity_check import parse_args
    with pytest.raises(SystemExit) as exc:
        parse_args(['--help'])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ('--sa2va-root', '--config', '--frames', '--seed', '--work-dir', '--require',
                 '--object-score-bias', '--tracked-prompt'):
        assert flag in out


def test_skips_cleanly_without_sa2va_code(tmp_path, capsys):
    from tools.analysis_tools.sa2va_parity_check import main
    assert main(['--sa2va-root', str(tmp_path)]) == 0
    assert "skipped, Sa2VA's code is absent" in capsys.readouterr().out
    assert main(['--sa2va-root', str(tmp_path / 'nowhere'), '--require']) == 2


def test_sa2va_code_is_found_in_a_checkout_its_models_folder_or_a_bare_clone(tmp_path):
    import subprocess

    from tools.analysis_tools.sa2va_parity_check import (SA2VA_HF_MODELS,
                                                         resolve_sa2va_models_dir)
    checkout = tmp_path / 'Sa2VA'
    models = checkout / SA2VA_HF_MODELS
    models.mkdir(parents=True)
    (models / 'modeling_sa2va_chat.py').write_text('# stand-in\n')
    assert resolve_sa2va_models_dir(str(checkout)) == str(models)
    assert resolve_sa2va_models_dir(str(models)) == str(models)
    assert resolve_sa2va_models_dir(str(tmp_path)) is None
    assert resolve_sa2va_models_dir(None) is None
    git = ['git', '-c', 'user.name=t', '-c', 'user.email=t@t']
    subprocess.run(git + ['init', '-q', str(checkout)], check=True)
    subprocess.run(git + ['-C', str(checkout), 'add', '.'], check=True)
    subprocess.run(git + ['-C', str(checkout), 'commit', '-qm', 'x'], check=True)
    bare = tmp_path / 'bare.git'
    subprocess.run(['git', 'clone', '-q', '--bare', str(checkout), str(bare)], check=True)
    extracted = resolve_sa2va_models_dir(str(bare))
    assert extracted is not None and extracted.endswith(SA2VA_HF_MODELS)
    assert open(os.path.join(extracted, 'modeling_sa2va_chat.py')).read() == '# stand-in\n'


@pytest.mark.slow
def test_parity_stages_against_sa2va_code(tmp_path):
    from tools.analysis_tools.sa2va_parity_check import (format_report,
                                                         import_sa2va_modeling,
                                                         resolve_sa2va_models_dir,
                                                         run_parity)
    models_dir = resolve_sa2va_models_dir(os.environ.get('SA2VA_ROOT'))
    if models_dir is None:
        pytest.skip("Sa2VA's code is absent: set SA2VA_ROOT to a Sa2VA checkout or clone")
    modeling = import_sa2va_modeling(models_dir)
    result = run_parity(modeling, os.path.join(REPO_ROOT, 'configs/sa2va/sa2va_tiny.py'),
                        frames=12, work_dir=str(tmp_path))
    stages = {s.name: s for s in result['stages']}
    assert len(stages) == len(MATCHING) + len(REPORTED)

    def find(prefix):
        (name, ) = [n for n in stages if n.startswith(prefix)]
        return stages[name]

    for prefix in MATCHING:
        assert find(prefix).ok, (prefix, find(prefix).diff)
    # Streamed frames are resized as the real-size models do: PIL bicubic, Sa2VA's resize.
    assert "frame_resize='pillow'" in find('SAM-2 input, streamed video frames').note
    for prefix in REPORTED:
        assert 0.0 <= find(prefix).diff < float('inf'), prefix
    report = format_report(result, 'cmd')
    assert report.count('\n| ') == len(stages) and 'sam_mask_decoder_extra_args' in report
    assert [s[0] for s in result['settings']] == ['sam_mask_decoder_extra_args']
    # DeSa2VA's prompted tracking (the [SEG] token on tracked frames too) is reported as
    # a difference on the tracked frames only.
    prompted = run_parity(modeling, os.path.join(REPO_ROOT, 'configs/sa2va/sa2va_tiny.py'),
                          frames=7, work_dir=str(tmp_path / 'prompted'),
                          track_with_seg_prompt=True)
    rows = {s.name.split(',')[-1].strip(): s for s in prompted['stages']
            if s.name.startswith('video mask logits')}
    assert rows['key frames 0-4 (prompted)'].ok
    assert not rows['tracked frames 5-6'].ok
    assert 'track_with_seg_prompt=True' in rows['tracked frames 5-6'].note

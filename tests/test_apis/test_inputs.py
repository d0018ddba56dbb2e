"""desa2va_mm.apis.inputs: image / video / text / history checks and the prompts they build."""
import cv2
import numpy as np
import pytest

from desa2va_mm.apis.inputs import (build_prompts, chat_prompt, check_history, check_texts,
                                    list_images, load_image, open_video)


def test_list_images_sorted_and_filtered(tmp_path):
    for name in ('b.png', 'a.JPG', 'notes.txt'):
        (tmp_path / name).write_bytes(b'x')
    assert [p.split('/')[-1] for p in list_images(str(tmp_path))] == ['a.JPG', 'b.png']
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match=r"folder '.*empty' holds no image \(.jpg"):
        list_images(str(tmp_path / 'empty'))


def test_load_image_paths_and_arrays(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / 'a.png'), img)
    loaded, path = load_image(str(tmp_path / 'a.png'))
    assert np.array_equal(loaded, img) and path.endswith('a.png')
    grey, path = load_image(img[..., 0], index=3)
    assert grey.shape == (6, 8, 3) and path is None and np.array_equal(grey[..., 2], img[..., 0])
    with pytest.raises(FileNotFoundError, match='missing.png'):
        load_image(str(tmp_path / 'missing.png'))
    (tmp_path / 'bad.png').write_bytes(b'not a png')
    with pytest.raises(ValueError, match="cannot read image '.*bad.png'"):
        load_image(str(tmp_path / 'bad.png'))
    with pytest.raises(ValueError, match=r'input 2: .*got shape \(4, 4, 4\)'):
        load_image(np.zeros((4, 4, 4), np.uint8), index=2)
    with pytest.raises(ValueError, match='input 0: expected a uint8 image array, got float32'):
        load_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(TypeError, match='input 1: expected an image path or a numpy array'):
        load_image(3, index=1)


def test_check_texts_names_the_input_and_the_text():
    assert check_texts('the star', 'input 0') == ['the star']
    assert check_texts(('a', 'b'), 'input 0') == ['a', 'b']
    with pytest.raises(ValueError, match="video 'clip': text 1 is empty"):
        check_texts(['a', '  '], "video 'clip'")
    with pytest.raises(ValueError, match='input 2: no expression or question given'):
        check_texts([], 'input 2')
    with pytest.raises(TypeError, match='input 0: text 0 must be a str, got int'):
        check_texts([3], 'input 0')


def test_open_video_sources_and_errors(tmp_path):
    frames = np.zeros((3, 4, 5, 3), np.uint8)
    source = open_video(frames)
    assert len(source) == 3 and source.video_id == 'array'
    assert source.frame_names == ['00000', '00001', '00002']
    (tmp_path / 'clip').mkdir()
    for t in range(2):
        cv2.imwrite(str(tmp_path / 'clip' / f'f{t}.png'), frames[t])
    folder = open_video(tmp_path / 'clip')  # os.PathLike too
    assert folder.video_id == 'clip' and folder.frame_names == ['f0', 'f1']
    with pytest.raises(FileNotFoundError, match='nope.mp4'):
        open_video(str(tmp_path / 'nope.mp4'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match="video 'empty'.*holds no image file"):
        open_video(str(tmp_path / 'empty'))
    with pytest.raises(ValueError, match='zero frames'):
        open_video([])
    (tmp_path / 'notes.txt').write_text('x')
    with pytest.raises(ValueError, match='neither a folder of frames nor a video file'):
        open_video(str(tmp_path / 'notes.txt'))


def test_check_history_copies_and_names_the_bad_turn():
    turns = [dict(user='Please segment the star.', assistant='[SEG].')]
    checked = check_history(turns)
    checked[0]['user'] = 'changed'
    assert turns[0]['user'] == 'Please segment the star.'  # the caller's list is untouched
    with pytest.raises(ValueError, match='history turn 1 must be'):
        check_history(turns + [dict(user='a')])
    with pytest.raises(ValueError, match='history turn 0 must be'):
        check_history([dict(user='a', assistant=None)])


def test_build_prompts_templates():
    assert build_prompts(['the star'], 'pipeline') is None  # the pipeline's question
    assert build_prompts(['  What is it? '], None) == [[dict(user='<image>\nWhat is it?',
                                                              assistant=None)]]
    prompts = build_prompts(['the  red\ncircle', 'x'], 'Find {expression} here.')
    assert prompts == [[dict(user='<image>\nFind the red circle here.', assistant=None)],
                       [dict(user='<image>\nFind x here.', assistant=None)]]
    with pytest.raises(ValueError, match='template must contain {expression}'):
        build_prompts(['x'], 'Find it.')


def test_chat_prompt_puts_the_image_once_first():
    assert chat_prompt([], 'Please segment the star.') == [[
        dict(user='<image>\nPlease segment the star.', assistant=None)]]
    history = [dict(user='Please segment the star.', assistant='It is [SEG].')]
    (turns, ) = chat_prompt(history, ' And the circle? ')
    assert turns == [dict(user='<image>\nPlease segment the star.', assistant='It is [SEG].'),
                     dict(user='And the circle?', assistant=None)]
    assert history[0]['user'] == 'Please segment the star.'  # not modified

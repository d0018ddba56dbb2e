"""desa2va_mm: DeSa2VA (decoupled [SEG] tokens) as an OpenMMLab 2.x plugin.

``bash tools/setup_env.sh`` installs everything (see docs/get_started.md). Installing by
hand instead, in this order:

1. torch (>= 2.6, < 2.14; a CUDA build on GPU machines; torchvision is optional and, if
   present, must be the build made for that torch);
2. mmcv with its compiled ops, built against that torch: ``pip install "setuptools<82"
   wheel ninja`` then ``MMCV_WITH_OPS=1 [FORCE_CUDA=1] pip install --no-build-isolation
   "mmcv>=2.0.0,<2.2.0"`` (an isolated build has no torch and silently leaves the ops out;
   mmdet then fails to import ``mmcv.ops``);
3. sam2 without its dependencies (they would pull torchvision):
   ``SAM2_BUILD_CUDA=0 pip install --no-build-isolation --no-deps "sam2>=1.1,<1.2"``;
4. ``pip install -e .`` (add ``[deepspeed,video,test,demo]`` or ``[mmseg]`` for the extras).

Step 4 links this package (editable) *and* installs the ranges in ``INSTALL_REQUIRES``
that are missing or out of range: mmengine, mmdet, transformers, peft, sam2's own runtime
dependencies, ... It does not install torch's CUDA build, mmcv or sam2: those are the
``PREREQUISITES`` above, which pip cannot build correctly on its own. Lower bounds are
the oldest releases whose behaviour the code relies on (reason beside each); upper
bounds exclude the next release that breaks or may break. ``tools/setup_env.sh`` installs
the exact versions the test suite runs with, inside these ranges.
"""
from setuptools import find_packages, setup

VERSION = '0.1.0'

#: Installed before ``pip install -e .`` (steps 1-3 of the module docstring); not in
#: ``install_requires`` because pip would install them wrongly: a CPU/CUDA torch of
#: its choosing, mmcv without its compiled ops, sam2 with torchvision.
PREREQUISITES = [
    # weights_only=True by default (our checkpoint allow-list relies on it) and
    # add_safe_globals((obj, name)); 2.13 is the newest release tested
    'torch>=2.6,<2.14',
    # mmdet 3.3 refuses mmcv >= 2.2 at import
    'mmcv>=2.0.0,<2.2.0',
    # SAM2Base and the sam2_hiera_* configs as 1.1 ships them
    'sam2>=1.1,<1.2',
]

INSTALL_REQUIRES = [
    'mmengine>=0.10,<0.11',  # 0.10.7 tested; the runner / strategy API we subclass
    'mmdet>=3.3,<3.4',  # 3.3.0 tested: RefCocoDataset, its tools/ and registries
    'transformers>=5.0,<6',  # native InternVLForConditionalGeneration, v5 tokenizers
    'peft>=0.18,<1',  # the first peft that works with transformers 5
    'safetensors',
    # sam2's own runtime dependencies (sam2 itself goes in with --no-deps)
    'hydra-core>=1.3.2',
    'iopath>=0.1.10',
    'pillow>=9.4',
    'tqdm>=4.66.1',
    'numpy>=1.24.4,<2.5',  # 1.x and 2.x both handled (checkpoint allow-list names)
    'pycocotools',
    'opencv-python',  # what mmengine pulls; a second opencv-python-headless breaks cv2
    'scipy',
    # InternLM2's SentencePiece tokenizer.model -> tokenizer.json (InternVL2.5-8B conversion)
    'sentencepiece', 'protobuf',
    # mmengine 0.10 imports pkg_resources (config `mmdet::` bases), removed in setuptools 82
    'setuptools<82',
]

EXTRAS_REQUIRE = {
    # Install with DS_BUILD_OPS=0 (no op build; JIT when needed). 0.19.6 is the release
    # tested; 0.19.7 removed a module mmengine 0.10's DeepSpeedStrategy imports.
    'deepspeed': ['deepspeed>=0.19.6,<0.19.7'],
    # Video decoding / writing (PyAV); 18.1 tested (19 needs Python >= 3.12)
    'video': ['av>=18.1,<19'],
    # scikit-image: the DAVIS reference measures the fast J&F is tested against;
    # selenium (with Debian's chromium + chromium-driver): the web demo's browser test,
    # 4.32 tested
    'test': ['pytest', 'pytest-timeout', 'scikit-image', 'av>=18.1,<19', 'selenium>=4.32,<5'],
    # tools/demo/web_demo.py; 6.31 tested (huggingface_hub >= 1.16 as transformers 5 needs)
    'demo': ['gradio>=6.31,<7'],
    'dev': ['pytest', 'pytest-timeout', 'ruff'],
    # Nothing in desa2va_mm imports mmsegmentation; for mmseg configs of your own
    # (mmseg 1.2 imports ftfy and regex at import time).
    'mmseg': ['mmsegmentation>=1.2,<1.3', 'ftfy', 'regex'],
}

if __name__ == '__main__':  # setuptools and pip run this file as __main__
    setup(
        name='desa2va_mm',
        version=VERSION,
        description='DeSa2VA: decoupled [SEG] tokens for reasoning video segmentation, '
        'as an OpenMMLab 2.x plugin',
        long_description=open('README.md', encoding='utf-8').read(),
        long_description_content_type='text/markdown',
        packages=find_packages(include=['desa2va_mm', 'desa2va_mm.*']),
        python_requires='>=3.10',
        install_requires=INSTALL_REQUIRES,
        extras_require=EXTRAS_REQUIRE,
        # SPDX identifier + the licence text in the distribution; setuptools >= 77
        # deprecates the 'License ::' classifiers in favour of this.
        license='Apache-2.0',
        license_files=['LICENSE'],
        classifiers=[
            'Programming Language :: Python :: 3',
            'Programming Language :: Python :: 3.11',
            'Operating System :: OS Independent',
            'Topic :: Scientific/Engineering :: Artificial Intelligence',
        ],
        zip_safe=False,
    )

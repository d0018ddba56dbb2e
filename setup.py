"""desa2va_mm: DeSa2VA (decoupled [SEG] tokens) as an OpenMMLab 2.x plugin.

Install with ``bash tools/setup_env.sh`` (it builds mmcv with ops and installs sam2
without its CUDA extension and without torchvision); ``pip install -e .`` alone only
links this package.
"""
from setuptools import find_packages, setup

VERSION = '0.1.0'

# Pins shared with tools/setup_env.sh; see docs/get_started.md for why each one.
INSTALL_REQUIRES = [
    'torch>=2.6',
    'mmcv==2.1.0',
    'mmengine==0.10.7',
    'mmdet==3.3.0',
    'mmsegmentation==1.2.2',
    'sam2==1.1.0',
    'hydra-core>=1.3',
    'iopath',
    'transformers==5.24.0',
    'peft==0.21.0',
    'pycocotools',
    'numpy',
    'opencv-python',
    'pillow',
    'scipy',
    'tqdm',
    'setuptools>=77,<82',
]

setup(
    name='desa2va_mm',
    version=VERSION,
    description='DeSa2VA: decoupled [SEG] tokens for reasoning video segmentation, '
    'as an OpenMMLab 2.x plugin',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['desa2va_mm', 'desa2va_mm.*', 'desa2va', 'desa2va.*']),
    python_requires='>=3.10',
    install_requires=INSTALL_REQUIRES,
    extras_require={
        'test': ['pytest', 'pytest-timeout', 'scikit-image'],  # skimage: DAVIS reference
        'dev': ['pytest', 'pytest-timeout', 'ruff'],
        'video': ['av==18.1.0'],
        # Install with DS_BUILD_OPS=0 (no CUDA op build); tools/setup_env.sh does.
        'deepspeed': ['deepspeed==0.19.6'],
    },
    license='Apache-2.0',
    zip_safe=False,
)

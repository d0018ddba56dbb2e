"""Osprey-724K detailed region descriptions (``osprey_detail_description.json``)."""
import random
import zlib
from typing import List, Tuple

from desa2va_mm.registry import DATASETS
from .osprey_base_dataset import BaseOspreyDataset, strip_angle_brackets

#: Osprey's detailed-description questions (the ones Sa2VA draws from); ``<region>``
#: becomes ``region{i}``.
DESCRIPTION_QUESTIONS = (
    'Can you provide me with a detailed description of the region in the picture marked by <region>?',
    "I'm curious about the region represented by <region> in the picture. Could you describe it in detail?",
    'What can you tell me about the region indicated by <region> in the image?',
    "I'd like to know more about the area in the photo labeled <region>. Can you give me a detailed description?",
    'Could you describe the region shown as <region> in the picture in great detail?',
    'What details can you give me about the region outlined by <region> in the photo?',
    'Please provide me with a comprehensive description of the region marked with <region> in the image.',
    'Can you give me a detailed account of the region labeled as <region> in the picture?',
    "I'm interested in learning more about the region represented by <region> in the photo. Can you describe it in detail?",
    'What is the region outlined by <region> in the picture like? Could you give me a detailed description?',
    'Can you provide me with a detailed description of the region in the picture marked by <region>, please?',
    "I'm curious about the region represented by <region> in the picture. Could you describe it in detail, please?",
    'What can you tell me about the region indicated by <region> in the image, exactly?',
    "I'd like to know more about the area in the photo labeled <region>, please. Can you give me a detailed description?",
    'Could you describe the region shown as <region> in the picture in great detail, please?',
    'What details can you give me about the region outlined by <region> in the photo, please?',
    'Please provide me with a comprehensive description of the region marked with <region> in the image, please.',
    'Can you give me a detailed account of the region labeled as <region> in the picture, please?',
    "I'm interested in learning more about the region represented by <region> in the photo. Can you describe it in detail, please?",
    'What is the region outlined by <region> in the picture like, please? Could you give me a detailed description?',
    'Please describe the region <region> in the image in detail.',
    'Can you offer a thorough analysis of the region <region> in the image?',
    'Could you elaborate on the region highlighted by <region> in the picture provided?',
    'Please share more information about the zone emphasized with <region> in the photo.',
    'What insights can you give about the area denoted by <region> in the image presented?',
    'Can you share a comprehensive rundown of the region denoted by <region> in the presented image?',
    "I'd like to know more about the region highlighted by <region> in the picture provided.",
    'Work through the important details of the area <region> in the image.',
    'Illustrate the area represented by <region> through a descriptive explanation.',
    'Examine the region <region> closely and share its details.',
)


@DATASETS.register_module()
class OspreyDescriptionDataset(BaseOspreyDataset):
    """Osprey's detailed descriptions: ``"description": [one text per region]``.

    Region ``i``'s turn asks one of :data:`DESCRIPTION_QUESTIONS` about ``region{i}`` and
    is answered with its description. Sa2VA draws the question afresh each time a sample
    is read; here it is drawn once per record when the annotation is loaded (seeded by
    ``seed`` and the record's index), so an epoch is reproducible.

    Args:
        seed: Seed of the question draw.
        **kwargs: :class:`BaseOspreyDataset` arguments.
    """

    def __init__(self, *args, seed: int = 0, **kwargs) -> None:
        self.seed = seed
        super().__init__(*args, **kwargs)

    def turns(self, record: dict, num_regions: int, where: str) -> List[Tuple[str, str]]:
        descriptions = record.get('description')
        if not isinstance(descriptions, list) or not descriptions:
            raise ValueError(f'{where}: no "description" list (one text per region)')
        if len(descriptions) > num_regions:
            raise ValueError(f'{where}: {len(descriptions)} descriptions for {num_regions} '
                             'regions')
        rng = random.Random(zlib.crc32(f'{self.seed}:{where}'.encode()))
        return [(rng.choice(DESCRIPTION_QUESTIONS).replace('<region>', f'region{i + 1}'),
                 strip_angle_brackets(text)) for i, text in enumerate(descriptions)]

"""Augmentation configs the tests share."""
from cpstn_min.config import AugmentConfig


def still(**fields):
    """A pretext view seen from the clip's own viewpoint (no rotation, no shear), so its
    coordinates tell which frames were read and which labelled transform was applied."""
    return AugmentConfig(pretext_shear=0.0, pretext_rotate_deg=0.0, **fields)

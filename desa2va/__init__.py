"""Alias package for the registry scope ``desa2va``.

MMEngine resolves a scope ``X`` by importing ``X.registry``; this shim makes
``default_scope='desa2va'`` and ``type='desa2va.DeSa2VA'`` (from mmdet configs) find
``desa2va_mm`` without extra configuration.
"""
import desa2va_mm  # noqa: F401  (registers every module)
